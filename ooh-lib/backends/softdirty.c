/* SPDX-License-Identifier: MIT */
/*
 * softdirty backend: writing "4" to /proc/PID/clear_refs clears every
 * pte's soft-dirty bit; pagemap bit 55 then tells which pages were written
 * since.  Works on another process (the classic CRIU pre-dump path).
 *
 * A kernel built without CONFIG_MEM_SOFT_DIRTY still accepts "4" and then
 * never sets bit 55, which would read as "nothing is dirty".  The probe
 * therefore writes a page and requires to see bit 55 go 0 -> 1; without
 * that proof the backend refuses to open.
 *
 * Reading the bits and clearing them are two steps: for another process
 * all its threads are frozen (ptrace) around them, so no write can fall in
 * between (unless the caller says it keeps them stopped itself:
 * OOH_COLLECT_FROZEN).  For the calling process that is impossible; if other threads
 * exist, a re-arming collect reports OOH_RESULT_OVERFLOW.  clear_refs acts
 * on the whole mm, so one softdirty tracker per target at a time (-EBUSY).
 * A THP's bit covers all its 512 pages: reports are per 4 KiB page but
 * may include clean pages of a written THP (no OOH_CAP_PAGE_EXACT).
 *
 * Memory that changes without a store (issue #16): a new or expanded VMA
 * reads soft-dirty whole (VM_SOFTDIRTY), and mremap marks the ptes it
 * moves soft-dirty; but a page dropped (MADV_DONTNEED, MADV_FREE
 * discarded, a hole moved over it) leaves an empty pte that is not, and a
 * read then maps the zero page, not soft-dirty either.  So every arm also
 * keeps the pagemap entry of each page that holds data and each collect
 * compares it, in the same pagemap pass (src/pagecheck.c; in flags mode
 * it reads the target's memory with process_vm_readv).
 * OOH_SOFTDIRTY_CHECK=off|flags|pfn overrides the mode (off: drops are
 * missed; only for measuring what the check costs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"
#include "pagecheck.h"

#define CHUNK_PAGES 8192

struct sd_priv {
	int pagemap_fd, clear_refs_fd; /* kept open: re-opening costs at every collect */
	uint64_t *buf;
	struct pagecheck pc;
};

static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t busy_pids[64];

static int claim_pid(pid_t pid)
{
	int err = -EBUSY;
	pthread_mutex_lock(&busy_lock);
	for (int i = 0; i < 64; i++)
		if (busy_pids[i] == pid)
			goto out;
	for (int i = 0; i < 64; i++)
		if (!busy_pids[i]) {
			busy_pids[i] = pid;
			err = 0;
			break;
		}
out:
	pthread_mutex_unlock(&busy_lock);
	return err;
}

static void release_pid(pid_t pid)
{
	pthread_mutex_lock(&busy_lock);
	for (int i = 0; i < 64; i++)
		if (busy_pids[i] == pid)
			busy_pids[i] = 0;
	pthread_mutex_unlock(&busy_lock);
}

static int read_entry(int fd, uint64_t addr, uint64_t *e)
{
	ssize_t r = pread(fd, e, sizeof(*e), (off_t)(addr / OOH_PAGE_SIZE * sizeof(*e)));
	return r == sizeof(*e) ? 0 : (r < 0 ? -errno : -EIO);
}

static int probe(char *reason, size_t len)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	volatile char *mem = mmap(NULL, OOH_PAGE_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t before = 0, after = 0;
	int err = 0;

	if (fd < 0 || mem == MAP_FAILED) {
		err = -errno;
		set_reason(reason, len, "cannot set up probe: %s", strerror(errno));
		goto out;
	}
	mem[0] = 1;
	err = write_file_str("/proc/self/clear_refs", "4");
	if (err) {
		set_reason(reason, len, "writing 4 to /proc/self/clear_refs failed: %s", strerror(-err));
		err = -EOPNOTSUPP;
		goto out;
	}
	err = read_entry(fd, (uintptr_t)mem, &before);
	mem[0] = 2;
	if (!err)
		err = read_entry(fd, (uintptr_t)mem, &after);
	if (err) {
		set_reason(reason, len, "reading /proc/self/pagemap failed: %s", strerror(-err));
		goto out;
	}
	if ((before >> PM_SOFT_DIRTY_BIT) & 1) {
		set_reason(reason, len, "clear_refs 4 did not clear pagemap bit 55");
		err = -EOPNOTSUPP;
	} else if (!((after >> PM_SOFT_DIRTY_BIT) & 1)) {
		set_reason(reason, len, "kernel accepts clear_refs 4 but never sets pagemap bit 55 "
			   "(built without CONFIG_MEM_SOFT_DIRTY): writes would go unseen");
		err = -EOPNOTSUPP;
	}
out:
	if (mem != MAP_FAILED)
		munmap((void *)mem, OOH_PAGE_SIZE);
	if (fd >= 0)
		close(fd);
	return err;
}

static int sd_open(struct ooh_tracker *t)
{
	struct sd_priv *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->buf = malloc(CHUNK_PAGES * sizeof(uint64_t));
	p->pagemap_fd = open_proc(t->pid, "pagemap", O_RDONLY);
	p->clear_refs_fd = open_proc(t->pid, "clear_refs", O_WRONLY);
	err = !p->buf ? -ENOMEM : p->pagemap_fd < 0 ? p->pagemap_fd : p->clear_refs_fd < 0 ? p->clear_refs_fd : 0;
	if (!err)
		err = pagecheck_init(&p->pc, t->pid, getenv("OOH_SOFTDIRTY_CHECK"));
	if (!err)
		err = claim_pid(t->pid);
	if (err) {
		pagecheck_free(&p->pc);
		if (p->pagemap_fd >= 0)
			close(p->pagemap_fd);
		if (p->clear_refs_fd >= 0)
			close(p->clear_refs_fd);
		free(p->buf);
		free(p);
		return err;
	}
	t->priv = p;
	return 0;
}

static void sd_close(struct ooh_tracker *t)
{
	struct sd_priv *p = t->priv;

	release_pid(t->pid);
	close(p->pagemap_fd);
	close(p->clear_refs_fd);
	pagecheck_free(&p->pc);
	free(p->buf);
	free(p);
	t->priv = NULL;
}

static int clear(struct ooh_tracker *t)
{
	struct sd_priv *p = t->priv;
	ssize_t w = write(p->clear_refs_fd, "4", 1);
	if (w == 1)
		return 0;
	return w < 0 ? -errno : -EIO; /* ESRCH once the target is gone */
}

/*
 * Read the entries of [s, e): the soft-dirty pages go to dirty (if any);
 * the page check compares (reporting into out, if any) and, with store,
 * keeps them.
 */
static int read_range(struct ooh_tracker *t, uint64_t s, uint64_t e, struct region_list *dirty,
		      bool store, struct region_list *out)
{
	struct sd_priv *p = t->priv;

	while (s < e) {
		size_t want = (size_t)((e - s) / OOH_PAGE_SIZE);
		if (want > CHUNK_PAGES)
			want = CHUNK_PAGES;
		ssize_t r = pread(p->pagemap_fd, p->buf, want * sizeof(uint64_t),
				  (off_t)(s / OOH_PAGE_SIZE * sizeof(uint64_t)));
		if (r <= 0)
			return r < 0 ? (errno == ESRCH ? -ESRCH : -errno) : -ESRCH;
		size_t got = (size_t)r / sizeof(uint64_t);
		for (size_t i = 0; i < got && dirty; i++)
			if ((p->buf[i] >> PM_SOFT_DIRTY_BIT) & 1) {
				int err = region_list_add(dirty, s + i * OOH_PAGE_SIZE, s + (i + 1) * OOH_PAGE_SIZE);
				if (err)
					return err;
			}
		int err = pagecheck_feed(&p->pc, s, p->buf, got, store, out);
		if (err)
			return err;
		s += got * OOH_PAGE_SIZE;
	}
	return 0;
}

/* One pass over the mapped parts of the ranges (see read_range). */
static int walk(struct ooh_tracker *t, struct region_list *dirty, bool store, struct region_list *out)
{
	struct sd_priv *p = t->priv;
	struct vma *v = NULL;
	ssize_t n = read_maps(t->pid, t->ranges, t->nr_ranges, &v);
	int err = n < 0 ? (int)n : 0;

	pagecheck_begin(&p->pc);
	for (ssize_t i = 0; i < n && !err; i++)
		for (size_t k = 0; k < t->nr_ranges && !err; k++) {
			uint64_t s = v[i].start > t->ranges[k].start ? v[i].start : t->ranges[k].start;
			uint64_t e = v[i].end < t->ranges[k].end ? v[i].end : t->ranges[k].end;
			if (s < e)
				err = read_range(t, s, e, dirty, store, out);
		}
	pagecheck_end(&p->pc, store && !err);
	free(v);
	return err;
}

/*
 * The page check's first record, then the clear, with another process
 * frozen in between: a page written and dropped there would be missed.
 * A target we may not freeze (-EPERM: traced by the caller, or no right;
 * collects then need OOH_COLLECT_FROZEN anyway) is armed as it runs.
 */
static int sd_start(struct ooh_tracker *t)
{
	struct ptrace_freeze f = { 0 };
	int err = t->self ? 0 : freeze_target(t->pid, &f);
	bool frozen = !t->self && !err;

	if (err && err != -EPERM)
		return err;
	err = walk(t, NULL, true, NULL);
	if (!err)
		err = clear(t);
	if (frozen)
		thaw_target(&f);
	return err;
}

static int sd_stop(struct ooh_tracker *t)
{
	(void)t;
	return 0; /* nothing armed that costs the target anything */
}

static int sd_snapshot(struct ooh_tracker *t, bool rearm, struct region_list *out, uint32_t *rflags)
{
	struct ptrace_freeze f = { 0 };
	int err;

	/* Caller-frozen (OOH_COLLECT_FROZEN): its stop is our freeze. */
	bool freeze = rearm && !t->self && !(t->collect_flags & OOH_COLLECT_FROZEN);

	if (freeze) {
		err = freeze_target(t->pid, &f);
		if (err)
			return err;
	}
	if (rearm && t->self && proc_thread_count(t->pid) > 1)
		*rflags |= OOH_RESULT_OVERFLOW; /* a racing write could fall between read and clear */
	err = walk(t, out, rearm, out);
	if (!err && rearm)
		err = clear(t);
	if (freeze)
		thaw_target(&f);
	return err;
}

const struct backend_ops ooh_backend_softdirty = {
	.id = OOH_BACKEND_SOFTDIRTY,
	.name = "softdirty",
	.caps = OOH_CAP_SELF | OOH_CAP_REMOTE | OOH_CAP_WHOLE | OOH_CAP_ATOMIC_REARM |
		OOH_CAP_MAPPING_CHANGES,
	.probe = probe,
	.open = sd_open,
	.close = sd_close,
	.start = sd_start,
	.stop = sd_stop,
	.snapshot = sd_snapshot,
};
