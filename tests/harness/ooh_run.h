/* SPDX-License-Identifier: MIT */
/*
 * Running the program under test from a Check test: its output captured
 * through a pipe, optionally as another user, without LeakSanitizer
 * (a tool that exits on an error leaks by design).
 */
#ifndef OOH_TESTS_RUN_H
#define OOH_TESTS_RUN_H

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts argv with stdout (and stderr, if with_stderr) to a pipe, as uid
 * when it is not 0; the pid, and *fd the pipe's read end. */
static inline pid_t ooh_run_start(char *const argv[], int *fd, uid_t uid, bool with_stderr)
{
	int p[2];
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		if (with_stderr)
			dup2(p[1], 2);
		close(p[0]);
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
		if (uid && (setgid(uid) || setuid(uid)))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* Reads what pid writes to fd until it closes (at most cap - 1 bytes, then
 * NUL), and waits for it: its wait status. */
static inline int ooh_run_finish(pid_t pid, int fd, char *out, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	int st;

	while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(fd);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static inline int ooh_run(char *const argv[], char *out, size_t cap, uid_t uid, bool with_stderr)
{
	int fd;
	pid_t pid = ooh_run_start(argv, &fd, uid, with_stderr);

	return ooh_run_finish(pid, fd, out, cap);
}

#endif
