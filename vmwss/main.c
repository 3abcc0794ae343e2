// SPDX-License-Identifier: MIT
/*
 * ooh-vmwss (--xen DOMID | --l0 SOCKET) [--interval MS] [--count N]
 *           [--window W] [--tolerance F] [--json] [--svg FILE]
 *
 * Per interval: dirty pages, dirty rate, and the estimated working set
 * with PRL-style plateau detection; at the end, the plateaus found. What
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

#define EXIT_USAGE	2
#define EXIT_VM_GONE	3

#define PAGE_MIB (4096.0 / (1024 * 1024))

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct plateau {
	unsigned int first, last;	/* intervals */
	double pages;
};

struct monitor {
	unsigned int interval_ms, count, window;
	double tolerance;
	bool json;
	const char *svg_path;
	uint64_t *dirty;		/* per interval */
	double *sample_us;		/* per interval: the source's cost */
	double *wss;			/* per interval, -1 if not stable */
	unsigned int n;
	struct plateau *plateaus;
	unsigned int nr_plateaus;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ooh-vmwss (--xen DOMID | --l0 SOCKET) [--interval MS] [--count N]\n"
		"                 [--window W] [--tolerance F] [--json] [--svg FILE]\n"
		"  --xen DOMID     a Xen domain, from dom0 (libxenctrl log-dirty)\n"
		"  --l0 SOCKET     an ooh-l0 VM, through its control socket (KVM dirty ring)\n"
		"  --interval MS   sampling interval (default 1000)\n"
		"  --count N       stop after N intervals (default: until SIGINT/SIGTERM)\n"
		"  --window W      intervals that must agree to call a plateau (default 3)\n"
		"  --tolerance F   how close they must agree, as a fraction (default 0.1)\n"
		"  --json          one JSON object per line\n"
		"  --svg FILE      plot dirty pages and the working set estimate\n"
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

static void print_interval(const struct monitor *m, unsigned int i,
			   const struct vmwss_estimator *est)
{
	double secs = m->interval_ms / 1000.0;
	double rate = (double)m->dirty[i] * PAGE_MIB / secs;

	if (m->json) {
		printf("{\"interval\":%u,\"t\":%.3f,\"dirty_pages\":%llu,\"dirty_mib_s\":%.3f,\"sample_us\":%.1f,",
		       i + 1, (i + 1) * secs, (unsigned long long)m->dirty[i], rate,
		       m->sample_us[i]);
		if (m->wss[i] >= 0)
			printf("\"wss_pages\":%.0f,\"wss_mib\":%.3f,\"stable\":true,\"phase\":%u}\n",
			       m->wss[i], m->wss[i] * PAGE_MIB, est->phase);
		else
			printf("\"wss_pages\":null,\"wss_mib\":null,\"stable\":false,\"phase\":%u}\n",
			       est->phase);
	} else {
		if (i == 0)
			printf("%8s %8s %12s %12s %12s %9s %5s\n", "interval", "t_s",
			       "dirty_pages", "dirty_MiB/s", "wss_pages", "wss_MiB", "phase");
		printf("%8u %8.2f %12llu %12.2f ", i + 1, (i + 1) * secs,
		       (unsigned long long)m->dirty[i], rate);
		if (m->wss[i] >= 0)
			printf("%12.0f %9.2f %5u\n", m->wss[i], m->wss[i] * PAGE_MIB, est->phase);
		else
			printf("%12s %9s %5s\n", "-", "-", "-");
	}
	fflush(stdout);
}

static void print_summary(const struct monitor *m)
{
	if (m->json) {
		printf("{\"plateaus\":[");
		for (unsigned int i = 0; i < m->nr_plateaus; i++)
			printf("%s{\"first\":%u,\"last\":%u,\"wss_pages\":%.0f,\"wss_mib\":%.3f}",
			       i ? "," : "", m->plateaus[i].first, m->plateaus[i].last,
			       m->plateaus[i].pages, m->plateaus[i].pages * PAGE_MIB);
		printf("],\"intervals\":%u}\n", m->n);
		return;
	}
	printf("%u intervals, %u plateau(s):\n", m->n, m->nr_plateaus);
	for (unsigned int i = 0; i < m->nr_plateaus; i++)
		printf("  plateau %u: %.0f pages (%.2f MiB), intervals %u-%u\n", i + 1,
		       m->plateaus[i].pages, m->plateaus[i].pages * PAGE_MIB,
		       m->plateaus[i].first, m->plateaus[i].last);
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
	for (unsigned int p = 0; p < m->nr_plateaus; p++) {
		const struct plateau *pl = &m->plateaus[p];
		double y = h - bottom - pl->pages * ys;

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c0282d\" "
			"stroke-width=\"3\"/>\n", left + (pl->first - 1) * xs, y,
			left + (pl->last - 1) * xs, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c0282d\">%.2f MiB</text>\n",
			left + (pl->first - 1) * xs, y - 6, pl->pages * PAGE_MIB);
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "xen", required_argument, NULL, 'x' },
		{ "l0", required_argument, NULL, 'l' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "tolerance", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct monitor m = { .interval_ms = 1000, .window = 3, .tolerance = 0.1 };
	struct vmwss_estimator est;
	struct vmwss_source src;
	const char *xen_domain = NULL, *l0_socket = NULL;
	char err[256] = "";
	struct timespec next;
	int opt, ret, status = 0;
	unsigned int cap;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'x': xen_domain = optarg; break;
		case 'l': l0_socket = optarg; break;
		case 'i': if (parse_uint(optarg, &m.interval_ms)) goto bad; break;
		case 'c': if (parse_uint(optarg, &m.count)) goto bad; break;
		case 'w': if (parse_uint(optarg, &m.window)) goto bad; break;
		case 't': m.tolerance = strtod(optarg, NULL); break;
		case 'j': m.json = true; break;
		case 's': m.svg_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (!xen_domain == !l0_socket || optind != argc)
		goto bad;
	if (vmwss_estimator_init(&est, m.window, m.tolerance) < 0) {
		fprintf(stderr, "ooh-vmwss: --window must be >= 2 and --tolerance in (0, 1)\n");
		return EXIT_USAGE;
	}
	if (xen_domain)
		ret = vmwss_source_xen(&src, xen_domain, err, sizeof(err));
	else
		ret = vmwss_source_l0(&src, l0_socket, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "ooh-vmwss: %s\n", err);
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
		return 1;
	}
	cap = m.count ? m.count : 64;
	m.dirty = malloc(cap * sizeof(*m.dirty));
	m.wss = malloc(cap * sizeof(*m.wss));
	m.plateaus = malloc(cap * sizeof(*m.plateaus));
	m.sample_us = malloc(cap * sizeof(*m.sample_us));
	if (!m.dirty || !m.wss || !m.plateaus || !m.sample_us) {
		fprintf(stderr, "ooh-vmwss: out of memory\n");
		src.stop(&src);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop_requested && (!m.count || m.n < m.count)) {
		struct timespec t0, t1;
		uint64_t dirty;
		bool gone;
		int got;

		sleep_until(&next, m.interval_ms);
		if (stop_requested)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		got = src.sample(&src, &dirty, &gone, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (got < 0) {
			fprintf(stderr, "ooh-vmwss: %s\n", err);
			status = gone ? EXIT_VM_GONE : 1;
			break;
		}
		if (m.n == cap) {
			cap *= 2;
			m.dirty = realloc(m.dirty, cap * sizeof(*m.dirty));
			m.wss = realloc(m.wss, cap * sizeof(*m.wss));
			m.plateaus = realloc(m.plateaus, cap * sizeof(*m.plateaus));
			m.sample_us = realloc(m.sample_us, cap * sizeof(*m.sample_us));
			if (!m.dirty || !m.wss || !m.plateaus || !m.sample_us) {
				fprintf(stderr, "ooh-vmwss: out of memory\n");
				status = 1;
				break;
			}
		}
		m.dirty[m.n] = dirty;
		m.sample_us[m.n] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 +
				   (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
		if (vmwss_estimator_add(&est, (double)dirty))
			m.plateaus[m.nr_plateaus++] = (struct plateau){
				.first = m.n + 2 - m.window, .last = m.n + 1,
				.pages = est.estimate };
		else if (est.stable)
			m.plateaus[m.nr_plateaus - 1].last = m.n + 1;
		m.wss[m.n] = est.stable ? est.estimate : -1;
		print_interval(&m, m.n, &est);
		m.n++;
	}
	src.stop(&src);
	if (stop_requested)
		fprintf(stderr, "ooh-vmwss: stopped by signal; dirty logging turned off\n");
	if (m.dirty && m.wss && m.plateaus && m.sample_us) {
		print_summary(&m);
		if (m.svg_path && (ret = write_svg(&m, m.svg_path)) < 0) {
			fprintf(stderr, "ooh-vmwss: %s: %s\n", m.svg_path, strerror(-ret));
			status = 1;
		}
	}
	free(m.dirty);
	free(m.sample_us);
	free(m.wss);
	free(m.plateaus);
	vmwss_estimator_free(&est);
	return status;
bad:
	usage(stderr);
	return EXIT_USAGE;
}
