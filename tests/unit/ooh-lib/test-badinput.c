/* SPDX-License-Identifier: MIT */
/* Bad input gets a precise negative errno, never a crash or a half-open
 * tracker: unknown pid, no permission, bad ranges, closed handle, bad
 * collect arguments, requests a backend cannot honour. */
#include <sys/wait.h>

#include "ooh_test_util.h"

static int open_with(enum ooh_backend b, pid_t pid, const struct ooh_range *r, size_t n, ooh_tracker **t)
{
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .pid = pid, .ranges = r, .nr_ranges = n };
	*t = NULL;
	return ooh_open(&o, t);
}

static pid_t unused_pid(void)
{
	/* A pid that existed and is gone: fork, reap. */
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	return p;
}

START_TEST(unknown_pid)
{
	ooh_tracker *t;
	pid_t gone = unused_pid();
	ck_assert_int_eq(open_with(OOH_BACKEND_AUTO, gone, NULL, 0, &t), -ESRCH);
	ck_assert_ptr_null(t);
	for (int i = 0; i < tu_nr_backends; i++)
		if (tu_backends[i] != OOH_BACKEND_MPROTECT)
			ck_assert_int_eq(open_with(tu_backends[i], gone, NULL, 0, &t), -ESRCH);
	ck_assert_int_eq(open_with(OOH_BACKEND_AUTO, -5, NULL, 0, &t), -ESRCH);
}
END_TEST

START_TEST(no_permission)
{
	/* An unprivileged process may not track pid 1. */
	pid_t p = fork();
	if (p == 0) {
		ooh_tracker *t;
		if (getuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(100);
		int err = open_with(OOH_BACKEND_AUTO, 1, NULL, 0, &t);
		_exit(err == -EACCES || err == -EPERM ? 0 : 1);
	}
	int st;
	waitpid(p, &st, 0);
	ck_assert_msg(WIFEXITED(st), "child crashed");
	ck_assert_msg(WEXITSTATUS(st) != 100, "could not drop privileges");
	ck_assert_msg(WEXITSTATUS(st) == 0, "tracking pid 1 unprivileged did not fail with EACCES/EPERM");
}
END_TEST

START_TEST(bad_ranges)
{
	ooh_tracker *t;
	char *m = tu_map(8 * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	uint64_t a = (uint64_t)(uintptr_t)m;
	struct ooh_range unaligned = { a + 1, PG }, odd_len = { a, PG + 1 }, empty = { a, 0 },
		wrap = { ~0ull & ~(PG - 1), 2 * PG }, kernel = { 0xffff800000000000ull, PG },
		zero = { 0, PG }, overlap[2] = { { a, 4 * PG }, { a + 2 * PG, 4 * PG } };

	for (int i = -1; i < tu_nr_backends; i++) {
		enum ooh_backend b = i < 0 ? OOH_BACKEND_AUTO : tu_backends[i];
		ck_assert_int_eq(open_with(b, 0, &unaligned, 1, &t), -EINVAL);
		ck_assert_int_eq(open_with(b, 0, &odd_len, 1, &t), -EINVAL);
		ck_assert_int_eq(open_with(b, 0, &empty, 1, &t), -EINVAL);
		ck_assert_int_eq(open_with(b, 0, &wrap, 1, &t), -EINVAL);
		ck_assert_int_eq(open_with(b, 0, &kernel, 1, &t), -EINVAL);
		ck_assert_int_eq(open_with(b, 0, &zero, 1, &t), -EINVAL);
		ck_assert_int_eq(open_with(b, 0, overlap, 2, &t), -EINVAL);
		ck_assert_int_eq(open_with(b, 0, NULL, 3, &t), -EINVAL);
		ck_assert_int_eq(open_with(b, 0, overlap, 0, &t), -EINVAL);
		ck_assert_ptr_null(t);
	}
	struct ooh_open_opts o = { .size = 3, .backend = OOH_BACKEND_AUTO };
	ck_assert_int_eq(ooh_open(&o, &t), -EINVAL);
	o.size = sizeof(o);
	o.backend = (enum ooh_backend)99;
	ck_assert_int_eq(ooh_open(&o, &t), -EINVAL);
	o.backend = OOH_BACKEND_AUTO;
	o.flags = 0x80;
	ck_assert_int_eq(ooh_open(&o, &t), -EINVAL);
	ck_assert_int_eq(ooh_open(NULL, &t), -EINVAL);
	munmap(m, 8 * PG);
}
END_TEST

START_TEST(backend_limits)
{
	ooh_tracker *t;
	char *m = tu_map(8 * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	struct ooh_range r = { (uint64_t)(uintptr_t)m, 8 * PG };
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	/* mprotect: own process only, explicit ranges only, mapped writable. */
	ck_assert_int_eq(open_with(OOH_BACKEND_MPROTECT, child, &r, 1, &t), -EINVAL);
	ck_assert_int_eq(open_with(OOH_BACKEND_MPROTECT, 0, NULL, 0, &t), -EINVAL);
	mprotect(m + 4 * PG, PG, PROT_READ);
	ck_assert_int_eq(open_with(OOH_BACKEND_MPROTECT, 0, &r, 1, &t), -EINVAL);
	munmap(m + 4 * PG, PG);
	ck_assert_int_eq(open_with(OOH_BACKEND_MPROTECT, 0, &r, 1, &t), -EFAULT);
	/* uffd: not the whole of its own address space (its handler lives there). */
	ck_assert_int_eq(open_with(OOH_BACKEND_UFFD, 0, NULL, 0, &t), -EINVAL);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	munmap(m, 8 * PG);
}
END_TEST

START_TEST(closed_handle_and_bad_collect)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(8 * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	struct ooh_range r = { (uint64_t)(uintptr_t)m, 8 * PG };
	struct ooh_collect_result res;
	uint64_t buf[4];
	ooh_tracker *t;

	ck_assert_int_eq(open_with(b, 0, &r, 1, &t), 0);
	ck_assert_int_eq(ooh_collect(t, buf, 4, 0, &res), -EINVAL);       /* not started */
	ck_assert_int_eq(ooh_stop(t), -EINVAL);
	ck_assert_int_eq(ooh_start(t), 0);
	ck_assert_int_eq(ooh_collect(t, buf, 4, 0, NULL), -EINVAL);       /* no result */
	ck_assert_int_eq(ooh_collect(t, NULL, 4, 0, &res), -EINVAL);
	ck_assert_int_eq(ooh_collect(t, buf, 0, 0, &res), -EINVAL);
	ck_assert_int_eq(ooh_collect(t, buf, 4, 0x10, &res), -EINVAL);
	memset(m, 1, 8 * PG);
	ck_assert_int_eq(ooh_collect(t, buf, 4, OOH_COLLECT_REARM, &res), 0);
	ck_assert(res.flags & OOH_RESULT_MORE);
	ck_assert_int_eq(ooh_collect(t, buf, 4, 0, &res), -EINVAL);       /* flags changed mid-interval */
	ck_assert_int_eq(ooh_collect(t, buf, 4, OOH_COLLECT_REARM, &res), 0);
	ck_assert(!(res.flags & OOH_RESULT_MORE));
	ck_assert_int_eq(ooh_stop(t), 0);
	ck_assert_int_eq(ooh_collect(t, buf, 4, 0, &res), -EINVAL);       /* stopped */
	ck_assert_int_eq(ooh_tracker_backend(t), (int)b);
	ck_assert_int_eq(ooh_close(t), 0);
	/* Every call on the closed handle: -EBADF, no crash. */
	ck_assert_int_eq(ooh_close(t), -EBADF);
	ck_assert_int_eq(ooh_start(t), -EBADF);
	ck_assert_int_eq(ooh_stop(t), -EBADF);
	ck_assert_int_eq(ooh_collect(t, buf, 4, 0, &res), -EBADF);
	ck_assert_int_eq(ooh_tracker_backend(t), -EBADF);
	ck_assert_int_eq(ooh_tracker_caps(t), -EBADF);
	ck_assert_int_eq(ooh_close(NULL), -EBADF);
	m[0] = 5; /* memory is writable again after close */
	munmap(m, 8 * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-badinput");
	TCase *tc = tcase_create("badinput");

	tu_find_backends(tu_all);
	tcase_add_test(tc, unknown_pid);
	tcase_add_test(tc, no_permission);
	tcase_add_test(tc, bad_ranges);
	tcase_add_test(tc, backend_limits);
	tcase_add_loop_test(tc, closed_handle_and_bad_collect, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
