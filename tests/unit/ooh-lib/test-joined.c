/* SPDX-License-Identifier: MIT */
/*
 * OOH_COLLECT_JOINED: trackers collected at one instant (the second joined
 * to the first) each report exactly their changed pages, against ground
 * truth (a page dropped with MADV_DONTNEED included); a joined collect
 * with no collect before it may defer pages to
 * the next interval but loses none.  (On the hypervisor backends a joined
 * collect makes no harvest hypercall of its own: tests/l2 runs the same
 * check through ooh-lib-selftest there.)
 */
#include "ooh_test_util.h"

#define PAGES 64

START_TEST(joined_at_one_instant)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(2 * PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	uint64_t before[2][PAGES];
	ooh_tracker *t[2];
	struct tu_pages got[2];

	memset(m, 1, 2 * PAGES * PG);
	t[0] = tu_open_range(b, 0, m, PAGES * PG);
	struct ooh_range r = { (uint64_t)(uintptr_t)(m + PAGES * PG), PAGES * PG };
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .flags = OOH_OPEN_START,
				   .ranges = &r, .nr_ranges = 1 };
	int err = ooh_open(&o, &t[1]);
	if (err == -EBUSY) { /* softdirty: one tracker per process */
		ck_assert_int_eq(ooh_close(t[0]), 0);
		munmap(m, 2 * PAGES * PG);
		return;
	}
	ck_assert_msg(err == 0, "ooh_open: %s", ooh_strerror(err));
	for (int round = 0; round < 4; round++) {
		for (int k = 0; k < 2; k++)
			tu_hash_all(m + k * PAGES * PG, PAGES, before[k]);
		/* a page of the joined tracker dropped without a store */
		ck_assert_int_eq(madvise(m + (PAGES + round + 1) * PG, PG, MADV_DONTNEED), 0);
		for (int i = round; i < 2 * PAGES; i += 3)
			m[i * PG + round] = (char)(round + 2);
		tu_collect(t[0], OOH_COLLECT_REARM, 16, &got[0]);
		tu_collect(t[1], OOH_COLLECT_REARM | OOH_COLLECT_JOINED, 16, &got[1]);
		for (int k = 0; k < 2; k++) {
			size_t fp = tu_check_truth(m + k * PAGES * PG, PAGES, before[k], &got[k],
						   k ? "joined" : "first");
			if (ooh_tracker_caps(t[k]) & OOH_CAP_PAGE_EXACT)
				ck_assert_msg(fp == 0, "tracker %d: %zu unchanged pages reported", k, fp);
			ck_assert_uint_eq(tu_count_in(&got[k], (uint64_t)(uintptr_t)m + k * PAGES * PG, PAGES),
					  got[k].n);
			tu_free(&got[k]);
		}
	}
	/* A joined collect first: what it does not report, the next does. */
	tu_hash_all(m + PAGES * PG, PAGES, before[1]);
	for (int i = 1; i < PAGES; i += 2)
		m[(PAGES + i) * PG] = 9;
	tu_collect(t[1], OOH_COLLECT_REARM | OOH_COLLECT_JOINED, 16, &got[0]);
	tu_collect(t[1], OOH_COLLECT_REARM, 16, &got[1]);
	for (int i = 1; i < PAGES; i += 2) {
		uint64_t a = (uint64_t)(uintptr_t)(m + (PAGES + i) * PG);
		ck_assert_msg(tu_contains(&got[0], a) || tu_contains(&got[1], a),
			      "page %d written before a joined collect reported by neither it nor the next", i);
	}
	tu_free(&got[0]);
	tu_free(&got[1]);
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(ooh_close(t[k]), 0);
	munmap(m, 2 * PAGES * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-joined");
	TCase *tc = tcase_create("joined");

	tu_find_backends(tu_all);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, joined_at_one_instant, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
