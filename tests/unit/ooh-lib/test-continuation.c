/* SPDX-License-Identifier: MIT */
/*
 * Caller-sized buffers: any buffer size, down to one entry, yields the same
 * ascending list as one big buffer; OOH_RESULT_MORE is set exactly when
 * pages remain; a peek does not consume; ooh_start() discards an interval
 * in progress; several ranges come out in address order.
 */
#include "ooh_test_util.h"

#define PAGES 3000

START_TEST(any_buffer_size)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	ooh_tracker *t = tu_open_range(b, 0, m, PAGES * PG);
	const size_t caps[] = { 1, 2, 3, 7, 64, 511, 512, 513, 1000, PAGES, PAGES + 5 };
	uint64_t s = tu_seed();

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		size_t expect = 0;
		static unsigned char w[PAGES];
		memset(w, 0, sizeof(w));
		for (int i = 0; i < 1500; i++) {
			size_t pg = tu_rand(&s) % PAGES;
			m[pg * PG] = (char)i;
			expect += !w[pg];
			w[pg] = 1;
		}
		struct tu_pages big, small;
		tu_collect(t, 0, PAGES, &big);             /* peek, all at once */
		tu_collect(t, OOH_COLLECT_REARM, caps[c], &small);
		ck_assert_uint_eq(big.n, small.n);
		ck_assert_int_eq(memcmp(big.v, small.v, big.n * sizeof(uint64_t)), 0);
		if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
			ck_assert_uint_eq(small.n, expect);
		for (size_t i = 0; i < PAGES; i++)
			if (w[i])
				ck_assert(tu_contains(&small, (uint64_t)(uintptr_t)(m + i * PG)));
		tu_free(&big);
		tu_free(&small);
	}
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, PAGES * PG);
}
END_TEST

START_TEST(restart_discards_interval)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(64 * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	ooh_tracker *t = tu_open_range(b, 0, m, 64 * PG);
	uint64_t buf[4];
	struct ooh_collect_result res;

	memset(m, 1, 64 * PG);
	ck_assert_int_eq(ooh_collect(t, buf, 4, OOH_COLLECT_REARM, &res), 0);
	ck_assert(res.flags & OOH_RESULT_MORE);
	ck_assert_int_eq(ooh_start(t), 0); /* everything clean again */
	ck_assert_int_eq(ooh_collect(t, buf, 4, 0, &res), 0);
	ck_assert_uint_eq(res.count, 0);
	ck_assert_uint_eq(res.flags, 0);
	m[7 * PG] = 2;
	ck_assert_int_eq(ooh_collect(t, buf, 4, OOH_COLLECT_REARM, &res), 0);
	ck_assert_uint_eq(res.count, 1);
	ck_assert_uint_eq(buf[0], (uint64_t)(uintptr_t)(m + 7 * PG));
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, 64 * PG);
}
END_TEST

START_TEST(several_ranges_in_order)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(300 * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	uint64_t a = (uint64_t)(uintptr_t)m;
	/* Given out of order; pages 100..199 are not tracked. */
	struct ooh_range r[3] = { { a + 200 * PG, 100 * PG }, { a, 50 * PG }, { a + 50 * PG, 50 * PG } };
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .flags = OOH_OPEN_START,
				   .ranges = r, .nr_ranges = 3 };
	ooh_tracker *t;
	struct tu_pages got;

	ck_assert_int_eq(ooh_open(&o, &t), 0);
	for (size_t i = 0; i < 300; i += 10)
		m[i * PG] = 1;
	tu_collect(t, OOH_COLLECT_REARM, 3, &got);
	ck_assert_uint_eq(tu_count_in(&got, a + 100 * PG, 100), 0);
	for (size_t i = 0; i < 300; i += 10)
		if (i < 100 || i >= 200)
			ck_assert(tu_contains(&got, a + i * PG));
	tu_free(&got);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, 300 * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-continuation");
	TCase *tc = tcase_create("continuation");

	tu_find_backends(tu_all);
	tcase_add_loop_test(tc, any_buffer_size, 0, tu_nr_backends);
	tcase_add_loop_test(tc, restart_discards_interval, 0, tu_nr_backends);
	tcase_add_loop_test(tc, several_ranges_in_order, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
