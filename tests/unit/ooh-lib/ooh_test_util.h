/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the ooh-lib unit tests: ground truth by page hashing, a
 * collect-everything loop, and the list of backends that work here.
 *
 * Backends whose probe fails are left out of the suite with a note on
 * stderr (test-api checks that the ones this kernel must have are there).
 */
#ifndef OOH_TEST_UTIL_H
#define OOH_TEST_UTIL_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ooh.h"
#include "ooh_check.h"

#define PG 4096ul

static enum ooh_backend tu_backends[OOH_BACKEND_MAX];
static int tu_nr_backends;

/* Fill tu_backends with the usable ones among those wanted (0-terminated). */
static inline void tu_find_backends(const enum ooh_backend *wanted)
{
	tu_nr_backends = 0;
	for (; *wanted; wanted++) {
		struct ooh_backend_info info;
		if (ooh_probe(*wanted, &info) == 0 && info.status == 0)
			tu_backends[tu_nr_backends++] = *wanted;
		else
			fprintf(stderr, "note: backend %s not usable here, its cases are not run: %s\n",
				ooh_backend_name(*wanted), info.reason);
	}
}

static const enum ooh_backend tu_all[] = {
	OOH_BACKEND_PAGEMAP, OOH_BACKEND_SOFTDIRTY, OOH_BACKEND_UFFD, OOH_BACKEND_MPROTECT,
	OOH_BACKEND_OOH_SPML, OOH_BACKEND_OOH_EPML, 0
};

static inline uint64_t tu_hash_page(const void *p)
{
	const uint64_t *w = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < PG / 8; i++)
		h = (h ^ w[i]) * 1099511628211ull;
	return h;
}

static inline void tu_hash_all(const char *base, size_t pages, uint64_t *h)
{
	for (size_t i = 0; i < pages; i++)
		h[i] = tu_hash_page(base + i * PG);
}

/* A tiny reproducible PRNG (xorshift64*). */
static inline uint64_t tu_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static inline uint64_t tu_seed(void)
{
	const char *e = getenv("OOH_TEST_SEED");
	return e ? strtoull(e, NULL, 0) : 0x00c0ffee1234ull;
}

/* Every address of one interval, via buffers of cap entries; checks the
 * continuation contract (ascending, no duplicates, page-aligned). */
struct tu_pages {
	uint64_t *v;
	size_t n;
	uint32_t flags; /* OR of result flags */
};

static inline void tu_collect(ooh_tracker *t, unsigned flags, size_t cap, struct tu_pages *out)
{
	uint64_t *buf = malloc(cap * sizeof(*buf));
	struct ooh_collect_result res;
	size_t alloc = 1024;

	out->v = malloc(alloc * sizeof(*out->v));
	out->n = 0;
	out->flags = 0;
	ck_assert_ptr_nonnull(buf);
	for (int calls = 0;; calls++) {
		int err = ooh_collect(t, buf, cap, flags, &res);
		ck_assert_msg(err == 0, "ooh_collect: %s", ooh_strerror(err));
		ck_assert_uint_le(res.count, cap);
		for (size_t i = 0; i < res.count; i++) {
			ck_assert_msg((buf[i] & (PG - 1)) == 0, "unaligned address %#lx", (unsigned long)buf[i]);
			if (out->n)
				ck_assert_msg(buf[i] > out->v[out->n - 1], "not ascending: %#lx after %#lx",
					      (unsigned long)buf[i], (unsigned long)out->v[out->n - 1]);
			if (out->n == alloc) {
				alloc *= 2;
				out->v = realloc(out->v, alloc * sizeof(*out->v));
				ck_assert_ptr_nonnull(out->v);
			}
			out->v[out->n++] = buf[i];
		}
		out->flags |= res.flags & ~OOH_RESULT_MORE;
		if (!(res.flags & OOH_RESULT_MORE))
			break;
		ck_assert_msg(res.count == cap, "MORE set on a partly filled buffer");
	}
	free(buf);
}

static inline int tu_contains(const struct tu_pages *p, uint64_t addr)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p->v[mid] == addr)
			return 1;
		if (p->v[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Reported pages inside [base, base + pages*PG). */
static inline size_t tu_count_in(const struct tu_pages *p, uint64_t base, size_t pages)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->v[i] >= base && p->v[i] < base + pages * PG;
	return n;
}

/*
 * Compare with ground truth: every page whose hash changed must be reported
 * (unless overflow was flagged).  Returns false positives (reported but
 * unchanged); fails the test on any miss.
 */
static inline size_t tu_check_truth(const char *base, size_t pages, const uint64_t *before,
				    const struct tu_pages *got, const char *what)
{
	size_t missed = 0, fp = 0, changed = 0;
	for (size_t i = 0; i < pages; i++) {
		uint64_t a = (uint64_t)(uintptr_t)(base + i * PG);
		int ch = tu_hash_page(base + i * PG) != before[i];
		int rep = tu_contains(got, a);
		changed += ch;
		if (ch && !rep) {
			if (missed < 5)
				fprintf(stderr, "%s: MISSED page %zu (%#lx)\n", what, i, (unsigned long)a);
			missed++;
		}
		fp += !ch && rep;
	}
	if (got->flags & OOH_RESULT_OVERFLOW)
		return fp; /* caller treats everything as dirty */
	ck_assert_msg(missed == 0, "%s: %zu of %zu changed pages not reported (%zu false positives)",
		      what, missed, changed, fp);
	return fp;
}

static inline void tu_free(struct tu_pages *p)
{
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

static inline ooh_tracker *tu_open_range(enum ooh_backend b, pid_t pid, void *base, size_t len)
{
	struct ooh_range r = { (uint64_t)(uintptr_t)base, len };
	struct ooh_open_opts o = {
		.size = sizeof(o), .backend = b, .pid = pid, .flags = OOH_OPEN_START,
		.ranges = &r, .nr_ranges = 1,
	};
	ooh_tracker *t = NULL;
	int err = ooh_open(&o, &t);
	ck_assert_msg(err == 0, "ooh_open(%s): %s", ooh_backend_name(b), ooh_strerror(err));
	return t;
}

static inline char *tu_map(size_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

#endif
