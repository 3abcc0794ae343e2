/* SPDX-License-Identifier: MIT */
/*
 * Transparent huge pages: addresses are reported per 4 KiB page; a write
 * to one byte of a THP must be reported; backends that claim
 * OOH_CAP_PAGE_EXACT must not report the other 511 pages.
 */
#include "ooh_test_util.h"

#define HUGE (2ul << 20)
#define NHUGE 4

static int thp_backed(const char *m)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	unsigned long s, e, kb = 0;
	int in = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &s, &e) == 2)
			in = s <= (unsigned long)m && (unsigned long)m < e;
		else if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb >= 2048;
}

START_TEST(thp_reports_4k_pages)
{
	enum ooh_backend b = tu_backends[_i];
	char *raw = tu_map(HUGE * (NHUGE + 1), MAP_PRIVATE | MAP_ANONYMOUS);
	char *m = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	uint64_t *before = calloc(NHUGE * HUGE / PG, sizeof(*before));
	struct tu_pages got;

	madvise(m, NHUGE * HUGE, MADV_HUGEPAGE);
	memset(m, 1, NHUGE * HUGE);
	int huge = thp_backed(m);
	fprintf(stderr, "%s: region %s THP-backed\n", ooh_backend_name(b), huge ? "is" : "is NOT");
	ooh_tracker *t = tu_open_range(b, 0, m, NHUGE * HUGE);
	for (int round = 0; round < 3; round++) {
		tu_hash_all(m, NHUGE * HUGE / PG, before);
		m[HUGE + 5 * PG + 17] = (char)(round + 2);      /* one page of the 2nd THP */
		m[3 * HUGE + 511 * PG] = (char)(round + 2);     /* last page of the 4th */
		tu_collect(t, OOH_COLLECT_REARM, 1000, &got);
		size_t fp = tu_check_truth(m, NHUGE * HUGE / PG, before, &got, "thp");
		if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
			ck_assert_msg(fp == 0, "%s: %zu clean pages reported", ooh_backend_name(b), fp);
		else
			fprintf(stderr, "%s: round %d: %zu reported for 2 written pages\n",
				ooh_backend_name(b), round, got.n);
		tu_free(&got);
	}
	ck_assert_int_eq(ooh_close(t), 0);
	free(before);
	munmap(raw, HUGE * (NHUGE + 1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-thp");
	TCase *tc = tcase_create("thp");

	tu_find_backends(tu_all);
	tcase_add_loop_test(tc, thp_reports_4k_pages, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
