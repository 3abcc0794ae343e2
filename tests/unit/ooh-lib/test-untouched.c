/* SPDX-License-Identifier: MIT */
/*
 * Never-touched memory: pages with no page-table entry yet when tracking
 * starts.  First writes must be reported, first reads must not (for the
 * page-exact backends), and never-touched pages are not dirty.
 */
#include "ooh_test_util.h"

#define PAGES 1024

START_TEST(first_touch)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
	uint64_t before[PAGES];
	struct tu_pages got;

	ooh_tracker *t = tu_open_range(b, 0, m, PAGES * PG);
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	ck_assert_msg(got.n == 0, "%zu pages reported before any access", got.n);
	tu_free(&got);

	for (size_t i = 0; i < PAGES; i++)
		before[i] = tu_hash_page((const char[PG]){ 0 });
	for (size_t i = 0; i < PAGES; i += 7)
		m[i * PG + 100] = 1;                       /* first touch: write */
	for (size_t i = 3; i < PAGES; i += 7)
		(void)*(volatile char *)(m + i * PG);      /* first touch: read */
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	size_t fp = tu_check_truth(m, PAGES, before, &got, "untouched");
	if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
		ck_assert_msg(fp == 0, "%zu read-only or untouched pages reported", fp);
	tu_free(&got);

	/* Pages first read, then written: reported. */
	tu_hash_all(m, PAGES, before);
	m[3 * PG] = 2;
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	tu_check_truth(m, PAGES, before, &got, "read-then-write");
	ck_assert(tu_contains(&got, (uint64_t)(uintptr_t)(m + 3 * PG)));
	tu_free(&got);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, PAGES * PG);
}
END_TEST

/*
 * A sparse reservation (here 256 GiB, NORESERVE, like an ASan shadow or a
 * JVM heap) with a few pages written: arming and collecting must cost in
 * proportion to what is populated, not to the size of the reservation.
 */
START_TEST(sparse_reservation)
{
	enum ooh_backend b = tu_backends[_i];
	size_t len = 256ul << 30;
	if (b == OOH_BACKEND_MPROTECT) /* no page tables walked: nothing to prove */
		return;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	for (size_t i = 0; i < 64; i++)
		m[i * (len / 64)] = 1;
	ooh_tracker *t = tu_open_range(b, 0, m, len);
	struct tu_pages got;
	for (size_t i = 0; i < 64; i += 2)
		m[i * (len / 64) + PG] = 2;
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	for (size_t i = 0; i < 64; i += 2)
		ck_assert(tu_contains(&got, (uint64_t)(uintptr_t)(m + i * (len / 64) + PG)));
	if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
		ck_assert_uint_eq(got.n, 32);
	tu_free(&got);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, len);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-untouched");
	TCase *tc = tcase_create("untouched");

	tu_find_backends(tu_all);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, first_touch, 0, tu_nr_backends);
	tcase_add_loop_test(tc, sparse_reservation, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
