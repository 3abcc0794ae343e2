/* SPDX-License-Identifier: MIT */
/*
 * Loss of precision is said, never silent.  mprotect backend: exhaust
 * vm.max_map_count (by splitting a scratch mapping into one VMA per page)
 * so that unprotecting a single tracked page is impossible; the program
 * must keep running, and the collect must carry OOH_RESULT_OVERFLOW with
 * every written page still reported.  Once VMAs are available again the
 * next intervals are precise again.
 */
#include "ooh_test_util.h"

#define PAGES 64

START_TEST(mprotect_map_count_exhausted)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long max = 65530;
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 65530;
		fclose(f);
	}
	char *m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	memset(m, 1, PAGES * PG);
	ooh_tracker *t = tu_open_range(OOH_BACKEND_MPROTECT, 0, m, PAGES * PG);
	struct tu_pages got;

	/* Use up the VMA budget.  Nothing between here and the munmap below
	 * may allocate (an ASan build's allocator needs fresh mappings too). */
	size_t scratch_pages = (size_t)max * 2 + 16;
	char *scratch = mmap(NULL, scratch_pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(scratch, MAP_FAILED);
	size_t split = 0;
	int exhausted = 0;
	for (size_t i = 1; i < scratch_pages; i += 2, split++)
		if (mprotect(scratch + i * PG, PG, PROT_READ) < 0) {
			exhausted = errno == ENOMEM;
			break;
		}
	for (size_t i = 0; i < PAGES; i += 4)
		m[i * PG] = 2; /* each would need a VMA split: the handler cannot */
	munmap(scratch, scratch_pages * PG);
	ck_assert_msg(exhausted, "could not exhaust vm.max_map_count");

	/* The flag stays until collected, with every written page. */
	tu_collect(t, OOH_COLLECT_REARM, 16, &got);
	ck_assert_msg(got.flags & OOH_RESULT_OVERFLOW, "VMA exhaustion not flagged");
	for (size_t i = 0; i < PAGES; i += 4)
		ck_assert(tu_contains(&got, (uint64_t)(uintptr_t)(m + i * PG)));
	tu_free(&got);

	/* Give the VMAs back: precise again, no flag. */
	munmap(scratch, scratch_pages * PG);
	m[5 * PG] = 3;
	tu_collect(t, OOH_COLLECT_REARM, 16, &got);
	fprintf(stderr, "after exhaustion (%zu splits): %zu pages, flags %#x\n", split, got.n, got.flags);
	tu_free(&got);
	m[9 * PG] = 3;
	tu_collect(t, OOH_COLLECT_REARM, 16, &got);
	ck_assert_uint_eq(got.flags & OOH_RESULT_OVERFLOW, 0);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_uint_eq(got.v[0], (uint64_t)(uintptr_t)(m + 9 * PG));
	tu_free(&got);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, PAGES * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-overflow");
	TCase *tc = tcase_create("overflow");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mprotect_map_count_exhausted);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
