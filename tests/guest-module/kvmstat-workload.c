// SPDX-License-Identifier: MIT
/*
 * ooh-kvmstat-workload: a guest workload whose exits are known, for
 * ooh-kvmstat's rig test (tests/integration/65-kvmstat.sh) and benchmark.
 * Runs in L2 as root with ooh.ko loaded. Each phase runs in a window of
 * its own: ooh-kvmstat --split-on stats opens a window at every STATS
 * hypercall, and the STATS reply counts the STATS hypercalls made so far,
 * so the window a phase ran in is known here exactly and printed:
 *
 *   OOH-KVMSTAT-PHASE ping window=W calls=N
 *   OOH-KVMSTAT-PHASE spp-permit window=W writes=N
 *   OOH-KVMSTAT-PHASE switches-epml window=W switches=N sched_in=S rounds=R hypercalls=H
 *
 * (switches: the target's context switches, from /proc; sched_in: those
 * ooh.ko's EPML hook saw; hypercalls: what the guest's own counters say
 * the window made, beside what ooh-kvmstat counts from L1.) Any failure: OOH-KVMSTAT-ERROR and
 * status 1.
 *
 *   ooh-kvmstat-workload --ping-rounds R M
 *
 * (bench/kvmstat-overhead-l1.sh; ooh.ko not needed) runs R rounds of M
 * PING hypercalls, a hypercall-bound loop (M 0: as many as take about half
 * a second, measured first). Each round is opened by a STATS marker
 * (window W), then makes W % 64 hypercalls of an op that does not exist
 * (ooh-kvmstat's "bad-hypercall"; ooh-l0 answers -ENOSYS and does nothing
 * else), then the timed PINGs, and prints
 *
 *   OOH-KVMSTAT-ROUND window=W pings=M us=T rate=PINGS_PER_S
 *
 * The bad hypercalls tag the round: an ooh-kvmstat -p attached in the
 * middle of the run numbers its windows from its own start; the tag says
 * which round its window is, given where the run was when it attached.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include "user-hc.h"

static struct gpage hc_page;

static void die(const char *what)
{
	printf("OOH-KVMSTAT-ERROR %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A STATS hypercall: opens a window; returns that window's number. */
static unsigned marker(void)
{
	uint64_t w = hc_stats(hc_page, NULL);

	if (!w) {
		errno = EIO;
		die("STATS hypercall");
	}
	return (unsigned)w;
}

#define NO_SUCH_OP 0x7fffffffu	/* the round tag: a hypercall op that does not exist */
#define TAG_MOD 64

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void ping(void)
{
	if (hc_at(hc_page, 0, OOH_HC_PING, 0, 0, 0, 0, 0, 0) != (int32_t)OOH_ABI_VERSION) {
		errno = EIO;
		die("PING");
	}
}

static void ping_rounds(unsigned rounds, unsigned m)
{
	if (!m) {	/* about 0.5 s a round */
		double t0 = now_us(), us;

		for (unsigned i = 0; i < 200; i++)
			ping();
		us = (now_us() - t0) / 200;
		m = us > 0 && 5e5 / us < 1e6 ? ((unsigned)(5e5 / us) + 50) / 100 * 100 : 1000000;
		if (m < 100)
			m = 100;
		printf("OOH-KVMSTAT-ROUNDS pings=%u (a PING took %.1f us)\n", m, us);
	}
	for (unsigned r = 0; r < rounds; r++) {
		unsigned w = marker();
		double t0, us;

		for (unsigned i = 0; i < w % TAG_MOD; i++)
			if (hc_at(hc_page, 0, NO_SUCH_OP, 0, 0, 0, 0, 0, 0) != -OOH_E_NOSYS) {
				errno = EIO;
				die("tag hypercall");
			}
		t0 = now_us();
		for (unsigned i = 0; i < m; i++)
			ping();
		us = now_us() - t0;
		printf("OOH-KVMSTAT-ROUND window=%u pings=%u us=%.0f rate=%.1f\n", w, m, us,
		       us > 0 ? m * 1e6 / us : 0);
	}
}

static void phase_ping(unsigned n)
{
	unsigned w = marker();

	for (unsigned i = 0; i < n; i++)
		if (hc_at(hc_page, 0, OOH_HC_PING, 0, 0, 0, 0, 0, 0) != (int32_t)OOH_ABI_VERSION) {
			errno = EIO;
			die("PING");
		}
	printf("OOH-KVMSTAT-PHASE ping window=%u calls=%u\n", w, n);
}

/* n writes into the writable half of a page whose other half is refused. */
static void phase_spp(int dev, unsigned n)
{
	volatile uint8_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ooh_spp_range r = { .nr_pages = 1, .mask = 0x0000ffffu };
	unsigned w;

	if (p == MAP_FAILED)
		die("mmap");
	p[0] = 1;
	r.addr = (uintptr_t)p;
	if (ioctl(dev, OOH_IOC_SPP_PROTECT, &r))
		die("SPP_PROTECT");
	w = marker();
	for (unsigned i = 0; i < n; i++)
		p[(i % 16) * 128 + 1] = (uint8_t)(i + 1);
	for (unsigned i = 0; i < 16 && i < n; i++) {
		unsigned last = i + (n - 1 - i) / 16 * 16;	/* the last i' = i mod 16 */

		if (p[i * 128 + 1] != (uint8_t)(last + 1)) {
			errno = EIO;
			die("permitted SPP write lost");
		}
	}
	(void)marker();	/* the release is not the phase's */
	if (ioctl(dev, OOH_IOC_SPP_RELEASE, &r))
		die("SPP_RELEASE");
	munmap((void *)p, PAGE);
	printf("OOH-KVMSTAT-PHASE spp-permit window=%u writes=%u\n", w, n);
}

/* The context switches of process pid so far (switches out, per the kernel). */
static unsigned long long ctxt_switches(pid_t pid)
{
	char path[64], line[128];
	unsigned long long n, sum = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %llu", &n) == 1)
			sum += n;
	fclose(f);
	return sum;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

/*
 * The target and this process ping-pong over pipes on one CPU: every round
 * switches the target in and out once. The window is the one opened by
 * the first STATS ioctl's hypercall and closed by the second's.
 */
static void phase_switches(uint32_t mode, unsigned rounds)
{
	const char *name = mode == OOH_MODE_EPML ? "epml" : "spml";
	struct ooh_open_session o = { .mode = mode, .log_bytes = 1u << 20 };
	struct ooh_session_stats a, b;
	unsigned long long switches;
	int to[2], from[2], dev;
	unsigned w;
	pid_t t;
	char c = 0;

	pin(0);
	if (pipe(to) || pipe(from))
		die("pipe");
	t = fork();
	if (t < 0)
		die("fork");
	if (t == 0) {
		close(to[1]);	/* EOF on to[0] once the parent closes its end */
		close(from[0]);
		while (read(to[0], &c, 1) == 1 && write(from[1], &c, 1) == 1)
			;
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	dev = open("/dev/ooh", O_RDWR);
	if (dev < 0)
		die("/dev/ooh");
	o.pid = t;
	if (ioctl(dev, OOH_IOC_OPEN_SESSION, &o) || ioctl(dev, OOH_IOC_START))
		die("session");
	w = marker() + 1;	/* the next STATS hypercall is the first ioctl's */
	if (ioctl(dev, OOH_IOC_STATS, &a))
		die("STATS");
	switches = ctxt_switches(t);
	for (unsigned i = 0; i < rounds; i++)
		if (write(to[1], &c, 1) != 1 || read(from[0], &c, 1) != 1)
			die("ping-pong");
	switches = ctxt_switches(t) - switches;
	if (ioctl(dev, OOH_IOC_STATS, &b))
		die("STATS");
	if (marker() != w + 2) {
		errno = EAGAIN;
		die("another STATS hypercall ran in the window");
	}
	printf("OOH-KVMSTAT-PHASE switches-%s window=%u switches=%llu sched_in=%llu rounds=%u hypercalls=%llu sched_in_total=%llu sched_out_total=%llu\n",
	       name, w, switches, (unsigned long long)(b.sched_in - a.sched_in), rounds,
	       (unsigned long long)(b.hv_hypercalls - a.hv_hypercalls - 1),
	       (unsigned long long)b.sched_in, (unsigned long long)b.sched_out);
	close(dev);
	close(to[1]);
	close(from[0]);
	waitpid(t, NULL, 0);
}

int main(int argc, char **argv)
{
	bool ping_mode = argc == 4 && !strcmp(argv[1], "--ping-rounds");
	unsigned pings = argc > 1 && !ping_mode ? (unsigned)atoi(argv[1]) : 1000;
	unsigned writes = argc > 2 ? (unsigned)atoi(argv[2]) : 1000;
	unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 1000;
	const char *why;
	int dev;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pin(0);
	if (ioperm(OOH_HC_PORT, 4, 1))
		die("ioperm");
	if (gpage_try(&hc_page, &why))
		die(why);
	/* a fork would make it copy-on-write: our next store, a new frame */
	if (madvise(hc_page.va, PAGE, MADV_DONTFORK))
		die("madvise");
	if (ping_mode) {
		ping_rounds((unsigned)strtoul(argv[2], NULL, 0), (unsigned)strtoul(argv[3], NULL, 0));
		printf("OOH-KVMSTAT-DONE\n");
		return 0;
	}
	phase_ping(pings);
	phase_switches(OOH_MODE_EPML, rounds);
	phase_switches(OOH_MODE_SPML, rounds);
	/* last: ooh.ko may clear sub-page protection after the file is closed */
	dev = open("/dev/ooh", O_RDWR);
	if (dev < 0)
		die("/dev/ooh");
	phase_spp(dev, writes);
	close(dev);
	printf("OOH-KVMSTAT-DONE\n");
	return 0;
}
