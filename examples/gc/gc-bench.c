/* SPDX-License-Identifier: MIT */
/*
 * ooh-gc-bench: Boehm GC stop-the-world vs Boehm's own incremental mode
 * (its mprotect virtual dirty bits) vs incremental mode fed by libooh
 * (libooh-gc.so, LD_PRELOADed into this unmodified -lgc program), in both
 * of libooh-gc's ways: Boehm's manual VDB, and Boehm's soft-dirty VDB
 * answered from libooh.
 *
 *   ooh-gc-bench [--runs N] [--workload gcbench|alloc|kv] [--modes M,M,...]
 *                [--scale N] [--json] [-v]
 *        runs the modes (default all: stw,inc,ooh-manual,ooh-soft) on the
 *        workloads (default all; see bench_workloads.h) N times each
 *        (default 5), interleaved (stw, inc, ooh-manual, ooh-soft, stw, ...:
 *        the machine's load changes hit every mode alike), each run in a
 *        fresh process; prints medians and [min-max] per mode (--json: JSON
 *        lines with every run's figures too)
 *   ooh-gc-bench --mode stw|inc|ooh|ooh-manual|ooh-soft --workload W [--scale N]
 *        one run: a RESULT line of key=value figures
 *   ooh-gc-bench --verify    liveness-verified workload (exit 0 = no error)
 *
 * Figures per run, over the timed part of the workload: wall and CPU time;
 * pauses = world-stopped intervals (GC_EVENT_PRE_STOP_WORLD ..
 * GC_EVENT_POST_START_WORLD: all of Boehm's stopped marking and, for
 * libooh, collecting the dirty pages): their total, the longest and the
 * 99th percentile (nearest rank); collections (GC_get_gc_no); page faults
 * of the process and of the main thread (the mutator, which also runs the
 * collections); "GC CPU" = process CPU time - mutator CPU time, where the
 * mutator CPU time is the stop-the-world run's CPU minus the CPU of its
 * pauses, taken from the stop-the-world run of the same round (CPU time,
 * not wall time: the machine is shared).  This charges each mode with
 * everything it costs the program (pauses, incremental marking steps, write
 * faults of mprotect, uffd-wp faults, lazy sweeping).  With libooh-gc: its
 * time by phase (ooh_gc_stats) and the breakdown of its longest pause.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gc/gc.h>

#include "ooh_gc.h"
#include "gc_workload.h"
#include "bench_workloads.h"

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static uint64_t cpu_ns(void)
{
	return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

/* ---- pause measurement (chains to libooh-gc's handler) ---- */
#define MAX_PAUSES 65536
static GC_on_collection_event_proc prev_ev;
static uint64_t stop_t0, stop_c0, pause_cpu;
static uint64_t pause_ns[MAX_PAUSES]; /* (no malloc with the world stopped) */
static size_t npauses;
static int timing;
/* libooh-gc's stats (when preloaded): its phases in the longest pause */
static void (*ooh_stats)(struct ooh_gc_stats *);
static struct ooh_gc_stats stop_st;
static uint64_t longest_ns, longest_phase_ns[OOH_GC_PHASES];

static void pause_end(uint64_t d)
{
	struct ooh_gc_stats now;

	pause_ns[npauses++] = d;
	pause_cpu += cpu_ns() - stop_c0;
	if (d <= longest_ns)
		return;
	longest_ns = d;
	if (!ooh_stats)
		return;
	ooh_stats(&now);
	for (int p = 0; p < OOH_GC_PHASES; p++)
		longest_phase_ns[p] = now.phase_ns[p] - stop_st.phase_ns[p];
}

static void on_ev(GC_EventType e)
{
	if (e == GC_EVENT_PRE_STOP_WORLD) {
		if (ooh_stats)
			ooh_stats(&stop_st);
		stop_t0 = now_ns();
		stop_c0 = cpu_ns();
	}
	if (prev_ev)
		prev_ev(e);
	if (e == GC_EVENT_POST_START_WORLD && stop_t0) {
		if (timing && npauses < MAX_PAUSES)
			pause_end(now_ns() - stop_t0);
		stop_t0 = 0;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int verify(void)
{
	struct wl_state s;
	void (*stats)(struct ooh_gc_stats *) =
		(void (*)(struct ooh_gc_stats *))dlsym(RTLD_DEFAULT, "ooh_gc_get_stats");
	struct ooh_gc_stats st = { 0 };

	GC_INIT();
	if (wl_init(&s, WL_NSLOT * WL_LEN + 30 * 4000 + 16, 777))
		return 2;
	uint64_t errors = wl_run(&s, 30, 4000, 4);
	wl_free(&s);
	if (stats)
		stats(&st);
	/* (this program does not link libooh: the preloaded library brings it) */
	const char *(*bk_name)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "ooh_backend_name");
	printf("libooh-gc: %s (feeds %llu, pages fed %llu, backend %s, tracked %llu KiB, errors %llu, overflows %llu)\n",
	       st.enabled ? "on" : "off", (unsigned long long)st.feeds,
	       (unsigned long long)st.pages_fed,
	       st.enabled && bk_name ? bk_name(st.backend) : "none",
	       (unsigned long long)st.tracked_bytes / 1024, (unsigned long long)st.errors,
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

static const struct bench_workload *find_workload(const char *name)
{
	for (size_t i = 0; i < BENCH_WORKLOADS; i++)
		if (!strcmp(bench_workloads[i].name, name))
			return &bench_workloads[i];
	return NULL;
}

static uint64_t faults(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (uint64_t)(ru.ru_minflt + ru.ru_majflt);
}

/* libooh-gc's figures: time by phase, and in the longest pause. */
static void print_ooh(const struct ooh_gc_stats *b, const struct ooh_gc_stats *a)
{
	const char *(*pname)(int) = (const char *(*)(int))dlsym(RTLD_DEFAULT, "ooh_gc_phase_name");

	for (int p = 0; pname && p < OOH_GC_PHASES; p++)
		printf(" ph_%s=%.3f", pname(p), (a->phase_ns[p] - b->phase_ns[p]) / 1e6);
	for (int p = 0; pname && p < OOH_GC_PHASES; p++)
		printf(" win_%s=%.3f", pname(p), longest_phase_ns[p] / 1e6);
	printf(" fed=%llu tracked_mb=%.1f", (unsigned long long)(a->pages_fed - b->pages_fed),
	       a->tracked_bytes / 1048576.0);
}

static int one_run(const char *mode, const struct bench_workload *wl, int scale)
{
	void (*stats)(struct ooh_gc_stats *) =
		(void (*)(struct ooh_gc_stats *))dlsym(RTLD_DEFAULT, "ooh_gc_get_stats");
	struct ooh_gc_stats st0 = { 0 }, st1 = { 0 };
	long expected = 0;

	ooh_stats = stats;
	if (!strcmp(mode, "inc"))
		GC_enable_incremental();
	GC_INIT();
	if (stats)
		stats(&st0);
	if (!strncmp(mode, "ooh", 3) != !!st0.enabled) {
		fprintf(stderr, "ooh-gc-bench: mode %s but libooh-gc %s\n", mode,
			st0.enabled ? "enabled" : "not enabled");
		return 1;
	}
	prev_ev = GC_get_on_collection_event();
	GC_set_on_collection_event(on_ev);
	wl->setup(scale);
	if (stats)
		stats(&st0);
	unsigned long gc0 = (unsigned long)GC_get_gc_no();
	uint64_t f0 = faults(RUSAGE_SELF), m0 = faults(RUSAGE_THREAD);
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	timing = 1;
	wl->run(scale);
	timing = 0;
	uint64_t t1 = now_ns(), c1 = cpu_ns();
	uint64_t f1 = faults(RUSAGE_SELF), m1 = faults(RUSAGE_THREAD);
	if (stats)
		stats(&st1);
	uint64_t sum = 0;
	for (size_t i = 0; i < npauses; i++)
		sum += pause_ns[i];
	qsort(pause_ns, npauses, sizeof(pause_ns[0]), cmp_u64);
	size_t r99 = npauses ? (npauses * 99 + 99) / 100 : 0; /* nearest rank */
	printf("RESULT mode=%s workload=%s wall_ms=%.1f cpu_ms=%.1f pause_cpu_ms=%.1f pause_ms=%.2f "
	       "max_pause_ms=%.3f p99_pause_ms=%.3f pauses=%zu gcs=%lu faults=%llu mutator_faults=%llu "
	       "heap_mb=%.1f",
	       mode, wl->name, (t1 - t0) / 1e6, (c1 - c0) / 1e6, pause_cpu / 1e6, sum / 1e6,
	       npauses ? pause_ns[npauses - 1] / 1e6 : 0.0, r99 ? pause_ns[r99 - 1] / 1e6 : 0.0, npauses,
	       (unsigned long)GC_get_gc_no() - gc0, (unsigned long long)(f1 - f0),
	       (unsigned long long)(m1 - m0), GC_get_heap_size() / 1048576.0);
	if (st1.enabled)
		print_ooh(&st0, &st1);
	else
		ooh_stats = NULL;
	long chk = wl->done(&expected);
	printf(" check=%ld\n", chk);
	if (chk != expected) {
		fprintf(stderr, "ooh-gc-bench: WRONG RESULT %ld, expected %ld\n", chk, expected);
		return 1;
	}
	return 0;
}

/* ---- the comparison: runs in child processes, figures by name ---- */
#define MAX_KEYS 48
#define MAX_RUNS 31
struct run {
	int n;
	char key[MAX_KEYS][24];
	double val[MAX_KEYS];
};

static double get(const struct run *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->key[i], key))
			return r->val[i];
	return 0;
}

static void put(struct run *r, const char *key, double v)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->key[i], key)) {
			r->val[i] = v;
			return;
		}
	if (r->n < MAX_KEYS) {
		snprintf(r->key[r->n], sizeof(r->key[0]), "%s", key);
		r->val[r->n++] = v;
	}
}

/* The numeric key=value pairs of a RESULT line. */
static void parse_result(const char *line, struct run *r)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s", line);
	memset(r, 0, sizeof(*r));
	for (char *save = NULL, *tok = strtok_r(buf + 7, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(tok, '='), *end;
		if (!eq)
			continue;
		*eq = 0;
		double v = strtod(eq + 1, &end);
		if (end != eq + 1)
			put(r, tok, v);
	}
}

static int spawn(const char *self, const char *mode, const char *wl, int scale, struct run *r, int verbose)
{
	char libpath[4096], scale_s[16], line[2048];
	int fd[2], got = 0;
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
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "RESULT ", 7))
			continue;
		parse_result(line, r);
		got = 1;
		if (verbose)
			fprintf(stderr, "%s", line);
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

struct spread {
	double med, min, max;
};

/* Median (of an odd count; else the upper middle) and range of v[0..n). */
static struct spread spread_of(const double *v, int n)
{
	double s[MAX_RUNS];
	memcpy(s, v, (size_t)n * sizeof(double));
	qsort(s, (size_t)n, sizeof(double), cmp_d);
	return (struct spread){ s[n / 2], s[0], s[n - 1] };
}

static struct spread key_spread(struct run *runs, int n, const char *key)
{
	double v[MAX_RUNS] = { 0 };
	for (int k = 0; k < n; k++)
		v[k] = get(&runs[k], key);
	return spread_of(v, n);
}

#define NMODES 4
static const char *const mode_ids[NMODES] = { "stw", "inc", "ooh-manual", "ooh-soft" };
static const char *const mode_names[NMODES] = { "Boehm stop-the-world", "Boehm incremental",
						 "libooh-gc manual VDB", "libooh-gc soft-dirty VDB" };

/* The figures reported per mode, in table order. */
static const char *const fig_keys[] = { "gc_cpu_ms", "pause_ms", "max_pause_ms", "p99_pause_ms", "gcs",
					"mutator_faults", "faults", "cpu_ms", "wall_ms", "heap_mb" };
#define NFIG (sizeof(fig_keys) / sizeof(fig_keys[0]))

/* The run whose longest pause is the median one: its breakdown is shown. */
static const struct run *median_pause_run(struct run *runs, int n)
{
	struct spread s = key_spread(runs, n, "max_pause_ms");
	for (int k = 0; k < n; k++)
		if (get(&runs[k], "max_pause_ms") == s.med)
			return &runs[k];
	return &runs[0];
}

/* libooh-gc's part of the longest pause of run r. */
static double libooh_share(const struct run *r)
{
	double ours = 0;
	for (int i = 0; i < r->n; i++)
		if (!strncmp(r->key[i], "win_", 4))
			ours += r->val[i];
	return ours;
}

static void print_json_spread(const char *key, struct run *runs, int n)
{
	struct spread s = key_spread(runs, n, key);
	printf("\"%s\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f,\"runs\":[", key, s.med, s.min, s.max);
	for (int k = 0; k < n; k++)
		printf("%s%.3f", k ? "," : "", get(&runs[k], key));
	printf("]}");
}

static void print_json(const char *wl, int m, struct run *runs, int n, int scale)
{
	printf("{\"workload\":\"%s\",\"mode\":\"%s\",\"runs\":%d,\"scale\":%d", wl, mode_ids[m], n, scale);
	for (size_t f = 0; f < NFIG; f++) {
		printf(",");
		print_json_spread(fig_keys[f], runs, n);
	}
	if (!strncmp(mode_ids[m], "ooh", 3)) {
		const struct run *r = median_pause_run(runs, n);
		char key[32];
		int first = 1;
		printf(",\"phases_ms\":{");
		for (int i = 0; i < runs[0].n; i++)
			if (!strncmp(runs[0].key[i], "ph_", 3)) {
				printf("%s\"%s\":%.3f", first ? "" : ",", runs[0].key[i] + 3,
				       key_spread(runs, n, runs[0].key[i]).med);
				first = 0;
			}
		printf("},\"longest_pause\":{\"ms\":%.3f,\"libooh_gc_ms\":{", get(r, "max_pause_ms"));
		first = 1;
		for (int i = 0; i < r->n; i++)
			if (!strncmp(r->key[i], "ph_", 3)) {
				snprintf(key, sizeof(key), "win_%s", r->key[i] + 3);
				printf("%s\"%s\":%.3f", first ? "" : ",", r->key[i] + 3, get(r, key));
				first = 0;
			}
		printf("},\"boehm_ms\":%.3f}", get(r, "max_pause_ms") - libooh_share(r));
	}
	printf("}\n");
}

static void print_row(int m, struct run *runs, int n)
{
	char cell[64];

	printf("  %-26s", mode_names[m]);
	for (size_t f = 0; f < 6; f++) {
		struct spread s = key_spread(runs, n, fig_keys[f]);
		int prec = f == 2 || f == 3 ? 2 : 0;
		if (f < 4)
			snprintf(cell, sizeof(cell), "%.*f [%.*f-%.*f]", prec, s.med, prec, s.min, prec, s.max);
		else
			snprintf(cell, sizeof(cell), "%.0f", s.med);
		printf(f < 4 ? " %-22s" : " %8s", cell);
	}
	printf("\n");
}

/* Where libooh-gc's stopped time goes: per run, and in the longest pause. */
static void print_breakdown(int m, struct run *runs, int n)
{
	char key[32];
	const struct run *r = median_pause_run(runs, n);

	printf("    %s, libooh-gc's work with the world stopped per run (median ms):", mode_ids[m]);
	for (int i = 0; i < runs[0].n; i++)
		if (!strncmp(runs[0].key[i], "ph_", 3))
			printf(" %s %.2f", runs[0].key[i] + 3, key_spread(runs, n, runs[0].key[i]).med);
	printf("\n    %s, longest pause of the median run %.2f ms:", mode_ids[m], get(r, "max_pause_ms"));
	for (int i = 0; i < r->n; i++)
		if (!strncmp(r->key[i], "ph_", 3)) {
			snprintf(key, sizeof(key), "win_%s", r->key[i] + 3);
			printf(" %s %.2f", r->key[i] + 3, get(r, key));
		}
	printf(", Boehm (stop, mark, restart) %.2f\n", get(r, "max_pause_ms") - libooh_share(r));
}

/* GC CPU and longest pause of mode m against Boehm's incremental mode. */
static void print_ratio(const char *wl, int m, struct run (*runs)[MAX_RUNS], int n, int json)
{
	double cpu[MAX_RUNS], pause[MAX_RUNS];
	struct spread ci = key_spread(runs[1], n, "gc_cpu_ms"), mi = key_spread(runs[1], n, "max_pause_ms");
	struct spread co = key_spread(runs[m], n, "gc_cpu_ms"), mo = key_spread(runs[m], n, "max_pause_ms");
	for (int k = 0; k < n; k++) {
		cpu[k] = get(&runs[m][k], "gc_cpu_ms") / get(&runs[1][k], "gc_cpu_ms");
		pause[k] = get(&runs[m][k], "max_pause_ms") / get(&runs[1][k], "max_pause_ms");
	}
	struct spread cr = spread_of(cpu, n), pr = spread_of(pause, n);
	double c = co.med / ci.med, p = mo.med / mi.med;
	if (json) {
		printf("{\"workload\":\"%s\",\"mode\":\"%s\",\"versus\":\"inc\",\"gc_cpu_ratio\":%.3f,"
		       "\"gc_cpu_ratio_rounds\":{\"min\":%.3f,\"max\":%.3f},\"max_pause_ratio\":%.3f,"
		       "\"max_pause_ratio_rounds\":{\"min\":%.3f,\"max\":%.3f},\"goal_met\":%s}\n",
		       wl, mode_ids[m], c, cr.min, cr.max, p, pr.min, pr.max, c <= 0.5 && p <= 1.0 ? "true" : "false");
		return;
	}
	printf("    %s / Boehm incremental: GC CPU %.2fx (rounds %.2f-%.2f), longest pause %.2fx (rounds %.2f-%.2f)"
	       " - goal <= 0.5x and <= 1.0x: %s\n",
	       mode_ids[m], c, cr.min, cr.max, p, pr.min, pr.max, c <= 0.5 && p <= 1.0 ? "met" : "NOT met");
}

static int bench_workload(const char *self, const char *wl, const int *use, int runs, int scale, int json,
			  int verbose)
{
	static struct run r[NMODES][MAX_RUNS];

	/* rounds: every selected mode once, in turn */
	for (int k = 0; k < runs; k++)
		for (int m = 0; m < NMODES; m++) {
			if (!use[m])
				continue;
			if (spawn(self, mode_ids[m], wl, scale, &r[m][k], verbose)) {
				fprintf(stderr, "ooh-gc-bench: %s/%s run failed\n", mode_ids[m], wl);
				return 1;
			}
		}
	/* GC CPU: against the mutator CPU of the same round's stop-the-world run */
	for (int k = 0; k < runs && use[0]; k++) {
		double mutator = get(&r[0][k], "cpu_ms") - get(&r[0][k], "pause_cpu_ms");
		for (int m = 0; m < NMODES; m++)
			if (use[m])
				put(&r[m][k], "gc_cpu_ms", get(&r[m][k], "cpu_ms") - mutator);
	}
	if (!json)
		printf("%s (scale %d, %d runs; median [min-max]):\n  %-26s %-22s %-22s %-22s %-22s %8s %8s\n", wl,
		       scale, runs, "mode", "GC CPU ms", "pauses ms", "longest pause ms", "p99 pause ms", "GCs",
		       "faults");
	for (int m = 0; m < NMODES; m++) {
		if (!use[m])
			continue;
		if (json)
			print_json(wl, m, r[m], runs, scale);
		else
			print_row(m, r[m], runs);
	}
	for (int m = 2; m < NMODES; m++) {
		if (!use[m])
			continue;
		if (use[0] && use[1])
			print_ratio(wl, m, r, runs, json);
		if (!json)
			print_breakdown(m, r[m], runs);
	}
	return 0;
}

static int parse_modes(const char *list, int *use)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	memset(use, 0, NMODES * sizeof(*use));
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int found = 0;
		for (int m = 0; m < NMODES; m++)
			if (!strcmp(tok, mode_ids[m]))
				use[m] = found = 1;
		if (!found)
			return -1;
	}
	return 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--runs N] [--workload gcbench|alloc|kv] [--modes stw,inc,ooh-manual,ooh-soft]\n"
		"          [--scale N] [--json] [-v]\n"
		"       %s --mode stw|inc|ooh|ooh-manual|ooh-soft --workload W [--scale N]\n"
		"       %s --verify\n",
		argv0, argv0, argv0);
}

int main(int argc, char **argv)
{
	const char *mode = NULL, *wl = NULL;
	int scale = 1, runs = 5, json = 0, verbose = 0, use[NMODES] = { 1, 1, 1, 1 };

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
		else if (!strcmp(argv[i], "--modes") && i + 1 < argc) {
			if (parse_modes(argv[++i], use)) {
				usage(argv[0]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else {
			usage(argv[0]);
			return 2;
		}
	}
	if (scale < 1 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "ooh-gc-bench: bad --scale/--runs (runs: 1-%d)\n", MAX_RUNS);
		return 2;
	}
	if (wl && !find_workload(wl)) {
		fprintf(stderr, "ooh-gc-bench: unknown workload %s\n", wl);
		return 2;
	}
	if (mode) {
		if (strcmp(mode, "stw") && strcmp(mode, "inc") && strcmp(mode, "ooh") &&
		    strcmp(mode, "ooh-soft") && strcmp(mode, "ooh-manual")) {
			fprintf(stderr, "ooh-gc-bench: unknown mode %s\n", mode);
			return 2;
		}
		return one_run(mode, find_workload(wl ? wl : "gcbench"), scale);
	}

	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	for (size_t w = 0; w < BENCH_WORKLOADS; w++) {
		if (wl && strcmp(wl, bench_workloads[w].name))
			continue;
		if (bench_workload(self, bench_workloads[w].name, use, runs, scale, json, verbose))
			return 1;
	}
	if (!json)
		printf("(each run in a fresh process, modes interleaved; GC CPU = process CPU time - mutator CPU time, "
		       "mutator CPU = the same round's stop-the-world CPU - CPU of its pauses; pauses = world-stopped "
		       "wall time; faults: the main thread's, the mutator's)\n");
	return 0;
}
