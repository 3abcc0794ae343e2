/* SPDX-License-Identifier: MIT */
/*
 * ooh-ckpt: a target restored from any checkpoint of an incremental chain
 * computes the same result as the uninterrupted run, resuming from later
 * and later steps; incremental images hold exactly the re-dirtied pages;
 * corrupt, truncated, reordered or incomplete chains, missing processes and
 * missing permissions give clear errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "ooh_check.h"

#define CKPT OOH_BINDIR "/ooh-ckpt"
#define TARGET OOH_BINDIR "/ooh-ckpt-target"

/* Start argv with stdout to a pipe; returns pid, *fd the read end. */
static pid_t start(char *const argv[], int *fd, uid_t uid)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
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

static int finish(pid_t pid, int fd, char *out, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(fd);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static int run(char *const argv[], char *out, size_t cap, uid_t uid)
{
	int fd;
	pid_t pid = start(argv, &fd, uid);
	return finish(pid, fd, out, cap);
}

#define OK(st) (WIFEXITED(st) && WEXITSTATUS(st) == 0)
#define FAILS(st) (WIFEXITED(st) && WEXITSTATUS(st) == 1)

static char dir[] = "/tmp/ooh-ckpt-test-XXXXXX";
static char result[64];

/* Run the target, take 4 checkpoints while it computes, get its result. */
static void make_chain(const char *d)
{
	static char out[1 << 14], tout[4096];
	char pid_s[16];
	int tfd;
	char *targ[] = { TARGET, "--steps", "1200", NULL };
	pid_t t = start(targ, &tfd, 0);
	/* wait for "computing" (its state is complete from then on) */
	size_t got = 0;
	while (got < 10) {
		ssize_t r = read(tfd, tout + got, sizeof(tout) - 1 - got);
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	usleep(100000);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	char *dump[] = { CKPT, "dump", pid_s, (char *)d, "-n", "4", "-i", "150", NULL };
	int st = run(dump, out, sizeof(out), 0);
	ck_assert_msg(OK(st), "dump failed: %s", out);
	st = finish(t, tfd, tout, sizeof(tout));
	ck_assert_msg(OK(st), "target failed: %s", tout);
	char *r = strstr(tout, "result ");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(sscanf(r, "result %63s", result), 1);
}

/* Restore checkpoint k into a fresh waiting target; return the resume step. */
static long restore_and_run(const char *d, int k, const char *want_result)
{
	static char out[1 << 14], tout[4096];
	char pid_s[16], k_s[16];
	int tfd;
	char *targ[] = { TARGET, "--wait", NULL };
	pid_t t = start(targ, &tfd, 0);
	usleep(100000); /* it stops itself */
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	snprintf(k_s, sizeof(k_s), "%d", k);
	char *rest[] = { CKPT, "restore", (char *)d, pid_s, "-k", k_s, NULL };
	int st = run(rest, out, sizeof(out), 0);
	ck_assert_msg(OK(st), "restore %d failed: %s", k, out);
	st = finish(t, tfd, tout, sizeof(tout));
	ck_assert_msg(OK(st), "restored target failed: %s", tout);
	long step = -1;
	char *r = strstr(tout, "resumed at step ");
	ck_assert_ptr_nonnull(r);
	step = strtol(r + 16, NULL, 10);
	char got[64];
	r = strstr(tout, "result ");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(sscanf(r, "result %63s", got), 1);
	ck_assert_str_eq(got, want_result);
	return step;
}

START_TEST(restore_any_checkpoint_same_result)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	make_chain(dir);
	long prev = -1;
	for (int k = 0; k < 4; k++) {
		long s = restore_and_run(dir, k, result);
		printf("checkpoint %d: resumed at step %ld, result %s\n", k, s, result);
		ck_assert_int_gt(s, prev); /* later checkpoints really hold later states */
		prev = s;
	}
	ck_assert_int_lt(prev, 1200); /* the last checkpoint was mid-run */

	/* a target given no state notices it (the restore is what makes it work) */
	static char tout[1024];
	int tfd;
	char *targ[] = { TARGET, "--wait", NULL };
	pid_t t = start(targ, &tfd, 0);
	usleep(100000);
	kill(t, SIGCONT);
	int st = finish(t, tfd, tout, sizeof(tout));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);

	static char out[4096];
	char *ver[] = { CKPT, "verify", dir, NULL };
	st = run(ver, out, sizeof(out), 0);
	ck_assert_msg(OK(st) && strstr(out, "chain ok: 4 images"), "%s", out);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(incremental_images_hold_only_redirtied_pages)
{
	static char out[1 << 14], tout[1024];
	char d[] = "/tmp/ooh-ckpt-kick-XXXXXX", pid_s[16];
	ck_assert_ptr_nonnull(mkdtemp(d));
	int tfd;
	/* 16 MiB arena = 4096 pages; each SIGUSR1 rewrites 5 % = 204 distinct pages */
	char *targ[] = { TARGET, "--kick", "--size", "16", "--pct", "5", NULL };
	pid_t t = start(targ, &tfd, 0);
	usleep(200000);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	char *dump[] = { CKPT, "dump", pid_s, d, "-n", "4", "-i", "100", "--kick", "10",
			 "-r", "6f0000000000-6f0001001000", NULL };
	int st = run(dump, out, sizeof(out), 0);
	kill(t, SIGTERM);
	finish(t, tfd, tout, sizeof(tout));
	ck_assert_msg(OK(st), "%s", out);
	printf("%s", out);
	int lines = 0;
	for (char *l = strstr(out, "\n"); l && l[1]; l = strchr(l + 1, '\n')) {
		long k, pages;
		char kind[8];
		if (sscanf(l + 1, "%ld %7s %ld", &k, kind, &pages) != 3)
			continue;
		lines++;
		if (k == 0)
			ck_assert_int_eq(pages, 4096); /* every written page of the arena */
		else
			ck_assert_int_eq(pages, 204);
	}
	ck_assert_int_eq(lines, 4);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/*
 * A PID that is gone (a reaped child): a restore that should stop at the
 * chain check must not reach any process, and if the check missed, the
 * test fails on "no such process" instead of freezing someone.
 */
static const char *gone_pid(void)
{
	static char buf[16];
	pid_t p = fork();

	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(p, NULL, 0), p);
	snprintf(buf, sizeof(buf), "%d", (int)p);
	return buf;
}

/* Complement one byte of a file (never a no-op, unlike writing a value). */
static void flip_byte(const char *path, off_t off)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c = (unsigned char)~c;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void expect_restore_error(const char *d, const char *k, const char *msg)
{
	static char out[4096];
	char *rest[] = { CKPT, "restore", (char *)d, (char *)gone_pid(), "-k", (char *)k, NULL };
	int st = run(rest, out, sizeof(out), 0);
	ck_assert_msg(FAILS(st) && strstr(out, msg), "want '%s', got: %s", msg, out);
	char *ver[] = { CKPT, "verify", (char *)d, NULL };
	st = run(ver, out, sizeof(out), 0);
	ck_assert_msg(FAILS(st) && strstr(out, msg), "verify: want '%s', got: %s", msg, out);
}

START_TEST(bad_chains_are_refused)
{
	char d[] = "/tmp/ooh-ckpt-bad-XXXXXX", d2[] = "/tmp/ooh-ckpt-bad2-XXXXXX", cmd[512];
	ck_assert_ptr_nonnull(mkdtemp(d));
	ck_assert_ptr_nonnull(mkdtemp(d2));
	make_chain(d);
	make_chain(d2);

	/* one flipped byte in page data */
	snprintf(cmd, sizeof(cmd), "cp -r %s %s.c", d, d);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.c/ckpt-0001.img", d);
	flip_byte(cmd, 70000);
	snprintf(cmd, sizeof(cmd), "%s.c", d);
	expect_restore_error(cmd, "3", "checksum mismatch");

	/* truncated */
	snprintf(cmd, sizeof(cmd), "cp -r %s %s.t && truncate -s -100 %s.t/ckpt-0002.img", d, d, d);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.t", d);
	expect_restore_error(cmd, "3", "truncated");

	/* a link from another chain */
	snprintf(cmd, sizeof(cmd), "cp -r %s %s.m && cp %s/ckpt-0002.img %s.m/ckpt-0002.img", d, d, d2, d);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.m", d);
	expect_restore_error(cmd, "3", "wrong parent");

	/* a missing link */
	snprintf(cmd, sizeof(cmd), "cp -r %s %s.g && rm %s.g/ckpt-0001.img", d, d, d);
	ck_assert_int_eq(system(cmd), 0);
	static char out[4096];
	snprintf(cmd, sizeof(cmd), "%s.g", d);
	char *rest[] = { CKPT, "restore", cmd, (char *)gone_pid(), "-k", "2", NULL };
	int st = run(rest, out, sizeof(out), 0);
	ck_assert_msg(FAILS(st) && strstr(out, "chain broken") && strstr(out, "ckpt-0001.img is missing"),
		      "%s", out);

	/* not an image */
	snprintf(cmd, sizeof(cmd), "cp -r %s %s.x && head -c 200 /dev/zero > %s.x/ckpt-0000.img", d, d, d);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.x", d);
	expect_restore_error(cmd, "1", "not an ooh-ckpt image");

	/* beyond the chain; empty directory */
	char *beyond[] = { CKPT, "restore", d, (char *)gone_pid(), "-k", "9", NULL };
	st = run(beyond, out, sizeof(out), 0);
	ck_assert_msg(FAILS(st) && strstr(out, "no checkpoint 9"), "%s", out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s.c %s.t %s.m %s.g %s.x %s", d, d, d, d, d, d, d2);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(process_errors)
{
	static char out[4096];
	char d[] = "/tmp/ooh-ckpt-err-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(d));

	char *nopid[] = { CKPT, "dump", "999999999", d, NULL };
	int st = run(nopid, out, sizeof(out), 0);
	ck_assert_msg(FAILS(st) && strstr(out, "no such process"), "%s", out);
	char *badpid[] = { CKPT, "dump", "x1", d, NULL };
	st = run(badpid, out, sizeof(out), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(out, "bad PID"));
	char *usage[] = { CKPT, "frobnicate", NULL };
	st = run(usage, out, sizeof(out), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(out, "usage"));
	if (geteuid() == 0) {
		char d2[] = "/tmp/ooh-ckpt-perm-XXXXXX";
		ck_assert_ptr_nonnull(mkdtemp(d2));
		ck_assert_int_eq(chmod(d2, 0777), 0);
		char *perm[] = { CKPT, "dump", "1", d2, NULL };
		st = run(perm, out, sizeof(out), 65534);
		/* 127: uid 65534 cannot even reach the binary (a private build dir) */
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			fprintf(stderr, "note: uid 65534 cannot run %s: permission check not made\n", perm[0]);
		else
			ck_assert_msg(FAILS(st) && strstr(out, "permission denied"), "%s", out);
		rmdir(d2);
	}

	/* restoring into a process that did not recreate the mappings */
	make_chain(d);
	int tfd;
	char *sl[] = { "/bin/sleep", "5", NULL };
	pid_t s = start(sl, &tfd, 0);
	char pid_s[16];
	snprintf(pid_s, sizeof(pid_s), "%d", (int)s);
	char *rest[] = { CKPT, "restore", d, pid_s, NULL };
	st = run(rest, out, sizeof(out), 0);
	kill(s, SIGKILL);
	kill(s, SIGCONT);
	static char o2[256];
	finish(s, tfd, o2, sizeof(o2));
	ck_assert_msg(FAILS(st) && strstr(out, "must recreate its mappings"), "%s", out);
	char *gone[] = { CKPT, "restore", d, "999999999", NULL };
	st = run(gone, out, sizeof(out), 0);
	ck_assert_msg(FAILS(st) && strstr(out, "no such process"), "%s", out);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("examples-ckpt");
	TCase *tc = tcase_create("ckpt");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, restore_any_checkpoint_same_result);
	tcase_add_test(tc, incremental_images_hold_only_redirtied_pages);
	tcase_add_test(tc, bad_chains_are_refused);
	tcase_add_test(tc, process_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ooh_check_main(suite());
}
