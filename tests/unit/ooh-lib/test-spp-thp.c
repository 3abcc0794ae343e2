/* SPDX-License-Identifier: MIT */
/*
 * Protected pages inside a 2 MiB-aligned MADV_HUGEPAGE region: what the
 * kernel tries on such memory without unmapping the page for good keeps
 * the protection. On the ooh backend the module sees these attempts as
 * MMU_NOTIFY_CLEAR events for a page that stays mapped (it used to drop the
 * page's protection on every one: a missed violation):
 *  - MADV_COLLAPSE (khugepaged's path; on Linux 6.1 its scan gives up on
 *    a pinned page, EAGAIN, before clearing anything: recorded, and checked);
 *  - splitting the huge PMD that maps the page, which MADV_DONTNEED (or
 *    mprotect, munmap) of *another* page of the same 2 MiB does, always
 *    with a CLEAR over the whole 2 MiB while the page stays where it is.
 * And MADV_DONTNEED of the protected page itself: the address maps a new
 * page, and the protection is gone (ooh backend only, see below).
 */
#include <sys/mman.h>

#include "test-spp-util.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HPG (2ul << 20)

/* A 2 MiB-aligned, 2 MiB MADV_HUGEPAGE anonymous region, populated. */
static char *ts_map_huge(void)
{
	char *raw = ts_map(2 * HPG);
	char *m = (char *)(((uintptr_t)raw + HPG - 1) & ~(HPG - 1));

	if (m > raw)
		munmap(raw, m - raw);
	munmap(m + HPG, raw + 2 * HPG - (m + HPG));
	ck_assert_int_eq(madvise(m, HPG, MADV_HUGEPAGE), 0);
	memset(m, 'a', HPG);
	return m;
}

/* AnonHugePages (kB) of the mapping that holds p, -1 if unknown. */
static long ts_anon_huge_kb(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	bool in = false;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* Page 3, sub-page 1 protected; everything else of the 2 MiB writable. */
static void ts_check_guard(ooh_spp *s, char *m)
{
	uint32_t mask;

	ts_expect_violation(&m[3 * PG + SP], 'X');
	ts_expect_violation(&m[3 * PG + 2 * SP - 1], 'X');
	ts_expect_lands(&m[3 * PG + SP - 1], 'b');
	ts_expect_lands(&m[3 * PG + 2 * SP], 'b');
	ts_expect_lands(&m[2 * PG + SP], 'b');
	ts_expect_lands(&m[4 * PG + SP], 'b');
	ck_assert_int_eq(ooh_spp_query(s, m + 3 * PG, &mask), 0);
	ck_assert_uint_eq(mask, ts_guard(1, 1));
}

START_TEST(collapse_keeps_protection)
{
	ooh_spp *s;
	char *m = ts_map_huge();
	long before, after;
	int ret, err;

	ts_install_catcher();
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, m + 3 * PG, PG, ts_guard(1, 1)), 0);
	before = ts_anon_huge_kb(m);
	ret = madvise(m, HPG, MADV_COLLAPSE);
	err = errno;
	after = ts_anon_huge_kb(m);
	fprintf(stderr, "note: %s: MADV_COLLAPSE of the 2 MiB holding a protected page: %s (AnonHugePages %ld kB before, %ld kB after)\n",
		ooh_spp_backend_name(ts_backends[_i]), ret ? strerror(err) : "succeeded",
		before, after);
	ts_check_guard(s, m);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	ts_expect_lands(&m[3 * PG + SP], 'Z');
	munmap(m, HPG);
}
END_TEST

START_TEST(pmd_split_keeps_protection)
{
	ooh_spp *s;
	char *m = ts_map_huge();
	long huge;
	int ret;

	/*
	 * A kernel with THP off for faults (Linux turns it off below 512 MiB
	 * of RAM, as in the rig's L2) still collapses on request.
	 */
	ret = madvise(m, HPG, MADV_COLLAPSE) ? errno : 0;
	ts_install_catcher();
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, m + 3 * PG, PG, ts_guard(1, 1)), 0);
	huge = ts_anon_huge_kb(m);
	fprintf(stderr, "note: %s: MADV_COLLAPSE before protecting: %s; AnonHugePages of the protected page's mapping: %ld kB%s\n",
		ooh_spp_backend_name(ts_backends[_i]), ret ? strerror(ret) : "succeeded", huge,
		huge > 0 ? "" : " (no huge PMD to split: the case runs without its trigger)");
	/* Another page of the same 2 MiB: the huge PMD is split first. */
	ck_assert_int_eq(madvise(m + 300 * PG, PG, MADV_DONTNEED), 0);
	ck_assert_int_eq(m[300 * PG], 0);
	ts_expect_lands(&m[300 * PG + SP], 'c');
	ts_check_guard(s, m);
	/* And once more, with the PMD already split: a plain zap elsewhere. */
	ck_assert_int_eq(madvise(m + 4 * PG, PG, MADV_DONTNEED), 0);
	ts_check_guard(s, m);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	ts_expect_lands(&m[3 * PG + SP], 'Z');
	munmap(m, HPG);
}
END_TEST

/*
 * MADV_DONTNEED of the protected page: the address maps a new (zero) page
 * from the next touch, and the protection is gone, as after munmap. On the
 * software backend the protection belongs to the mapping (mprotect, pkeys),
 * which MADV_DONTNEED keeps: not that backend's contract, not checked.
 */
START_TEST(dontneed_drops_protection)
{
	ooh_spp *s;
	char *m = ts_map(3 * PG);
	uint32_t mask;

	if (ts_backends[_i] != OOH_SPP_BACKEND_OOH) {
		fprintf(stderr, "note: %s: dontneed_drops_protection not run (MADV_DONTNEED keeps this backend's mprotect protection)\n",
			ooh_spp_backend_name(ts_backends[_i]));
		munmap(m, 3 * PG);
		return;
	}
	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 'a', 3 * PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, 3 * PG, ts_guard(1, 1)), 0);
	ck_assert_int_eq(madvise(m + PG, PG, MADV_DONTNEED), 0);
	ck_assert_int_eq(ooh_spp_query(s, m + PG, &mask), 0);
	ck_assert_uint_eq(mask, OOH_SPP_ALL_WRITABLE);
	unsigned long before = ts_last.count;
	for (size_t i = 0; i < PG; i += 7)
		ts_expect_lands(&m[PG + i], (char)(i | 1));
	ck_assert_uint_eq(ts_last.count, before);
	/* Neighbours keep theirs. */
	ts_expect_violation(&m[SP], 1);
	ts_expect_violation(&m[2 * PG + SP + 5], 1);
	ts_expect_lands(&m[2 * PG + 2 * SP], 1);
	/* The new page can be protected. */
	ck_assert_int_eq(ooh_spp_protect(s, m + PG, PG, ts_guard(0, 0)), 0);
	ts_expect_violation(&m[PG], 1);
	ts_expect_lands(&m[PG + SP], 1);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, 3 * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-spp-thp");
	TCase *tc = tcase_create("spp-thp");

	ts_find_backends();
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, collapse_keeps_protection, 0, ts_nr_backends);
	tcase_add_loop_test(tc, pmd_split_keeps_protection, 0, ts_nr_backends);
	tcase_add_loop_test(tc, dontneed_drops_protection, 0, ts_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
