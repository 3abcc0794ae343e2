/* SPDX-License-Identifier: MIT */
/*
 * ooh-gc-bench: Boehm GC stop-the-world vs Boehm's own incremental mode
 * (its mprotect or soft-dirty virtual dirty bits) vs incremental mode fed
 * by libooh (libooh-gc.so, LD_PRELOADed into this unmodified -lgc program),
 * in both of libooh-gc's ways: Boehm's manual VDB, and Boehm's soft-dirty
 * VDB answered from libooh.
 *
 *   ooh-gc-bench [--scale N] [--runs N] [--workload gcbench|alloc]
 *        runs every mode on every workload, each in a fresh process, prints
 *        a table (--json: JSON lines)
 *   ooh-gc-bench --mode stw|inc|ooh|ooh-manual|ooh-soft --workload W [--scale N]   one run
 *   ooh-gc-bench --verify    liveness-verified workload (exit 0 = no error)
 *
 * Figures per run: total wall time; pauses = world-stopped intervals
 * (GC_EVENT_PRE_STOP_WORLD .. GC_EVENT_POST_START_WORLD: all of Boehm's
 * stopped marking and, for libooh, collecting the dirty pages); number of
 * collections (GC_get_gc_no); "GC CPU" = process CPU time - mutator CPU time,
 * where the mutator CPU time is the stop-the-world run's CPU minus the CPU of
 * its pauses (CPU time, not wall time: the machine is shared). This
 * charges each mode with everything it costs the program (pauses,
 * incremental marking steps, write faults of mprotect, uffd-wp faults,
 * lazy sweeping).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gc/gc.h>

#include "ooh_gc.h"
#include "gc_workload.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- pause measurement (chains to libooh-gc's handler) ---- */
static GC_on_collection_event_proc prev_ev;
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t stop_t0, stop_c0, pause_sum, pause_cpu, pause_max, pause_n;

static void on_ev(GC_EventType e)
{
	if (e == GC_EVENT_PRE_STOP_WORLD) {
		stop_t0 = now_ns();
		stop_c0 = cpu_ns();
	}
	if (prev_ev)
		prev_ev(e);
	if (e == GC_EVENT_POST_START_WORLD && stop_t0) {
		uint64_t d = now_ns() - stop_t0;
		pause_cpu += cpu_ns() - stop_c0;
		pause_sum += d;
		pause_n++;
		if (d > pause_max)
			pause_max = d;
		stop_t0 = 0;
	}
}

/* ---- GCBench (Ellis, Kovac, Boehm), in C ---- */
struct gnode {
	struct gnode *l, *r;
	long i, j;
};

static int tree_size(int d)
{
	return (1 << (d + 1)) - 1;
}

static struct gnode *gnew(struct gnode *l, struct gnode *r)
{
	struct gnode *n = GC_MALLOC(sizeof(*n));
	if (!n)
		abort();
	n->l = l;
	n->r = r;
	return n;
}

static void populate(int d, struct gnode *n)
{
	if (d <= 0)
		return;
	d--;
	n->l = gnew(NULL, NULL);
	n->r = gnew(NULL, NULL);
	populate(d, n->l);
	populate(d, n->r);
}

static struct gnode *make_tree(int d)
{
	return d <= 0 ? gnew(NULL, NULL) : gnew(make_tree(d - 1), make_tree(d - 1));
}

static struct gnode *volatile long_lived;
static double *volatile long_array;

static long gc_expected;

static long gcbench(int scale)
{
	const int stretch = 16 + (scale > 2 ? 2 : scale - 1), long_depth = 16, min_d = 4,
		  max_d = 14 + (scale > 2 ? 2 : scale - 1);
	long check = 0;

	(void)make_tree(stretch);
	long_lived = gnew(NULL, NULL);
	populate(long_depth, long_lived);
	long_array = GC_MALLOC_ATOMIC(500000 * sizeof(double));
	for (int i = 0; i < 500000; i++)
		long_array[i] = 1.0 / (i + 1);
	for (int rep = 0; rep < (scale > 2 ? scale - 1 : 1); rep++)
		for (int d = min_d; d <= max_d; d += 2) {
			int iters = 2 * tree_size(stretch) / tree_size(d);
			for (int i = 0; i < iters; i++) {
				struct gnode *t = gnew(NULL, NULL);
				populate(d, t);
				t = make_tree(d);
				check += t->l != NULL && t->r != NULL;
				gc_expected++;
				/* mutate the long-lived structure a little */
				struct gnode *p = long_lived;
				for (int k = 0; k < 10 && p->l; k++)
					p = (i >> k) & 1 ? p->r : p->l;
				p->i = i;
			}
		}
	if (!long_lived || long_array[1000] != 1.0 / 1001)
		abort();
	return check;
}

/* ---- allocation-heavy: a 64 Ki-slot live set churned by small objects ---- */
#define ALLOC_SLOTS 65536
static void **volatile live_set;

static long allocbench(int scale)
{
	uint64_t rng = 88172645463325252ull;
	long n = 8000000L * scale, sum = 0;

	live_set = GC_MALLOC(ALLOC_SLOTS * sizeof(void *));
	for (long i = 0; i < n; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		size_t words = 2 + (rng >> 59); /* 2..33 words */
		void **o = GC_MALLOC(words * sizeof(void *));
		if (!o)
			abort();
		o[0] = live_set[(rng >> 20) % ALLOC_SLOTS]; /* points to another live object */
		o[1] = (void *)(uintptr_t)i;
		live_set[(rng >> 3) % ALLOC_SLOTS] = o;
	}
	for (long i = 0; i < ALLOC_SLOTS; i++)
		sum += live_set[i] != NULL;
	gc_expected = ALLOC_SLOTS;
	return sum;
}

static int verify(void)
{
	struct wl_state s;
	int (*get)(void) = NULL;
	void (*stats)(struct ooh_gc_stats *) =
		(void (*)(struct ooh_gc_stats *))dlsym(RTLD_DEFAULT, "ooh_gc_get_stats");
	struct ooh_gc_stats st = { 0 };

	(void)get;
	GC_INIT();
	if (wl_init(&s, WL_NSLOT * WL_LEN + 30 * 4000 + 16, 777))
		return 2;
	uint64_t errors = wl_run(&s, 30, 4000, 4);
	wl_free(&s);
	if (stats)
		stats(&st);
	/* (this program does not link libooh: the preloaded library brings it) */
	const char *(*bk_name)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "ooh_backend_name");
	printf("libooh-gc: %s (feeds %llu, pages fed %llu, backend %s, left unprotected at mark ends %llu, errors %llu, overflows %llu)\n",
	       st.enabled ? "on" : "off", (unsigned long long)st.feeds,
	       (unsigned long long)st.pages_fed,
	       st.enabled && bk_name ? bk_name(st.backend) : "none",
	       (unsigned long long)st.pages_unwatched, (unsigned long long)st.errors,
	       (unsigned long long)st.overflows);
	printf("collections %lu, finalized %llu, incremental %d\n", (unsigned long)GC_get_gc_no(),
	       (unsigned long long)s.finalized, GC_is_incremental_mode());
	if (errors) {
		printf("verify: FAILED: %llu finalized while live, %llu list mismatches\n",
		       (unsigned long long)s.finalized_live, (unsigned long long)s.walk_errors);
		return 1;
	}
	printf("verify: ok\n");
	return 0;
}

struct result {
	double total_ms, cpu_ms, pause_cpu_ms, pause_ms, max_ms, mean_ms;
	unsigned long gcs, pauses;
	unsigned long long fed;
};

static int one_run(const char *mode, const char *wl, int scale)
{
	void (*stats)(struct ooh_gc_stats *) =
		(void (*)(struct ooh_gc_stats *))dlsym(RTLD_DEFAULT, "ooh_gc_get_stats");
	struct ooh_gc_stats st = { 0 };

	if (!strcmp(mode, "inc"))
		GC_enable_incremental();
	GC_INIT();
	if (stats)
		stats(&st);
	if (!strncmp(mode, "ooh", 3) != !!st.enabled) {
		fprintf(stderr, "ooh-gc-bench: mode %s but libooh-gc %s\n", mode,
			st.enabled ? "enabled" : "not enabled");
		return 1;
	}
	prev_ev = GC_get_on_collection_event();
	GC_set_on_collection_event(on_ev);
	unsigned long gc0 = (unsigned long)GC_get_gc_no();
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	long chk = !strcmp(wl, "alloc") ? allocbench(scale) : gcbench(scale);
	uint64_t t1 = now_ns(), c1 = cpu_ns();
	if (stats)
		stats(&st);
	printf("RESULT mode=%s workload=%s total_ms=%.1f cpu_ms=%.1f pause_cpu_ms=%.1f pause_ms=%.1f "
	       "max_pause_ms=%.2f mean_pause_ms=%.3f pauses=%llu gcs=%lu fed=%llu heap_mb=%.1f "
	       "check=%ld\n",
	       mode, wl, (t1 - t0) / 1e6, (c1 - c0) / 1e6, pause_cpu / 1e6, pause_sum / 1e6,
	       pause_max / 1e6,
	       pause_n ? pause_sum / 1e6 / pause_n : 0.0, (unsigned long long)pause_n,
	       (unsigned long)GC_get_gc_no() - gc0, (unsigned long long)st.pages_fed,
	       GC_get_heap_size() / 1048576.0, chk);
	if (st.enabled && getenv("OOH_GC_BENCH_PHASES")) {
		/* where libooh-gc's time went (libooh-gc.so is preloaded, not linked) */
		const char *(*pname)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "ooh_gc_phase_name");
		fprintf(stderr, "phases total:");
		for (int p = 0; pname && p < OOH_GC_PHASES; p++)
			fprintf(stderr, " %s %.2f", pname(p), st.phase_ns[p] / 1e6);
		fprintf(stderr, "\nlongest pause %.2f ms:", st.pause_max_ns / 1e6);
		for (int p = 0; pname && p < OOH_GC_PHASES; p++)
			fprintf(stderr, " %s %.2f", pname(p), st.pause_max_phase_ns[p] / 1e6);
		fprintf(stderr, "\n");
	}
	if (chk != gc_expected) {
		fprintf(stderr, "ooh-gc-bench: WRONG RESULT %ld, expected %ld\n", chk, gc_expected);
		return 1;
	}
	return 0;
}

static int spawn(const char *self, const char *mode, const char *wl, int scale, struct result *r)
{
	char libpath[4096], scale_s[16], line[1024];
	int fd[2];
	pid_t pid;

	snprintf(libpath, sizeof(libpath), "%s", self);
	char *slash = strrchr(libpath, '/');
	snprintf(slash ? slash + 1 : libpath, sizeof(libpath) - (size_t)(slash ? slash + 1 - libpath : 0),
		 "../lib/libooh-gc.so");
	snprintf(scale_s, sizeof(scale_s), "%d", scale);
	if (pipe(fd))
		return -errno;
	pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		if (!strncmp(mode, "ooh", 3))
			setenv("LD_PRELOAD", libpath, 1);
		else
			unsetenv("LD_PRELOAD");
		/* ooh-soft / ooh-manual: libooh-gc's two ways of feeding Boehm */
		if (!strcmp(mode, "ooh-soft"))
			setenv("OOH_GC_VDB", "soft", 1);
		else if (!strcmp(mode, "ooh-manual"))
			setenv("OOH_GC_VDB", "manual", 1);
		execl(self, self, "--mode", mode, "--workload", wl, "--scale", scale_s, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	FILE *f = fdopen(fd[0], "r");
	int got = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "RESULT ", 7)) {
			char *p;
			got = 1;
			memset(r, 0, sizeof(*r));
			if ((p = strstr(line, "total_ms=")))
				r->total_ms = atof(p + 9);
			if ((p = strstr(line, " pause_ms=")))
				r->pause_ms = atof(p + 10);
			if ((p = strstr(line, "cpu_ms=")))
				r->cpu_ms = atof(p + 7);
			if ((p = strstr(line, "pause_cpu_ms=")))
				r->pause_cpu_ms = atof(p + 13);
			if ((p = strstr(line, "max_pause_ms=")))
				r->max_ms = atof(p + 13);
			if ((p = strstr(line, "mean_pause_ms=")))
				r->mean_ms = atof(p + 14);
			if ((p = strstr(line, " gcs=")))
				r->gcs = strtoul(p + 5, NULL, 10);
			if ((p = strstr(line, " pauses=")))
				r->pauses = strtoul(p + 8, NULL, 10);
			if ((p = strstr(line, " fed=")))
				r->fed = strtoull(p + 5, NULL, 10);
		}
	}
	if (f)
		fclose(f);
	int status;
	waitpid(pid, &status, 0);
	return got && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *mode = NULL, *wl = NULL;
	int scale = 1, runs = 3, json = 0, verbose = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verify"))
			return verify();
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--workload") && i + 1 < argc)
			wl = argv[++i];
		else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
			scale = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else {
			fprintf(stderr, "usage: %s [--verify] [--mode stw|inc|ooh|ooh-manual|ooh-soft] "
					"[--workload gcbench|alloc] [--scale N] [--runs N] [--json] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	if (scale < 1 || runs < 1 || runs > 15) {
		fprintf(stderr, "ooh-gc-bench: bad --scale/--runs\n");
		return 2;
	}
	if (wl && strcmp(wl, "gcbench") && strcmp(wl, "alloc")) {
		fprintf(stderr, "ooh-gc-bench: unknown workload %s\n", wl);
		return 2;
	}
	if (mode) {
		if (strcmp(mode, "stw") && strcmp(mode, "inc") && strcmp(mode, "ooh") &&
		    strcmp(mode, "ooh-soft") && strcmp(mode, "ooh-manual")) {
			fprintf(stderr, "ooh-gc-bench: unknown mode %s\n", mode);
			return 2;
		}
		return one_run(mode, wl ? wl : "gcbench", scale);
	}

	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	const char *wls[] = { "gcbench", "alloc" };
	const char *modes[] = { "stw", "inc", "ooh-manual", "ooh-soft" };
	const char *names[] = { "Boehm stop-the-world", "Boehm incremental", "Boehm + libooh manual",
				"Boehm + libooh soft" };
	enum { NM = 4 };
	if (!json)
		printf("%-8s %-24s %9s %9s %9s %9s %9s %9s %6s\n", "workload", "mode", "wall ms",
		       "CPU ms", "GC CPU ms", "pause ms", "max ms", "mean ms", "GCs");
	for (int w = 0; w < 2; w++) {
		if (wl && strcmp(wl, wls[w]))
			continue;
		struct result med[NM];
		/* runs interleaved: stw, inc, ooh, stw, inc, ooh, ... so that the
		 * machine's load changes hit every mode alike; medians per mode */
		double tot[NM][15], pau[NM][15], mx[NM][15], mean[NM][15], cpu[NM][15], pcpu[NM][15];
		struct result r;
		for (int k = 0; k < runs; k++)
			for (int m = 0; m < NM; m++) {
				if (spawn(self, modes[m], wls[w], scale, &r)) {
					fprintf(stderr, "ooh-gc-bench: %s/%s run failed\n", modes[m], wls[w]);
					return 1;
				}
				tot[m][k] = r.total_ms;
				cpu[m][k] = r.cpu_ms;
				pcpu[m][k] = r.pause_cpu_ms;
				pau[m][k] = r.pause_ms;
				mx[m][k] = r.max_ms;
				mean[m][k] = r.mean_ms;
				med[m] = r;
				if (verbose)
					fprintf(stderr, "run %d %s/%s: cpu %.1f pause cpu %.1f\n", k, modes[m],
						wls[w], r.cpu_ms, r.pause_cpu_ms);
			}
		for (int m = 0; m < NM; m++) {
			qsort(tot[m], (size_t)runs, sizeof(double), cmp_d);
			qsort(cpu[m], (size_t)runs, sizeof(double), cmp_d);
			qsort(pcpu[m], (size_t)runs, sizeof(double), cmp_d);
			qsort(pau[m], (size_t)runs, sizeof(double), cmp_d);
			qsort(mx[m], (size_t)runs, sizeof(double), cmp_d);
			qsort(mean[m], (size_t)runs, sizeof(double), cmp_d);
			med[m].total_ms = tot[m][runs / 2];
			med[m].cpu_ms = cpu[m][runs / 2];
			med[m].pause_cpu_ms = pcpu[m][runs / 2];
			med[m].pause_ms = pau[m][runs / 2];
			med[m].max_ms = mx[m][runs / 2];
			med[m].mean_ms = mean[m][runs / 2];
		}
		/* GC time in CPU time: robust on a shared machine */
		double mutator = med[0].cpu_ms - med[0].pause_cpu_ms;
		for (int m = 0; m < NM; m++) {
			double gc = med[m].cpu_ms - mutator;
			if (json)
				printf("{\"workload\":\"%s\",\"mode\":\"%s\",\"total_ms\":%.1f,\"cpu_ms\":%.1f,"
				       "\"gc_cpu_ms\":%.1f,\"pause_ms\":%.1f,\"max_pause_ms\":%.2f,"
				       "\"mean_pause_ms\":%.3f,\"collections\":%lu,\"runs\":%d,\"scale\":%d}\n",
				       wls[w], modes[m], med[m].total_ms, med[m].cpu_ms, gc, med[m].pause_ms,
				       med[m].max_ms, med[m].mean_ms, med[m].gcs, runs, scale);
			else
				printf("%-8s %-24s %9.1f %9.1f %9.1f %9.1f %9.2f %9.3f %6lu\n", wls[w], names[m],
				       med[m].total_ms, med[m].cpu_ms, gc, med[m].pause_ms, med[m].max_ms,
				       med[m].mean_ms, med[m].gcs);
		}
		if (!json)
			printf("%-8s libooh GC time / Boehm incremental GC time = %.2f (manual VDB), "
			       "%.2f (soft-dirty VDB)\n", wls[w],
			       (med[2].cpu_ms - mutator) / (med[1].cpu_ms - mutator),
			       (med[3].cpu_ms - mutator) / (med[1].cpu_ms - mutator));
	}
	if (!json)
		printf("(medians of %d runs, modes interleaved, each run in a fresh process; GC CPU = process CPU time - "
		       "mutator CPU time, mutator CPU = stop-the-world CPU - CPU of its pauses; "
		       "pauses = world-stopped wall time)\n", runs);
	return 0;
}
