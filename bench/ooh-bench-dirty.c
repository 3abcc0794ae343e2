/* SPDX-License-Identifier: MIT */
/*
 * ooh-bench-dirty: cost of dirty-page tracking, per libooh backend, next to
 * the bare kernel interface in the same run so that the library's own cost
 * is a ratio.
 *
 * For each region size (256 MiB, 1 GiB) and dirty fraction (0.1, 1, 10,
 * 50 % of pages, seeded random), on a populated private anonymous region
 * tracked by this process:
 *   reset_us    re-arm everything (ooh_start; raw: the bare re-protect)
 *   collect_us  take the dirty set and re-arm it (ooh_collect with
 *               OOH_COLLECT_REARM; raw pagemap: one PAGEMAP_SCAN ioctl with
 *               PM_SCAN_WP_MATCHING into a big enough vector)
 *   write_ns    extra cost of the first write to a page after re-arm
 *               (time of one store per dirty page, minus the same stores on
 *               pages already writable, divided by the pages)
 *   unwatch_ns  ooh_mark_dirty() per page on a backend where it lifts the
 *               write protection (OOH_CAP_MARK_UNWATCHES): the dirty pages
 *               as single-page ranges (scattered), and the same number of
 *               pages in runs of 64 (unwatch64_ns); what leaving a page
 *               writable costs against write_ns (libooh-gc's trade-off)
 * Medians over the repetitions.  Not a test: it checks nothing beyond
 * "every written page was reported" (printed as the "ok" column).
 *
 *   ooh-bench-dirty [--quick] [--json] [--reps N] [--backend NAME]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kabi.h"
#include "ooh.h"

#define PG 4096ul

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* n distinct random page indices out of pages (seeded), ascending. */
static size_t *pick_pages(size_t pages, size_t n, uint64_t seed)
{
	unsigned char *used = calloc(pages, 1);
	size_t *idx = malloc(n * sizeof(*idx)), k = 0;
	while (k < n) {
		size_t p = rnd(&seed) % pages;
		if (!used[p]) {
			used[p] = 1;
			k++;
		}
	}
	k = 0;
	for (size_t p = 0; p < pages && k < n; p++)
		if (used[p])
			idx[k++] = p;
	free(used);
	return idx;
}

/* Time one store to each listed page, in microseconds. */
static double touch(char *base, const size_t *idx, size_t n, char v)
{
	double t0 = now_us();
	for (size_t i = 0; i < n; i++)
		((volatile char *)base)[idx[i] * PG] = v;
	return now_us() - t0;
}

struct result {
	const char *backend;
	size_t size_mib;
	double pct;
	size_t dirty;
	double reset_us, collect_us, write_ns;
	double unwatch_ns, unwatch64_ns; /* -1: not measured */
	size_t reported;
	int ok, overflow, reps;
};

/* Samples of one configuration, appended to by several runs so that the
 * raw interface and the library can take turns (the machine is shared:
 * load drifts, interleaving keeps the ratio honest). */
struct samples {
	double reset[512], coll[512], wr[512], uw[512], uw64[512];
	int n;
};

static void add_sample(struct samples *s, double reset, double coll, double wr, double uw, double uw64)
{
	if (s->n < 512) {
		s->reset[s->n] = reset;
		s->coll[s->n] = coll;
		s->wr[s->n] = wr;
		s->uw[s->n] = uw;
		s->uw64[s->n] = uw64;
		s->n++;
	}
}

static void finish(struct samples *s, struct result *r)
{
	r->reset_us = median(s->reset, s->n);
	r->collect_us = median(s->coll, s->n);
	r->write_ns = median(s->wr, s->n);
	r->unwatch_ns = median(s->uw, s->n);
	r->unwatch64_ns = median(s->uw64, s->n);
	r->reps = s->n;
}

static int json_out;
static int nres;
static struct result results[256];

static void emit(const struct result *r)
{
	results[nres++] = *r;
	if (json_out)
		return;
	printf("%5zu MiB %5.1f%% %8zu  %-12s %10.1f %11.1f %9.0f %10.0f %12.0f %9zu %s%s\n", r->size_mib,
	       r->pct, r->dirty, r->backend, r->reset_us, r->collect_us, r->write_ns, r->unwatch_ns,
	       r->unwatch64_ns, r->reported,
	       r->ok ? "ok" : "MISSED",
	       !r->overflow ? "" : strncmp(r->backend, "raw", 3) ? " overflow" : " walk_end<end");
	fflush(stdout);
}

/* ---- bare kernel interfaces ---- */

static int raw_pagemap(char *base, size_t pages, const size_t *idx, size_t n, int reps, struct result *r,
		       struct samples *smp)
{
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct uffdio_register reg = { .range = { (uintptr_t)base, pages * PG }, .mode = UFFDIO_REGISTER_MODE_WP };
	if (uffd < 0 || pm < 0 || ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		if (uffd >= 0)
			close(uffd);
		if (pm >= 0)
			close(pm);
		return -1;
	}
	size_t vec_len = n + 16;
	struct page_region *vec = malloc(vec_len * sizeof(*vec));
	struct pm_scan_arg a = {
		.size = sizeof(a), .flags = PM_SCAN_WP_MATCHING, .start = (uintptr_t)base,
		.end = (uintptr_t)base + pages * PG, .category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	ioctl(pm, PAGEMAP_SCAN, &a); /* arm: WP everything (no output) */
	for (int rep = -1; rep < reps; rep++) { /* rep -1 warms up */
		double w1 = touch(base, idx, n, (char)rep);
		double w2 = touch(base, idx, n, (char)(rep + 7));
		a.vec = (uintptr_t)vec;
		a.vec_len = vec_len;
		a.walk_end = 0;
		double t0 = now_us();
		long got = ioctl(pm, PAGEMAP_SCAN, &a);
		double t1 = now_us();
		size_t count = 0;
		for (long i = 0; i < got; i++)
			count += (vec[i].end - vec[i].start) / PG;
		/* reset: a WP-only pass over the (now clean) region */
		struct pm_scan_arg b = a;
		b.vec = 0;
		b.vec_len = 0;
		double t2 = now_us();
		ioctl(pm, PAGEMAP_SCAN, &b);
		double t3 = now_us();
		if (rep < 0)
			continue;
		add_sample(smp, t3 - t2, t1 - t0, n ? (w1 - w2) * 1e3 / (double)n : 0, -1, -1);
		r->reported = count;
		r->ok &= got >= 0 && count == n;
		r->overflow |= a.walk_end < a.end; /* the walk_end quirk, see README */
	}
	free(vec);
	close(pm);
	close(uffd); /* drops the registration */
	return 0;
}

/* Bare re-protect costs for the other mechanisms (no collect: they have
 * no kernel-side collect, the library's handler is the mechanism). */
static void raw_reset_only(const char *what, char *base, size_t pages, const size_t *idx, size_t n,
			   int reps, struct result *r)
{
	double *reset = calloc((size_t)reps, sizeof(double));
	int uffd = -1;

	if (!strcmp(what, "raw-uffd")) {
		uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg = { .range = { (uintptr_t)base, pages * PG },
					       .mode = UFFDIO_REGISTER_MODE_WP };
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg)) {
			free(reset);
			if (uffd >= 0)
				close(uffd);
			return;
		}
	}
	for (int rep = 0; rep < reps; rep++) {
		touch(base, idx, n, (char)rep); /* not protected: plain stores */
		double t0 = now_us();
		if (uffd >= 0) {
			struct uffdio_writeprotect wp = { .range = { (uintptr_t)base, pages * PG },
							  .mode = UFFDIO_WRITEPROTECT_MODE_WP };
			ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
			reset[rep] = now_us() - t0;
			wp.mode = 0;
			ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
		} else {
			mprotect(base, pages * PG, PROT_READ);
			reset[rep] = now_us() - t0;
			mprotect(base, pages * PG, PROT_READ | PROT_WRITE);
		}
	}
	r->reset_us = median(reset, reps);
	r->collect_us = -1;
	r->write_ns = r->unwatch_ns = r->unwatch64_ns = -1;
	r->reported = 0;
	r->ok = 1;
	free(reset);
	if (uffd >= 0)
		close(uffd);
}

/* ---- the library ---- */

static int lib_run(enum ooh_backend b, char *base, size_t pages, const size_t *idx, size_t n, int reps,
		   struct result *r, struct samples *smp)
{
	struct ooh_range range = { (uintptr_t)base, pages * PG };
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .flags = OOH_OPEN_START,
				   .ranges = &range, .nr_ranges = 1 };
	ooh_tracker *t;
	if (ooh_open(&o, &t))
		return -1;
	size_t cap = pages; /* room for everything: one call per interval */
	uint64_t *buf = malloc(cap * sizeof(*buf));
	bool unwatches = ooh_tracker_caps(t) > 0 && (ooh_tracker_caps(t) & OOH_CAP_MARK_UNWATCHES);
	struct ooh_range *ur = unwatches && n ? calloc(n, sizeof(*ur)) : NULL;
	for (int rep = -1; rep < reps; rep++) {
		double w1 = touch(base, idx, n, (char)rep);
		double w2 = touch(base, idx, n, (char)(rep + 7));
		struct ooh_collect_result res;
		double t0 = now_us();
		int err = ooh_collect(t, buf, cap, OOH_COLLECT_REARM, &res);
		double t1 = now_us();
		double t2 = now_us();
		ooh_start(t);
		double t3 = now_us();
		/* Every written page reported? (outside the timed part) */
		size_t k = 0;
		for (size_t i = 0; !err && i < res.count && k < n; i++)
			if (buf[i] == (uintptr_t)base + idx[k] * PG)
				k++;
		/* Unwatching the same number of pages, scattered and in runs
		 * of 64, each from a re-armed state. */
		double uw = -1, uw64 = -1;
		if (ur) {
			for (size_t i = 0; i < n; i++)
				ur[i] = (struct ooh_range){ (uintptr_t)base + idx[i] * PG, PG };
			double u0 = now_us();
			int e1 = ooh_mark_dirty(t, ur, n);
			double u1 = now_us();
			ooh_start(t);
			size_t nr = 0;
			for (size_t p = 0; p < n && p + 64 <= pages; p += 64)
				ur[nr++] = (struct ooh_range){ (uintptr_t)base + p * PG, 64 * PG };
			double u2 = now_us();
			int e2 = ooh_mark_dirty(t, ur, nr);
			double u3 = now_us();
			ooh_start(t);
			uw = e1 ? -1 : (u1 - u0) * 1e3 / (double)n;
			uw64 = e2 || !nr ? -1 : (u3 - u2) * 1e3 / (double)(nr * 64);
		}
		if (rep < 0)
			continue;
		add_sample(smp, t3 - t2, t1 - t0, n ? (w1 - w2) * 1e3 / (double)n : 0, uw, uw64);
		r->reported = err ? 0 : res.count;
		r->overflow |= !err && (res.flags & OOH_RESULT_OVERFLOW);
		r->ok &= !err && (k == n || r->overflow);
	}
	ooh_close(t);
	free(buf);
	free(ur);
	return 0;
}

int main(int argc, char **argv)
{
	int quick = 0, reps = 5;
	const char *only = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--json"))
			json_out = 1;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--quick] [--json] [--reps N] [--backend NAME]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	const size_t sizes_full[] = { 256, 1024 }, sizes_quick[] = { 16, 64 };
	const size_t *sizes = quick ? sizes_quick : sizes_full;
	const double pcts[] = { 0.1, 1, 10, 50 };
	if (quick && reps > 3)
		reps = 3;
	if (reps > 500)
		reps = 500;

	if (!json_out) {
		printf("# ooh-bench-dirty: medians of %d reps; collect = take dirty set + re-arm\n", reps);
		printf("%9s %6s %8s  %-12s %10s %11s %9s %10s %12s %9s\n", "size", "dirty", "pages", "backend",
		       "reset_us", "collect_us", "write_ns", "unwatch_ns", "unwatch64_ns", "reported");
	}
	for (int si = 0; si < 2; si++) {
		size_t pages = sizes[si] << 20 >> 12;
		char *base = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		madvise(base, pages * PG, MADV_NOHUGEPAGE); /* same page-table shape for everyone */
		memset(base, 1, pages * PG);
		for (int pi = 0; pi < 4; pi++) {
			size_t n = (size_t)(pages * pcts[pi] / 100.0);
			size_t *idx = pick_pages(pages, n, 0x5eed + (uint64_t)pi);
			/* Slow mechanisms (a fault per page) get fewer repetitions. */
			int slow_reps = n > 10000 ? 1 : reps;
			struct result r = { .size_mib = sizes[si], .pct = pcts[pi], .dirty = n };

			/* pagemap: raw ioctl and library take turns, rounds of 3 reps. */
			struct ooh_backend_info info;
			if ((!only || !strcmp(only, "pagemap")) && !ooh_probe(OOH_BACKEND_PAGEMAP, &info) &&
			    !info.status) {
				static struct samples sraw, slib;
				struct result rr = r, rl = r;
				sraw.n = slib.n = 0;
				rr.backend = "raw-pagemap";
				rl.backend = "pagemap";
				rr.ok = rl.ok = 1;
				rr.overflow = rl.overflow = 0;
				for (int done = 0; done < reps; done += 3) {
					raw_pagemap(base, pages, idx, n, 3, &rr, &sraw);
					lib_run(OOH_BACKEND_PAGEMAP, base, pages, idx, n, 3, &rl, &slib);
				}
				finish(&sraw, &rr);
				finish(&slib, &rl);
				emit(&rr);
				emit(&rl);
			}
			for (int b = 1; b <= OOH_BACKEND_MAX; b++) {
				const char *name = ooh_backend_name((enum ooh_backend)b);
				if (b == OOH_BACKEND_PAGEMAP || (only && strcmp(only, name)))
					continue;
				if (ooh_probe((enum ooh_backend)b, &info) || info.status)
					continue;
				if (b == OOH_BACKEND_UFFD || b == OOH_BACKEND_MPROTECT) {
					r.backend = b == OOH_BACKEND_UFFD ? "raw-uffd" : "raw-mprotect";
					r.reps = reps;
					raw_reset_only(r.backend, base, pages, idx, n, reps, &r);
					emit(&r);
				}
				int nreps = b == OOH_BACKEND_SOFTDIRTY ? reps : slow_reps;
				/* mprotect and softdirty: also without their page check,
				 * and in the mode an unprivileged process gets
				 * (OOH_MPROTECT_CHECK, OOH_SOFTDIRTY_CHECK): what the
				 * check costs, side by side. */
				static const char *const modes[][3] = {
					{ NULL, NULL, NULL },
					{ "off", "mprotect-nocheck", "softdirty-nocheck" },
					{ "flags", "mprotect-flags", "softdirty-flags" } };
				bool sd = b == OOH_BACKEND_SOFTDIRTY;
				const char *env = sd ? "OOH_SOFTDIRTY_CHECK" : "OOH_MPROTECT_CHECK";
				int nmodes = b == OOH_BACKEND_MPROTECT || sd ? 3 : 1;
				for (int mi = 0; mi < nmodes; mi++) {
					static struct samples s1;
					s1.n = 0;
					r.backend = modes[mi][1] ? modes[mi][1 + sd] : name;
					r.ok = 1;
					r.overflow = 0;
					if (modes[mi][0])
						setenv(env, modes[mi][0], 1);
					int failed = lib_run((enum ooh_backend)b, base, pages, idx, n, nreps, &r, &s1);
					unsetenv(env);
					if (!failed) {
						finish(&s1, &r);
						emit(&r);
					}
				}
			}
			free(idx);
		}
		munmap(base, pages * PG);
	}

	/* The goal: libooh pagemap reset+collect vs the bare ioctl. */
	for (int i = 0; i < nres; i++)
		if (!strcmp(results[i].backend, "pagemap"))
			for (int j = 0; j < nres; j++)
				if (!strcmp(results[j].backend, "raw-pagemap") &&
				    results[j].size_mib == results[i].size_mib && results[j].pct == results[i].pct) {
					double ratio = results[i].collect_us / results[j].collect_us;
					if (!json_out)
						printf("# pagemap/raw collect ratio %5zu MiB %5.1f%%: %.3f\n",
						       results[i].size_mib, results[i].pct, ratio);
				}
	if (json_out) {
		printf("{\"reps\":%d,\"results\":[", reps);
		for (int i = 0; i < nres; i++) {
			const struct result *r = &results[i];
			printf("%s{\"size_mib\":%zu,\"dirty_pct\":%g,\"dirty_pages\":%zu,\"backend\":\"%s\","
			       "\"reset_us\":%.1f,\"collect_us\":%.1f,\"write_ns\":%.0f,\"unwatch_ns\":%.0f,"
			       "\"unwatch64_ns\":%.0f,\"reported\":%zu,\"all_reported\":%s,\"overflow\":%s,"
			       "\"reps\":%d}",
			       i ? "," : "", r->size_mib, r->pct, r->dirty, r->backend, r->reset_us, r->collect_us,
			       r->write_ns, r->unwatch_ns, r->unwatch64_ns, r->reported, r->ok ? "true" : "false",
			       r->overflow ? "true" : "false", r->reps);
		}
		printf("]}\n");
	}
	return 0;
}
