/* SPDX-License-Identifier: MIT */
/*
 * ooh_spp_query and the argument contract of every ooh_spp_* call: what
 * was set is read back per page, release and close give the memory back,
 * and bad input is refused with the documented errno, changing nothing.
 */
#include "test-spp-util.h"

START_TEST(query_reads_back)
{
	ooh_spp *s;
	char *m = ts_map(4 * PG);
	uint32_t masks[4] = { 0, 0x12345678u, OOH_SPP_ALL_WRITABLE, 0xfffffffeu }, got;

	ts_install_catcher();
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_backend(s), (int)ts_backends[_i]);
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, masks, 4), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(ooh_spp_query(s, m + i * PG + 77 * i, &got), 0); /* any address in the page */
		ck_assert_uint_eq(got, masks[i]);
	}
	ts_expect_violation(&m[3 * PG], 1);
	ts_expect_lands(&m[3 * PG + 128], 1);
	ts_expect_lands(&m[2 * PG + 5], 1);
	/* Overwrite one page, release another. */
	ck_assert_int_eq(ooh_spp_protect(s, m + PG, PG, ts_guard(31, 31)), 0);
	ck_assert_int_eq(ooh_spp_query(s, m + PG, &got), 0);
	ck_assert_uint_eq(got, ts_guard(31, 31));
	ck_assert_int_eq(ooh_spp_release(s, m, PG), 0);
	ck_assert_int_eq(ooh_spp_query(s, m, &got), 0);
	ck_assert_uint_eq(got, OOH_SPP_ALL_WRITABLE);
	ts_expect_lands(&m[0], 1);
	/* Protecting with all-writable is a release. */
	ck_assert_int_eq(ooh_spp_protect(s, m + 3 * PG, PG, OOH_SPP_ALL_WRITABLE), 0);
	ts_expect_lands(&m[3 * PG], 2);
	/* Close gives everything back. */
	ck_assert_int_eq(ooh_spp_close(s), 0);
	for (size_t i = 0; i < 4 * PG; i += 64)
		ts_expect_lands(&m[i], 3);
	munmap(m, 4 * PG);
}
END_TEST

START_TEST(bad_input)
{
	ooh_spp *s, *s2, *closed;
	char *m = ts_map(4 * PG);
	uint32_t masks[2] = { 0, 0 }, got;
	char *ro = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(ro, MAP_FAILED);
	ts_install_catcher();
	ck_assert_int_eq(ooh_spp_open(NULL, 0), -EINVAL);
	ck_assert_int_eq(ooh_spp_open(&s, 0x200), -EINVAL);               /* unknown flag */
	ck_assert_int_eq(ooh_spp_open(&s, OOH_SPP_OPEN_BACKEND(77)), -EINVAL);
	ck_assert_ptr_null(s);
	s = ts_open(_i);
	/* Alignment and sizes. */
	ck_assert_int_eq(ooh_spp_protect(s, m + 1, PG, 0), -EINVAL);
	ck_assert_int_eq(ooh_spp_protect(s, m + 128, PG, 0), -EINVAL);    /* sub-page aligned is not enough */
	ck_assert_int_eq(ooh_spp_protect(s, m, 0, 0), -EINVAL);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG + 128, 0), -EINVAL);
	ck_assert_int_eq(ooh_spp_protect(s, m, (size_t)-PG, 0), -EINVAL);  /* wraps */
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, NULL, 1), -EINVAL);
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, masks, 0), -EINVAL);
	ck_assert_int_eq(ooh_spp_protect_pages(s, m + 8, masks, 1), -EINVAL);
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, masks, (size_t)1 << 60), -EINVAL);
	ck_assert_int_eq(ooh_spp_release(s, m + 1, PG), -EINVAL);
	ck_assert_int_eq(ooh_spp_release(s, m, 3), -EINVAL);
	ck_assert_int_eq(ooh_spp_query(s, m, NULL), -EINVAL);
	ck_assert_int_eq(ooh_spp_query(s, (void *)-1L, &got), -EINVAL);
	/* Mappings: not mapped, partly mapped, read-only. */
	ck_assert_int_eq(munmap(m + 3 * PG, PG), 0);
	ck_assert_int_eq(ooh_spp_protect(s, m + 3 * PG, PG, 0), -EFAULT);
	ck_assert_int_eq(ooh_spp_protect(s, m + 2 * PG, 2 * PG, 0), -EFAULT);
	ck_assert_int_eq(ooh_spp_query(s, m + 3 * PG, &got), -EFAULT);
	ck_assert_int_eq(ooh_spp_protect(s, ro, PG, 0), -EACCES);
	ck_assert_int_eq(ooh_spp_query(s, ro, &got), -EACCES);
	/* A failed call changed nothing: page 2 is still ordinary memory. */
	ts_expect_lands(&m[2 * PG], 1);
	ck_assert_int_eq(ooh_spp_query(s, m + 2 * PG, &got), 0);
	ck_assert_uint_eq(got, OOH_SPP_ALL_WRITABLE);
	/* Another domain cannot take pages this one protects. */
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, 0), 0);
	ck_assert_int_eq(ooh_spp_open(&s2, OOH_SPP_OPEN_BACKEND(ts_backends[_i])), 0);
	ck_assert_int_eq(ooh_spp_protect(s2, m, 2 * PG, 0), -EBUSY);
	ts_expect_lands(&m[PG], 1); /* all or nothing: page 1 untouched */
	ck_assert_int_eq(ooh_spp_protect(s2, m + PG, PG, 0), 0);
	ck_assert_int_eq(ooh_spp_close(s2), 0);
	ts_expect_lands(&m[PG], 2);
	ts_expect_violation(&m[0], 2);
	/* Handles. */
	closed = s;
	ck_assert_int_eq(ooh_spp_close(s), 0);
	ck_assert_int_eq(ooh_spp_protect(closed, m, PG, 0), -EBADF);
	ck_assert_int_eq(ooh_spp_query(closed, m, &got), -EBADF);
	ck_assert_int_eq(ooh_spp_release(closed, m, PG), -EBADF);
	ck_assert_int_eq(ooh_spp_backend(closed), -EBADF);
	ck_assert_int_eq(ooh_spp_close(closed), -EBADF);
	ck_assert_int_eq(ooh_spp_close(NULL), -EBADF);
	ck_assert_int_eq(ooh_spp_protect(NULL, m, PG, 0), -EBADF);
	ck_assert_int_eq(ooh_spp_stats(NULL), -EINVAL);
	ts_expect_lands(&m[0], 3);
	munmap(m, 3 * PG);
	munmap(ro, PG);
}
END_TEST

/* Many pages, scattered vectors: one call, each page exact. */
START_TEST(many_pages)
{
	enum { N = 2048 };
	ooh_spp *s;
	char *m = ts_map(N * PG);
	uint32_t *masks = malloc(N * sizeof(*masks)), got;
	uint64_t seed = 0x5eed;

	ck_assert_ptr_nonnull(masks);
	ts_install_catcher();
	s = ts_open(_i);
	for (int i = 0; i < N; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		masks[i] = (uint32_t)(seed >> 32) | 1u; /* sub-page 0 always writable */
		if (i % 7 == 0)
			masks[i] = OOH_SPP_ALL_WRITABLE;
	}
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, masks, N), 0);
	for (int i = 0; i < N; i += 97) {
		ck_assert_int_eq(ooh_spp_query(s, m + (size_t)i * PG, &got), 0);
		ck_assert_uint_eq(got, masks[i]);
		for (unsigned sp = 0; sp < 32; sp += 5) {
			volatile char *p = m + (size_t)i * PG + sp * SP + sp;
			if (masks[i] & (1u << sp))
				ts_expect_lands(p, 9);
			else
				ts_expect_violation(p, 9);
		}
	}
	ck_assert_int_eq(ooh_spp_close(s), 0);
	free(masks);
	munmap(m, N * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-spp-query");
	TCase *tc = tcase_create("spp-query");

	ts_find_backends();
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, query_reads_back, 0, ts_nr_backends);
	tcase_add_loop_test(tc, bad_input, 0, ts_nr_backends);
	tcase_add_loop_test(tc, many_pages, 0, ts_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
