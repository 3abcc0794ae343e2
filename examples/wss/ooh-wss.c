/* SPDX-License-Identifier: MIT */
/*
 * ooh-wss: working-set size of a process over time.
 *
 *   ooh-wss [options] PID
 *   ooh-wss [options] -- COMMAND [ARG...]
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
 * Plateaus (PRL-style stable working set): a window of N consecutive
 * intervals whose values stay within the tolerance (or within 64 pages for
 * small sets) is stable; consecutive stable windows with the same level
 * form one plateau, reported with the median of its intervals.
 */
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

#define PAGE 4096ull
#define CAP 65536

struct sample {
	double t;          /* seconds since start, end of the interval */
	uint64_t dirty;    /* bytes */
	uint64_t ref;      /* bytes, all mappings */
	uint64_t ref_anon; /* bytes, private anonymous */
	bool overflow;
};

struct plateau {
	int a, b; /* sample indexes, inclusive */
	uint64_t bytes;
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median(int which, int a, int b)
{
	uint64_t *v = malloc((size_t)(b - a + 1) * sizeof(*v));
	if (!v)
		return 0;
	for (int i = a; i <= b; i++)
		v[i - a] = val(&smp[i], which);
	qsort(v, (size_t)(b - a + 1), sizeof(*v), cmp_u64);
	uint64_t m = v[(b - a) / 2];
	free(v);
	return m;
}

static bool close_enough(uint64_t x, uint64_t ref)
{
	uint64_t d = x > ref ? x - ref : ref - x;
	return (double)d <= tol * (double)ref || d <= 64 * PAGE;
}

/* Is the window of `window` samples ending at i stable? */
static bool stable_at(int which, int i)
{
	if (i + 1 < window)
		return false;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int k = i - window + 1; k <= i; k++) {
		uint64_t v = val(&smp[k], which);
		if (smp[k].overflow && which == 0)
			return false;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	return close_enough(lo, hi);
}

static int find_plateaus(int which, struct plateau *out, int max)
{
	int n = 0;
	for (int i = 0; i < nsmp; i++) {
		if (!stable_at(which, i))
			continue;
		int a = i - window + 1;
		if (n && out[n - 1].b >= a - 1 &&
		    close_enough(median(which, a, i), out[n - 1].bytes)) {
			out[n - 1].b = i;
			out[n - 1].bytes = median(which, out[n - 1].a, i);
			continue;
		}
		if (n == max)
			break;
		if (n && a <= out[n - 1].b)
			a = out[n - 1].b + 1;
		out[n].a = a;
		out[n].b = i;
		out[n].bytes = median(which, a, i);
		n++;
	}
	return n;
}

static const char *set_name[] = { "dirty", "referenced", "referenced_anon" };

static void write_svg(const char *file, bool have_ref, struct plateau pl[3][256], int npl[3])
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
			double t0 = pl[w][p].a > 0 ? smp[pl[w][p].a - 1].t : 0, t1 = smp[pl[w][p].b].t;
			fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
				   "stroke-dasharray=\"6,4\" stroke-width=\"1.5\"/>\n",
				X(t0), X(t1), Y(pl[w][p].bytes), Y(pl[w][p].bytes), color[w]);
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
		   "[--json] [--svg FILE] (PID | -- COMMAND [ARG...] | --vm SOCKET)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "interval", 1, 0, 'i' }, { "count", 1, 0, 'n' },   { "window", 1, 0, 'w' },
		{ "tolerance", 1, 0, 't' }, { "backend", 1, 0, 'b' }, { "json", 0, 0, 'J' },
		{ "svg", 1, 0, 'S' },      { "no-referenced", 0, 0, 'N' }, { "vm", 1, 0, 'V' },
		{ "help", 0, 0, 'h' },     { 0, 0, 0, 0 }
	};
	long interval_ms = 1000, count = -1;
	const char *svg = NULL, *vm = NULL;
	bool json = false, want_ref = true;
	enum ooh_backend backend = OOH_BACKEND_AUTO;
	pid_t pid = 0, child = 0;
	int c;

	while ((c = getopt_long(argc, argv, "+i:n:w:t:b:h", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'i': interval_ms = strtol(optarg, &end, 10); break;
		case 'n': count = strtol(optarg, &end, 10); break;
		case 'w': window = (int)strtol(optarg, &end, 10); break;
		case 't': tol = strtod(optarg, &end) / 100.0; break;
		case 'b': {
			int b = ooh_backend_from_name(optarg);
			if (b < 0) {
				fprintf(stderr, "ooh-wss: unknown backend %s\n", optarg);
				return 2;
			}
			backend = (enum ooh_backend)b;
			break;
		}
		case 'J': json = true; break;
		case 'S': svg = optarg; break;
		case 'N': want_ref = false; break;
		case 'V': vm = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (end && *end) {
			fprintf(stderr, "ooh-wss: bad number: %s\n", optarg);
			return 2;
		}
	}
	if (interval_ms < 10 || interval_ms > 3600000 || window < 2 || window > 1000 || tol <= 0 ||
	    tol >= 1 || count == 0 || count < -1) {
		fprintf(stderr, "ooh-wss: bad option value (interval 10..3600000 ms, window >= 2, "
				"tolerance in (0, 100) %%, count >= 1)\n");
		return 2;
	}
	if (vm)
		return vm_source(vm, interval_ms, count, window, tol, json, svg);
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind - 1], "--") || optind + 1 < argc) {
		/* COMMAND mode: run it, track it once it has exec'd. */
		char self[256], now_exe[256];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[n > 0 ? n : 0] = 0;
		child = fork();
		if (child < 0) {
			perror("ooh-wss: fork");
			return 1;
		}
		if (child == 0) {
			execvp(argv[optind], &argv[optind]);
			fprintf(stderr, "ooh-wss: %s: %s\n", argv[optind], strerror(errno));
			_exit(127);
		}
		pid = child;
		for (int k = 0; k < 2000; k++) { /* wait for the exec (up to 2 s) */
			char p[64];
			snprintf(p, sizeof(p), "/proc/%d/exe", (int)pid);
			n = readlink(p, now_exe, sizeof(now_exe) - 1);
			now_exe[n > 0 ? n : 0] = 0;
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				fprintf(stderr, "ooh-wss: %s exited at once\n", argv[optind]);
				return 1;
			}
			if (n > 0 && strcmp(now_exe, self))
				break;
			usleep(1000);
		}
	} else {
		char *end;
		long v = strtol(argv[optind], &end, 10);
		if (*end || v <= 0 || v > 0x3fffffff) {
			fprintf(stderr, "ooh-wss: bad PID %s\n", argv[optind]);
			return 2;
		}
		pid = (pid_t)v;
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			fprintf(stderr, "ooh-wss: no such process: %d\n", (int)pid);
			return 1;
		}
	}

	struct ooh_open_opts o = { .size = sizeof(o), .backend = backend, .pid = pid,
				   .flags = OOH_OPEN_START };
	ooh_tracker *t;
	int err = ooh_open(&o, &t);
	if (err) {
		fprintf(stderr, "ooh-wss: cannot track %d: %s%s\n", (int)pid, ooh_strerror(err),
			err == -EPERM || err == -EACCES ? " (need ptrace rights over the target)" : "");
		if (child)
			kill(child, SIGKILL);
		return 1;
	}
	char ref_note[160] = "";
	bool have_ref = false;
	if (want_ref) {
		int r = clear_referenced(pid);
		have_ref = r == 0;
		if (!have_ref)
			snprintf(ref_note, sizeof(ref_note), "referenced set unavailable: clear_refs: %s",
				 strerror(-r));
	}
	bool idle_tracking = access("/sys/kernel/mm/page_idle/bitmap", R_OK) == 0;
	if (json)
		printf("{\"type\":\"config\",\"pid\":%d,\"backend\":\"%s\",\"interval_ms\":%ld,"
		       "\"window\":%d,\"tolerance_pct\":%.1f,\"referenced\":\"%s\","
		       "\"idle_page_tracking\":%s}\n",
		       (int)pid, ooh_backend_name((enum ooh_backend)ooh_tracker_backend(t)), interval_ms,
		       window, tol * 100, have_ref ? "accessed bits via clear_refs+smaps" : "unavailable",
		       idle_tracking ? "true" : "false");
	else {
		printf("# ooh-wss pid %d, backend %s, interval %ld ms, plateau window %d, tolerance %.1f%%\n",
		       (int)pid, ooh_backend_name((enum ooh_backend)ooh_tracker_backend(t)), interval_ms,
		       window, tol * 100);
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
	while (!gone && (count < 0 || nsmp < count) && buf) {
		next.tv_nsec += (interval_ms % 1000) * 1000000;
		next.tv_sec += interval_ms / 1000 + next.tv_nsec / 1000000000;
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
		if (gone)
			break;
		if (nsmp == capsmp) {
			capsmp = capsmp ? capsmp * 2 : 256;
			struct sample *ns = realloc(smp, (size_t)capsmp * sizeof(*ns));
			if (!ns)
				break;
			smp = ns;
		}
		smp[nsmp++] = s;
		bool sd = stable_at(0, nsmp - 1), sr = have_ref && stable_at(2, nsmp - 1);
		if (json)
			printf("{\"type\":\"interval\",\"t\":%.3f,\"dirty_bytes\":%llu,\"overflow\":%s,"
			       "\"ref_bytes\":%llu,\"ref_anon_bytes\":%llu,\"stable_dirty\":%s,"
			       "\"stable_ref\":%s}\n",
			       s.t, (unsigned long long)s.dirty, s.overflow ? "true" : "false",
			       (unsigned long long)s.ref, (unsigned long long)s.ref_anon,
			       sd ? "true" : "false", sr ? "true" : "false");
		else {
			char r1[24] = "-", r2[24] = "-";
			if (have_ref) {
				snprintf(r1, sizeof(r1), "%llu", (unsigned long long)(s.ref / 1024));
				snprintf(r2, sizeof(r2), "%llu", (unsigned long long)(s.ref_anon / 1024));
			}
			printf("%9.3f %12llu %12s %12s%s%s%s\n", s.t, (unsigned long long)(s.dirty / 1024),
			       r1, r2, s.overflow ? " overflow" : "", sd ? " [dirty stable]" : "",
			       sr ? " [ref stable]" : "");
		}
		fflush(stdout);
	}
	free(buf);
	ooh_close(t);
	if (child) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}

	static struct plateau pl[3][256];
	int npl[3] = { 0 };
	for (int w = 0; w < (have_ref ? 3 : 1); w++)
		npl[w] = find_plateaus(w, pl[w], 256);
	for (int w = 0; w < (have_ref ? 3 : 1); w++)
		for (int p = 0; p < npl[w]; p++) {
			double ts = pl[w][p].a > 0 ? smp[pl[w][p].a - 1].t : 0, te = smp[pl[w][p].b].t;
			if (json)
				printf("{\"type\":\"plateau\",\"set\":\"%s\",\"start\":%.3f,\"end\":%.3f,"
				       "\"intervals\":%d,\"bytes\":%llu}\n",
				       set_name[w], ts, te, pl[w][p].b - pl[w][p].a + 1,
				       (unsigned long long)pl[w][p].bytes);
			else
				printf("plateau %-15s %8.3f-%8.3f s %4d intervals %10.1f MiB\n", set_name[w], ts,
				       te, pl[w][p].b - pl[w][p].a + 1, pl[w][p].bytes / 1048576.0);
		}
	if (json)
		printf("{\"type\":\"summary\",\"intervals\":%d,\"plateaus_dirty\":%d,"
		       "\"plateaus_ref\":%d}\n", nsmp, npl[0], npl[1]);
	if (svg)
		write_svg(svg, have_ref, pl, npl);
	free(smp);
	return status ? 1 : 0;
}
