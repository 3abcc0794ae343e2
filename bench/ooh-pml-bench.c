// SPDX-License-Identifier: MIT
/*
 * ooh-pml-bench: figures for OoH-PML inside a guest under ooh-l0.
 *  - empty hypercall round trip (PING from userspace through ioperm);
 *  - per backend (ooh SPML, ooh EPML through /dev/ooh; softdirty, uffd
 *    through libooh) on one target process: cost of a first write to a page
 *    in a tracked interval, and of a collect, at several dirty fractions;
 *  - exits per collect and per target context switch (hypervisor counters).
 * Prints "OOH-BENCH name value unit" lines and OOH-RESULT lines for the
 * two structural claims (0 exits per context switch; bounded exits per
 * collect). Needs root (ioperm, pagemap).
 *
 * For ooh-kvmstat --split-on stats in L1 (bench/ooh-pml-bench-l1.sh), each
 * phase whose exits are stated gets a window of its own, and its number is
 * printed with what the guest's own counters say of it:
 *
 *   OOH-BENCH-WINDOW phase W key=value...
 *
 * A STATS marker (a STATS hypercall from here, user-hc.h) right before the
 * phase returns the STATS hypercalls so far, which is its window's number;
 * the phases bracketed by two OOH_IOC_STATS run in the window the first
 * ioctl's STATS hypercall opens (marker + 1). A marker after the phase
 * checks that no other STATS hypercall ran meanwhile: if one did, the line
 * says "lost" instead of a number. Keys: pings (the empty-hypercall loop);
 * pages (first writes, tracked or MODE-untracked-*: the baseline after
 * MODE); hypercalls, kicks, vcpu_exits (the hypervisor's counters between
 * the two ioctls: hypercalls but the second STATS, kick exits, KVM_RUN
 * returns with an exit), rounds and sched_in (ping-pong).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>
#include "ooh.h"
#include "../tests/guest-module/user-hc.h"

#define REGION_PAGES 4096ul	/* 16 MiB */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void figure(const char *name, double value, const char *unit)
{
	printf("OOH-BENCH %s %.2f %s\n", name, value, unit);
}

/* ---- windows for ooh-kvmstat in L1 ---- */

static struct gpage hc_page;
static bool have_markers;

/* Our STATS hypercall: the number of the window it opened (0: none). */
static unsigned marker(void)
{
	return have_markers ? (unsigned)hc_stats(hc_page, NULL) : 0;
}

static void markers_init(void)
{
	const char *why = "ioperm";

	if (ioperm(OOH_HC_PORT, 4, 1) || gpage_try(&hc_page, &why) ||
	    (why = "madvise", madvise(hc_page.va, PAGE, MADV_DONTFORK))) { /* targets are forked */
		printf("OOH-BENCH-WINDOW none no STATS markers: %s: %s\n", why, strerror(errno));
		return;
	}
	have_markers = true;
}

/*
 * The phase that ran in window w (0: no markers) ended; the marker made
 * here must open window w + after (after: the STATS hypercalls since the
 * one that opened w, this marker's included). Prints the window line with
 * the details in fmt.
 */
static void window_done(const char *phase, unsigned w, unsigned after, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void window_done(const char *phase, unsigned w, unsigned after, const char *fmt, ...)
{
	unsigned check = marker();
	va_list ap;

	if (!w || !check)
		return;
	if (check != w + after) {
		printf("OOH-BENCH-WINDOW %s lost (window %u, but the next marker opened %u)\n",
		       phase, w, check);
		return;
	}
	printf("OOH-BENCH-WINDOW %s %u ", phase, w);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* ---- target: writes on command, times itself ---- */

struct tcmd {
	int op;			/* 1 write, 2 ping-pong, 3 exit */
	uint32_t pages, stride, value, rounds;
};

static uint8_t *region;

static void target_main(int in, int out, int pp_in, int pp_out)
{
	struct tcmd c;
	char b = 0;

	for (size_t i = 0; i < REGION_PAGES; i++)
		region[i * PAGE] = 1;
	write(out, &b, 1);
	while (read(in, &c, sizeof(c)) == sizeof(c)) {
		double t0 = now_us(), dt;

		if (c.op == 1) {
			for (uint32_t i = 0; i < c.pages; i++)
				region[(size_t)((i * c.stride) % REGION_PAGES) * PAGE + 8] = (uint8_t)c.value;
		} else if (c.op == 2) {
			for (uint32_t i = 0; i < c.rounds; i++) {
				write(pp_out, &b, 1);
				read(pp_in, &b, 1);
			}
		} else {
			_exit(0);
		}
		dt = now_us() - t0;
		write(out, &dt, sizeof(dt));
	}
	_exit(0);
}

struct target {
	pid_t pid, partner;
	int in, out;
};

static struct target spawn(void)
{
	int a[2], b[2], p1[2], p2[2];
	struct target t;
	char c;

	region = mmap(NULL, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED || pipe(a) || pipe(b) || pipe(p1) || pipe(p2))
		exit(2);
	t.pid = fork();
	if (t.pid == 0)
		target_main(a[0], b[1], p2[0], p1[1]);
	/* the partner of the ping-pong: context switches on both sides */
	t.partner = fork();
	if (t.partner == 0) {
		while (read(p1[0], &c, 1) == 1)
			write(p2[1], &c, 1);
		_exit(0);
	}
	t.in = a[1];
	t.out = b[0];
	read(t.out, &c, 1);
	return t;
}

static double tcmd(struct target *t, int op, uint32_t pages, uint32_t stride, uint32_t value,
		   uint32_t rounds)
{
	struct tcmd c = { op, pages, stride, value, rounds };
	double dt = 0;

	write(t->in, &c, sizeof(c));
	if (op != 3)
		read(t->out, &dt, sizeof(dt));
	return dt;
}

static void finish(struct target *t)
{
	tcmd(t, 3, 0, 0, 0, 0);
	kill(t->partner, SIGKILL);
	waitpid(t->pid, NULL, 0);
	waitpid(t->partner, NULL, 0);
	munmap(region, REGION_PAGES * PAGE);
}

/* ---- empty hypercall ---- */

static void bench_ping(void)
{
	uint8_t *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile struct ooh_hc_req *req = (void *)page;
	uint64_t entry = 0, gpa;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	double t0;
	unsigned w;
	int n = 2000;

	page[0] = 1;
	mlock(page, PAGE);
	if (fd < 0 || pread(fd, &entry, 8, (off_t)((uintptr_t)page / PAGE * 8)) != 8 ||
	    ioperm(OOH_HC_PORT, 4, 1)) {
		printf("OOH-RESULT SKIP bench-ping no pagemap/ioperm\n");
		return;
	}
	close(fd);
	gpa = (entry & ((1ull << 55) - 1)) * PAGE;
	w = marker();
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		req->op = OOH_HC_PING;
		req->session = 0;
		req->flags = 0;
		outl((uint32_t)(gpa >> OOH_HC_ALIGN_SHIFT), OOH_HC_PORT);
	}
	figure("empty-hypercall", (now_us() - t0) / n, "us");
	window_done("empty-hypercall", w, 1, "pings=%d", n);
	if (req->result != (int32_t)OOH_ABI_VERSION)
		printf("OOH-RESULT FAIL bench-ping result %d\n", req->result);
}

/* ---- backends ---- */

static int stats(int fd, struct ooh_session_stats *st)
{
	return ioctl(fd, OOH_IOC_STATS, st);
}

static uint64_t *collect_buf;

/* /dev/ooh collect; returns pages, fills time */
static long dev_collect(int fd, double *us)
{
	struct ooh_collect c;
	long total = 0;
	double t0 = now_us();

	memset(&c, 0, sizeof(c));
	do {
		c.buf = (uintptr_t)collect_buf;
		c.count = REGION_PAGES * 2;
		c.flags = total ? OOH_COLLECT_F_CONTINUE : 0;
		c.start = c.end = 0;
		if (ioctl(fd, OOH_IOC_COLLECT, &c))
			return -errno;
		total += (long)c.count;
	} while (c.flags & OOH_COLLECT_F_MORE);
	*us = now_us() - t0;
	return total;
}

static const double fractions[] = { 0.01, 0.1, 1.0 };

static void bench_ooh(uint32_t mode)
{
	const char *m = mode == OOH_MODE_SPML ? "spml" : "epml";
	struct target t = spawn();
	struct ooh_open_session o = { .pid = t.pid, .mode = mode, .log_bytes = 4u << 20 };
	struct ooh_session_stats a, b;
	int fd = open("/dev/ooh", O_RDWR);
	char name[96];
	double us, base;
	unsigned w;

	if (fd < 0 || ioctl(fd, OOH_IOC_OPEN_SESSION, &o) || ioctl(fd, OOH_IOC_START)) {
		printf("OOH-RESULT SKIP bench-%s %s\n", m, strerror(errno));
		finish(&t);
		return;
	}
	dev_collect(fd, &us);
	for (size_t f = 0; f < sizeof(fractions) / sizeof(fractions[0]); f++) {
		uint32_t pages = (uint32_t)(REGION_PAGES * fractions[f]);
		long n;

		w = marker();
		base = tcmd(&t, 1, pages, 7, 0x30 + (uint32_t)f, 0); /* first writes */
		snprintf(name, sizeof(name), "%s-write-%u-pages", m, pages);
		window_done(name, w, 1, "pages=%u", pages);
		w = marker();
		stats(fd, &a);
		n = dev_collect(fd, &us);
		stats(fd, &b);
		snprintf(name, sizeof(name), "%s-collect-%u-pages", m, pages);
		window_done(name, w ? w + 1 : 0, 2, "hypercalls=%llu kicks=%llu vcpu_exits=%llu",
			    (unsigned long long)(b.hv_hypercalls - a.hv_hypercalls - 1),
			    (unsigned long long)(b.hv_kick_exits - a.hv_kick_exits),
			    (unsigned long long)(b.hv_vcpu_exits - a.hv_vcpu_exits));
		snprintf(name, sizeof(name), "%s-write-%u-pages", m, pages);
		figure(name, base / pages, "us/page");
		snprintf(name, sizeof(name), "%s-collect-%u-pages", m, pages);
		figure(name, us, "us");
		printf("OOH-BENCH %s-collect-%u-pages-reported %ld pages\n", m, pages, n);
		snprintf(name, sizeof(name), "%s-collect-hypercalls", m);
		/* the second STATS is itself a hypercall */
		figure(name, (double)(b.hv_hypercalls - a.hv_hypercalls - 1), "exits");
		snprintf(name, sizeof(name), "%s-collect-kick-exits", m);
		figure(name, (double)(b.hv_kick_exits - a.hv_kick_exits), "exits");
		if (b.hv_hypercalls - a.hv_hypercalls - 1 != 1)
			printf("OOH-RESULT FAIL bench-%s-exits-per-collect %llu hypercalls\n", m,
			       (unsigned long long)(b.hv_hypercalls - a.hv_hypercalls - 1));
	}
	/* context switches: target <-> partner ping-pong, counted by our hooks */
	{
		uint32_t rounds = 1000;
		struct ooh_session_stats c;
		double us_pp;

		w = marker();
		stats(fd, &a);
		us_pp = tcmd(&t, 2, 0, 0, 0, rounds);
		stats(fd, &b);
		c = b;
		snprintf(name, sizeof(name), "%s-context-switch", m);
		window_done(name, w ? w + 1 : 0, 2,
			    "hypercalls=%llu kicks=%llu vcpu_exits=%llu rounds=%u sched_in=%llu",
			    (unsigned long long)(b.hv_hypercalls - a.hv_hypercalls - 1),
			    (unsigned long long)(b.hv_kick_exits - a.hv_kick_exits),
			    (unsigned long long)(b.hv_vcpu_exits - a.hv_vcpu_exits), rounds,
			    (unsigned long long)(c.sched_in - a.sched_in));
		snprintf(name, sizeof(name), "%s-pingpong-round", m);
		figure(name, us_pp / rounds, "us");
		snprintf(name, sizeof(name), "%s-context-switch-hypercalls", m);
		figure(name, (double)(b.hv_hypercalls - a.hv_hypercalls - 1), "exits");
		snprintf(name, sizeof(name), "%s-vcpu-exits-per-round", m);
		figure(name, (double)(b.hv_vcpu_exits - a.hv_vcpu_exits) / rounds, "exits");
		if (mode == OOH_MODE_EPML) {
			figure("epml-target-sched-in", (double)(c.sched_in - a.sched_in), "switches");
			if (c.sched_in - a.sched_in > 0 && b.hv_hypercalls - a.hv_hypercalls - 1 == 0)
				printf("OOH-RESULT PASS bench-epml-no-exit-per-context-switch %llu switches, 0 hypercalls\n",
				       (unsigned long long)(c.sched_in - a.sched_in));
			else
				printf("OOH-RESULT FAIL bench-epml-no-exit-per-context-switch %llu switches, %llu hypercalls\n",
				       (unsigned long long)(c.sched_in - a.sched_in),
				       (unsigned long long)(b.hv_hypercalls - a.hv_hypercalls - 1));
		}
	}
	close(fd);
	finish(&t);
	/* untracked baseline for the same writes and ping-pong */
	t = spawn();
	w = marker();
	base = tcmd(&t, 1, REGION_PAGES / 10, 7, 0x55, 0);
	snprintf(name, sizeof(name), "%s-untracked-write-%lu-pages", m, REGION_PAGES / 10);
	window_done(name, w, 1, "pages=%lu", REGION_PAGES / 10);
	snprintf(name, sizeof(name), "untracked-write-%lu-pages", REGION_PAGES / 10);
	figure(name, base / (REGION_PAGES / 10), "us/page");
	w = marker();
	us = tcmd(&t, 2, 0, 0, 0, 1000);
	snprintf(name, sizeof(name), "%s-untracked-pingpong", m);
	window_done(name, w, 1, "rounds=1000");
	figure("untracked-pingpong-round", us / 1000, "us");
	finish(&t);
}

static void bench_libooh(enum ooh_backend backend)
{
	const char *m = ooh_backend_name(backend);
	struct target t = spawn();
	struct ooh_open_opts o = { .size = sizeof(o), .backend = backend, .pid = t.pid,
				   .flags = OOH_OPEN_START };
	struct ooh_range r = { (uintptr_t)region, REGION_PAGES * PAGE };
	ooh_tracker *tr;
	char name[96];
	int err;

	o.ranges = &r;
	o.nr_ranges = 1;
	err = ooh_open(&o, &tr);
	if (err) {
		printf("OOH-RESULT SKIP bench-%s %s\n", m, strerror(-err));
		finish(&t);
		return;
	}
	for (size_t f = 0; f < sizeof(fractions) / sizeof(fractions[0]); f++) {
		uint32_t pages = (uint32_t)(REGION_PAGES * fractions[f]);
		struct ooh_collect_result res;
		long n = 0;
		double w = tcmd(&t, 1, pages, 7, 0x40 + (uint32_t)f, 0), t0 = now_us();

		do {
			err = ooh_collect(tr, collect_buf, REGION_PAGES * 2, OOH_COLLECT_REARM, &res);
			n += (long)res.count;
		} while (!err && (res.flags & OOH_RESULT_MORE));
		snprintf(name, sizeof(name), "%s-write-%u-pages", m, pages);
		figure(name, w / pages, "us/page");
		snprintf(name, sizeof(name), "%s-collect-%u-pages", m, pages);
		figure(name, now_us() - t0, "us");
		printf("OOH-BENCH %s-collect-%u-pages-reported %ld pages\n", m, pages, n);
	}
	ooh_close(tr);
	finish(&t);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	collect_buf = calloc(REGION_PAGES * 2, sizeof(uint64_t));
	markers_init();
	bench_ping();
	bench_ooh(OOH_MODE_SPML);
	bench_ooh(OOH_MODE_EPML);
	bench_libooh(OOH_BACKEND_SOFTDIRTY);
	bench_libooh(OOH_BACKEND_UFFD);
	return 0;
}
