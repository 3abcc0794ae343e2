/* SPDX-License-Identifier: MIT */
/*
 * Tracking another process by pid (every backend with OOH_CAP_REMOTE):
 * a child with a second, sleeping thread writes seeded random pages on
 * command; the parent hashes the child's pages through /proc/PID/mem
 * before each interval and checks the collect against them.  Also over the
 * child's whole address space, and after the child exits (-ESRCH).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "ooh_test_util.h"

#define PAGES 512

struct cmd { uint64_t seed; uint32_t writes; };

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void child(int in, int out)
{
	char *m = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t th;
	pthread_create(&th, NULL, sleeper, NULL);
	for (size_t i = 0; i < PAGES; i += 2)
		m[i * PG] = 1;
	uint64_t addr = (uint64_t)(uintptr_t)m;
	if (write(out, &addr, sizeof(addr)) != sizeof(addr))
		_exit(1);
	struct cmd c;
	while (read(in, &c, sizeof(c)) == sizeof(c)) {
		uint64_t s = c.seed;
		for (uint32_t i = 0; i < c.writes; i++)
			m[(tu_rand(&s) % PAGES) * PG + tu_rand(&s) % PG] = (char)tu_rand(&s);
		if (write(out, "k", 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static void hash_remote(int memfd, uint64_t addr, uint64_t *h)
{
	static char buf[PAGES * PG];
	ck_assert_int_eq(pread(memfd, buf, sizeof(buf), (off_t)addr), (ssize_t)sizeof(buf));
	tu_hash_all(buf, PAGES, h);
}

static size_t check_remote(int memfd, uint64_t addr, const uint64_t *before, const struct tu_pages *got)
{
	uint64_t after[PAGES];
	size_t missed = 0, fp = 0;
	hash_remote(memfd, addr, after);
	for (size_t i = 0; i < PAGES; i++) {
		int rep = tu_contains(got, addr + i * PG);
		missed += after[i] != before[i] && !rep;
		fp += after[i] == before[i] && rep;
	}
	if (!(got->flags & OOH_RESULT_OVERFLOW))
		ck_assert_msg(missed == 0, "%zu changed pages of the child not reported", missed);
	return fp;
}

static void run(enum ooh_backend b, int whole)
{
	int to[2], from[2];
	ck_assert_int_eq(pipe(to), 0);
	ck_assert_int_eq(pipe(from), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		child(to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	uint64_t addr, before[PAGES];
	ck_assert_int_eq(read(from[0], &addr, sizeof(addr)), sizeof(addr));

	struct ooh_range r = { addr, PAGES * PG };
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .pid = pid, .flags = OOH_OPEN_START,
				   .ranges = whole ? NULL : &r, .nr_ranges = whole ? 0 : 1 };
	ooh_tracker *t;
	int err = ooh_open(&o, &t);
	ck_assert_msg(err == 0, "open %s on pid %d: %s", ooh_backend_name(b), pid, ooh_strerror(err));
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	int memfd = open(path, O_RDONLY);
	ck_assert_int_ge(memfd, 0);

	uint64_t seed = tu_seed();
	for (int round = 0; round < 12; round++) {
		struct cmd c = { seed + (uint64_t)round, (uint32_t)(round * 13 % 200) };
		char k;
		struct tu_pages got;
		hash_remote(memfd, addr, before);
		ck_assert_int_eq(write(to[1], &c, sizeof(c)), sizeof(c));
		ck_assert_int_eq(read(from[0], &k, 1), 1);
		tu_collect(t, OOH_COLLECT_REARM, 77, &got);
		size_t fp = check_remote(memfd, addr, before, &got);
		if (!whole && (ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT))
			ck_assert_uint_le(fp, c.writes); /* same-byte rewrites only */
		tu_free(&got);
	}
	close(to[1]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tracked child did not run normally");
	uint64_t buf[8];
	struct ooh_collect_result res;
	ck_assert_int_eq(ooh_collect(t, buf, 8, OOH_COLLECT_REARM, &res), -ESRCH);
	ck_assert_int_eq(ooh_close(t), 0);
	close(memfd);
	close(from[0]);
}

START_TEST(remote_ranges) { run(tu_backends[_i], 0); }
END_TEST

START_TEST(remote_whole) { run(tu_backends[_i], 1); }
END_TEST

/* After execve the tracked address space is gone: -ESRCH, never "clean". */
START_TEST(remote_exec)
{
	enum ooh_backend b = tu_backends[_i];
	int go[2];
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .pid = pid, .flags = OOH_OPEN_START };
	ooh_tracker *t;
	ck_assert_int_eq(ooh_open(&o, &t), 0);
	uint64_t buf[64];
	struct ooh_collect_result res;
	do
		ck_assert_int_eq(ooh_collect(t, buf, 64, OOH_COLLECT_REARM, &res), 0);
	while (res.flags & OOH_RESULT_MORE);
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	for (int i = 0; i < 500 && strncmp(comm, "sleep", 5); i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
		}
		usleep(10000);
	}
	ck_assert_str_eq(comm, "sleep\n");
	ck_assert_int_eq(ooh_collect(t, buf, 64, OOH_COLLECT_REARM, &res), -ESRCH);
	ck_assert_int_eq(ooh_close(t), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(go[1]);
}
END_TEST

static const enum ooh_backend remote_backends[] = {
	OOH_BACKEND_PAGEMAP, OOH_BACKEND_SOFTDIRTY, OOH_BACKEND_UFFD, 0
};

int main(void)
{
	Suite *s = suite_create("ooh-lib-remote");
	TCase *tc = tcase_create("remote");

	tu_find_backends(remote_backends);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, remote_ranges, 0, tu_nr_backends);
	tcase_add_loop_test(tc, remote_whole, 0, tu_nr_backends);
	tcase_add_loop_test(tc, remote_exec, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
