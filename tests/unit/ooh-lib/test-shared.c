/* SPDX-License-Identifier: MIT */
/* MAP_SHARED memory (anonymous shared and memfd): writes through the
 * tracked process's own mapping are reported. */
#include <fcntl.h>
#include <sys/syscall.h>

#include "ooh_test_util.h"

#define PAGES 256

static void run(enum ooh_backend b, char *m, const char *what)
{
	uint64_t before[PAGES];
	uint64_t s = tu_seed();
	struct tu_pages got;

	for (size_t i = 0; i < PAGES; i += 2)
		m[i * PG] = 1; /* half populated before tracking */
	ooh_tracker *t = tu_open_range(b, 0, m, PAGES * PG);
	for (int round = 0; round < 10; round++) {
		tu_hash_all(m, PAGES, before);
		for (int w = 0; w < 40; w++)
			m[(tu_rand(&s) % PAGES) * PG + tu_rand(&s) % PG] = (char)tu_rand(&s);
		tu_collect(t, OOH_COLLECT_REARM, 50, &got);
		tu_check_truth(m, PAGES, before, &got, what);
		tu_free(&got);
	}
	ck_assert_int_eq(ooh_close(t), 0);
}

START_TEST(shared_anonymous)
{
	char *m = tu_map(PAGES * PG, MAP_SHARED | MAP_ANONYMOUS);
	run(tu_backends[_i], m, "shared-anon");
	munmap(m, PAGES * PG);
}
END_TEST

START_TEST(shared_memfd)
{
	int fd = (int)syscall(SYS_memfd_create, "ooh-test", 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, PAGES * PG), 0);
	char *m = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	run(tu_backends[_i], m, "memfd");
	munmap(m, PAGES * PG);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-shared");
	TCase *tc = tcase_create("shared");

	tu_find_backends(tu_all);
	tcase_add_loop_test(tc, shared_anonymous, 0, tu_nr_backends);
	tcase_add_loop_test(tc, shared_memfd, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
