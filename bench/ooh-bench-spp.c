/* SPDX-License-Identifier: MIT */
/*
 * ooh-bench-spp: what sub-page protection costs per write, per backend.
 *
 *   ooh-bench-spp [--quick] [--json] [--backend B] [--windows]
 *
 * For each usable backend: an unprotected write (baseline), a write to a
 * writable sub-page of a protected page (permitted), a write to a protected
 * sub-page (violation: SIGSEGV OOH_SEGV_SPPERR, caught by a handler that
 * siglongjmps back), and permitted writes while other threads exist (they
 * are parked during each permitted write): idle ones (sleeping) and busy
 * ones (spinning).  Medians of rounds, nanoseconds per write.  The
 * mprotect backend is measured with each of its mechanisms:
 * mprotect/pkeys (protection keys, where the CPU has them) and
 * mprotect/parking (OOH_SPP_NO_PKEYS=1: page made writable, other threads
 * parked).
 *
 * --windows (in a guest under ooh-l0, as root; bench/ooh-bench-spp-l1.sh):
 * every measured phase of the ooh backend runs in a window of its own for
 * ooh-kvmstat --split-on stats in L1. A STATS hypercall (user-hc.h) right
 * before the phase's rounds opens it and returns its number; one after
 * them, before the pages are released, must open the next. Printed on
 * standard error, with the phase's writes and what l0's counters say of
 * the window (permitted writes it performed, refused ones, KVM_RUN
 * returns):
 *
 *   OOH-BENCH-WINDOW spp-ooh-KIND W writes=N l0_writes=P l0_violations=V vcpu_exits=E
 *
 * KIND: plain, permitted, violation, permitted-1idle, permitted-3idle,
 * permitted-1busy. "lost" instead of W: another STATS hypercall ran in it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ooh.h"
#include "../tests/guest-module/user-hc.h"

#define PG 4096ul
#define SP 128ul

static sigjmp_buf jb;
static volatile sig_atomic_t bad;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig; (void)ctx;
	if (si->si_code != OOH_SEGV_SPPERR)
		bad = 1;
	siglongjmp(jb, 1);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[n / 2];
}

enum kind { BASE, PERMITTED, VIOLATION };

/* ---- windows for ooh-kvmstat in L1 (--windows) ---- */

static bool want_windows;
static struct gpage hc_page;
static bool have_markers;
static const char *cur_label = "";

static void markers_init(void)
{
	const char *why = "ioperm";

	if (ioperm(OOH_HC_PORT, 4, 1) || gpage_try(&hc_page, &why)) {
		fprintf(stderr, "OOH-BENCH-WINDOW none no STATS markers: %s: %s\n", why,
			strerror(errno));
		return;
	}
	have_markers = true;
}

/* Our STATS hypercall: the window it opened (0: none), l0's counters then. */
static unsigned marker(struct ooh_hv_stats *st)
{
	return have_markers ? (unsigned)hc_stats(hc_page, st) : 0;
}

static void window_done(const char *phase, unsigned w, const struct ooh_hv_stats *a, long writes)
{
	struct ooh_hv_stats b;
	unsigned check = marker(&b);

	if (!w || !check)
		return;
	if (check != w + 1) {
		fprintf(stderr, "OOH-BENCH-WINDOW spp-%s-%s lost (window %u, the next marker opened %u)\n",
			cur_label, phase, w, check);
		return;
	}
	fprintf(stderr, "OOH-BENCH-WINDOW spp-%s-%s %u writes=%ld l0_writes=%llu l0_violations=%llu vcpu_exits=%llu\n",
		cur_label, phase, w, writes, (unsigned long long)(b.spp_writes - a->spp_writes),
		(unsigned long long)(b.spp_violations - a->spp_violations),
		(unsigned long long)(b.vcpu_exits - a->vcpu_exits));
}

/* ns per write over n writes of the given kind into page m (guard: sub-page 1). */
static double one_round(volatile char *m, enum kind k, int n)
{
	double t0 = now_ns();
	for (volatile int i = 0; i < n; i++) {
		if (k == VIOLATION) {
			if (sigsetjmp(jb, 1) == 0)
				m[SP + (i % SP)] = (char)i;
		} else {
			m[(i % SP)] = (char)i;
		}
	}
	return (now_ns() - t0) / n;
}

static atomic_int stop_threads;

static void *idle_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_threads))
		usleep(1000);
	return NULL;
}

static void *busy_thread(void *arg)
{
	volatile unsigned long x = 0;
	(void)arg;
	while (!atomic_load(&stop_threads))
		x++;
	return NULL;
}

static double measure(ooh_spp *s, char *m, enum kind k, int rounds, int n, const char *phase)
{
	struct ooh_hv_stats a;
	unsigned w;
	double v[64];
	if (k != BASE && ooh_spp_protect(s, m, PG, ~(1u << 1)) < 0)
		return -1;
	w = marker(&a);
	for (int r = 0; r < rounds; r++)
		v[r] = one_round(m, k, n);
	window_done(phase, w, &a, (long)rounds * n);
	if (k != BASE)
		ooh_spp_release(s, m, PG);
	return median(v, rounds);
}

static double with_threads(ooh_spp *s, char *m, int nthreads, bool busy, int rounds, int n)
{
	pthread_t th[16];
	char phase[32];
	double r;

	atomic_store(&stop_threads, 0);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, busy ? busy_thread : idle_thread, NULL);
	usleep(10000);
	snprintf(phase, sizeof(phase), "permitted-%d%s", nthreads, busy ? "busy" : "idle");
	r = measure(s, m, PERMITTED, rounds, n, phase);
	atomic_store(&stop_threads, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return r;
}

int main(int argc, char **argv)
{
	bool quick = false, json = false;
	const char *only = NULL;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--windows"))
			want_windows = true;
		else {
			fprintf(stderr, "usage: %s [--quick] [--json] [--backend mprotect|ooh] [--windows]\n",
				argv[0]);
			return 2;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);

	int rounds = quick ? 5 : 15, n = quick ? 2000 : 20000, nt = quick ? 200 : 1000;
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	memset(m, 0, PG);
	if (!json)
		printf("%-17s %10s %12s %12s %14s %14s %14s\n", "backend", "plain_ns", "permitted_ns",
		       "violation_ns", "perm_1idle_ns", "perm_3idle_ns", "perm_1busy_ns");
	else
		printf("[");
	/* Each variant in its own child: the mechanism is chosen once per
	 * process (mprotect: protection keys if the CPU has them, and with
	 * OOH_SPP_NO_PKEYS=1 the parking fallback). */
	static const struct { int backend; bool nopkeys; } variants[] = {
		{ OOH_SPP_BACKEND_MPROTECT, false },
		{ OOH_SPP_BACKEND_MPROTECT, true },
		{ OOH_SPP_BACKEND_OOH, false },
	};
	bool first = true;
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		int b = variants[v].backend;
		char reason[160], label[32];
		const char *name = ooh_spp_backend_name((enum ooh_spp_backend)b);
		if (only && strcmp(only, name))
			continue;
		if (ooh_spp_probe((enum ooh_spp_backend)b, reason, sizeof(reason))) {
			if (!json && !variants[v].nopkeys)
				printf("%-17s unusable: %s\n", name, reason);
			continue;
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0) {
			int st;
			waitpid(pid, &st, 0);
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				bad = 1;
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				first = false;
			continue;
		}
		if (variants[v].nopkeys)
			setenv("OOH_SPP_NO_PKEYS", "1", 1);
		ooh_spp *s;
		struct ooh_spp_stats st;
		if (ooh_spp_open(&s, OOH_SPP_OPEN_BACKEND(b)))
			_exit(2);
		ooh_spp_stats(&st);
		if (b == OOH_SPP_BACKEND_MPROTECT && variants[v].nopkeys == false && !st.pkeys)
			_exit(0); /* no protection keys here: the next row is the same */
		snprintf(label, sizeof(label), "%s%s", name,
			 b != OOH_SPP_BACKEND_MPROTECT ? "" : st.pkeys ? "/pkeys" : "/parking");
		/* windows for the ooh backend only: the others make no hypercalls */
		if (want_windows && b == OOH_SPP_BACKEND_OOH)
			markers_init();
		cur_label = name;
		double base = measure(s, m, BASE, rounds, n * 100, "plain");
		double perm = measure(s, m, PERMITTED, rounds, n, "permitted");
		double viol = measure(s, m, VIOLATION, rounds, n, "violation");
		double idle1 = with_threads(s, m, 1, false, rounds, nt);
		double idle3 = with_threads(s, m, 3, false, rounds, nt);
		double busy1 = with_threads(s, m, 1, true, rounds, nt);
		ooh_spp_close(s);
		if (json)
			printf("%s{\"backend\":\"%s\",\"plain_ns\":%.1f,\"permitted_ns\":%.0f,"
			       "\"violation_ns\":%.0f,\"perm_1idle_ns\":%.0f,\"perm_3idle_ns\":%.0f,"
			       "\"perm_1busy_ns\":%.0f}", first ? "" : ",", label, base, perm, viol,
			       idle1, idle3, busy1);
		else
			printf("%-17s %10.1f %12.0f %12.0f %14.0f %14.0f %14.0f\n", label, base, perm,
			       viol, idle1, idle3, busy1);
		fflush(stdout);
		_exit(bad ? 1 : 0);
	}
	if (json)
		printf("]\n");
	if (bad) {
		fprintf(stderr, "a violation came with the wrong si_code\n");
		return 1;
	}
	return 0;
}
