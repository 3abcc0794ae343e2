/* SPDX-License-Identifier: MIT */
/*
 * ooh-ckpt: a target restored from any checkpoint of an incremental chain
 * computes the same result as the uninterrupted run, resuming from later
 * and later steps; incremental images hold exactly the re-dirtied pages;
 * memory dropped, re-created or moved between checkpoints is restored
 * byte for byte as the target had it, on every backend that can track
 * another process here; a backend that would miss such changes is refused;
 * corrupt, truncated, reordered or incomplete chains, missing processes and
 * missing permissions give clear errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "ckpt-image.h"
#include "ooh_check.h"
#include "ooh_run.h"

#define CKPT OOH_BINDIR "/ooh-ckpt"
#define TARGET OOH_BINDIR "/ooh-ckpt-target"




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
	pid_t t = ooh_run_start(targ, &tfd, 0, true);
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
	int st = ooh_run(dump, out, sizeof(out), 0, true);
	ck_assert_msg(OK(st), "dump failed: %s", out);
	st = ooh_run_finish(t, tfd, tout, sizeof(tout));
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
	pid_t t = ooh_run_start(targ, &tfd, 0, true);
	usleep(100000); /* it stops itself */
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	snprintf(k_s, sizeof(k_s), "%d", k);
	char *rest[] = { CKPT, "restore", (char *)d, pid_s, "-k", k_s, NULL };
	int st = ooh_run(rest, out, sizeof(out), 0, true);
	ck_assert_msg(OK(st), "restore %d failed: %s", k, out);
	st = ooh_run_finish(t, tfd, tout, sizeof(tout));
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
	pid_t t = ooh_run_start(targ, &tfd, 0, true);
	usleep(100000);
	kill(t, SIGCONT);
	int st = ooh_run_finish(t, tfd, tout, sizeof(tout));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);

	static char out[4096];
	char *ver[] = { CKPT, "verify", dir, NULL };
	st = ooh_run(ver, out, sizeof(out), 0, true);
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
	pid_t t = ooh_run_start(targ, &tfd, 0, true);
	usleep(200000);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	char *dump[] = { CKPT, "dump", pid_s, d, "-n", "4", "-i", "100", "--kick", "10",
			 "-r", "6f0000000000-6f0001001000", NULL };
	int st = ooh_run(dump, out, sizeof(out), 0, true);
	kill(t, SIGTERM);
	ooh_run_finish(t, tfd, tout, sizeof(tout));
	ck_assert_msg(OK(st), "%s", out);
	printf("%s", out);
	int lines = 0;
	for (char *l = strstr(out, "\n"); l && l[1]; l = strchr(l + 1, '\n')) {
		long k, pages;
		char kind[8];
		if (sscanf(l + 1, "%ld %7s %ld", &k, kind, &pages) != 3)
			continue;
		lines++;
		long zero = -1;
		ck_assert_int_eq(sscanf(l + 1, "%*d %*s %*d %*s %*s %*s %*s %*s %ld", &zero), 1);
		if (k == 0) { /* every page of the range: the written ones as data, the
			       * state page (untouched) and data page 0 (only
			       * zeros written) as zero runs */
			ck_assert_int_eq(pages, 4095);
			ck_assert_int_eq(zero, 2);
		} else
			ck_assert_int_eq(pages, 204);
	}
	ck_assert_int_eq(lines, 4);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- memory that changes without a write (issue #16) ---- */

/* Whether `ooh backends` says bk is usable here and can track another process. */
static bool remote_usable(const char *bk)
{
	static char out[4096];
	char *argv[] = { OOH_BINDIR "/ooh", "backends", NULL };
	int st = ooh_run(argv, out, sizeof(out), 0, true);
	ck_assert_msg(OK(st), "ooh backends: %s", out);
	size_t l = strlen(bk);
	for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (!strncmp(line, bk, l) && line[l] == ' ') {
			char *nl = strchr(line, '\n'), *u = strstr(line, " usable "), *r = strstr(line, " remote ");
			return u && r && (!nl || (u < nl && r < nl));
		}
	return false;
}

/* Read until the output so far contains word (the child announces a state). */
static void await_word(int fd, char *buf, size_t cap, const char *word)
{
	size_t got = 0;
	buf[0] = 0;
	while (!strstr(buf, word)) {
		ssize_t r = read(fd, buf + got, cap - 1 - got);
		ck_assert_msg(r > 0, "no '%s' from the target; it said: %s", word, buf);
		got += (size_t)r;
		buf[got] = 0;
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s missing", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/*
 * Whether the memory files a and b (reference format: "OOHCKREF", u64 n,
 * n regions of 3 u64, then the bytes) are identical; if not, why (the
 * first differing memory address).
 */
static bool same_memory(const char *a, const char *b, char *why, size_t wl)
{
	size_t la, lb;
	char *x = slurp(a, &la), *y = slurp(b, &lb);
	bool same = la == lb && !memcmp(x, y, la);
	if (!same) {
		size_t i = 0;
		while (i < la && i < lb && x[i] == y[i])
			i++;
		uint64_t n, (*reg)[3] = (void *)(x + 16);
		memcpy(&n, x + 8, 8);
		uint64_t off = 16 + n * 24, addr = 0;
		if (la >= off && i >= off)
			for (uint64_t r = 0, o = off; r < n; o += reg[r][1], r++)
				if (i < o + reg[r][1]) {
					addr = reg[r][0] + (i - o);
					break;
				}
		snprintf(why, wl, "%zu vs %zu bytes, first difference at file offset %zu%s (memory %llx)",
			 la, lb, i, i < off ? " (layout)" : "", (unsigned long long)addr);
	}
	free(x);
	free(y);
	return same;
}

#define CHURN_RANGE "6e0000000000-6e0001000000"
#define NCKPT 5 /* a full image before the target's 4 phases, one after each */

/* Restore checkpoint k into a target that maps ref's regions, fills them
 * with garbage, and checks its memory against ref once continued. */
static void restore_and_check(const char *d, int k)
{
	static char out[4096], tout[4096];
	char ref[512], pid_s[16], k_s[16];
	snprintf(ref, sizeof(ref), "%s/ref-%04d.mem", d, k);
	char *targ[] = { TARGET, "--check", ref, NULL };
	int tfd, st;
	pid_t t = ooh_run_start(targ, &tfd, 0, true);
	ck_assert_int_eq(waitpid(t, &st, WUNTRACED), t); /* it stopped itself */
	ck_assert_msg(WIFSTOPPED(st), "check target did not stop (status %x)", st);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	snprintf(k_s, sizeof(k_s), "%d", k);
	char *rest[] = { CKPT, "restore", (char *)d, pid_s, "-k", k_s, NULL };
	st = ooh_run(rest, out, sizeof(out), 0, true);
	ck_assert_msg(OK(st) && !strstr(out, "skipped region"), "restore %d: %s", k, out);
	st = ooh_run_finish(t, tfd, tout, sizeof(tout));
	ck_assert_msg(OK(st) && strstr(tout, "memory matches"), "checkpoint %d restored: %s (restore: %s)", k,
		      tout, out);
}

/*
 * A target drops (MADV_DONTNEED), re-creates (munmap + mmap, MAP_FIXED
 * over part of a region), moves and resizes (mremap) memory between
 * checkpoints.  At each checkpoint ooh-ckpt also copies the target's
 * memory through /proc/PID/mem while it is frozen (--reference): the chain
 * up to K must give exactly that memory and layout (materialize), and a
 * restarted process restored from it must find exactly that in its memory.
 */
static void churn_chain(const char *bk)
{
	static char out[1 << 14], tout[4096], why[512];
	char d[] = "/tmp/ooh-ckpt-churn-XXXXXX", pid_s[16];
	ck_assert_ptr_nonnull(mkdtemp(d));
	int tfd;
	char *targ[] = { TARGET, "--churn", NULL };
	pid_t t = ooh_run_start(targ, &tfd, 0, true);
	await_word(tfd, tout, sizeof(tout), "ready");
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	/* --kick: each checkpoint starts the target's next phase */
	char *dump[] = { CKPT, "dump", pid_s, d, "-n", "5", "-i", "150", "--kick", "10", "-b", (char *)bk,
			 "-r", CHURN_RANGE, "--reference", NULL };
	int st = ooh_run(dump, out, sizeof(out), 0, true);
	kill(t, SIGTERM);
	int tst = ooh_run_finish(t, tfd, tout, sizeof(tout));
	ck_assert_msg(OK(st), "%s dump: %s", bk, out);
	ck_assert_msg(OK(tst), "churn target: %s", tout);
	printf("%s:\n%s", bk, out);
	/* the changes without writes did reach the images as zero runs */
	long zero_incr = 0, lines = 0;
	for (char *l = strchr(out, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
		long k, pages, z;
		char kind[8];
		if (sscanf(l + 1, "%ld %7s %ld %*s %*s %*s %*s %*s %ld", &k, kind, &pages, &z) != 4)
			continue;
		lines++;
		if (k > 0)
			zero_incr += z;
	}
	ck_assert_int_eq(lines, NCKPT);
	ck_assert_msg(zero_incr > 0, "%s: no zero runs in the incremental images", bk);

	char mat[512], ref[512];
	for (int k = 0; k < NCKPT; k++) {
		char k_s[16];
		snprintf(k_s, sizeof(k_s), "%d", k);
		snprintf(mat, sizeof(mat), "%s/mat-%04d.mem", d, k);
		snprintf(ref, sizeof(ref), "%s/ref-%04d.mem", d, k);
		char *m[] = { CKPT, "materialize", d, mat, "-k", k_s, NULL };
		st = ooh_run(m, out, sizeof(out), 0, true);
		ck_assert_msg(OK(st), "materialize %d: %s", k, out);
		ck_assert_msg(same_memory(ref, mat, why, sizeof(why)), "%s: checkpoint %d differs from the "
			      "target's memory then: %s", bk, k, why);
		/* and the memory did change from one checkpoint to the next
		 * (the comparison is not between two unchanging copies) */
		if (k) {
			snprintf(mat, sizeof(mat), "%s/mat-%04d.mem", d, k - 1);
			ck_assert_msg(!same_memory(ref, mat, why, sizeof(why)), "%s: checkpoint %d = %d", bk,
				      k, k - 1);
		}
	}
	/* real restores: of the last checkpoint, and of one mid-chain */
	restore_and_check(d, NCKPT - 1);
	restore_and_check(d, 2);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(changes_without_writes_restored_exactly)
{
	static const char *const bks[] = { "pagemap", "uffd", "softdirty" };
	int ran = 0;
	for (size_t i = 0; i < sizeof(bks) / sizeof(*bks); i++) {
		if (!remote_usable(bks[i])) {
			printf("%s: not usable for another process here, not run\n", bks[i]);
			continue;
		}
		churn_chain(bks[i]);
		ran++;
	}
	ck_assert_msg(ran > 0, "no backend here can track another process");

	/* the check is not vacuous: without a restore the garbage stays */
	static char tout[1024];
	char d[] = "/tmp/ooh-ckpt-churn0-XXXXXX", ref[512];
	ck_assert_ptr_nonnull(mkdtemp(d));
	int tfd, st;
	char *targ[] = { TARGET, "--churn", NULL };
	pid_t t = ooh_run_start(targ, &tfd, 0, true);
	await_word(tfd, tout, sizeof(tout), "ready");
	char pid_s[16];
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	static char out[4096];
	char *dump[] = { CKPT, "dump", pid_s, d, "-r", CHURN_RANGE, "--reference", NULL };
	st = ooh_run(dump, out, sizeof(out), 0, true);
	kill(t, SIGTERM);
	ooh_run_finish(t, tfd, tout, sizeof(tout));
	ck_assert_msg(OK(st), "%s", out);
	snprintf(ref, sizeof(ref), "%s/ref-0000.mem", d);
	char *chk[] = { TARGET, "--check", ref, NULL };
	t = ooh_run_start(chk, &tfd, 0, true);
	ck_assert_int_eq(waitpid(t, &st, WUNTRACED), t);
	kill(t, SIGCONT);
	st = ooh_run_finish(t, tfd, tout, sizeof(tout));
	ck_assert_msg(FAILS(st) && strstr(tout, "memory differs"), "%s", tout);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/*
 * A backend without OOH_CAP_MAPPING_CHANGES is refused before the first
 * image, saying what would go wrong, unless --allow-lossy-backend (then
 * the images say so).  Every backend that can track another process here
 * has the capability: OOH_CKPT_ASSUME_LOSSY makes ooh-ckpt take it as absent.
 */
START_TEST(lossy_backend_refused_unless_allowed)
{
	static char out[1 << 14], tout[1024];
	char d[] = "/tmp/ooh-ckpt-lossy-XXXXXX", pid_s[16], img[512];
	ck_assert_ptr_nonnull(mkdtemp(d));
	int tfd;
	char *targ[] = { TARGET, "--churn", NULL };
	pid_t t = ooh_run_start(targ, &tfd, 0, true);
	await_word(tfd, tout, sizeof(tout), "ready");
	snprintf(pid_s, sizeof(pid_s), "%d", (int)t);
	setenv("OOH_CKPT_ASSUME_LOSSY", "1", 1);
	char *dump[] = { CKPT, "dump", pid_s, d, "-n", "2", "-i", "0", "-r", CHURN_RANGE, NULL };
	int st = ooh_run(dump, out, sizeof(out), 0, true);
	ck_assert_msg(FAILS(st) && strstr(out, "stale contents") && strstr(out, "--allow-lossy-backend"),
		      "%s", out);
	snprintf(img, sizeof(img), "%s/ckpt-0000.img", d);
	ck_assert_msg(access(img, F_OK) < 0, "an image was written before the refusal");
	char *lossy[] = { CKPT, "dump", pid_s, d, "-n", "2", "-i", "0", "-r", CHURN_RANGE,
			  "--allow-lossy-backend", NULL };
	st = ooh_run(lossy, out, sizeof(out), 0, true);
	unsetenv("OOH_CKPT_ASSUME_LOSSY");
	ck_assert_msg(OK(st), "%s", out);
	kill(t, SIGTERM);
	ooh_run_finish(t, tfd, tout, sizeof(tout));
	char *ver[] = { CKPT, "verify", d, NULL };
	st = ooh_run(ver, out, sizeof(out), 0, true);
	ck_assert_msg(OK(st) && strstr(out, "ckpt-0001.img: incremental") && strstr(out, "lossy backend"),
		      "%s", out);
	char *help[] = { CKPT, "--help", NULL };
	st = ooh_run(help, out, sizeof(out), 0, true);
	ck_assert_msg(OK(st) && strstr(out, "--allow-lossy-backend") && strstr(out, "stale contents"), "%s", out);
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

/*
 * Make image path's first region end 16 bytes short of a page, with the
 * trailer's checksum made right again (a crafted image, not a damaged one).
 */
static void unalign_region(const char *path)
{
	struct stat sb;
	struct hasher hs;
	struct img_hdr h;
	uint64_t len, hash;
	int fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	char *img = malloc((size_t)sb.st_size);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(pread(fd, img, (size_t)sb.st_size, 0), sb.st_size);
	memcpy(&h, img, sizeof(h));
	ck_assert_uint_ge(h.nregions, 1);
	memcpy(&len, img + sizeof(h) + 8, 8); /* region 0's len */
	len -= 16;
	memcpy(img + sizeof(h) + 8, &len, 8);
	hash_init(&hs, h.version);
	hash_update(&hs, img, (size_t)sb.st_size - sizeof(struct img_end));
	hash = hash_final(&hs);
	memcpy(img + sb.st_size - 8, &hash, 8);
	ck_assert_int_eq(pwrite(fd, img, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	free(img);
}

static void expect_restore_error(const char *d, const char *k, const char *msg)
{
	static char out[4096];
	char *rest[] = { CKPT, "restore", (char *)d, (char *)gone_pid(), "-k", (char *)k, NULL };
	int st = ooh_run(rest, out, sizeof(out), 0, true);
	ck_assert_msg(FAILS(st) && strstr(out, msg), "want '%s', got: %s", msg, out);
	char *ver[] = { CKPT, "verify", (char *)d, NULL };
	st = ooh_run(ver, out, sizeof(out), 0, true);
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
	int st = ooh_run(rest, out, sizeof(out), 0, true);
	ck_assert_msg(FAILS(st) && strstr(out, "chain broken") && strstr(out, "ckpt-0001.img is missing"),
		      "%s", out);

	/* not an image */
	snprintf(cmd, sizeof(cmd), "cp -r %s %s.x && head -c 200 /dev/zero > %s.x/ckpt-0000.img", d, d, d);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.x", d);
	expect_restore_error(cmd, "1", "not an ooh-ckpt image");

	/* a region that ends inside a page, checksum right: a page restored there would be
	 * written past the region's end (found by tests/fuzz/ckpt-image) */
	snprintf(cmd, sizeof(cmd), "cp -r %s %s.u", d, d);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.u/ckpt-0000.img", d);
	unalign_region(cmd);
	snprintf(cmd, sizeof(cmd), "%s.u", d);
	expect_restore_error(cmd, "3", "region unaligned");

	/* beyond the chain; empty directory */
	char *beyond[] = { CKPT, "restore", d, (char *)gone_pid(), "-k", "9", NULL };
	st = ooh_run(beyond, out, sizeof(out), 0, true);
	ck_assert_msg(FAILS(st) && strstr(out, "no checkpoint 9"), "%s", out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s.c %s.t %s.m %s.g %s.x %s.u %s", d, d, d, d, d, d, d, d2);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(process_errors)
{
	static char out[4096];
	char d[] = "/tmp/ooh-ckpt-err-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(d));

	char *nopid[] = { CKPT, "dump", "999999999", d, NULL };
	int st = ooh_run(nopid, out, sizeof(out), 0, true);
	ck_assert_msg(FAILS(st) && strstr(out, "no such process"), "%s", out);
	char *badpid[] = { CKPT, "dump", "x1", d, NULL };
	st = ooh_run(badpid, out, sizeof(out), 0, true);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(out, "bad PID"));
	char *usage[] = { CKPT, "frobnicate", NULL };
	st = ooh_run(usage, out, sizeof(out), 0, true);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(out, "usage"));
	if (geteuid() == 0) {
		char d2[] = "/tmp/ooh-ckpt-perm-XXXXXX";
		ck_assert_ptr_nonnull(mkdtemp(d2));
		ck_assert_int_eq(chmod(d2, 0777), 0);
		char *perm[] = { CKPT, "dump", "1", d2, NULL };
		st = ooh_run(perm, out, sizeof(out), 65534, true);
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
	pid_t s = ooh_run_start(sl, &tfd, 0, true);
	char pid_s[16];
	snprintf(pid_s, sizeof(pid_s), "%d", (int)s);
	char *rest[] = { CKPT, "restore", d, pid_s, NULL };
	st = ooh_run(rest, out, sizeof(out), 0, true);
	kill(s, SIGKILL);
	kill(s, SIGCONT);
	static char o2[256];
	ooh_run_finish(s, tfd, o2, sizeof(o2));
	ck_assert_msg(FAILS(st) && strstr(out, "must recreate its mappings"), "%s", out);
	char *gone[] = { CKPT, "restore", d, "999999999", NULL };
	st = ooh_run(gone, out, sizeof(out), 0, true);
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
	tcase_add_test(tc, changes_without_writes_restored_exactly);
	tcase_add_test(tc, lossy_backend_refused_unless_allowed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ooh_check_main(suite());
}
