/* SPDX-License-Identifier: MIT */
/*
 * munmap(): the protection goes with the mapping.  Memory mapped again at
 * the same address is ordinary memory (every write lands, no signal), the
 * library's record is dropped (query: -EFAULT while unmapped, all-writable
 * once mapped again), and the pages around it stay protected.
 */
#include "test-spp-util.h"

START_TEST(munmap_drops_protection)
{
	ooh_spp *s;
	char *m = ts_map(3 * PG);
	uint32_t mask;

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, 3 * PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, 3 * PG, ts_guard(1, 1)), 0);
	ck_assert_int_eq(munmap(m + PG, PG), 0);
	ck_assert_int_eq(ooh_spp_query(s, m + PG, &mask), -EFAULT);
	char *again = mmap(m + PG, PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ck_assert_ptr_eq(again, m + PG);
	unsigned long before = ts_last.count;
	for (size_t i = 0; i < PG; i++)
		ts_expect_lands(&again[i], (char)(i | 1));
	ck_assert_uint_eq(ts_last.count, before);
	ck_assert_int_eq(ooh_spp_query(s, again, &mask), 0);
	ck_assert_uint_eq(mask, OOH_SPP_ALL_WRITABLE);
	/* Neighbours keep theirs. */
	ts_expect_violation(&m[128], 1);
	ts_expect_violation(&m[2 * PG + 200], 1);
	ts_expect_lands(&m[2 * PG + 300], 1);
	ck_assert_int_eq(ooh_spp_query(s, m + 2 * PG, &mask), 0);
	ck_assert_uint_eq(mask, ts_guard(1, 1));
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, 3 * PG);
}
END_TEST

/* Unmapped and mapped again before the library looks: still ordinary memory. */
START_TEST(remap_without_query)
{
	ooh_spp *s;
	char *m = ts_map(2 * PG);

	ts_install_catcher();
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, m, 2 * PG, 0), 0);
	ck_assert_int_eq(munmap(m, 2 * PG), 0);
	char *again = mmap(m, 2 * PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ck_assert_ptr_eq(again, m);
	for (size_t i = 0; i < 2 * PG; i += 3)
		ts_expect_lands(&again[i], 7);
	/* Protecting it anew works, and releasing after munmap is fine. */
	ck_assert_int_eq(ooh_spp_protect(s, again, PG, ts_guard(0, 0)), 0);
	ts_expect_violation(&again[0], 1);
	ck_assert_int_eq(munmap(again, 2 * PG), 0);
	ck_assert_int_eq(ooh_spp_release(s, again, 2 * PG), 0);
	ck_assert_int_eq(ooh_spp_protect(s, again, PG, 0), -EFAULT);
	ck_assert_int_eq(ooh_spp_close(s), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-spp-munmap");
	TCase *tc = tcase_create("spp-munmap");

	ts_find_backends();
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, munmap_drops_protection, 0, ts_nr_backends);
	tcase_add_loop_test(tc, remap_without_query, 0, ts_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
