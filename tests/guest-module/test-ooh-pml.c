// SPDX-License-Identifier: MIT
/*
 * ooh-test-pml: the OoH-PML Check suite, run in a guest under ooh-l0 with
 * ooh.ko loaded (tests/l2/pml-*.sh). Trackers follow target processes
 * (forked children driven through pipes); ground truth is the content of
 * the target's pages, read with process_vm_readv and hashed before and
 * after each round: every page whose content changed must be reported,
 * written or changed by munmap, MADV_DONTNEED, mremap and the like.
 * OOH_PML_MODE=spml|epml picks the mode (default: both, one tcase each).
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "../harness/ooh_check.h"

#define PAGE 4096ul
#define NPAGES 512
#define MAX_IDX 4096

static uint32_t test_mode = OOH_MODE_SPML;

/* ---- target process ---- */

enum { CMD_WRITE = 1, CMD_EXIT, CMD_FORK_WRITE, CMD_MUNMAP, CMD_THREADS, CMD_HOP,
       CMD_DONTNEED, CMD_REMAP, CMD_MREMAP, CMD_FILEMAP, CMD_FREE, CMD_HANDLER };

struct cmd {
	int op;
	int count;
	uint32_t value;
	uint32_t idx[MAX_IDX];
};

struct target {
	pid_t pid;
	int cmd_fd, ack_fd;
	uint8_t *region;		/* same address in the target */
	size_t npages;
};

static uint8_t *t_region;
static const struct cmd *t_cmd;
static struct cmd t_handler_cmd;	/* what the SIGUSR1 handler writes */
static int t_ack_fd;

static void write_pages(const struct cmd *c, int from, int step)
{
	for (int i = from; i < c->count; i += step)
		t_region[(size_t)c->idx[i] * PAGE + (c->idx[i] % 64) * 8] = (uint8_t)c->value;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* fine to fail on 1 CPU */
}

static void *thread_writer(void *arg)
{
	long which = (long)arg;

	pin((int)which);
	write_pages(t_cmd, (int)which, 2);
	return NULL;
}

/* SIGUSR1: writes t_handler_cmd's pages, then says so on the ack pipe. */
static void handler_writer(int sig)
{
	char h = 'h';

	(void)sig;
	write_pages(&t_handler_cmd, 0, 1);
	write(t_ack_fd, &h, 1);
}

/* The last ALT_PAGES pages of the region are the handler's stack. */
#define ALT_PAGES 16

static int install_handler(const struct cmd *c, uint8_t *region, size_t npages)
{
	stack_t ss = { .ss_sp = region + (npages - ALT_PAGES) * PAGE, .ss_size = ALT_PAGES * PAGE };
	struct sigaction sa = { .sa_handler = handler_writer, .sa_flags = SA_RESTART | SA_ONSTACK };

	t_handler_cmd = *c;
	sigemptyset(&sa.sa_mask);
	return sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL) ? -1 : 0;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (char *)buf + done, n - done);

		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Changes pages idx[0] .. idx[0] + count - 1 without writing them. */
static int map_change(const struct cmd *c, uint8_t *region)
{
	uint8_t *at = region + (size_t)c->idx[0] * PAGE;
	size_t len = (size_t)c->count * PAGE;
	int fd;

	switch (c->op) {
	case CMD_DONTNEED:
		return madvise(at, len, MADV_DONTNEED);
	case CMD_REMAP:
		return mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			    -1, 0) == at ? 0 : -1;
	case CMD_MREMAP: /* to page c->value */
		return mremap(at, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
			      region + (size_t)c->value * PAGE) == MAP_FAILED ? -1 : 0;
	case CMD_FILEMAP: /* a file of 0xab bytes, never written through the mapping */
		fd = memfd_create("ooh-test", 0);
		if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
			return -1;
		for (size_t i = 0; i < len; i += PAGE) {
			static uint8_t pat[PAGE];

			memset(pat, 0xab, sizeof(pat));
			if (pwrite(fd, pat, PAGE, (off_t)i) != (ssize_t)PAGE)
				return -1;
		}
		if (mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) != at)
			return -1;
		return close(fd);
	case CMD_FREE: /* lazily freed, then reclaimed at once: reads zero */
		if (madvise(at, len, MADV_FREE) != 0)
			return -1;
		return madvise(at, len, MADV_PAGEOUT);
	}
	return -1;
}

static void target_main(int cmd_fd, int ack_fd, size_t npages, uint8_t *region)
{
	static struct cmd c;
	char ok = 1;

	t_region = region;
	t_ack_fd = ack_fd;
	for (size_t i = 0; i < npages; i++)
		region[i * PAGE] = 1; /* present before tracking starts */
	write(ack_fd, &ok, 1);
	while (read_full(cmd_fd, &c, sizeof(c)) == 0) {
		t_cmd = &c;
		switch (c.op) {
		case CMD_WRITE:
			write_pages(&c, 0, 1);
			break;
		case CMD_EXIT:
			_exit(0);
		case CMD_FORK_WRITE: {
			pid_t child = fork();

			if (child == 0) {
				write_pages(&c, 0, 1);
				_exit(0);
			}
			waitpid(child, NULL, 0);
			break;
		}
		case CMD_MUNMAP:
			munmap(region + (size_t)c.idx[0] * PAGE, (size_t)c.count * PAGE);
			break;
		case CMD_DONTNEED:
		case CMD_REMAP:
		case CMD_MREMAP:
		case CMD_FILEMAP:
		case CMD_FREE:
			if (map_change(&c, region) != 0)
				ok = 0;
			break;
		case CMD_HANDLER:
			if (install_handler(&c, region, npages) != 0)
				ok = 0;
			break;
		case CMD_THREADS: {
			pthread_t a, b;

			pthread_create(&a, NULL, thread_writer, (void *)0L);
			pthread_create(&b, NULL, thread_writer, (void *)1L);
			pthread_join(a, NULL);
			pthread_join(b, NULL);
			break;
		}
		case CMD_HOP:
			/* one page at a time, hopping between the vCPUs */
			for (int i = 0; i < c.count; i++) {
				pin(i % 2);
				t_region[(size_t)c.idx[i] * PAGE] = (uint8_t)c.value;
				sched_yield();
			}
			pin(0);
			break;
		}
		write(ack_fd, &ok, 1);
	}
	_exit(0);
}

static struct target spawn(size_t npages, uintptr_t at)
{
	int cmd[2], ack[2];
	struct target t = { .npages = npages };
	char ok;

	ck_assert_int_eq(pipe(cmd), 0);
	ck_assert_int_eq(pipe(ack), 0);
	t.region = mmap((void *)at, npages * PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	ck_assert_ptr_ne(t.region, MAP_FAILED);
	t.pid = fork();
	ck_assert_int_ge(t.pid, 0);
	if (t.pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		target_main(cmd[0], ack[1], npages, t.region);
	}
	close(cmd[0]);
	close(ack[1]);
	/* the tracker does not need its own copy */
	munmap(t.region, npages * PAGE);
	t.cmd_fd = cmd[1];
	t.ack_fd = ack[0];
	ck_assert_int_eq(read(t.ack_fd, &ok, 1), 1);
	return t;
}

static void send_cmd(struct target *t, int op, int count, const uint32_t *idx, uint32_t value)
{
	static struct cmd c;
	char ok;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.count = count;
	c.value = value;
	if (count && idx)
		memcpy(c.idx, idx, (size_t)count * sizeof(*idx));
	ck_assert_int_eq(write(t->cmd_fd, &c, sizeof(c)), (ssize_t)sizeof(c));
	if (op != CMD_EXIT) {
		ck_assert_int_eq(read(t->ack_fd, &ok, 1), 1);
		ck_assert_msg(ok, "target: command %d failed", op);
	}
}

static void finish(struct target *t)
{
	send_cmd(t, CMD_EXIT, 0, NULL, 0);
	waitpid(t->pid, NULL, 0);
	close(t->cmd_fd);
	close(t->ack_fd);
}

/* ---- ground truth ---- */

static uint64_t hash_page(const uint8_t *p)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < PAGE; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void snapshot(struct target *t, uint64_t *hashes)
{
	static uint8_t buf[PAGE];

	for (size_t i = 0; i < t->npages; i++) {
		struct iovec local = { buf, PAGE };
		struct iovec remote = { t->region + i * PAGE, PAGE };

		if (process_vm_readv(t->pid, &local, 1, &remote, 1, 0) != (ssize_t)PAGE)
			hashes[i] = 0; /* unmapped */
		else
			hashes[i] = hash_page(buf);
	}
}

/* ---- tracker ---- */

static int open_session(pid_t pid, uint32_t mode, uint32_t log_bytes)
{
	struct ooh_open_session o = { .pid = pid, .mode = mode, .log_bytes = log_bytes };
	int fd = open("/dev/ooh", O_RDWR | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_msg(ioctl(fd, OOH_IOC_OPEN_SESSION, &o) == 0, "OPEN_SESSION: %s",
		      strerror(errno));
	return fd;
}

struct report {
	uint8_t in_region[MAX_IDX];	/* per page of the region: reported */
	size_t total, outside;
	bool overflow;
	uint64_t seq;
};

/* COLLECT in pieces of chunk addresses, continuing until done. */
static int collect(int fd, struct target *t, struct report *r, size_t chunk)
{
	uint64_t *buf = calloc(chunk, sizeof(*buf));
	struct ooh_collect c;
	bool first = true;

	memset(r, 0, sizeof(*r));
	do {
		memset(&c, 0, sizeof(c));
		c.buf = (uintptr_t)buf;
		c.count = chunk;
		c.flags = first ? 0 : OOH_COLLECT_F_CONTINUE;
		if (ioctl(fd, OOH_IOC_COLLECT, &c) != 0) {
			int err = errno;

			free(buf);
			return -err;
		}
		first = false;
		for (uint64_t i = 0; i < c.count; i++) {
			uintptr_t va = buf[i];

			ck_assert_uint_eq(va % PAGE, 0);
			if (i)
				ck_assert_uint_gt(va, buf[i - 1]);
			if (va >= (uintptr_t)t->region && va < (uintptr_t)t->region + t->npages * PAGE)
				r->in_region[(va - (uintptr_t)t->region) / PAGE] = 1;
			else
				r->outside++;
			r->total++;
		}
		r->overflow |= !!(c.flags & OOH_COLLECT_F_OVERFLOW);
		r->seq = c.seq;
	} while (c.flags & OOH_COLLECT_F_MORE);
	free(buf);
	return 0;
}

/* Zero missed pages; exact (no extra page of the region) unless overflowed. */
static void check_round(struct target *t, const uint64_t *before, const struct report *r,
			const uint8_t *written, bool exact, const char *what)
{
	uint64_t *after = calloc(t->npages, sizeof(*after));
	size_t changed = 0, extra = 0;

	snapshot(t, after);
	for (size_t i = 0; i < t->npages; i++) {
		if (before[i] != after[i]) {
			changed++;
			ck_assert_msg(r->in_region[i], "%s: page %zu changed but not reported", what, i);
		}
		if (r->in_region[i] && !written[i])
			extra++;
	}
	if (exact && !r->overflow)
		ck_assert_msg(extra == 0, "%s: %zu pages reported but never written", what, extra);
	printf("%s: %zu changed, %zu reported (%zu extra in region, %zu outside)%s\n", what,
	       changed, r->total, extra, r->outside, r->overflow ? " overflow" : "");
	free(after);
}

static unsigned int rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* count distinct random pages of npages, marks them in written */
static int pick(uint32_t *idx, int count, size_t npages, uint8_t *written)
{
	int n = 0;

	while (n < count) {
		uint32_t i = rnd() % (uint32_t)npages;

		if (written[i])
			continue;
		written[i] = 1;
		idx[n++] = i;
	}
	return n;
}

/* ---- tests ---- */

static void begin(const char *name)
{
	printf("== %s %s\n", test_mode == OOH_MODE_EPML ? "epml" : "spml", name);
	fflush(stdout);
}

static void rounds(int cmd_op, const char *name)
{
	struct target t = spawn(NPAGES, 0);
	int fd = open_session(t.pid, test_mode, 0);
	uint64_t before[NPAGES];
	static uint32_t idx[MAX_IDX];
	static struct report r;

	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	for (int round = 0; round < 4; round++) {
		uint8_t written[NPAGES] = { 0 };
		int n = pick(idx, 20 + round * 40, NPAGES, written);
		char what[64];

		snapshot(&t, before);
		send_cmd(&t, cmd_op, n, idx, 0x10u + (uint32_t)round);
		ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
		snprintf(what, sizeof(what), "%s round %d", name, round);
		check_round(&t, before, &r, written, true, what);
	}
	/* nothing written: nothing of the region reported */
	{
		uint8_t none[NPAGES] = { 0 };

		snapshot(&t, before);
		ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
		check_round(&t, before, &r, none, true, "idle");
	}
	ck_assert_int_eq(ioctl(fd, OOH_IOC_STOP), 0);
	finish(&t);
	close(fd);
}

START_TEST(exact_dirty_sets_single_thread)
{
	begin("exact_dirty_sets_single_thread");
	rounds(CMD_WRITE, "1-thread");
}
END_TEST

START_TEST(exact_dirty_sets_two_vcpus)
{
	begin("exact_dirty_sets_two_vcpus");
	rounds(CMD_THREADS, "2-threads");
}
END_TEST

START_TEST(exact_dirty_sets_hopping_vcpus)
{
	begin("exact_dirty_sets_hopping_vcpus");
	rounds(CMD_HOP, "hopping");
}
END_TEST

START_TEST(two_trackers_see_only_their_target)
{
	begin("two_trackers_see_only_their_target");
	struct target a = spawn(NPAGES, 0x600000000ul), b = spawn(NPAGES, 0x700000000ul);
	int fa = open_session(a.pid, test_mode, 0), fb = open_session(b.pid, test_mode, 0);
	uint8_t wa[NPAGES] = { 0 }, wb[NPAGES] = { 0 };
	uint64_t ha[NPAGES], hb[NPAGES];
	static uint32_t ia[MAX_IDX], ib[MAX_IDX];
	static struct report ra, rb;
	int na = pick(ia, 100, NPAGES, wa), nb = pick(ib, 60, NPAGES, wb);

	ck_assert_int_eq(ioctl(fa, OOH_IOC_START), 0);
	ck_assert_int_eq(ioctl(fb, OOH_IOC_START), 0);
	snapshot(&a, ha);
	snapshot(&b, hb);
	send_cmd(&a, CMD_THREADS, na, ia, 7);
	send_cmd(&b, CMD_WRITE, nb, ib, 9);
	ck_assert_int_eq(collect(fa, &a, &ra, 4096), 0);
	ck_assert_int_eq(collect(fb, &b, &rb, 4096), 0);
	check_round(&a, ha, &ra, wa, true, "tracker A");
	check_round(&b, hb, &rb, wb, true, "tracker B");
	/* A's report holds nothing of B's region and the reverse */
	{
		struct report cross;

		memset(&cross, 0, sizeof(cross));
		send_cmd(&b, CMD_WRITE, nb, ib, 10);
		ck_assert_int_eq(collect(fa, &b, &cross, 4096), 0);
		for (int i = 0; i < NPAGES; i++)
			ck_assert_msg(!cross.in_region[i], "tracker A saw B's page %d", i);
		ck_assert_int_eq(collect(fb, &b, &rb, 4096), 0);
		for (int i = 0; i < nb; i++)
			ck_assert(rb.in_region[ib[i]]);
	}
	finish(&a);
	finish(&b);
	close(fa);
	close(fb);
}
END_TEST

START_TEST(fork_child_writes_are_not_the_target)
{
	begin("fork_child_writes_are_not_the_target");
	struct target t = spawn(NPAGES, 0);
	int fd = open_session(t.pid, test_mode, 0);
	uint8_t written[NPAGES] = { 0 };
	static uint32_t idx[MAX_IDX];
	static struct report r;
	int n = pick(idx, 50, NPAGES, written);

	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	send_cmd(&t, CMD_FORK_WRITE, n, idx, 0x77);
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	for (int i = 0; i < NPAGES; i++)
		ck_assert_msg(!r.in_region[i], "child's write to page %d reported", i);
	finish(&t);
	close(fd);
}
END_TEST

START_TEST(munmap_and_target_exit)
{
	begin("munmap_and_target_exit");
	struct target t = spawn(NPAGES, 0);
	int fd = open_session(t.pid, test_mode, 0);
	uint32_t idx[64];
	static struct report r;
	uint32_t range[1] = { 100 };

	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	for (int i = 0; i < 64; i++)
		idx[i] = 80 + (uint32_t)i;
	send_cmd(&t, CMD_WRITE, 64, idx, 3);
	send_cmd(&t, CMD_MUNMAP, 20, range, 0); /* pages 100..119 go away */
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	for (int i = 80; i < 144; i++)
		ck_assert_msg(r.in_region[i] == !(i >= 100 && i < 120), "page %d", i);
	finish(&t);
	/* the target is gone: COLLECT says so, STOP and close still work */
	ck_assert_int_eq(collect(fd, &t, &r, 16), -ESRCH);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_STOP), 0);
	close(fd);
}
END_TEST

static void change(struct target *t, int op, uint32_t first, int count, uint32_t to)
{
	send_cmd(t, op, count, (uint32_t[]){ first }, to);
}

/*
 * Pages whose content changes without a store, and are reported: exactly
 * the mapped pages whose content differs, nothing else (MADV_FREE aside:
 * reclaim is reported whether it dropped the page or not).
 */
static void check_mapping_round(struct target *t, const uint64_t *before,
				const struct report *r, uint32_t free_lo, uint32_t free_hi,
				const char *what)
{
	uint64_t *after = calloc(t->npages, sizeof(*after));
	size_t changed = 0;

	snapshot(t, after);
	ck_assert_msg(!r->overflow, "%s: overflow", what);
	for (size_t i = 0; i < t->npages; i++) {
		bool differs = before[i] != after[i];

		changed += differs;
		if (after[i] == 0)
			ck_assert_msg(!r->in_region[i], "%s: unmapped page %zu reported", what, i);
		else if (differs)
			ck_assert_msg(r->in_region[i], "%s: page %zu changed but not reported", what, i);
		else if (i < free_lo || i >= free_hi)
			ck_assert_msg(!r->in_region[i], "%s: page %zu reported, unchanged", what, i);
	}
	printf("%s: %zu changed, %zu reported, %zu outside\n", what, changed, r->total, r->outside);
	free(after);
}

START_TEST(mapping_changes_are_reported)
{
	begin("mapping_changes_are_reported");
	struct target t = spawn(NPAGES, 0);
	int fd = open_session(t.pid, test_mode, 0);
	uint64_t before[NPAGES];
	uint32_t idx[10];
	static struct report r;
	struct ooh_session_stats st;

	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	snapshot(&t, before);
	for (int i = 0; i < 10; i++)
		idx[i] = (uint32_t)i;
	send_cmd(&t, CMD_WRITE, 10, idx, 7);	/* 0..9 written */
	change(&t, CMD_DONTNEED, 20, 10, 0);	/* 20..29 dropped: zero */
	change(&t, CMD_REMAP, 40, 10, 0);	/* 40..49 replaced: zero */
	change(&t, CMD_MUNMAP, 60, 10, 0);	/* 60..69 a hole */
	change(&t, CMD_FILEMAP, 80, 10, 0);	/* 80..89 a file's pages */
	change(&t, CMD_FREE, 100, 10, 0);	/* 100..109 freed, reclaimed */
	for (int i = 0; i < 10; i++)
		idx[i] = 45 + (uint32_t)i;	/* written after the change */
	send_cmd(&t, CMD_WRITE, 10, idx, 9);
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	check_mapping_round(&t, before, &r, 100, 110, "drop, replace, unmap, file");

	snapshot(&t, before);
	change(&t, CMD_MREMAP, 120, 10, 60);	/* 120..129 moved into the hole */
	change(&t, CMD_MREMAP, 200, 4, 20);	/* 200..203 over dropped 20..23 */
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	check_mapping_round(&t, before, &r, 0, 0, "mremap into a hole and over pages");

	/* nothing changed: nothing reported; writes still are */
	snapshot(&t, before);
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	check_mapping_round(&t, before, &r, 0, 0, "idle");
	snapshot(&t, before);
	idx[0] = 62;
	idx[1] = 300;
	send_cmd(&t, CMD_WRITE, 2, idx, 11);
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	check_mapping_round(&t, before, &r, 0, 0, "written after the moves");
	ck_assert_int_eq(ioctl(fd, OOH_IOC_STATS, &st), 0);
	ck_assert_uint_ge(st.mapping_changes, 10 + 10 + 10 + 10 + 4);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_STOP), 0);
	finish(&t);
	close(fd);
}
END_TEST

START_TEST(small_log_overflows_and_answer_is_conservative)
{
	begin("small_log_overflows_and_answer_is_conservative");
	struct target t = spawn(NPAGES, 0);
	int fd = open_session(t.pid, test_mode, 4096); /* 128 entries */
	uint8_t written[NPAGES] = { 0 };
	uint64_t before[NPAGES];
	static uint32_t idx[MAX_IDX];
	static struct report r;
	int n = pick(idx, 400, NPAGES, written);
	struct ooh_session_stats st;

	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	snapshot(&t, before);
	send_cmd(&t, CMD_WRITE, n, idx, 0x42);
	ck_assert_int_eq(collect(fd, &t, &r, 100), 0);
	ck_assert_msg(r.overflow, "400 pages through a 128-entry log without overflow");
	check_round(&t, before, &r, written, false, "overflow");
	ck_assert_int_eq(ioctl(fd, OOH_IOC_STATS, &st), 0);
	ck_assert_uint_ge(st.overflows, 1);
	ck_assert_uint_gt(st.hv_overflowed, 0);
	/* the next interval is exact again */
	{
		uint8_t w2[NPAGES] = { 0 };
		int n2 = pick(idx, 30, NPAGES, w2);

		snapshot(&t, before);
		send_cmd(&t, CMD_WRITE, n2, idx, 0x43);
		ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
		/* SPML logs every frame of the VM: 128 entries may overflow again */
		if (test_mode == OOH_MODE_EPML)
			ck_assert(!r.overflow);
		check_round(&t, before, &r, w2, true, "after overflow");
	}
	finish(&t);
	close(fd);
}
END_TEST

/*
 * Harvests the tracker did not ask for (here: another tracker's collects)
 * fill A's 1024-entry log between A's collects; l0's half-full interrupt
 * lets ooh.ko drain it in time. 8 x 300 pages through it, then one
 * collect: exact, no overflow, and the drains counted. (An SPML log also
 * takes every other page the VM dirtied: a harvest must fit, hence the
 * size.)
 */
#define DRAIN_PAGES MAX_IDX
START_TEST(log_drained_on_notification)
{
	begin("log_drained_on_notification");
	struct target a = spawn(DRAIN_PAGES, 0), b = spawn(16, 0);
	int fa = open_session(a.pid, test_mode, 32768), fb = open_session(b.pid, test_mode, 0);
	static uint8_t written[DRAIN_PAGES];
	static uint64_t before[DRAIN_PAGES];
	static uint32_t idx[MAX_IDX];
	static struct report r;
	struct ooh_session_stats st;
	uint64_t drains = 0;
	int pending = 0; /* entries in A's log since its last drain, at least */
	int info_fd = open("/dev/ooh", O_RDONLY);
	struct ooh_dev_info info;

	ck_assert_int_ge(info_fd, 0);
	ck_assert_int_eq(ioctl(info_fd, OOH_IOC_GET_INFO, &info), 0);
	close(info_fd);
	if (!(info.hv_features & OOH_FEAT_NOTIFY_IRQ)) {
		printf("no log-full interrupt offered: nothing to test\n");
		goto out;
	}
	ck_assert_int_eq(ioctl(fa, OOH_IOC_START), 0);
	ck_assert_int_eq(ioctl(fb, OOH_IOC_START), 0);
	snapshot(&a, before);
	for (int round = 0; round < 8; round++) {
		int n = pick(idx, 300, DRAIN_PAGES, written);

		send_cmd(&a, CMD_WRITE, n, idx, 0x50u + (uint32_t)round);
		ck_assert_int_eq(collect(fb, &b, &r, 4096), 0); /* harvests for A too */
		pending += n;
		/*
		 * At half full (512 entries) l0 raises the log-full interrupt:
		 * a drain must follow before the next round fills the log. It
		 * runs from a workqueue, which under nested TCG took over 1 s.
		 */
		for (int wait = 0;; wait++) {
			ck_assert_int_eq(ioctl(fa, OOH_IOC_STATS, &st), 0);
			if (st.drains != drains) {
				pending = 0;
				break;
			}
			if (pending < 512)
				break;
			ck_assert_msg(wait < 1000, "round %d: %d entries in a 1024-entry log, no drain within 10 s",
				      round, pending);
			usleep(10000);
		}
		drains = st.drains;
	}
	ck_assert_int_eq(collect(fa, &a, &r, 4096), 0);
	ck_assert_msg(!r.overflow, "2400 pages through a 1024-entry log overflowed (%llu drains)",
		      (unsigned long long)drains);
	check_round(&a, before, &r, written, true, "drained");
	ck_assert_int_eq(ioctl(fa, OOH_IOC_STATS, &st), 0);
	ck_assert_uint_ge(st.drains, 1);
	printf("drained: %llu early drains, %llu log entries\n", (unsigned long long)st.drains,
	       (unsigned long long)st.log_entries);
out:
	finish(&a);
	finish(&b);
	close(fa);
	close(fb);
}
END_TEST

START_TEST(permissions_and_bad_input)
{
	begin("permissions_and_bad_input");
	struct ooh_open_session o = { .pid = 999999, .mode = test_mode };
	int fd = open("/dev/ooh", O_RDWR), status;
	struct ooh_collect c = { 0 };
	pid_t child;

	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_OPEN_SESSION, &o), -1);
	ck_assert_int_eq(errno, ESRCH);
	o.pid = getpid();
	o.mode = 99;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_OPEN_SESSION, &o), -1);
	ck_assert_int_eq(errno, EINVAL);
	o.mode = test_mode;
	o.log_bytes = 5000;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_OPEN_SESSION, &o), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), -1);
	ck_assert_int_eq(errno, ENOTCONN);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_COLLECT, &c), -1);
	ck_assert_int_eq(errno, ENOTCONN);
	/* an unprivileged tracker may not follow root's process */
	child = fork();
	if (child == 0) {
		struct ooh_open_session p = { .pid = getppid(), .mode = test_mode };
		int f;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		f = open("/dev/ooh", O_RDWR);
		if (f < 0)
			_exit(3);
		_exit(ioctl(f, OOH_IOC_OPEN_SESSION, &p) == -1 && errno == EPERM ? 0 : 1);
	}
	waitpid(child, &status, 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "EPERM check: status %d", status);
	/* a session per file */
	o.log_bytes = 0;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_OPEN_SESSION, &o), 0);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_OPEN_SESSION, &o), -1);
	ck_assert_int_eq(errno, EBUSY);
	c.buf = 16;
	c.count = 4;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), -1);
	ck_assert_int_eq(errno, EBUSY);
	c.flags = 0x80;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_COLLECT, &c), -1);
	ck_assert_int_eq(errno, EINVAL);
	close(fd); /* a tracker that goes away with its session started */
}
END_TEST

START_TEST(self_tracking)
{
	begin("self_tracking");
	/* A process may track itself (a GC does). */
	size_t n = 64;
	uint8_t *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open_session(getpid(), test_mode, 0);
	struct target self = { .pid = getpid(), .region = p, .npages = n };
	static struct report r;

	for (size_t i = 0; i < n; i++)
		p[i * PAGE] = 1;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	for (size_t i = 0; i < n; i += 3)
		p[i * PAGE + 5] = 2;
	ck_assert_int_eq(collect(fd, &self, &r, 4096), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(r.in_region[i] == (i % 3 == 0) || r.overflow, "page %zu", i);
	close(fd);
}
END_TEST

/*
 * ---- targets stopped at START ----
 * A stopped thread runs nothing until continued; ooh.ko hooks it at START
 * (EPML: its preempt notifier, before it next runs) instead of waiting for
 * it: START returns at once, and the first interval is exact, with no
 * overflow, whatever the kernel writes for the thread as it is continued.
 */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* SIGSTOP our child t and see it stopped. */
static void stop_target(struct target *t)
{
	int status;

	ck_assert_int_eq(kill(t->pid, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(t->pid, &status, WUNTRACED), t->pid);
	ck_assert(WIFSTOPPED(status));
}

static void start_timed(int fd, const char *what)
{
	double t0 = now_ms();

	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	/* a figure, not a bound: exactness below is the check */
	printf("%s: START took %.1f ms\n", what, now_ms() - t0);
}

START_TEST(stopped_target_first_interval_exact)
{
	begin("stopped_target_first_interval_exact");
	struct target t = spawn(NPAGES, 0);
	uint8_t written[NPAGES] = { 0 }, none[NPAGES] = { 0 };
	uint64_t before[NPAGES];
	static uint32_t idx[MAX_IDX];
	static struct report r;
	int n = pick(idx, 60, NPAGES, written), fd;

	stop_target(&t);
	fd = open_session(t.pid, test_mode, 0);
	start_timed(fd, "SIGSTOP");
	snapshot(&t, before);
	ck_assert_int_eq(kill(t.pid, SIGCONT), 0);
	send_cmd(&t, CMD_WRITE, n, idx, 0x61);
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	ck_assert_msg(!r.overflow, "first interval after START on a stopped target: overflow");
	check_round(&t, before, &r, written, true, "stopped at START");
	for (int i = 0; i < n; i++)
		ck_assert_msg(r.in_region[idx[i]], "page %u written, not reported", idx[i]);
	/* stopped again: nothing of the region; STOP unhooks it while stopped
	 * (a context left behind would keep the module from unloading) */
	stop_target(&t);
	snapshot(&t, before);
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	ck_assert(!r.overflow);
	check_round(&t, before, &r, none, true, "stopped again");
	ck_assert_int_eq(ioctl(fd, OOH_IOC_STOP), 0);
	close(fd);
	ck_assert_int_eq(kill(t.pid, SIGCONT), 0);
	finish(&t);
}
END_TEST

/*
 * A handled signal pending while stopped: on SIGCONT the kernel writes its
 * frame (here on an alternate stack inside the tracked region) before
 * anything else the thread does. The first interval holds exactly the
 * handler's pages and the frame's.
 */
START_TEST(stopped_target_pending_signal_exact)
{
	begin("stopped_target_pending_signal_exact");
	struct target t = spawn(NPAGES, 0);
	uint8_t allowed[NPAGES] = { 0 };
	uint64_t before[NPAGES];
	static uint32_t idx[MAX_IDX];
	static struct report r;
	int n = pick(idx, 24, NPAGES - ALT_PAGES, allowed), fd, frame = 0;
	char h = 0;

	send_cmd(&t, CMD_HANDLER, n, idx, 0x5a);
	stop_target(&t);
	ck_assert_int_eq(kill(t.pid, SIGUSR1), 0); /* pending: t is stopped */
	fd = open_session(t.pid, test_mode, 0);
	start_timed(fd, "SIGSTOP, SIGUSR1 pending");
	snapshot(&t, before);
	ck_assert_int_eq(kill(t.pid, SIGCONT), 0);
	ck_assert_int_eq(read(t.ack_fd, &h, 1), 1);
	ck_assert_int_eq(h, 'h');
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	ck_assert_msg(!r.overflow, "first interval after START on a stopped target: overflow");
	for (size_t i = NPAGES - ALT_PAGES; i < NPAGES; i++) {
		allowed[i] = 1; /* the alternate stack: frame and handler */
		frame += r.in_region[i];
	}
	check_round(&t, before, &r, allowed, true, "pending handler");
	for (int i = 0; i < n; i++)
		ck_assert_msg(r.in_region[idx[i]], "page %u written by the handler, not reported",
			      idx[i]);
	ck_assert_msg(frame > 0, "the signal frame's pages were not reported");
	ck_assert_int_eq(ioctl(fd, OOH_IOC_STOP), 0);
	close(fd);
	finish(&t);
}
END_TEST

/* Stopped by a tracer (PTRACE_SEIZE, PTRACE_INTERRUPT), then PTRACE_CONT. */
START_TEST(ptrace_stopped_target_first_interval_exact)
{
	begin("ptrace_stopped_target_first_interval_exact");
	struct target t = spawn(NPAGES, 0);
	uint8_t written[NPAGES] = { 0 };
	uint64_t before[NPAGES];
	static uint32_t idx[MAX_IDX];
	static struct report r;
	int n = pick(idx, 60, NPAGES, written), fd, go[2], ready[2], status;
	pid_t tracer;
	char c = 0;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	tracer = fork();
	ck_assert_int_ge(tracer, 0);
	if (tracer == 0) {
		close(go[1]);
		close(ready[0]);
		if (ptrace(PTRACE_SEIZE, t.pid, 0, 0) || ptrace(PTRACE_INTERRUPT, t.pid, 0, 0))
			_exit(2);
		if (waitpid(t.pid, &status, __WALL) != t.pid || !WIFSTOPPED(status) ||
		    status >> 16 != PTRACE_EVENT_STOP)
			_exit(3);
		if (write(ready[1], "s", 1) != 1 || read(go[0], &c, 1) != 1 ||
		    ptrace(PTRACE_CONT, t.pid, 0, 0) || write(ready[1], "c", 1) != 1)
			_exit(4);
		/* stay attached until told; exiting detaches */
		_exit(read(go[0], &c, 1) == 0 ? 0 : 5);
	}
	close(go[0]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		waitpid(tracer, &status, 0);
		ck_abort_msg("tracer could not stop the target (status %d)", status);
	}
	fd = open_session(t.pid, test_mode, 0);
	start_timed(fd, "ptrace stop");
	snapshot(&t, before);
	ck_assert_int_eq(write(go[1], "c", 1), 1);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(c, 'c');
	send_cmd(&t, CMD_WRITE, n, idx, 0x62);
	ck_assert_int_eq(collect(fd, &t, &r, 4096), 0);
	ck_assert_msg(!r.overflow, "first interval after START on a traced target: overflow");
	check_round(&t, before, &r, written, true, "ptrace-stopped at START");
	for (int i = 0; i < n; i++)
		ck_assert_msg(r.in_region[idx[i]], "page %u written, not reported", idx[i]);
	close(go[1]);
	ck_assert_int_eq(waitpid(tracer, &status, 0), tracer);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tracer status %d", status);
	close(ready[0]);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_STOP), 0);
	close(fd);
	finish(&t);
}
END_TEST


/* ---- who may track whom: ooh.ko answers as ptrace(2) attach does ---- */

struct ident {
	uid_t ruid, euid;	/* the saved uid is the effective one */
	bool cap_ptrace;	/* keep CAP_SYS_PTRACE, and only it */
	bool dumpable;
};

/* Become id (from root); 0 or -1. */
static int become(const struct ident *id)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (id->cap_ptrace && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return -1;
	if (setresgid(id->ruid, id->euid, id->euid) || setresuid(id->ruid, id->euid, id->euid))
		return -1;
	if (id->cap_ptrace) {
		d[0].effective = d[0].permitted = 1u << CAP_SYS_PTRACE;
		if (syscall(SYS_capset, &h, d))
			return -1;
	}
	/* changing ids made it non-dumpable (suid_dumpable 0): say which */
	return prctl(PR_SET_DUMPABLE, id->dumpable ? 1 : 0, 0, 0, 0) ? -1 : 0;
}

/* A process that sleeps as id; its pid. */
static pid_t sleeper(const struct ident *id)
{
	int fds[2];
	char c = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (become(id))
			_exit(2);
		if (write(fds[1], "r", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

/* As tracker: bit 0 set if ooh.ko opened a session on target, bit 1 if
 * PTRACE_SEIZE succeeded (undone by the tracker's exit); 8+ on errors. */
static int rights(const struct ident *tracker, pid_t target)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct ooh_open_session o = { .pid = target, .mode = test_mode };
		int code = 0, f;

		if (become(tracker))
			_exit(8);
		f = open("/dev/ooh", O_RDWR);
		if (f < 0)
			_exit(9);
		if (ioctl(f, OOH_IOC_OPEN_SESSION, &o) == 0)
			code |= 1;
		else if (errno != EPERM)
			_exit(10);
		close(f);
		if (ptrace(PTRACE_SEIZE, target, 0, 0) == 0)
			code |= 2;
		else if (errno != EPERM)
			_exit(11);
		_exit(code);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "tracker status %d", status);
	return WEXITSTATUS(status);
}

static int yama_scope(int set)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r+");
	int old = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &old) != 1)
		old = -1;
	rewind(f);
	fprintf(f, "%d\n", set);
	fclose(f);
	return old;
}

/*
 * Same user, other user, CAP_SYS_PTRACE, a non-dumpable (setuid-like)
 * target, real vs file-system ids: each answer must be ptrace(2)'s, and
 * the one expected (Yama at scope 0; its scope 2 is pml-suite.sh's case).
 */
START_TEST(tracker_rights_are_ptrace_rights)
{
	const uid_t nobody = 65534, other = 65533;
	const struct ident root = { 0, 0, false, true },
		user = { nobody, nobody, false, true },
		user_nodump = { nobody, nobody, false, false },
		user_cap = { nobody, nobody, true, true },
		otheruser = { other, other, false, true },
		/* real id nobody, effective (and so fs) id other */
		mixed = { nobody, other, false, true };
	const struct {
		const char *what;
		const struct ident *tracker, *target;
		int expect;
	} cases[] = {
		{ "same user", &user, &user, 3 },
		{ "other user", &user, &otheruser, 0 },
		{ "user on root", &user, &root, 0 },
		{ "CAP_SYS_PTRACE on root", &user_cap, &root, 3 },
		{ "root on user", &root, &user, 3 },
		{ "same user, non-dumpable target", &user, &user_nodump, 0 },
		{ "root on non-dumpable target", &root, &user_nodump, 3 },
		{ "real id counts, not the fs id", &mixed, &otheruser, 0 },
		{ "real id counts (the target's)", &mixed, &user, 3 },
	};
	int old;

	begin("tracker_rights_are_ptrace_rights");
	if (geteuid() != 0)
		return; /* needs to become other users */
	old = yama_scope(0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t t = sleeper(cases[i].target);
		int got = rights(cases[i].tracker, t);

		kill(t, SIGKILL);
		waitpid(t, NULL, 0);
		ck_assert_msg(got < 8, "%s: tracker could not be set up (%d)", cases[i].what, got);
		ck_assert_msg(got == cases[i].expect,
			      "%s: ooh.ko %s, ptrace %s (expected both %s)", cases[i].what,
			      got & 1 ? "allowed" : "refused", got & 2 ? "allowed" : "refused",
			      cases[i].expect ? "allowed" : "refused");
	}
	if (old >= 0)
		yama_scope(old);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, exact_dirty_sets_single_thread);
	tcase_add_test(tc, exact_dirty_sets_two_vcpus);
	tcase_add_test(tc, exact_dirty_sets_hopping_vcpus);
	tcase_add_test(tc, two_trackers_see_only_their_target);
	tcase_add_test(tc, fork_child_writes_are_not_the_target);
	tcase_add_test(tc, munmap_and_target_exit);
	tcase_add_test(tc, mapping_changes_are_reported);
	tcase_add_test(tc, small_log_overflows_and_answer_is_conservative);
	tcase_add_test(tc, log_drained_on_notification);
	tcase_add_test(tc, permissions_and_bad_input);
	tcase_add_test(tc, self_tracking);
	tcase_add_test(tc, stopped_target_first_interval_exact);
	tcase_add_test(tc, stopped_target_pending_signal_exact);
	tcase_add_test(tc, ptrace_stopped_target_first_interval_exact);
	tcase_add_test(tc, tracker_rights_are_ptrace_rights);
}

int main(void)
{
	const char *mode = getenv("OOH_PML_MODE");
	Suite *suite = suite_create("ooh-pml");
	TCase *tc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mode && !strcmp(mode, "epml")) {
		test_mode = OOH_MODE_EPML;
		tc = tcase_create("epml");
	} else {
		tc = tcase_create("spml");
	}
	add_tests(tc);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
