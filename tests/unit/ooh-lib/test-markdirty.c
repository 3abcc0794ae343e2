/* SPDX-License-Identifier: MIT */
/*
 * ooh_mark_dirty(): marked pages are reported by the next collects (written
 * or not) until a re-arming collect has taken them (kept through collects
 * with OOH_COLLECT_KEEP_MARKED, unprotected - writes cost no fault - where
 * the backend says OOH_CAP_MARK_UNWATCHES: pagemap), then tracked as usual
 * (a later write is reported, no write means not reported); writes to them
 * meanwhile are never lost; ranges are clipped to the tracked ranges; bad
 * input is refused.  OOH_COLLECT_FROZEN: a remote collect on a target the
 * caller stopped with SIGSTOP gives the same result and leaves it stopped.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "ooh_test_util.h"

#define PAGES 256

static void mark(ooh_tracker *t, char *m, size_t first, size_t n)
{
	struct ooh_range r = { (uint64_t)(uintptr_t)(m + first * PG), n * PG };
	int err = ooh_mark_dirty(t, &r, 1);
	ck_assert_msg(err == 0, "ooh_mark_dirty: %s", ooh_strerror(err));
}

static int uffd_wp_bit(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &e, 8, (off_t)((uintptr_t)p / PG * 8)), 8);
	close(fd);
	return (int)((e >> 57) & 1);
}

START_TEST(marked_pages_reported_once)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	memset(m, 1, PAGES * PG);
	ooh_tracker *t = tu_open_range(b, 0, m, PAGES * PG);
	uint64_t a = (uint64_t)(uintptr_t)m;
	struct tu_pages got;
	uint64_t before[PAGES];

	m[3 * PG] = 2;
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	ck_assert(tu_contains(&got, a + 3 * PG));
	tu_free(&got);

	/* pages 10..49 marked; 20 and 60 written after marking */
	mark(t, m, 10, 40);
	ck_assert_int_eq(!!(ooh_tracker_caps(t) & OOH_CAP_MARK_UNWATCHES), b == OOH_BACKEND_PAGEMAP);
	if (ooh_tracker_caps(t) & OOH_CAP_MARK_UNWATCHES) {
		/*
		 * The marked pages lost their uffd-wp bit (pagemap bit 57), so
		 * writing them takes no write-protect fault; the others kept it.
		 * Read per page rather than counted as faults: the process's
		 * fault count also moves with ASan's shadow and the allocator.
		 */
		for (size_t i = 0; i < PAGES; i++)
			ck_assert_msg(uffd_wp_bit(m + i * PG) == !(i >= 10 && i < 50),
				      "page %zu: uffd-wp bit %d after marking 10..49", i,
				      uffd_wp_bit(m + i * PG));
	}
	tu_hash_all(m, PAGES, before);
	if (ooh_tracker_caps(t) & OOH_CAP_MARK_UNWATCHES) {
		/* a write to a watched page resolves its write-protect (the bit clears) */
		for (size_t i = 100; i < 140; i++)
			m[i * PG + 1] = 6;
		for (size_t i = 100; i < 140; i++)
			ck_assert_int_eq(uffd_wp_bit(m + i * PG), 0);
		for (size_t i = 10; i < 50; i++)
			m[i * PG + 1] = 6;
	}
	m[20 * PG] = 3;
	m[60 * PG] = 3;
	tu_collect(t, 0, 7, &got); /* a peek keeps them */
	ck_assert_uint_eq(tu_count_in(&got, a + 10 * PG, 40), 40);
	tu_free(&got);
	tu_collect(t, OOH_COLLECT_REARM, 7, &got);
	tu_check_truth(m, PAGES, before, &got, "after mark");
	ck_assert_uint_eq(tu_count_in(&got, a + 10 * PG, 40), 40);
	ck_assert(tu_contains(&got, a + 60 * PG));
	tu_free(&got);

	/* taken: tracked as usual again */
	tu_hash_all(m, PAGES, before);
	m[30 * PG] = 4;
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	tu_check_truth(m, PAGES, before, &got, "after re-arm");
	ck_assert(tu_contains(&got, a + 30 * PG));
	if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
		ck_assert_uint_eq(got.n, 1);
	tu_free(&got);
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
		ck_assert_uint_eq(got.n, 0);
	tu_free(&got);

	/* ooh_start() forgets marks; ranges beyond the tracked ones are clipped */
	mark(t, m, 0, 8);
	ck_assert_int_eq(ooh_start(t), 0);
	struct ooh_range wide = { a - 16 * PG, (PAGES + 32) * PG };
	ck_assert_int_eq(ooh_mark_dirty(t, &wide, 1), 0);
	tu_collect(t, OOH_COLLECT_REARM, 1000, &got);
	ck_assert_uint_eq(got.n, PAGES);
	ck_assert_uint_eq(tu_count_in(&got, a, PAGES), PAGES);
	tu_free(&got);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, PAGES * PG);
}
END_TEST

/* Many marked runs with concurrent-looking writes in between: nothing lost. */
START_TEST(marked_runs_differential)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	memset(m, 1, PAGES * PG);
	ooh_tracker *t = tu_open_range(b, 0, m, PAGES * PG);
	uint64_t s = tu_seed(), before[PAGES];
	struct tu_pages got;

	for (int round = 0; round < 20; round++) {
		tu_hash_all(m, PAGES, before);
		for (int k = 0; k < 8; k++) {
			size_t f = tu_rand(&s) % PAGES, n = 1 + tu_rand(&s) % 16;
			if (f + n > PAGES)
				n = PAGES - f;
			if (round % 3)
				mark(t, m, f, n);
			if (round % 5 == 4 && k == 7) {
				/* a keeping collect in the middle */
				tu_collect(t, OOH_COLLECT_REARM | OOH_COLLECT_KEEP_MARKED, 50, &got);
				tu_check_truth(m, PAGES, before, &got, "middle");
				tu_free(&got);
				tu_hash_all(m, PAGES, before);
			}
			for (int w = 0; w < 6; w++)
				m[(tu_rand(&s) % PAGES) * PG + (size_t)w] = (char)(round + w + k);
		}
		tu_collect(t, OOH_COLLECT_REARM | (round % 2 ? OOH_COLLECT_KEEP_MARKED : 0), 50, &got);
		tu_check_truth(m, PAGES, before, &got, "round");
		tu_free(&got);
	}
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, PAGES * PG);
}
END_TEST

/* OOH_COLLECT_KEEP_MARKED: marked pages stay marked (and, pagemap,
 * unprotected) through re-arming collects until one without it. */
START_TEST(keep_marked)
{
	enum ooh_backend b = tu_backends[_i];
	char *m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	memset(m, 1, PAGES * PG);
	ooh_tracker *t = tu_open_range(b, 0, m, PAGES * PG);
	uint64_t a = (uint64_t)(uintptr_t)m, s = tu_seed(), before[PAGES];
	struct tu_pages got;

	mark(t, m, 100, 20);
	for (int round = 0; round < 3; round++) {
		tu_hash_all(m, PAGES, before);
		for (int w = 0; w < 10; w++)
			m[(tu_rand(&s) % PAGES) * PG] = (char)(w + round);
		m[105 * PG] = 9; /* a marked page written */
		mark(t, m, 110 + (size_t)round, 1); /* already marked: nothing new */
		tu_collect(t, OOH_COLLECT_REARM | OOH_COLLECT_KEEP_MARKED, 9, &got);
		tu_check_truth(m, PAGES, before, &got, "keep");
		ck_assert_uint_eq(tu_count_in(&got, a + 100 * PG, 20), 20);
		tu_free(&got);
		if (b == OOH_BACKEND_PAGEMAP) {
			ck_assert_int_eq(uffd_wp_bit(m + 101 * PG), 0);
			ck_assert_int_eq(uffd_wp_bit(m + 130 * PG), 1);
		}
	}
	tu_collect(t, OOH_COLLECT_REARM, 9, &got); /* takes them */
	ck_assert_uint_eq(tu_count_in(&got, a + 100 * PG, 20), 20);
	tu_free(&got);
	if (b == OOH_BACKEND_PAGEMAP)
		ck_assert_int_eq(uffd_wp_bit(m + 101 * PG), 1);
	tu_hash_all(m, PAGES, before);
	m[101 * PG] = 7;
	tu_collect(t, OOH_COLLECT_REARM | OOH_COLLECT_KEEP_MARKED, 9, &got);
	tu_check_truth(m, PAGES, before, &got, "after");
	if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
		ck_assert_uint_eq(got.n, 1);
	tu_free(&got);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, PAGES * PG);
}
END_TEST

START_TEST(mark_dirty_bad_input)
{
	char *m = tu_map(16 * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	ooh_tracker *t = tu_open_range(tu_backends[0], 0, m, 16 * PG);
	uint64_t a = (uint64_t)(uintptr_t)m;
	struct ooh_range unaligned = { a + 1, PG }, odd = { a, PG + 1 }, empty = { a, 0 },
			 wrap = { UINT64_MAX & ~(PG - 1), 2 * PG }, ok = { a, PG };

	ck_assert_int_eq(ooh_mark_dirty(t, &unaligned, 1), -EINVAL);
	ck_assert_int_eq(ooh_mark_dirty(t, &odd, 1), -EINVAL);
	ck_assert_int_eq(ooh_mark_dirty(t, &empty, 1), -EINVAL);
	ck_assert_int_eq(ooh_mark_dirty(t, &wrap, 1), -EINVAL);
	ck_assert_int_eq(ooh_mark_dirty(t, NULL, 1), -EINVAL);
	ck_assert_int_eq(ooh_mark_dirty(t, NULL, 0), 0);
	ck_assert_int_eq(ooh_stop(t), 0);
	ck_assert_int_eq(ooh_mark_dirty(t, &ok, 1), -EINVAL); /* not started */
	ck_assert_int_eq(ooh_close(t), 0);
	ck_assert_int_eq(ooh_mark_dirty(t, &ok, 1), -EBADF);
	/* unknown collect flags are still refused */
	t = tu_open_range(tu_backends[0], 0, m, 16 * PG);
	uint64_t buf[4];
	struct ooh_collect_result res;
	ck_assert_int_eq(ooh_collect(t, buf, 4, 1u << 7, &res), -EINVAL);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, 16 * PG);
}
END_TEST

static enum ooh_backend remote_backends[OOH_BACKEND_MAX];
static int nr_remote;

/* A child that writes page k of a shared-nothing arena each time it gets
 * SIGUSR1; the parent stops it with SIGSTOP and collects with FROZEN. */
static volatile sig_atomic_t kicks;
static void on_usr1(int sig)
{
	(void)sig;
	kicks++;
}

static void wait_stopped(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 20000; i++) {
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		char *p = strrchr(buf, ')');
		if (p && (p[2] == 'T' || p[2] == 't'))
			return;
		usleep(100);
	}
	ck_abort_msg("child did not stop");
}

START_TEST(frozen_remote_collect)
{
	enum ooh_backend b = remote_backends[_i];
	char *m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	memset(m, 1, PAGES * PG);
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGUSR1, on_usr1);
		sig_atomic_t seen = 0;
		char c = 'r';
		/* SIGUSR1 only inside sigsuspend(): a kick that came between the
		 * check and pause() (e.g. the child stopped right there) was lost
		 * and the test hung */
		sigset_t usr1, old;
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		sigprocmask(SIG_BLOCK, &usr1, &old);
		if (write(pfd[1], &c, 1) != 1)
			_exit(1);
		for (;;) {
			if (kicks == seen) {
				sigsuspend(&old);
				continue;
			}
			seen = kicks;
			for (int k = 0; k < 5; k++)
				m[(size_t)((seen * 37 + k * 11) % PAGES) * PG] = (char)seen;
			if (write(pfd[1], &c, 1) != 1)
				_exit(1);
		}
	}
	char c;
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	ooh_tracker *t = tu_open_range(b, pid, m, PAGES * PG);
	uint64_t a = (uint64_t)(uintptr_t)m;
	for (int round = 1; round <= 4; round++) {
		kill(pid, SIGUSR1);
		ck_assert_int_eq(read(pfd[0], &c, 1), 1);
		kill(pid, SIGSTOP);
		wait_stopped(pid);
		struct tu_pages got;
		tu_collect(t, OOH_COLLECT_REARM | OOH_COLLECT_FROZEN, 16, &got);
		for (int k = 0; k < 5; k++)
			ck_assert_msg(tu_contains(&got, a + (uint64_t)((round * 37 + k * 11) % PAGES) * PG),
				      "%s round %d: page %d missing", ooh_backend_name(b), round,
				      (round * 37 + k * 11) % PAGES);
		if (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT)
			ck_assert_uint_eq(got.n, 5);
		tu_free(&got);
		wait_stopped(pid); /* still stopped: the collect did not continue it */
		kill(pid, SIGCONT);
	}
	ck_assert_int_eq(ooh_close(t), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	munmap(m, PAGES * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-markdirty");
	TCase *tc = tcase_create("markdirty");

	tu_find_backends(tu_all);
	for (int i = 0; i < tu_nr_backends; i++) {
		struct ooh_backend_info info;
		if (ooh_probe(tu_backends[i], &info) == 0 && (info.caps & OOH_CAP_REMOTE))
			remote_backends[nr_remote++] = tu_backends[i];
	}
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, marked_pages_reported_once, 0, tu_nr_backends);
	tcase_add_loop_test(tc, marked_runs_differential, 0, tu_nr_backends);
	tcase_add_loop_test(tc, keep_marked, 0, tu_nr_backends);
	tcase_add_test(tc, mark_dirty_bad_input);
	tcase_add_loop_test(tc, frozen_remote_collect, 0, nr_remote);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
