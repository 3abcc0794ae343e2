/* SPDX-License-Identifier: MIT */
/*
 * ooh-wss: working-set size of a process over time.
 *
 *   ooh-wss [options] PID
 *   ooh-wss [options] -- COMMAND [ARG...]
 *   ooh-wss [options] --replay FILE
 *
 *   -i, --interval MS     sampling interval (default 1000)
 *   -n, --count N         stop after N intervals (default: until the target exits)
 *   -w, --window N        plateau window in intervals (default 4)
 *   -t, --tolerance PCT   plateau tolerance in percent (default 5)
 *   -b, --backend NAME    libooh backend (default auto)
 *       --no-referenced   do not sample the referenced set
 *       --json            JSON lines instead of text
 *       --svg FILE        also write a plot
 *   (--vm SOCKET: a whole VM through ooh-l0's control socket; see below)
 *       --replay FILE     a recorded series instead of a target (see replay())
 *
 * Dirty (write) working set: the pages libooh reports written during each
 * interval (collect + re-arm, so no write falls between intervals).
 *
 * Referenced working set: the kernel's accessed bits, read through
 * /proc/PID/smaps "Referenced:" and reset with /proc/PID/clear_refs "1" at
 * each interval (this ages the target's pages for reclaim, as any sampling
 * of accessed bits does).  Idle page tracking (/sys/kernel/mm/page_idle) and
 * DAMON are NOT available on this host kernel; the smaps method needs no
 * more than CONFIG_PROC_PAGE_MONITOR.  "ref_anon" counts private anonymous
 * memory only (heap, stack, anonymous mappings): the data working set
 * without shared-library text.
 *
 * Plateaus (PRL-style stable working set): the working-set estimator
 * shared with ooh-vmwss (wss-estimator/wss-estimator.h), with -w as its
 * window, -t as its tolerance and 64 pages of slack: a plateau starts when
 * N consecutive intervals agree with their median, which is its level,
 * and lasts while the median of the last N does.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ooh.h"
#include "wss-estimator.h"

#define PAGE 4096ull
#define CAP 65536

struct sample {
	double t;          /* seconds since start, end of the interval */
	uint64_t dirty;    /* bytes */
	uint64_t ref;      /* bytes, all mappings */
	uint64_t ref_anon; /* bytes, private anonymous */
	bool overflow;
};

static struct sample *smp;
static int nsmp, capsmp;
static int window = 4;
static double tol = 0.05;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sum "Referenced:" of /proc/PID/smaps, all and private anonymous only. */
static int read_referenced(pid_t pid, uint64_t *all, uint64_t *anon)
{
	char path[64], line[512];
	bool is_anon = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*all = *anon = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		unsigned long s, e;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, perms, &name_at) == 3 &&
		    strchr(line, '-') && line[0] != ' ') {
			const char *name = name_at ? line + name_at : "";
			is_anon = perms[3] == 'p' && (name[0] == '\n' || name[0] == 0 ||
						     !strncmp(name, "[heap]", 6) ||
						     !strncmp(name, "[stack", 6) ||
						     !strncmp(name, "[anon:", 6));
		} else if (sscanf(line, "Referenced: %llu kB", &kb) == 1) {
			*all += kb * 1024;
			if (is_anon)
				*anon += kb * 1024;
		}
	}
	fclose(f);
	return 0;
}

static int clear_referenced(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	int ok = fputs("1", f) >= 0;
	if (fclose(f) != 0 || !ok)
		return -EIO;
	return 0;
}

static uint64_t val(const struct sample *s, int which)
{
	return which == 0 ? s->dirty : which == 1 ? s->ref : s->ref_anon;
}

/* One set's pages in an interval, as the estimator takes them. */
static double pages_of(const struct sample *s, int which)
{
	if (which == 0 && s->overflow)
		return WSS_UNKNOWN; /* the backend lost count: every page may be dirty */
	return (double)val(s, which) / PAGE;
}

static struct wss_params plateau_params(void)
{
	return (struct wss_params){ .window = (unsigned int)window, .tolerance = tol,
				    .slack = WSS_SLACK_PAGES };
}

/*
 * Offline: the plateaus of one set over the whole run. The per-interval
 * "stable" flags come from the same estimator fed live (live_dirty,
 * live_ref), so a flag turns on at the interval where a plateau is found.
 */
static int find_set_plateaus(int which, struct wss_plateau **out)
{
	struct wss_params p = plateau_params();
	double *pages;
	int n;

	*out = NULL;
	if (!nsmp)
		return 0;
	pages = malloc((size_t)nsmp * sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	for (int i = 0; i < nsmp; i++)
		pages[i] = pages_of(&smp[i], which);
	n = wss_find_plateaus(pages, (unsigned int)nsmp, &p, out);
	free(pages);
	return n;
}

static const char *set_name[] = { "dirty", "referenced", "referenced_anon" };

static void write_svg(const char *file, bool have_ref, struct wss_plateau *pl[3], const int npl[3])
{
	FILE *f = fopen(file, "we");
	if (!f) {
		fprintf(stderr, "ooh-wss: %s: %s\n", file, strerror(errno));
		return;
	}
	const double W = 900, H = 420, L = 70, R = 20, T = 40, B = 50;
	double tmax = nsmp ? smp[nsmp - 1].t : 1;
	uint64_t vmax = 1;
	for (int i = 0; i < nsmp; i++)
		for (int w = 0; w < (have_ref ? 3 : 1); w++)
			if (val(&smp[i], w) > vmax)
				vmax = val(&smp[i], w);
	double ymax = (double)vmax / 1048576.0 * 1.1;
	const char *color[] = { "#d62728", "#1f77b4", "#2ca02c" };
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		   "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"15\">Working set per interval "
		   "(lines) and stable plateaus (dashed)</text>\n", L);
	for (int k = 0; k <= 5; k++) {
		double y = T + (H - T - B) * (1 - k / 5.0);
		fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L,
			W - R, y, y);
		fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f MiB</text>\n", L - 6,
			y + 4, ymax * k / 5.0);
		double x = L + (W - L - R) * k / 5.0;
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.1f s</text>\n", x,
			H - B + 18, tmax * k / 5.0);
	}
	fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L,
		W - R, H - B, H - B);
	fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, L, T,
		H - B);
#define X(t) (L + (W - L - R) * (t) / tmax)
#define Y(b) (T + (H - T - B) * (1 - ((double)(b) / 1048576.0) / ymax))
	for (int w = 0; w < (have_ref ? 3 : 1); w++) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color[w]);
		for (int i = 0; i < nsmp; i++)
			fprintf(f, "%.1f,%.1f ", X(smp[i].t), Y(val(&smp[i], w)));
		fprintf(f, "\"/>\n");
		for (int p = 0; p < npl[w]; p++) {
			const struct wss_plateau *q = &pl[w][p];
			double t0 = q->first > 0 ? smp[q->first - 1].t : 0, t1 = smp[q->last].t;
			fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
				   "stroke-dasharray=\"6,4\" stroke-width=\"1.5\"/>\n",
				X(t0), X(t1), Y(q->level * PAGE), Y(q->level * PAGE), color[w]);
		}
		fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"4\" fill=\"%s\"/>"
			   "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
			L + 20 + w * 170, H - 14, color[w], L + 40 + w * 170, H - 9, set_name[w]);
	}
	fprintf(f, "</svg>\n");
	fclose(f);
}

/*
 * A whole VM is ooh-vmwss's job (vmwss/: ooh-l0's control socket, or Xen
 * from dom0): hand over to it, installed next to this program, with the
 * same interval, window, tolerance and outputs.
 */
static int vm_source(const char *sock, long interval_ms, long count, int window, double tol,
		     bool json, const char *svg)
{
	char self[4096], path[4200], iv[32], cnt[32], win[32], tl[32];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *argv[16];
	int n = 0;

	if (len < 0) {
		perror("ooh-wss: /proc/self/exe");
		return 1;
	}
	self[len] = 0;
	*(strrchr(self, '/') ? strrchr(self, '/') : self) = 0;
	snprintf(path, sizeof(path), "%s/ooh-vmwss", self);
	snprintf(iv, sizeof(iv), "%ld", interval_ms);
	snprintf(win, sizeof(win), "%d", window);
	snprintf(tl, sizeof(tl), "%g", tol);
	argv[n++] = "ooh-vmwss";
	argv[n++] = "--l0";
	argv[n++] = (char *)sock;
	argv[n++] = "--interval";
	argv[n++] = iv;
	argv[n++] = "--window";
	argv[n++] = win;
	argv[n++] = "--tolerance";
	argv[n++] = tl;
	if (count > 0) {
		snprintf(cnt, sizeof(cnt), "%ld", count);
		argv[n++] = "--count";
		argv[n++] = cnt;
	}
	if (json)
		argv[n++] = "--json";
	if (svg) {
		argv[n++] = "--svg";
		argv[n++] = (char *)svg;
	}
	argv[n] = NULL;
	execv(path, argv);
	fprintf(stderr, "ooh-wss: cannot run %s: %s\n", path, strerror(errno));
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ooh-wss [-i MS] [-n N] [-w N] [-t PCT] [-b BACKEND] [--no-referenced] "
		   "[--json] [--svg FILE] (PID | -- COMMAND [ARG...] | --vm SOCKET | --replay FILE)\n");
}

struct opts {
	long interval_ms, count; /* count -1: until the target exits */
	const char *svg, *vm, *replay;
	bool json, want_ref;
	enum ooh_backend backend;
};

/* live estimators behind the per-interval flags: dirty, referenced_anon */
static struct wss_estimator live_dirty, live_ref;

static bool live_stable(struct wss_estimator *est, const struct sample *s, int which)
{
	if (wss_estimator_add(est, pages_of(s, which)) < 0)
		return false; /* out of memory: only the flag is lost, not the run */
	return wss_estimator_current(est) != NULL;
}

/* Keeps one interval and prints its line; -ENOMEM when it cannot be kept. */
static int add_sample(const struct sample *s, bool have_ref, bool json)
{
	if (nsmp == capsmp) {
		int cap = capsmp ? capsmp * 2 : 256;
		struct sample *ns = realloc(smp, (size_t)cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		smp = ns;
		capsmp = cap;
	}
	smp[nsmp++] = *s;
	bool sd = live_stable(&live_dirty, s, 0), sr = have_ref && live_stable(&live_ref, s, 2);
	if (json)
		printf("{\"type\":\"interval\",\"t\":%.3f,\"dirty_bytes\":%llu,\"overflow\":%s,"
		       "\"ref_bytes\":%llu,\"ref_anon_bytes\":%llu,\"stable_dirty\":%s,"
		       "\"stable_ref\":%s}\n",
		       s->t, (unsigned long long)s->dirty, s->overflow ? "true" : "false",
		       (unsigned long long)s->ref, (unsigned long long)s->ref_anon,
		       sd ? "true" : "false", sr ? "true" : "false");
	else {
		char r1[24] = "-", r2[24] = "-";
		if (have_ref) {
			snprintf(r1, sizeof(r1), "%llu", (unsigned long long)(s->ref / 1024));
			snprintf(r2, sizeof(r2), "%llu", (unsigned long long)(s->ref_anon / 1024));
		}
		printf("%9.3f %12llu %12s %12s%s%s%s\n", s->t, (unsigned long long)(s->dirty / 1024),
		       r1, r2, s->overflow ? " overflow" : "", sd ? " [dirty stable]" : "",
		       sr ? " [ref stable]" : "");
	}
	fflush(stdout);
	return 0;
}

/* COMMAND mode: run it, and return once it has exec'd (0), or an exit status. */
static int start_command(char **cmd, pid_t *child)
{
	char self[256], now_exe[256];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	*child = fork();
	if (*child < 0) {
		perror("ooh-wss: fork");
		return 1;
	}
	if (*child == 0) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "ooh-wss: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	for (int k = 0; k < 2000; k++) { /* wait for the exec (up to 2 s) */
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d/exe", (int)*child);
		n = readlink(p, now_exe, sizeof(now_exe) - 1);
		now_exe[n > 0 ? n : 0] = 0;
		int st;
		if (waitpid(*child, &st, WNOHANG) == *child) {
			fprintf(stderr, "ooh-wss: %s exited at once\n", cmd[0]);
			return 1;
		}
		if (n > 0 && strcmp(now_exe, self))
			break;
		usleep(1000);
	}
	return 0;
}

/* The target, from PID or COMMAND: 0, or an exit status. */
static int find_target(int argc, char **argv, pid_t *pid, pid_t *child)
{
	if (!strcmp(argv[optind - 1], "--") || optind + 1 < argc) {
		int st = start_command(&argv[optind], child);
		*pid = *child;
		return st;
	}
	char *end;
	long v = strtol(argv[optind], &end, 10);
	if (*end || v <= 0 || v > 0x3fffffff) {
		fprintf(stderr, "ooh-wss: bad PID %s\n", argv[optind]);
		return 2;
	}
	*pid = (pid_t)v;
	if (kill(*pid, 0) < 0 && errno == ESRCH) {
		fprintf(stderr, "ooh-wss: no such process: %d\n", (int)*pid);
		return 1;
	}
	return 0;
}

/* The plateaus of the whole run, each set's, then the summary and plot. */
static int report(bool have_ref, bool json, const char *svg)
{
	struct wss_plateau *pl[3] = { NULL };
	int npl[3] = { 0 }, status = 0;
	for (int w = 0; w < (have_ref ? 3 : 1); w++) {
		npl[w] = find_set_plateaus(w, &pl[w]);
		if (npl[w] < 0) {
			fprintf(stderr, "ooh-wss: plateaus: %s\n", strerror(-npl[w]));
			npl[w] = 0;
			status = 1;
		}
	}
	for (int w = 0; w < (have_ref ? 3 : 1); w++)
		for (int p = 0; p < npl[w]; p++) {
			const struct wss_plateau *q = &pl[w][p];
			double ts = q->first > 0 ? smp[q->first - 1].t : 0, te = smp[q->last].t;
			uint64_t bytes = (uint64_t)(q->level * PAGE);
			int intervals = (int)(q->last - q->first + 1);
			if (json)
				printf("{\"type\":\"plateau\",\"set\":\"%s\",\"start\":%.3f,\"end\":%.3f,"
				       "\"intervals\":%d,\"bytes\":%llu}\n",
				       set_name[w], ts, te, intervals, (unsigned long long)bytes);
			else
				printf("plateau %-15s %8.3f-%8.3f s %4d intervals %10.1f MiB\n", set_name[w], ts,
				       te, intervals, bytes / 1048576.0);
		}
	if (json)
		printf("{\"type\":\"summary\",\"intervals\":%d,\"plateaus_dirty\":%d,"
		       "\"plateaus_ref\":%d}\n", nsmp, npl[0], npl[1]);
	if (svg)
		write_svg(svg, have_ref, pl, npl);
	for (int w = 0; w < 3; w++)
		free(pl[w]);
	return status;
}

/* Samples the target each interval until it exits or -n, then reports: the exit status. */
static int track(pid_t pid, pid_t child, const struct opts *o)
{
	struct ooh_open_opts oo = { .size = sizeof(oo), .backend = o->backend, .pid = pid,
				    .flags = OOH_OPEN_START };
	ooh_tracker *t;
	int err = ooh_open(&oo, &t);
	if (err) {
		fprintf(stderr, "ooh-wss: cannot track %d: %s%s\n", (int)pid, ooh_strerror(err),
			err == -EPERM || err == -EACCES ? " (need ptrace rights over the target)" : "");
		if (child)
			kill(child, SIGKILL);
		return 1;
	}
	char ref_note[160] = "";
	bool have_ref = false;
	if (o->want_ref) {
		int r = clear_referenced(pid);
		have_ref = r == 0;
		if (!have_ref)
			snprintf(ref_note, sizeof(ref_note), "referenced set unavailable: clear_refs: %s",
				 strerror(-r));
	}
	bool idle_tracking = access("/sys/kernel/mm/page_idle/bitmap", R_OK) == 0;
	if (o->json)
		printf("{\"type\":\"config\",\"pid\":%d,\"backend\":\"%s\",\"interval_ms\":%ld,"
		       "\"window\":%d,\"tolerance_pct\":%.1f,\"referenced\":\"%s\","
		       "\"idle_page_tracking\":%s}\n",
		       (int)pid, ooh_backend_name((enum ooh_backend)ooh_tracker_backend(t)),
		       o->interval_ms, window, tol * 100,
		       have_ref ? "accessed bits via clear_refs+smaps" : "unavailable",
		       idle_tracking ? "true" : "false");
	else {
		printf("# ooh-wss pid %d, backend %s, interval %ld ms, plateau window %d, tolerance %.1f%%\n",
		       (int)pid, ooh_backend_name((enum ooh_backend)ooh_tracker_backend(t)),
		       o->interval_ms, window, tol * 100);
		printf("# referenced: %s; idle page tracking: %s\n",
		       have_ref ? "accessed bits via /proc/PID/clear_refs + smaps" : ref_note,
		       idle_tracking ? "available (not used)" : "not available on this kernel");
		printf("%9s %12s %12s %12s\n", "t(s)", "dirty(KiB)", "ref(KiB)", "refanon(KiB)");
	}
	fflush(stdout);

	uint64_t *buf = malloc(CAP * sizeof(*buf));
	double t0 = mono();
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	bool gone = false;
	int status = 0;
	while (!gone && (o->count < 0 || nsmp < o->count) && buf) {
		next.tv_nsec += (o->interval_ms % 1000) * 1000000;
		next.tv_sec += o->interval_ms / 1000 + next.tv_nsec / 1000000000;
		next.tv_nsec %= 1000000000;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		struct sample s = { .t = mono() - t0 };
		struct ooh_collect_result res;
		do {
			err = ooh_collect(t, buf, CAP, OOH_COLLECT_REARM, &res);
			if (err)
				break;
			s.dirty += res.count * PAGE;
			s.overflow |= !!(res.flags & OOH_RESULT_OVERFLOW);
		} while (res.flags & OOH_RESULT_MORE);
		if (err == -ESRCH)
			break;
		if (err) {
			fprintf(stderr, "ooh-wss: collect: %s\n", ooh_strerror(err));
			status = 1;
			break;
		}
		if (have_ref) {
			if (read_referenced(pid, &s.ref, &s.ref_anon) || clear_referenced(pid))
				gone = true;
		}
		if (child && waitpid(child, &status, WNOHANG) == child) {
			gone = true;
			status = 0;
			child = 0;
			if (gone && s.dirty == 0 && s.ref == 0)
				break; /* nothing measured in this last partial interval */
		}
		if (gone || add_sample(&s, have_ref, o->json))
			break;
	}
	free(buf);
	ooh_close(t);
	if (child) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	return (report(have_ref, o->json, o->svg) || status) ? 1 : 0;
}

/* The page counts on a line of a recording (up to 4: 4 is too many), or -1. */
static int read_pages(char *line, uint64_t v[4])
{
	int n = 0;
	char *end;
	for (char *p = line; n < 4; p = end) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		errno = 0;
		v[n] = strtoull(p, &end, 10);
		if (end == p || *p == '-' || errno || (*end && !isspace((unsigned char)*end)))
			return -1;
		n++;
	}
	return n;
}

static void print_replay_header(const struct opts *o, bool have_ref)
{
	if (o->json)
		printf("{\"type\":\"config\",\"replay\":true,\"interval_ms\":%ld,\"window\":%d,"
		       "\"tolerance_pct\":%.1f,\"referenced\":\"%s\"}\n", o->interval_ms, window,
		       tol * 100, have_ref ? "recorded" : "unavailable");
	else {
		printf("# ooh-wss replay of %s, interval %ld ms, plateau window %d, tolerance %.1f%%\n",
		       o->replay, o->interval_ms, window, tol * 100);
		printf("%9s %12s %12s %12s\n", "t(s)", "dirty(KiB)", "ref(KiB)", "refanon(KiB)");
	}
}

/*
 * A recorded series instead of a target, to run the analysis again (other
 * -w or -t) or on a known series. One interval per line: its dirty pages,
 * then, optionally, its referenced and referenced-anonymous pages; empty
 * lines and lines starting with '#' are skipped. Interval i ends at
 * (i + 1) * -i MS. Reports as a run on a target does: the exit status.
 */
static int replay(const struct opts *o)
{
	FILE *f = fopen(o->replay, "re");
	char line[256];
	int cols = 0;
	bool have_ref = false;
	unsigned int lineno = 0;

	if (!f) {
		fprintf(stderr, "ooh-wss: cannot open the recording %s: %s\n", o->replay,
			strerror(errno));
		return 1;
	}
	while ((o->count < 0 || nsmp < o->count) && fgets(line, sizeof(line), f)) {
		uint64_t v[4] = { 0 };
		lineno++;
		if (line[strspn(line, " \t\r\n")] == '#' || !line[strspn(line, " \t\r\n")])
			continue;
		int n = read_pages(line, v);
		if (!cols && (n == 1 || n == 3)) {
			cols = n;
			have_ref = o->want_ref && cols == 3;
			print_replay_header(o, have_ref);
		}
		if (n != cols || (!strchr(line, '\n') && !feof(f))) {
			fprintf(stderr, "ooh-wss: %s:%u: wanted %s\n", o->replay, lineno,
				cols == 3 ? "3 page counts, as on the first line" :
				cols == 1 ? "1 page count, as on the first line" :
				"1 or 3 page counts (dirty [referenced referenced-anonymous])");
			fclose(f);
			return 1;
		}
		struct sample s = { .t = (double)(nsmp + 1) * (double)o->interval_ms / 1000,
				    .dirty = v[0] * PAGE };
		if (have_ref) {
			s.ref = v[1] * PAGE;
			s.ref_anon = v[2] * PAGE;
		}
		if (add_sample(&s, have_ref, o->json))
			break;
	}
	fclose(f);
	return report(have_ref, o->json, o->svg);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "interval", 1, 0, 'i' }, { "count", 1, 0, 'n' },   { "window", 1, 0, 'w' },
		{ "tolerance", 1, 0, 't' }, { "backend", 1, 0, 'b' }, { "json", 0, 0, 'J' },
		{ "svg", 1, 0, 'S' },      { "no-referenced", 0, 0, 'N' }, { "vm", 1, 0, 'V' },
		{ "replay", 1, 0, 'R' },   { "help", 0, 0, 'h' },     { 0, 0, 0, 0 }
	};
	struct opts o = { .interval_ms = 1000, .count = -1, .want_ref = true,
			  .backend = OOH_BACKEND_AUTO };
	pid_t pid = 0, child = 0;
	int c;

	while ((c = getopt_long(argc, argv, "+i:n:w:t:b:h", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'i': o.interval_ms = strtol(optarg, &end, 10); break;
		case 'n': o.count = strtol(optarg, &end, 10); break;
		case 'w': window = (int)strtol(optarg, &end, 10); break;
		case 't': tol = strtod(optarg, &end) / 100.0; break;
		case 'b': {
			int b = ooh_backend_from_name(optarg);
			if (b < 0) {
				fprintf(stderr, "ooh-wss: unknown backend %s\n", optarg);
				return 2;
			}
			o.backend = (enum ooh_backend)b;
			break;
		}
		case 'J': o.json = true; break;
		case 'S': o.svg = optarg; break;
		case 'N': o.want_ref = false; break;
		case 'V': o.vm = optarg; break;
		case 'R': o.replay = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (end && *end) {
			fprintf(stderr, "ooh-wss: bad number: %s\n", optarg);
			return 2;
		}
	}
	if (o.interval_ms < 10 || o.interval_ms > 3600000 || window < 2 || window > 1000 ||
	    tol <= 0 || tol >= 1 || o.count == 0 || o.count < -1) {
		fprintf(stderr, "ooh-wss: bad option value (interval 10..3600000 ms, window >= 2, "
				"tolerance in (0, 100) %%, count >= 1)\n");
		return 2;
	}
	if (o.vm && !o.replay)
		return vm_source(o.vm, o.interval_ms, o.count, window, tol, o.json, o.svg);
	if ((o.replay && (o.vm || optind < argc)) || (!o.replay && optind >= argc)) {
		usage(stderr);
		return 2;
	}
	struct wss_params p = plateau_params();
	if (wss_estimator_init(&live_dirty, &p) || wss_estimator_init(&live_ref, &p)) {
		fprintf(stderr, "ooh-wss: out of memory\n");
		return 1;
	}
	int status = o.replay ? replay(&o) : find_target(argc, argv, &pid, &child);
	if (!o.replay && !status)
		status = track(pid, child, &o);
	wss_estimator_free(&live_dirty);
	wss_estimator_free(&live_ref);
	free(smp);
	return status;
}
