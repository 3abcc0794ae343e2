/* SPDX-License-Identifier: MIT */
/*
 * fork(): the child inherits the read-only pages, the library's handlers
 * and the permission vectors, so protection goes on in the child (its
 * writes are copy-on-write and never reach the parent); the parent keeps
 * its protection.  fork() from a process whose threads are busy writing
 * to protected pages must not leave a lock held in the child.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "test-spp-util.h"

static int wait_child(pid_t pid)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "child killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return WEXITSTATUS(st);
}

/* In the child: 0 if protection works there, else which check failed. */
static int child_checks(ooh_spp *s, char *m)
{
	uint32_t mask = 0;
	alarm(20);
	if (ts_write8(&m[5], 'c') || m[5] != 'c')
		return 10;
	if (ts_write8(&m[128], 'c') != 1 || ts_last.code != OOH_SEGV_SPPERR ||
	    ts_last.addr != (uintptr_t)&m[128] || m[128] != 'p')
		return 11;
	if (ooh_spp_query(s, m, &mask) || mask != ts_guard(1, 1))
		return 12;
	/* Releasing in the child is the child's business. */
	if (ooh_spp_release(s, m, PG) || ts_write8(&m[128], 'c') || m[128] != 'c')
		return 13;
	return 0;
}

START_TEST(child_inherits_protection)
{
	ooh_spp *s;
	char *m = ts_map(PG);
	uint32_t mask;

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 'p', PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(1, 1)), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(child_checks(s, m));
	ck_assert_int_eq(wait_child(pid), 0);
	/* The parent: untouched by the child, still protected. */
	ck_assert_int_eq(m[5], 'p');
	ck_assert_int_eq(m[128], 'p');
	ts_expect_violation(&m[128], 'x');
	ts_expect_lands(&m[5], 'x');
	ck_assert_int_eq(ooh_spp_query(s, m, &mask), 0);
	ck_assert_uint_eq(mask, ts_guard(1, 1));
	ck_assert_int_eq(ooh_spp_close(s), 0);
}
END_TEST

static char *busy_page;
static atomic_int busy_stop;

static void *busy_writer(void *arg)
{
	int id = *(int *)arg;
	for (unsigned i = 0; !atomic_load(&busy_stop); i++) {
		if (ts_write8(&busy_page[id * 8 + (i % 8)], (char)i))
			abort();
		if (i % 5 == 0 && !ts_write8(&busy_page[128 + (i % 128)], 1))
			abort();
	}
	return NULL;
}

START_TEST(fork_while_threads_write)
{
	static int ids[2] = { 0, 1 };
	pthread_t th[2];
	ooh_spp *s;

	busy_page = ts_map(PG);
	memset(busy_page, 'p', PG);
	ts_install_catcher();
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, busy_page, PG, ts_guard(1, 1)), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, busy_writer, &ids[i]), 0);
	for (int k = 0; k < 20; k++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			_exit(child_checks(s, busy_page));
		ck_assert_int_eq(wait_child(pid), 0);
	}
	atomic_store(&busy_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 128; i < 256; i++)
		ck_assert_int_eq(busy_page[i], 'p');
	ck_assert_int_eq(ooh_spp_close(s), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-spp-fork");
	TCase *tc = tcase_create("spp-fork");
	/* its own case, so the rig can leave it out (tests/l2/spp-suite.sh) */
	TCase *tt = tcase_create("spp-fork-threads");

	ts_find_backends();
	tcase_set_timeout(tc, 60);
	tcase_set_timeout(tt, 60);
	tcase_add_loop_test(tc, child_inherits_protection, 0, ts_nr_backends);
	tcase_add_loop_test(tt, fork_while_threads_write, 0, ts_nr_backends);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tt);
	return ooh_check_main(s);
}
