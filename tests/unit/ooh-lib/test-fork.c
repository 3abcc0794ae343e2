/* SPDX-License-Identifier: MIT */
/*
 * fork(): the child is not tracked.  Its writes (copy-on-write copies)
 * change nothing in the parent and must not be reported; the parent's
 * writes after the fork must be.  The child must also run normally (no
 * stuck fault, no crash) although it inherited protected memory.
 */
#include <sys/wait.h>

#include "ooh_test_util.h"

#define PAGES 256

START_TEST(child_not_tracked)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	uint64_t before[PAGES];
	struct tu_pages got;

	memset(m, 1, PAGES * PG);
	ooh_tracker *t = tu_open_range(b, 0, m, PAGES * PG);
	tu_hash_all(m, PAGES, before);

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (size_t i = 0; i < PAGES / 2; i++)
			m[i * PG] = 7; /* first half: child only */
		_exit(m[0] == 7 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child did not run normally");
	for (size_t i = PAGES / 2; i < PAGES; i += 5)
		m[i * PG] = 9; /* parent writes some of the second half */

	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	size_t fp = tu_check_truth(m, PAGES, before, &got, "fork");
	if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
		ck_assert_msg(fp == 0, "child's writes reported in the parent (%zu)", fp);
	ck_assert_uint_eq(tu_count_in(&got, (uint64_t)(uintptr_t)m, PAGES / 2), 0);
	for (size_t i = 0; i < PAGES / 2; i++)
		ck_assert_int_eq(m[i * PG], 1);
	tu_free(&got);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, PAGES * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-fork");
	TCase *tc = tcase_create("fork");

	tu_find_backends(tu_all);
	tcase_add_loop_test(tc, child_not_tracked, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
