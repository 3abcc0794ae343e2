/* SPDX-License-Identifier: MIT */
/*
 * ooh-guard (LD_PRELOAD=libooh-guard.so): every heap bug of the corpus
 * (ooh-guard-corpus) is reported once, with the exact address, object,
 * size, allocation site and thread the corpus announced (its EXPECT lines
 * against the reports' SUMMARY lines), and the process ends as the mode
 * says (SIGABRT in abort mode, 0 in report mode); correct programs (C and
 * C++) run with no report and exit 0 in every placement; unmodified
 * Debian programs (perl, xz, sort) give the same output as under glibc's
 * allocator with no report, sampled and in full mode.
 *
 * Where things are: OOH_BINDIR and OOH_LIBDIR (build time), or
 * OOH_GUARD_TEST_BINDIR / OOH_GUARD_TEST_LIBDIR (the rig: /ooh/bin,
 * /ooh/lib). OOH_GUARD_TEST_SUBSET=rig leaves out the Debian programs
 * (L1's image is static busybox) and the correct programs' other
 * placements; =l2 runs a small subset (L2, ooh backend: each write to a
 * protected page is a VM exit). OOH_GUARD_TEST_MAXSIZE: the every-size
 * cases' last size (4097); OOH_GUARD_TEST_TIMEOUT: seconds per process.
 * OOH_GUARD_BACKEND, if set, is passed on to every run.
 * Without libooh-guard.so the suite is skipped (OOH-RESULT SKIP) while
 * the tree has no examples/guard; once it has, a missing library fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "ooh_check.h"

#ifndef OOH_LIBDIR
#define OOH_LIBDIR OOH_BINDIR "/../lib"
#endif
#ifndef OOH_GUARD_EXPECTED
#define OOH_GUARD_EXPECTED 0
#endif

extern char **environ;

static char corpus[4096], corpus_cxx[4096], corpus_linked[4096], guard_lib[4096];
static bool preload_guard = true; /* false: the corpus linked with libooh-guard.a */
static const char *subset = "all";
static int run_timeout = 300; /* seconds, per process (alarm before exec) */

/* ---- running a program ---- */

struct run {
	int status;
	pid_t pid;
	double secs;
	char *out, *err, *log; /* contents (NUL-terminated, never NULL) */
	char log_path[4200];
};

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ooh-guard-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	n = (long)fread(buf, 1, (size_t)n, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void free_run(struct run *r)
{
	free(r->out);
	free(r->err);
	free(r->log);
	r->out = r->err = r->log = NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * spawn: argv with the caller's environment minus LD_PRELOAD and OOH_GUARD_*
 * (OOH_GUARD_BACKEND is kept), plus env (NULL-terminated "K=V" list), plus
 * LD_PRELOAD=libooh-guard.so when preload. stdin from in (or /dev/null),
 * stdout to out, stderr to err.
 */
static int spawn(char *const argv[], const char *const env[], bool preload, const char *in,
		 const char *out, const char *err, double *secs, pid_t *pidp)
{
	double t0 = now();
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static char *envp[512];
		static char pre[4200];
		int n = 0;

		for (char **e = environ; *e && n < 480; e++) {
			if (!strncmp(*e, "LD_PRELOAD=", 11) ||
			    (!strncmp(*e, "OOH_GUARD_", 10) && strncmp(*e, "OOH_GUARD_BACKEND=", 18)))
				continue;
			envp[n++] = *e;
		}
		for (int i = 0; env && env[i] && n < 500; i++)
			envp[n++] = (char *)env[i];
		if (preload) {
			snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", guard_lib);
			envp[n++] = pre;
		}
		envp[n] = NULL;
		int fi = open(in ? in : "/dev/null", O_RDONLY);
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fi < 0 || fo < 0 || fe < 0)
			_exit(126);
		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		alarm((unsigned)run_timeout); /* kept across exec: a hang ends as SIGALRM */
		execve(argv[0], argv, envp);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (pidp)
		*pidp = pid;
	if (secs)
		*secs = now() - t0;
	return st;
}

/*
 * Run the corpus (or argv[0] = corpus_cxx) under the guard with env, its
 * reports going to a fresh log file unless env names OOH_GUARD_LOG.
 */
static void run_corpus(struct run *r, const char *const env[], char *const argv[])
{
	const char *full_env[40];
	char logenv[4300], out[128], err[128];
	int n = 0;
	bool own_log = false;

	for (int i = 0; env && env[i]; i++) {
		own_log |= !strncmp(env[i], "OOH_GUARD_LOG=", 14);
		full_env[n++] = env[i];
	}
	snprintf(r->log_path, sizeof(r->log_path), "%s/log", dir);
	unlink(r->log_path);
	if (!own_log) {
		snprintf(logenv, sizeof(logenv), "OOH_GUARD_LOG=%s", r->log_path);
		full_env[n++] = logenv;
	}
	full_env[n] = NULL;
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	r->status = spawn(argv, full_env, preload_guard, NULL, out, err, &r->secs, &r->pid);
	r->out = slurp(out);
	r->err = slurp(err);
	r->log = slurp(r->log_path);
}

/* ---- what the corpus expects, what ooh-guard reported ---- */

struct rep {
	char kind[32], site[128];
	unsigned long addr, object;
	unsigned long size;
	long offset, thread;
	bool alloc_stack, free_stack, error_line_ok, matched;
	char error_line[256];
};

#define MAXREP 20000
static struct rep want[MAXREP], got[MAXREP];
static int nwant, ngot;
static char stray[300]; /* the first log line outside any report */

static void parse_expects(const char *out)
{
	nwant = 0;
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		struct rep *w = &want[nwant];
		if (strncmp(l, "EXPECT kind=", 12))
			continue;
		memset(w, 0, sizeof(*w));
		int k = sscanf(l, "EXPECT kind=%31s addr=%lx object=%lx size=%lu site=%127s thread=%ld",
			       w->kind, &w->addr, &w->object, &w->size, w->site, &w->thread);
		ck_assert_msg(k == 6, "corpus printed a bad EXPECT line: %.200s", l);
		/* no object (invalid-free of a pointer that is none): offset 0 */
		w->offset = w->object ? (long)(w->addr - w->object) : 0;
		ck_assert_int_lt(++nwant, MAXREP);
	}
}

/*
 * Parse the reports: each line "==PID== ...", a report from its ERROR line
 * to its SUMMARY line. Returns NULL or a description of what is malformed.
 */
static const char *parse_reports(const char *log, char *why, size_t whylen)
{
	struct rep *cur = NULL;
	const char *l = log;

	ngot = 0;
	stray[0] = 0;
	while (l && *l) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		char line[1024];
		int pid = 0, skip = 0;

		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1), l);
		l = nl ? nl + 1 : NULL;
		if (!*line)
			continue;
		if (sscanf(line, "==%d== %n", &pid, &skip) != 1 || skip == 0 || pid <= 0) {
			snprintf(why, whylen, "line without the ==PID== prefix: %.200s", line);
			return why;
		}
		const char *body = line + skip;
		if (!strncmp(body, "ooh-guard: ERROR: ", 18)) {
			cur = &got[ngot];
			memset(cur, 0, sizeof(*cur));
			snprintf(cur->error_line, sizeof(cur->error_line), "%s", body + 18);
		} else if (!strncmp(body, "ooh-guard: SUMMARY: ", 20)) {
			if (!cur) {
				snprintf(why, whylen, "SUMMARY without an ERROR line: %.200s", line);
				return why;
			}
			int k = sscanf(body + 20, "%31s addr=%lx object=%lx size=%lu offset=%ld thread=%ld site=%127s",
				       cur->kind, &cur->addr, &cur->object, &cur->size, &cur->offset,
				       &cur->thread, cur->site);
			if (k != 7) {
				snprintf(why, whylen, "SUMMARY line not in the documented format: %.200s", line);
				return why;
			}
			/* "ERROR: <kind> at 0x<addr> ... in thread <tid>" */
			char ekind[32];
			unsigned long eaddr = 0;
			const char *th = strstr(cur->error_line, " in thread ");
			cur->error_line_ok = sscanf(cur->error_line, "%31s at %lx", ekind, &eaddr) == 2 &&
					     !strcmp(ekind, cur->kind) && eaddr == cur->addr && th &&
					     strtol(th + 11, NULL, 10) == cur->thread;
			ck_assert_int_lt(++ngot, MAXREP);
			cur = NULL;
		} else if (cur && strstr(body, "allocated by thread ")) {
			cur->alloc_stack = true;
		} else if (cur && strstr(body, "freed by thread ")) {
			cur->free_stack = true;
		} else if (!cur && !stray[0]) {
			snprintf(stray, sizeof(stray), "%.280s", line);
		}
	}
	if (cur) {
		snprintf(why, whylen, "a report without its SUMMARY line: ERROR: %.200s", cur->error_line);
		return why;
	}
	return NULL;
}

static int rep_str(char *buf, size_t len, const struct rep *r)
{
	return snprintf(buf, len, "%.31s addr=0x%lx object=0x%lx size=%lu offset=%ld thread=%ld site=%.127s",
			r->kind, r->addr, r->object, r->size, r->offset, r->thread, r->site);
}

static bool same(const struct rep *w, const struct rep *g)
{
	return !strcmp(w->kind, g->kind) && w->addr == g->addr && w->object == g->object &&
	       w->size == g->size && w->offset == g->offset && w->thread == g->thread &&
	       !strcmp(w->site, g->site);
}

/* want: exit status 0..255, or -SIG for death by SIG */
static void check_run(struct run *r, int want_status, const char *what)
{
	static char msg[8192];
	char why[512], a[400], b[400];
	size_t m = 0;
	int unmatched_w = 0, unmatched_g = 0;

	parse_expects(r->out);
	const char *bad = parse_reports(r->log, why, sizeof(why));
	ck_assert_msg(!bad, "%s: %s", what, bad);
	ck_assert_msg(!stray[0], "%s: a log line outside any report: %s", what, stray);

	/* each EXPECT matches one report exactly; no report is left over */
	for (int i = 0; i < ngot; i++)
		got[i].matched = false;
	for (int i = 0; i < nwant; i++) {
		want[i].matched = false;
		for (int j = 0; j < ngot; j++)
			if (!got[j].matched && same(&want[i], &got[j])) {
				want[i].matched = got[j].matched = true;
				break;
			}
	}
	msg[0] = 0;
	for (int i = 0; i < nwant; i++) {
		if (want[i].matched)
			continue;
		if (unmatched_w++ < 3 && m < sizeof(msg) - 600) {
			rep_str(a, sizeof(a), &want[i]);
			m += (size_t)snprintf(msg + m, sizeof(msg) - m, " [expected, not reported: %s]", a);
		}
	}
	for (int j = 0; j < ngot; j++) {
		if (got[j].matched)
			continue;
		if (unmatched_g++ < 3 && m < sizeof(msg) - 600) {
			rep_str(b, sizeof(b), &got[j]);
			m += (size_t)snprintf(msg + m, sizeof(msg) - m, " [reported, not expected: %s]", b);
		}
	}
	ck_assert_msg(!unmatched_w && !unmatched_g,
		      "%s: %d of %d expected reports missing, %d of %d reports unexpected:%s (status %#x, stderr: %.300s)",
		      what, unmatched_w, nwant, unmatched_g, ngot, msg, r->status, r->err);

	/* each report is complete */
	for (int j = 0; j < ngot; j++) {
		const struct rep *g = &got[j];
		rep_str(b, sizeof(b), g);
		ck_assert_msg(g->error_line_ok, "%s: ERROR line disagrees with its SUMMARY: ERROR: %s / %s",
			      what, g->error_line, b);
		ck_assert_msg(!g->object || g->alloc_stack, "%s: no allocation stack in the report of %s", what, b);
		/* a free stack for write-after-free, double-free, and slack
		 * corruption seen at free (not at exit) */
		bool freed = !strcmp(g->kind, "write-after-free") || !strcmp(g->kind, "double-free") ||
			     (!strcmp(g->kind, "slack-corruption") && !strstr(what, "slack-at-exit"));
		ck_assert_msg(!freed || g->free_stack, "%s: no free stack in the report of %s", what, b);
	}

	/* the corpus's own checks, and how the process ended */
	const char *f = strstr(r->out, "FAIL ");
	ck_assert_msg(!f, "%s: the corpus failed a check: %.300s", what, f);
	if (want_status < 0) {
		ck_assert_msg(WIFSIGNALED(r->status) && WTERMSIG(r->status) == -want_status,
			      "%s: wanted death by signal %d, status %#x; stderr: %.500s", what, -want_status,
			      r->status, r->err);
	} else {
		ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == want_status,
			      "%s: wanted exit %d, status %#x; stderr: %.500s", what, want_status, r->status,
			      r->err);
		if (want_status == 0)
			ck_assert_msg(strstr(r->out, "END ok"), "%s: the corpus did not finish", what);
	}
	/* with OOH_GUARD_LOG, ooh-guard says nothing on stderr (no report, and
	 * no warning such as objects left unguarded) */
	ck_assert_msg(!strstr(r->err, "ooh-guard"), "%s: ooh-guard wrote to stderr: %.300s", what, r->err);
	printf("%s: %d report(s) as expected, %.2f s\n", what, ngot, r->secs);
}

/* corpus CASE [ARG [ARG]] under env, checked; *r left for more checks (free_run it) */
static void corpus_case(struct run *r, const char *const env[], int want_status, const char *c,
			const char *a1, const char *a2)
{
	char *argv[] = { corpus, (char *)c, (char *)a1, (char *)a2, NULL };
	char what[256];
	size_t m = (size_t)snprintf(what, sizeof(what), "%s%s%s%s%s [", c, a1 ? " " : "", a1 ? a1 : "",
				    a2 ? " " : "", a2 ? a2 : "");

	for (int i = 0; env && env[i] && m < sizeof(what) - 2; i++)
		m += (size_t)snprintf(what + m, sizeof(what) - m, "%s%s", i ? " " : "", env[i] + 10);
	snprintf(what + m, sizeof(what) - m, "]");
	run_corpus(r, env, argv);
	check_run(r, want_status, what);
}

static void corpus_ok(const char *const env[], int want_status, const char *c, const char *a1,
		      const char *a2)
{
	struct run r;

	corpus_case(&r, env, want_status, c, a1, a2);
	free_run(&r);
}

#define ENV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define REPORT "OOH_GUARD_MODE=report"
#define ABORT -SIGABRT

static const char *max_size(void)
{
	const char *s = getenv("OOH_GUARD_TEST_MAXSIZE");

	return s && *s ? s : "4097";
}

/* ---- bugs ---- */

START_TEST(overflow_every_size_exact)
{
	make_dir();
	/* OOH_GUARD_ALIGN=1: every p[n] at the store */
	corpus_ok(ENV(REPORT, "OOH_GUARD_ALIGN=1"), 0, "overflow-exact", "1", max_size());
	corpus_ok(ENV(REPORT, "OOH_GUARD_ALIGN=1"), 0, "overflow-large", "exact", NULL);
	/* abort mode: the first one ends the process */
	corpus_ok(ENV("OOH_GUARD_ALIGN=1"), ABORT, "overflow-exact", "13", "13");
	remove_dir();
}
END_TEST

START_TEST(overflow_every_size_slack)
{
	make_dir();
	/* default alignment: p[n] at the store when n % 16 == 0, else at free
	 * (slack-corruption); p[roundup(n, 16)] at the store */
	corpus_ok(ENV(REPORT), 0, "overflow-slack", "1", max_size());
	corpus_ok(ENV(REPORT), 0, "overflow-large", "slack", NULL);
	remove_dir();
}
END_TEST

START_TEST(off_by_one_loop)
{
	make_dir();
	corpus_ok(NULL, ABORT, "off-by-one", "64", NULL);   /* at the store */
	corpus_ok(NULL, ABORT, "off-by-one", "100", NULL);  /* at free */
	corpus_ok(ENV("OOH_GUARD_ALIGN=1"), ABORT, "off-by-one", "100", NULL);
	remove_dir();
}
END_TEST

START_TEST(libc_functions_overflow)
{
	make_dir();
	corpus_ok(ENV(REPORT), 0, "libc", "all", NULL);
	corpus_ok(NULL, ABORT, "libc", "memcpy", NULL);
	corpus_ok(NULL, ABORT, "libc", "sprintf", NULL);
	remove_dir();
}
END_TEST

START_TEST(underflow_left_guard)
{
	make_dir();
	corpus_ok(ENV("OOH_GUARD_SIDE=left"), ABORT, "underflow", "40", NULL);
	corpus_ok(ENV("OOH_GUARD_SIDE=left", REPORT), 0, "underflow", "1", NULL);
	corpus_ok(ENV("OOH_GUARD_SIDE=left", REPORT), 0, "underflow", "4096", NULL);
	remove_dir();
}
END_TEST

START_TEST(write_after_free)
{
	make_dir();
	corpus_ok(NULL, ABORT, "waf-store", NULL, NULL);
	corpus_ok(NULL, ABORT, "waf-memset", NULL, NULL);
	corpus_ok(ENV(REPORT), 0, "waf-store", NULL, NULL);
	remove_dir();
}
END_TEST

START_TEST(double_free)
{
	make_dir();
	corpus_ok(NULL, ABORT, "double-free", NULL, NULL);
	corpus_ok(ENV(REPORT), 0, "double-free", NULL, NULL);
	remove_dir();
}
END_TEST

START_TEST(invalid_free)
{
	make_dir();
	corpus_ok(NULL, ABORT, "invalid-free", "interior", NULL);
	corpus_ok(NULL, ABORT, "invalid-free", "stack", NULL);
	corpus_ok(NULL, ABORT, "invalid-free", "global", NULL);
	corpus_ok(ENV(REPORT), 0, "invalid-free", "stack", NULL);
	remove_dir();
}
END_TEST

START_TEST(realloc_guard_follows)
{
	make_dir();
	corpus_ok(ENV(REPORT), 0, "realloc", NULL, NULL);
	remove_dir();
}
END_TEST

START_TEST(threads_overflow_at_once)
{
	struct run r;

	make_dir();
	corpus_case(&r, ENV(REPORT), 0, "threads", NULL, NULL);
	/* four reports, four threads, none of them the main one */
	ck_assert_int_eq(ngot, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_ne(got[i].thread, r.pid);
		for (int j = 0; j < i; j++) {
			ck_assert_int_ne(got[i].thread, got[j].thread);
			ck_assert_uint_ne(got[i].addr, got[j].addr);
		}
	}
	free_run(&r);
	remove_dir();
}
END_TEST

START_TEST(own_sigsegv_handler)
{
	struct run r;

	make_dir();
	/* report mode: its handler sees both its NULL reads, not the overflow */
	corpus_case(&r, ENV(REPORT), 0, "own-handler", NULL, NULL);
	ck_assert(strstr(r.out, "PASS own-handler-before") && strstr(r.out, "PASS own-handler-after"));
	free_run(&r);
	/* abort mode: its handler worked, then the overflow ends the process */
	corpus_case(&r, NULL, ABORT, "own-handler", NULL, NULL);
	ck_assert(strstr(r.out, "PASS own-handler-before"));
	free_run(&r);
	remove_dir();
}
END_TEST

/* a fault or trap with no handler of the program's: it dies of it */
START_TEST(unhandled_fault_and_trap)
{
	make_dir();
	corpus_ok(NULL, -SIGSEGV, "no-handler", "segv", NULL);
	corpus_ok(NULL, -SIGTRAP, "no-handler", "trap", NULL);
	remove_dir();
}
END_TEST

START_TEST(malloc0_write)
{
	make_dir();
	corpus_ok(NULL, ABORT, "malloc0", NULL, NULL);
	corpus_ok(ENV("OOH_GUARD_ALIGN=1"), ABORT, "malloc0", NULL, NULL);
	remove_dir();
}
END_TEST

START_TEST(report_mode_once_per_object)
{
	make_dir();
	corpus_ok(ENV(REPORT), 0, "repeat", NULL, NULL);
	remove_dir();
}
END_TEST

START_TEST(slack_checked_at_exit)
{
	make_dir();
	corpus_ok(ENV(REPORT), 0, "slack-at-exit", NULL, NULL);
	remove_dir();
}
END_TEST

START_TEST(log_file_and_stderr)
{
	struct run r;
	char logenv[200], path[200], out[128], err[128];
	char *argv[] = { corpus, "malloc0", NULL };

	make_dir();
	/* OOH_GUARD_LOG=.../pid-%p.log: the file is named after the process */
	snprintf(logenv, sizeof(logenv), "OOH_GUARD_LOG=%s/pid-%%p.log", dir);
	run_corpus(&r, ENV(logenv), argv);
	free(r.log);
	snprintf(path, sizeof(path), "%s/pid-%d.log", dir, (int)r.pid);
	r.log = slurp(path);
	ck_assert_msg(*r.log, "%s: no report in %s", logenv, path);
	check_run(&r, ABORT, "malloc0 [LOG=pid-%p.log]");
	ck_assert_int_eq(ngot, 1);
	int pid = 0;
	ck_assert_int_eq(sscanf(r.log, "==%d==", &pid), 1);
	ck_assert_int_eq(pid, r.pid);
	free_run(&r);

	/* no OOH_GUARD_LOG: the report is on stderr (and nothing else is) */
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	r.status = spawn(argv, NULL, true, NULL, out, err, &r.secs, &r.pid);
	r.out = slurp(out);
	r.err = strdup("");
	r.log = slurp(err);
	check_run(&r, ABORT, "malloc0 [report on stderr]");
	ck_assert_int_eq(ngot, 1);
	free_run(&r);
	remove_dir();
}
END_TEST

START_TEST(sampled_every_allocation)
{
	make_dir();
	/* OOH_GUARD_SAMPLE=1: every allocation sampled, alone before a guard page */
	corpus_ok(ENV("OOH_GUARD_SAMPLE=1"), ABORT, "off-by-one", "64", NULL);
	corpus_ok(ENV("OOH_GUARD_SAMPLE=1", REPORT), 0, "overflow-slack", "1", "100");
	remove_dir();
}
END_TEST

/* ---- correct programs: no report, exit 0 ---- */

static const char *const ok_cases[] = {
	"ok-malloc0", "ok-align", "ok-valloc", "ok-realloc", "ok-calloc", "ok-reallocarray",
	"ok-libc", "ok-threads", "ok-fork", "ok-usable", "errno",
};

static void correct_programs(const char *const env[])
{
	struct run r;
	char *cxx[] = { corpus_cxx, NULL };
	char what[200];

	make_dir();
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++)
		corpus_ok(env, 0, ok_cases[i],
			  /* L1 under TCG: ok-align's 36 000 objects take minutes */
			  !strcmp(ok_cases[i], "ok-align") && !strcmp(subset, "rig") ? "sparse" : NULL, NULL);
	run_corpus(&r, env, cxx);
	snprintf(what, sizeof(what), "C++ [%s]", env && env[0] ? env[0] : "default");
	check_run(&r, 0, what);
	free_run(&r);
	remove_dir();
}

START_TEST(correct_programs_default)
{
	correct_programs(NULL);
}
END_TEST

START_TEST(correct_programs_byte_exact)
{
	correct_programs(ENV("OOH_GUARD_ALIGN=1"));
}
END_TEST

START_TEST(correct_programs_left_guard)
{
	correct_programs(ENV("OOH_GUARD_SIDE=left"));
}
END_TEST

START_TEST(correct_programs_sampled)
{
	correct_programs(ENV("OOH_GUARD_SAMPLE=2"));
}
END_TEST

/* L2's one correct program: libc's own allocations (strdup, getline,
 * qsort, asprintf, open_memstream, regex, readdir) */
START_TEST(correct_program_libc)
{
	make_dir();
	corpus_ok(NULL, 0, "ok-libc", NULL, NULL);
	remove_dir();
}
END_TEST

START_TEST(impossible_sizes_errno)
{
	struct run r;

	make_dir();
	corpus_case(&r, NULL, 0, "errno", NULL, NULL);
	ck_assert(strstr(r.out, "PASS calloc-overflow") && strstr(r.out, "PASS realloc-zero-as-glibc"));
	free_run(&r);
	/* and the guard still guards afterwards */
	corpus_ok(ENV(REPORT), 0, "after-enomem", NULL, NULL);
	remove_dir();
}
END_TEST

/*
 * The program holds nearly all of vm.max_map_count: ooh-guard says once
 * (stderr and log) that objects with pages of their own are no longer
 * guarded, takes no good write for a bad one (the one report is the
 * expected overflow of a small object), and the program's data is intact.
 */
START_TEST(out_of_mappings)
{
	struct run r;
	char *argv[] = { corpus, (char *)"many-mappings", NULL };

	make_dir();
	run_corpus(&r, ENV(REPORT), argv);
	ck_assert_msg(r.status == 0, "status %d, stderr: %.400s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "PASS many-mappings"), "%.400s", r.out);
	ck_assert_msg(strstr(r.err, "are NOT guarded"), "nothing said on stderr: %.400s", r.err);
	const char *sum = strstr(r.log, "SUMMARY: ");
	ck_assert_msg(sum && !strstr(sum + 1, "SUMMARY: "), "one report expected: %.600s", r.log);
	ck_assert_msg(!strncmp(sum, "SUMMARY: heap-buffer-overflow", 29) && strstr(sum, "site=site_mappings"),
		      "%.300s", sum);
	free_run(&r);
	remove_dir();
}
END_TEST

/*
 * libooh-guard.a linked into the program instead of preloaded: the same
 * corpus, the same expectations (an overflow at the store, one at free,
 * a correct program).
 */
static char saved_corpus[4096];

START_TEST(linked_library)
{
	make_dir();
	ck_assert_msg(!access(corpus_linked, X_OK), "%s missing", corpus_linked);
	preload_guard = false;
	memcpy(saved_corpus, corpus, sizeof(saved_corpus));
	snprintf(corpus, sizeof(corpus), "%s", corpus_linked);
	corpus_ok(NULL, ABORT, "off-by-one", "64", NULL);
	corpus_ok(NULL, ABORT, "off-by-one", "100", NULL);
	corpus_ok(NULL, 0, "ok-libc", NULL, NULL);
	memcpy(corpus, saved_corpus, sizeof(saved_corpus));
	preload_guard = true;
	remove_dir();
}
END_TEST

/* ---- unmodified Debian programs: output as under glibc, no report ---- */

/* run argv without and with the guard (each env), same output, no report */
static void real_program(const char *name, char *const argv[], const char *in,
			 const char *const *envs[], int nenvs)
{
	char ref[128], out[128], err[128], log[160], logenv[200];
	double secs;
	int st;

	snprintf(ref, sizeof(ref), "%s/ref.out", dir);
	snprintf(out, sizeof(out), "%s/guard.out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(logenv, sizeof(logenv), "OOH_GUARD_LOG=%s", log);
	st = spawn(argv, ENV("LC_ALL=C"), false, in, ref, err, &secs, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s without the guard: status %#x", name, st);
	printf("%s: glibc %.2f s\n", name, secs);
	for (int i = 0; i < nenvs; i++) {
		const char *env[8];
		int n = 0;
		for (int j = 0; envs[i][j]; j++)
			env[n++] = envs[i][j];
		env[n++] = "LC_ALL=C";
		env[n++] = logenv;
		env[n] = NULL;
		unlink(log);
		st = spawn(argv, env, true, in, out, err, &secs, NULL);
		char *e = slurp(err), *l = slurp(log);
		const char *mode = envs[i][0] ? envs[i][0] + 10 : "full";
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s [%s]: status %#x, stderr %.300s, log %.500s",
			      name, mode, st, e, l);
		ck_assert_msg(!*l, "%s [%s]: ooh-guard reported: %.800s", name, mode, l);
		ck_assert_msg(!strstr(e, "ooh-guard"), "%s [%s]: ooh-guard wrote to stderr: %.300s", name, mode, e);
		free(e);
		free(l);
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "cmp -s %s %s", ref, out);
		ck_assert_msg(system(cmd) == 0, "%s [%s]: output differs from glibc's", name, mode);
		printf("%s: ooh-guard %s %.2f s, output identical\n", name, mode, secs);
	}
}

static const char *const full_mode[] = { NULL };
static const char *const sample100[] = { "OOH_GUARD_SAMPLE=100", NULL };
static const char *const sample1000[] = { "OOH_GUARD_SAMPLE=1000", NULL };

static const char perl_script[] =
	"my $n = shift;\n"
	"my (%h, @a);\n"
	"for my $i (1 .. $n) {\n"
	"    my $k = join '', map { chr(97 + ($i * $_ * 7919) % 26) } 1 .. ($i % 17 + 3);\n"
	"    $h{$k} .= \"$i,\";\n"
	"    push @a, [$i, $k, length $k];\n"
	"}\n"
	"my @s = sort { $a->[2] <=> $b->[2] or $a->[1] cmp $b->[1] or $a->[0] <=> $b->[0] } @a;\n"
	"print scalar(keys %h), \" keys\\n\";\n"
	"print join(' ', map { $_->[1] } @s[0 .. 9]), \"\\n\";\n"
	"for my $k (sort keys %h) { print \"$k $h{$k}\\n\" if length($k) == 5 }\n"
	"my $str = '';\n"
	"$str .= sprintf('%x', $_ * 2654435761 % 4294967296) for 1 .. $n;\n"
	"print length($str), ' ', substr($str, -20), \"\\n\";\n"
	"my @w = split /[aeiou0]/, $str x 3;\n"
	"print scalar(@w), \" words\\n\";\n"
	"my %c;\n"
	"$c{$_}++ for split //, $str;\n"
	"print join(' ', map { \"$_=$c{$_}\" } sort keys %c), \"\\n\";\n"
	"my @r = reverse sort { $a <=> $b } map { ($_ * 7) % 1009 } 1 .. $n;\n"
	"print \"@r[0 .. 4]\\n\";\n";

START_TEST(real_perl)
{
	char script[128];

	make_dir();
	snprintf(script, sizeof(script), "%s/t.pl", dir);
	FILE *f = fopen(script, "w");
	ck_assert_ptr_nonnull(f);
	fputs(perl_script, f);
	fclose(f);
	/* full mode: every write to a page holding a guard is single-stepped on
	 * the software backend; perl's own start-up is ~0.6 s of it, n=40 ~4 s */
	char *small[] = { "/usr/bin/perl", script, "40", NULL };
	char *big[] = { "/usr/bin/perl", script, "10000", NULL };
	real_program("perl (n=40)", small, NULL, (const char *const *[]){ full_mode }, 1);
	real_program("perl (n=10000)", big, NULL, (const char *const *[]){ sample100, sample1000 }, 2);
	remove_dir();
}
END_TEST

/* deterministic text: words from a small PRNG (compressible, like text) */
static void make_text(const char *path, size_t bytes, bool lines_of_numbers)
{
	static const char *words[] = { "ooh", "guard", "page", "heap", "sub", "protect", "write",
				       "malloc", "free", "object", "slack", "overflow", "the", "a", "of" };
	FILE *f = fopen(path, "w");
	uint64_t x = 88172645463325252ull;
	size_t n = 0;

	ck_assert_ptr_nonnull(f);
	while (n < bytes) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (lines_of_numbers)
			n += (size_t)fprintf(f, "%llu %s\n", (unsigned long long)(x % 1000000007ull),
					     words[(x >> 40) % 15]);
		else
			n += (size_t)fprintf(f, "%s%s", words[x % 15], (x >> 32) % 11 ? " " : ".\n");
	}
	fclose(f);
}

START_TEST(real_xz)
{
	char in[128], xzf[128], small[128];

	make_dir();
	snprintf(in, sizeof(in), "%s/in.txt", dir);
	snprintf(small, sizeof(small), "%s/small.txt", dir);
	snprintf(xzf, sizeof(xzf), "%s/in.txt.xz", dir);
	make_text(in, 2 << 20, false);
	make_text(small, 20 << 10, false); /* full mode: ~4 s whatever the size */
	char *zs[] = { "/usr/bin/xz", "-T1", "-6", "-c", NULL };
	real_program("xz -T1 -6 (20 KB)", zs, small, (const char *const *[]){ full_mode }, 1);
	real_program("xz -T1 -6 (2 MB)", zs, in, (const char *const *[]){ sample100, sample1000 }, 2);
	/* decompress the reference compression: the original again */
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "xz -T1 -6 -c < %s > %s", in, xzf);
	ck_assert_int_eq(system(cmd), 0);
	char *d[] = { "/usr/bin/xz", "-T1", "-d", "-c", NULL };
	real_program("xz -T1 -d (2 MB)", d, xzf, (const char *const *[]){ sample100, sample1000 }, 2);
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s/guard.out", in, dir);
	ck_assert_msg(system(cmd) == 0, "xz -d under ooh-guard did not give the original back");
	snprintf(cmd, sizeof(cmd), "xz -T1 -6 -c < %s > %s", small, xzf);
	ck_assert_int_eq(system(cmd), 0);
	real_program("xz -T1 -d (20 KB)", d, xzf, (const char *const *[]){ full_mode }, 1);
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s/guard.out", small, dir);
	ck_assert_msg(system(cmd) == 0, "xz -d under ooh-guard did not give the original back");
	remove_dir();
}
END_TEST

/* n lines of "number word" */
static void make_lines(const char *path, int n)
{
	FILE *f = fopen(path, "w");
	uint64_t x = 2463534242ull;

	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fprintf(f, "%llu line-%d %s\n", (unsigned long long)(x % 100000007ull), i,
			(x >> 50) % 3 ? "sort" : "ooh-guard");
	}
	fclose(f);
}

START_TEST(real_sort)
{
	char l2k[128], l100k[128], l1m[128];

	make_dir();
	snprintf(l2k, sizeof(l2k), "%s/2k", dir);
	snprintf(l100k, sizeof(l100k), "%s/100k", dir);
	snprintf(l1m, sizeof(l1m), "%s/1m", dir);
	make_lines(l2k, 2000);
	make_lines(l100k, 100000);
	make_lines(l1m, 1000000);
	char *s[] = { "/usr/bin/sort", NULL };
	char *sn[] = { "/usr/bin/sort", "-n", NULL };
	real_program("sort (2 000 lines)", s, l2k, (const char *const *[]){ full_mode }, 1);
	real_program("sort (100 000 lines)", s, l100k, (const char *const *[]){ sample100, sample1000 }, 2);
	real_program("sort -n (100 000 lines)", sn, l100k, (const char *const *[]){ sample100 }, 1);
	real_program("sort (1 000 000 lines)", s, l1m, (const char *const *[]){ sample1000 }, 1);
	remove_dir();
}
END_TEST

/* ---- suite ---- */

static void no_library(void)
{
	ck_abort_msg("%s is missing: the tree has examples/guard, so the library must be built (make all)",
		     guard_lib);
}

START_TEST(library_present)
{
	no_library();
}
END_TEST

static void add(Suite *s, const char *name, const TTest *t, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_test(tc, t);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
}

int main(void)
{
	const char *b = getenv("OOH_GUARD_TEST_BINDIR"), *l = getenv("OOH_GUARD_TEST_LIBDIR");
	const char *t = getenv("OOH_GUARD_TEST_TIMEOUT");
	Suite *s = suite_create("examples-guard");

	if (!b || !*b)
		b = OOH_BINDIR;
	if (!l || !*l)
		l = OOH_LIBDIR;
	if (getenv("OOH_GUARD_TEST_SUBSET") && *getenv("OOH_GUARD_TEST_SUBSET"))
		subset = getenv("OOH_GUARD_TEST_SUBSET");
	if (t && atoi(t) > 0)
		run_timeout = atoi(t);
	snprintf(corpus, sizeof(corpus), "%s/ooh-guard-corpus", b);
	snprintf(corpus_cxx, sizeof(corpus_cxx), "%s/ooh-guard-corpus-cxx", b);
	snprintf(corpus_linked, sizeof(corpus_linked), "%s/ooh-guard-corpus-linked", b);
	snprintf(guard_lib, sizeof(guard_lib), "%s/libooh-guard.so", l);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (access(guard_lib, R_OK)) {
		if (!OOH_GUARD_EXPECTED) {
			printf("OOH-RESULT SKIP examples-guard %s not built: this tree has no examples/guard yet\n",
			       guard_lib);
			return 0;
		}
		add(s, "library_present", library_present, 10);
		return ooh_check_main(s);
	}
	if (access(corpus, X_OK) || access(corpus_cxx, X_OK)) {
		fprintf(stderr, "%s or %s missing\n", corpus, corpus_cxx);
		return EXIT_FAILURE;
	}

	bool l2 = !strcmp(subset, "l2");
	if (l2) {
		/* L2 on the ooh backend: a subset (each write to a protected
		 * page is a VM exit; ooh.ko limits protected pages) */
		add(s, "overflow_every_size_exact", overflow_every_size_exact, 600);
		add(s, "underflow_left_guard", underflow_left_guard, 300);
		add(s, "write_after_free", write_after_free, 300);
		add(s, "double_free", double_free, 300);
		add(s, "invalid_free", invalid_free, 300);
		add(s, "threads_overflow_at_once", threads_overflow_at_once, 300);
		add(s, "correct_program_libc", correct_program_libc, 300);
		return ooh_check_main(s);
	}
	add(s, "overflow_every_size_exact", overflow_every_size_exact, 300);
	add(s, "overflow_every_size_slack", overflow_every_size_slack, 300);
	add(s, "off_by_one_loop", off_by_one_loop, 60);
	add(s, "libc_functions_overflow", libc_functions_overflow, 60);
	add(s, "underflow_left_guard", underflow_left_guard, 60);
	add(s, "write_after_free", write_after_free, 60);
	add(s, "double_free", double_free, 60);
	add(s, "invalid_free", invalid_free, 60);
	add(s, "realloc_guard_follows", realloc_guard_follows, 60);
	add(s, "threads_overflow_at_once", threads_overflow_at_once, 60);
	add(s, "own_sigsegv_handler", own_sigsegv_handler, 60);
	add(s, "malloc0_write", malloc0_write, 60);
	add(s, "unhandled_fault_and_trap", unhandled_fault_and_trap, 60);
	add(s, "report_mode_once_per_object", report_mode_once_per_object, 60);
	add(s, "slack_checked_at_exit", slack_checked_at_exit, 60);
	add(s, "log_file_and_stderr", log_file_and_stderr, 60);
	add(s, "sampled_every_allocation", sampled_every_allocation, 60);
	add(s, "correct_programs_default", correct_programs_default, 300);
	add(s, "impossible_sizes_errno", impossible_sizes_errno, 60);
	add(s, "out_of_mappings", out_of_mappings, 120);
	add(s, "linked_library", linked_library, 120);
	if (strcmp(subset, "rig")) {
		/* (not in L1 under TCG: each placement is ~15 s on the host) */
		add(s, "correct_programs_byte_exact", correct_programs_byte_exact, 300);
		add(s, "correct_programs_left_guard", correct_programs_left_guard, 300);
		add(s, "correct_programs_sampled", correct_programs_sampled, 300);
		add(s, "real_perl", real_perl, 300);
		add(s, "real_xz", real_xz, 300);
		add(s, "real_sort", real_sort, 300);
	}
	return ooh_check_main(s);
}
