// SPDX-License-Identifier: MIT
/*
 * ooh-kvmstat's failures before it watches anything: each is one line on
 * stderr and its own exit status (ooh-kvmstat(8), EXIT STATUS), never
 * libbpf's warnings. What needs a VM (counts, --verify, a watched ooh-l0
 * exiting) is tested in the rig, tests/integration/65-kvmstat.sh.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ooh_check.h"
#include "ooh_run.h"

#define KVMSTAT OOH_BINDIR "/ooh-kvmstat"

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs ooh-kvmstat with args as uid; its status, its stderr+stdout in out. */
static int kvmstat(char *out, size_t cap, uid_t uid, char *a1, char *a2, char *a3)
{
	char *argv[] = { KVMSTAT, a1, a2, a3, NULL };

	return status_of(ooh_run(argv, out, cap, uid, true));
}

static void assert_one_line(const char *out, const char *want)
{
	ck_assert_msg(strstr(out, want), "want \"%s\" in: %s", want, out);
	ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "not one line: %s", out);
}

/* Root with the kvm tracepoints: what the later checks need to be reached. */
static int can_watch(void)
{
	return geteuid() == 0 && access("/sys/kernel/btf/vmlinux", R_OK) == 0 &&
	       (access("/sys/kernel/tracing/events/kvm/kvm_exit", F_OK) == 0 ||
		access("/sys/kernel/debug/tracing/events/kvm/kvm_exit", F_OK) == 0);
}

/* Until pid's executable is named ...name (the fork has exec'd). */
static void wait_exec(pid_t pid, const char *name)
{
	char path[64], exe[256];

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	for (int i = 0; i < 1000; i++) {
		ssize_t n = readlink(path, exe, sizeof(exe) - 1);

		if (n > 0) {
			exe[n] = 0;
			if (strstr(exe, name))
				return;
		}
		usleep(10000);
	}
	ck_abort_msg("%s never became %s", path, name);
}

START_TEST(usage_errors_are_status_2)
{
	char out[4096];

	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "--no-such-option", NULL, NULL), 2);
	assert_one_line(out, "--no-such-option: bad option");
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "-n", "3", NULL), 2);
	assert_one_line(out, "-n needs -i");
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "-p", "12x", NULL), 2);
	assert_one_line(out, "-p: not a process id: 12x");
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "--split-on", "nonsense", NULL), 2);
	assert_one_line(out, "--split-on: not a hypercall op: nonsense");
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "-i", "0", NULL), 2);
	assert_one_line(out, "-i: not a number of seconds: 0");
}
END_TEST

START_TEST(not_root_is_status_3)
{
	char out[4096];

	if (geteuid() != 0) {
		ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "-d", "1", NULL), 3);
	} else {
		/* nobody, with no capabilities, from a copy it may run (the
		 * build tree may be under root's 0700 home) */
		char dir[] = "/tmp/ooh-kvmstat-cli-XXXXXX", copy[64], cmd[PATH_MAX + 64];
		char *argv[] = { copy, "-d", "1", NULL };

		ck_assert_ptr_nonnull(mkdtemp(dir));
		ck_assert_int_eq(chmod(dir, 0755), 0);
		snprintf(copy, sizeof(copy), "%s/ooh-kvmstat", dir);
		snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 755 %s", KVMSTAT, copy, copy);
		ck_assert_int_eq(system(cmd), 0);
		ck_assert_int_eq(status_of(ooh_run(argv, out, sizeof(out), 65534, true)), 3);
		unlink(copy);
		rmdir(dir);
	}
	assert_one_line(out, "needs root, or CAP_BPF and CAP_PERFMON");
}
END_TEST

START_TEST(openmetrics_file_written_or_status_1)
{
	char out[4096], path[] = "/tmp/ooh-kvmstat-om-XXXXXX.prom", text[8192];
	char *argv[] = { KVMSTAT, "-d", "1", "--openmetrics", path, NULL };
	int fd;
	ssize_t n;

	if (!can_watch())
		return;
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "--openmetrics", "/nonexistent/x.prom", NULL), 1);
	assert_one_line(out, "--openmetrics /nonexistent/x.prom: No such file or directory");
	fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(status_of(ooh_run(argv, out, sizeof(out), 0, true)), 0);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	unlink(path);
	ck_assert_int_gt(n, 0);
	text[n] = 0;
	ck_assert_msg(!strncmp(text, "# TYPE ooh_kvmstat_vcpu_events counter\n", 39), "%s", text);
	ck_assert_msg(strstr(text, "\n# EOF\n") == text + n - 7, "no # EOF at the end: %s", text);
}
END_TEST

START_TEST(no_such_pid_is_status_6)
{
	char out[4096];

	if (!can_watch())
		return;	/* status 3, 4 or 5 come first, as above */
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "-p", "999999999", NULL), 6);
	assert_one_line(out, "no such process: 999999999");
}
END_TEST

START_TEST(a_process_that_is_not_ooh_l0_is_status_6)
{
	char out[4096], pid[16];
	pid_t sleeper;

	if (!can_watch())
		return;
	/* not this test: it links libl0, probes and all */
	sleeper = fork();
	ck_assert_int_ge(sleeper, 0);
	if (sleeper == 0) {
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	snprintf(pid, sizeof(pid), "%d", sleeper);
	wait_exec(sleeper, "sleep");
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "-p", pid, NULL), 6);
	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	assert_one_line(out, "has no ooh_l0 USDT probes: not an ooh-l0");
	/* a command is checked the same way, and never started */
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "--", "/bin/true", NULL), 6);
	assert_one_line(out, "/bin/true has no ooh_l0 USDT probes: not an ooh-l0");
}
END_TEST

START_TEST(verify_without_a_vm_is_status_6)
{
	char out[4096];

	if (!can_watch())
		return;
	ck_assert_int_eq(kvmstat(out, sizeof(out), 0, "--verify", "/nonexistent/vm.sock", NULL), 6);
	assert_one_line(out, "--verify /nonexistent/vm.sock: no ooh-l0 answers there");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kvmstat-cli");
	TCase *tc = tcase_create("errors");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, usage_errors_are_status_2);
	tcase_add_test(tc, not_root_is_status_3);
	tcase_add_test(tc, no_such_pid_is_status_6);
	tcase_add_test(tc, openmetrics_file_written_or_status_1);
	tcase_add_test(tc, a_process_that_is_not_ooh_l0_is_status_6);
	tcase_add_test(tc, verify_without_a_vm_is_status_6);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
