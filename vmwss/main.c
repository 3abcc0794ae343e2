// SPDX-License-Identifier: MIT
/*
 * ooh-vmwss (--xen DOMID | --l0 SOCKET | --replay FILE) [--interval MS]
 *           [--count N] [--window W] [--tolerance F] [--json] [--svg FILE]
 *           [--openmetrics FILE]
 *
 * Per interval: dirty pages, dirty rate, and the estimated working set
 * (wss-estimator/, fed online); at the end, the plateaus found. What
 * a write log can and cannot see: it measures the WRITE working set; pages
 * a VM only reads are invisible to log-dirty (PRL's point), so a read-heavy
 * VM's working set is underestimated.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmwss.h"
#include "wss-estimator.h"

#define EXIT_USAGE	2
#define EXIT_VM_GONE	3

#define PAGE_MIB (4096.0 / (1024 * 1024))

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct monitor {
	unsigned int interval_ms, count, window;
	double tolerance;
	bool json;
	const char *svg_path;
	const char *om_path;		/* --openmetrics */
	char source[300];		/* its label: xen:DOMID, l0:SOCKET, replay:FILE */
	uint64_t dirty_total;
	uint64_t *dirty;		/* per interval */
	double *sample_us;		/* per interval: the source's cost */
	double *wss;			/* per interval, -1 if not stable */
	unsigned int n, cap;
	struct wss_estimator est;	/* its plateaus are the summary's */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ooh-vmwss (--xen DOMID | --l0 SOCKET | --replay FILE) [--interval MS]\n"
		"                 [--count N] [--window W] [--tolerance F] [--json] [--svg FILE]\n"
		"                 [--openmetrics FILE]\n"
		"  --xen DOMID     a Xen domain, from dom0 (libxenctrl log-dirty)\n"
		"  --l0 SOCKET     an ooh-l0 VM, through its control socket (KVM dirty ring)\n"
		"  --replay FILE   a recorded series, not waited for: per line, one interval's\n"
		"                  dirty pages\n"
		"  --interval MS   sampling interval (default 1000)\n"
		"  --count N       stop after N intervals (default: until SIGINT/SIGTERM)\n"
		"  --window W      intervals that must agree to call a plateau (default 3)\n"
		"  --tolerance F   how close they must agree, as a fraction (default 0.1)\n"
		"  --json          one JSON object per line\n"
		"  --svg FILE      plot dirty pages and the working set estimate\n"
		"  --openmetrics FILE  the latest figures as OpenMetrics text, FILE replaced at\n"
		"                  each interval (node_exporter's textfile collector)\n"
		"Exit: 0 done, 1 error, 2 bad usage, 3 the VM exited while monitored.\n");
}

static void sleep_until(struct timespec *next, unsigned int ms)
{
	next->tv_nsec += (long)(ms % 1000) * 1000000L;
	next->tv_sec += ms / 1000 + next->tv_nsec / 1000000000L;
	next->tv_nsec %= 1000000000L;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) == EINTR)
		if (stop_requested)
			return;
}

static void print_interval(const struct monitor *m, unsigned int i)
{
	double secs = m->interval_ms / 1000.0;
	double rate = (double)m->dirty[i] * PAGE_MIB / secs;
	unsigned int phase = m->est.nr_plateaus;	/* plateaus found so far */

	if (m->json) {
		printf("{\"interval\":%u,\"t\":%.3f,\"dirty_pages\":%llu,\"dirty_mib_s\":%.3f,\"sample_us\":%.1f,",
		       i + 1, (i + 1) * secs, (unsigned long long)m->dirty[i], rate,
		       m->sample_us[i]);
		if (m->wss[i] >= 0)
			printf("\"wss_pages\":%.0f,\"wss_mib\":%.3f,\"stable\":true,\"phase\":%u}\n",
			       m->wss[i], m->wss[i] * PAGE_MIB, phase);
		else
			printf("\"wss_pages\":null,\"wss_mib\":null,\"stable\":false,\"phase\":%u}\n",
			       phase);
	} else {
		if (i == 0)
			printf("%8s %8s %12s %12s %12s %9s %5s\n", "interval", "t_s",
			       "dirty_pages", "dirty_MiB/s", "wss_pages", "wss_MiB", "phase");
		printf("%8u %8.2f %12llu %12.2f ", i + 1, (i + 1) * secs,
		       (unsigned long long)m->dirty[i], rate);
		if (m->wss[i] >= 0)
			printf("%12.0f %9.2f %5u\n", m->wss[i], m->wss[i] * PAGE_MIB, phase);
		else
			printf("%12s %9s %5s\n", "-", "-", "-");
	}
	fflush(stdout);
}

/* Where path is written before it is renamed into place. */
static int om_tmp_path(char *tmp, size_t len, const char *path)
{
	return snprintf(tmp, len, "%s.tmp", path) >= (int)len ? -ENAMETOOLONG : 0;
}

/* s with OpenMetrics label-value escapes (backslash, quote, newline). */
static void om_escape(char *out, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			out[o++] = '\\';
		out[o++] = *s == '\n' ? 'n' : *s;
	}
	out[o] = 0;
}

static void om_metric(FILE *f, const char *name, const char *type, const char *help,
		      const char *label, double value)
{
	fprintf(f, "# TYPE ooh_vmwss_%s %s\n# HELP ooh_vmwss_%s %s\n", name, type, name, help);
	if (value < 0)	/* no sample: nothing known yet */
		return;
	fprintf(f, "ooh_vmwss_%s%s{source=\"%s\"} ", name, strcmp(type, "counter") ? "" : "_total",
		label);
	/* counts exactly, whatever their size; times in seconds */
	fprintf(f, value == (double)(uint64_t)value ? "%.0f\n" : "%.9f\n", value);
}

/*
 * Interval i's figures, replacing m->om_path whole (written beside it, then
 * renamed: a scraper never reads half a file). 0 or -errno.
 */
static int write_openmetrics(const struct monitor *m, unsigned int i)
{
	char tmp[4096], label[620];
	FILE *f;

	if (om_tmp_path(tmp, sizeof(tmp), m->om_path))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	om_escape(label, sizeof(label), m->source);
	om_metric(f, "intervals", "counter", "Intervals sampled.", label, m->n + 1.0);
	om_metric(f, "dirty_pages", "counter", "Pages written (4 KiB), all intervals.", label,
		  (double)m->dirty_total);
	om_metric(f, "interval_dirty_pages", "gauge", "Pages written in the last interval.", label,
		  (double)m->dirty[i]);
	om_metric(f, "working_set_pages", "gauge",
		  "Estimated write working set (the current plateau), if stable.", label, m->wss[i]);
	om_metric(f, "working_set_stable", "gauge", "1 while on a plateau.", label,
		  m->wss[i] >= 0 ? 1 : 0);
	om_metric(f, "plateaus", "counter", "Plateaus found.", label, m->est.nr_plateaus);
	om_metric(f, "sample_seconds", "gauge", "What the last sample cost the source.", label,
		  m->sample_us[i] / 1e6);
	fprintf(f, "# EOF\n");
	if (fclose(f) != 0 || rename(tmp, m->om_path) != 0) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

/* Whether path's directory takes the file (before monitoring starts). */
static int check_writable(const char *path)
{
	char tmp[4096];
	FILE *f;

	if (om_tmp_path(tmp, sizeof(tmp), path))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fclose(f);
	unlink(tmp);
	return 0;
}

/* Intervals are numbered from 1 in the output, from 0 in the estimator. */
static void print_summary(const struct monitor *m)
{
	const struct wss_plateau *pl = m->est.plateaus;
	unsigned int n = m->est.nr_plateaus;

	if (m->json) {
		printf("{\"plateaus\":[");
		for (unsigned int i = 0; i < n; i++)
			printf("%s{\"first\":%u,\"last\":%u,\"wss_pages\":%.0f,\"wss_mib\":%.3f}",
			       i ? "," : "", pl[i].first + 1, pl[i].last + 1,
			       pl[i].level, pl[i].level * PAGE_MIB);
		printf("],\"intervals\":%u}\n", m->n);
		return;
	}
	printf("%u intervals, %u plateau(s):\n", m->n, n);
	for (unsigned int i = 0; i < n; i++)
		printf("  plateau %u: %.0f pages (%.2f MiB), intervals %u-%u\n", i + 1,
		       pl[i].level, pl[i].level * PAGE_MIB, pl[i].first + 1, pl[i].last + 1);
}

/* A plot a person can read: dirty pages per interval and the estimate. */
static int write_svg(const struct monitor *m, const char *path)
{
	const double w = 800, h = 320, left = 70, right = 20, top = 30, bottom = 40;
	double ymax = 1;
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	for (unsigned int i = 0; i < m->n; i++)
		if (m->dirty[i] > ymax)
			ymax = (double)m->dirty[i];
	ymax *= 1.1;
	double xs = (w - left - right) / (m->n > 1 ? m->n - 1 : 1);
	double ys = (h - top - bottom) / ymax;

	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n", w, h);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"%.0f\" y=\"18\" font-size=\"14\">VM working set: dirty pages per "
		"%u ms interval (blue), plateau estimate (red)</text>\n", left, m->interval_ms);
	fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
		left, h - bottom, w - right, h - bottom);
	fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
		left, top, left, h - bottom);
	for (int t = 0; t <= 4; t++) {
		double v = ymax * t / 4, y = h - bottom - v * ys;

		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.1f MiB</text>\n",
			left - 5, y + 4, v * PAGE_MIB);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">interval (%u in all)</text>\n",
		(left + w - right) / 2, h - 10, m->n);
	fprintf(f, "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"");
	for (unsigned int i = 0; i < m->n; i++)
		fprintf(f, "%.1f,%.1f ", left + i * xs, h - bottom - (double)m->dirty[i] * ys);
	fprintf(f, "\"/>\n");
	for (unsigned int p = 0; p < m->est.nr_plateaus; p++) {
		const struct wss_plateau *pl = &m->est.plateaus[p];
		double y = h - bottom - pl->level * ys;

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c0282d\" "
			"stroke-width=\"3\"/>\n", left + pl->first * xs, y,
			left + pl->last * xs, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c0282d\">%.2f MiB</text>\n",
			left + pl->first * xs, y - 6, pl->level * PAGE_MIB);
	}
	fprintf(f, "</svg>\n");
	return fclose(f) ? -errno : 0;
}

static int parse_uint(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v == 0 || v > 1000000)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/* Keeps interval m->n (growing the arrays) and feeds it to the estimator. */
static int record(struct monitor *m, uint64_t dirty, double sample_us)
{
	const struct wss_plateau *cur;

	if (m->n == m->cap) {
		unsigned int cap = m->cap ? m->cap * 2 : 64;
		uint64_t *d = realloc(m->dirty, cap * sizeof(*d));
		double *w = d ? realloc(m->wss, cap * sizeof(*w)) : NULL;
		double *us = w ? realloc(m->sample_us, cap * sizeof(*us)) : NULL;

		m->dirty = d ? d : m->dirty;
		m->wss = w ? w : m->wss;
		m->sample_us = us ? us : m->sample_us;
		if (!us)
			return -ENOMEM;
		m->cap = cap;
	}
	if (wss_estimator_add(&m->est, (double)dirty) < 0)
		return -ENOMEM;
	cur = wss_estimator_current(&m->est);
	m->dirty[m->n] = dirty;
	m->sample_us[m->n] = sample_us;
	m->wss[m->n] = cur ? cur->level : -1;
	m->dirty_total += dirty;
	print_interval(m, m->n);
	if (m->om_path) {
		int err = write_openmetrics(m, m->n);

		if (err)
			fprintf(stderr, "ooh-vmwss: --openmetrics %s: %s\n", m->om_path, strerror(-err));
	}
	m->n++;
	return 0;
}

static double us_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

/* Samples until --count, a signal, the end of a recording or an error: the exit status. */
static int monitor_loop(struct monitor *m, struct vmwss_source *src)
{
	struct timespec next, t0, t1;
	char err[256] = "";

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop_requested && (!m->count || m->n < m->count)) {
		uint64_t dirty;
		bool gone;
		int got;

		if (!src->recorded)
			sleep_until(&next, m->interval_ms);
		if (stop_requested)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		got = src->sample(src, &dirty, &gone, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (got == 1)
			break;
		if (got < 0) {
			fprintf(stderr, "ooh-vmwss: %s\n", err);
			return gone ? EXIT_VM_GONE : 1;
		}
		if (record(m, dirty, us_between(&t0, &t1)) < 0) {
			fprintf(stderr, "ooh-vmwss: out of memory\n");
			return 1;
		}
	}
	return 0;
}

static int open_source(struct vmwss_source *src, const char *xen_domain,
		       const char *l0_socket, const char *replay, char *err, size_t errlen)
{
	if (xen_domain)
		return vmwss_source_xen(src, xen_domain, err, errlen);
	if (l0_socket)
		return vmwss_source_l0(src, l0_socket, err, errlen);
	return vmwss_source_replay(src, replay, err, errlen);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "xen", required_argument, NULL, 'x' },
		{ "l0", required_argument, NULL, 'l' },
		{ "replay", required_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "tolerance", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "openmetrics", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct monitor m = { .interval_ms = 1000, .window = 3, .tolerance = 0.1 };
	struct wss_params params;
	struct vmwss_source src;
	const char *xen_domain = NULL, *l0_socket = NULL, *replay = NULL;
	char err[256] = "";
	int opt, ret, status;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'x': xen_domain = optarg; break;
		case 'l': l0_socket = optarg; break;
		case 'r': replay = optarg; break;
		case 'i': if (parse_uint(optarg, &m.interval_ms)) goto bad; break;
		case 'c': if (parse_uint(optarg, &m.count)) goto bad; break;
		case 'w': if (parse_uint(optarg, &m.window)) goto bad; break;
		case 't': m.tolerance = strtod(optarg, NULL); break;
		case 'j': m.json = true; break;
		case 's': m.svg_path = optarg; break;
		case 'o': m.om_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (!!xen_domain + !!l0_socket + !!replay != 1 || optind != argc)
		goto bad;
	snprintf(m.source, sizeof(m.source), "%s:%s", xen_domain ? "xen" : l0_socket ? "l0" : "replay",
		 xen_domain ? xen_domain : l0_socket ? l0_socket : replay);
	/* the slack ooh-wss uses too: the same series gives both the same plateaus */
	params = (struct wss_params){ .window = m.window, .tolerance = m.tolerance,
				      .slack = WSS_SLACK_PAGES };
	ret = wss_estimator_init(&m.est, &params);
	if (ret == -EINVAL) {
		fprintf(stderr, "ooh-vmwss: --window must be >= 2 and --tolerance in (0, 1)\n");
		return EXIT_USAGE;
	}
	if (ret < 0) {
		fprintf(stderr, "ooh-vmwss: out of memory\n");
		return 1;
	}
	if (m.om_path && (ret = check_writable(m.om_path)) < 0) {
		fprintf(stderr, "ooh-vmwss: --openmetrics %s: %s\n", m.om_path, strerror(-ret));
		wss_estimator_free(&m.est);
		return 1;
	}
	ret = open_source(&src, xen_domain, l0_socket, replay, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "ooh-vmwss: %s\n", err);
		wss_estimator_free(&m.est);
		return ret == -EINVAL ? EXIT_USAGE : 1;
	}
	/* Signals only set a flag: the loop then turns log-dirty off. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	ret = src.start(&src, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "ooh-vmwss: %s\n", err);
		src.stop(&src);
		wss_estimator_free(&m.est);
		return 1;
	}
	status = monitor_loop(&m, &src);
	src.stop(&src);
	if (stop_requested)
		fprintf(stderr, "ooh-vmwss: stopped by signal; dirty logging turned off\n");
	print_summary(&m);
	if (m.svg_path && (ret = write_svg(&m, m.svg_path)) < 0) {
		fprintf(stderr, "ooh-vmwss: %s: %s\n", m.svg_path, strerror(-ret));
		status = 1;
	}
	free(m.dirty);
	free(m.sample_us);
	free(m.wss);
	wss_estimator_free(&m.est);
	return status;
bad:
	usage(stderr);
	return EXIT_USAGE;
}
