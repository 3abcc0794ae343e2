// SPDX-License-Identifier: MIT
/*
 * The ooh-l0 binary: bad inputs and their distinct exit codes, and every
 * way out, using small fake bzImages whose startup_64 is a micro-guest.
 */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "exit-codes.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RUN(result, ...) l0t_run_ooh_l0((const char *const[]){ __VA_ARGS__, NULL }, NULL, 0, result)

static struct l0t_result r;

START_TEST(help_documents_exit_codes)
{
	RUN(&r, "--help");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Exit status"));
	ck_assert_ptr_nonnull(strstr(r.out, "72"));
	ck_assert_ptr_nonnull(strstr(r.out, "--kernel-cache"));
}
END_TEST

START_TEST(bad_command_lines)
{
	const char *kernel = l0t_make_bzimage("bz-exit");

	RUN(&r, "--mem", "64M");
	ck_assert_int_eq(r.status, L0_EXIT_USAGE);
	RUN(&r, "--kernel", kernel, "--frobnicate");
	ck_assert_int_eq(r.status, L0_EXIT_USAGE);
	RUN(&r, "--kernel", kernel, "--cpus", "0");
	ck_assert_int_eq(r.status, L0_EXIT_USAGE);
	RUN(&r, "--kernel", kernel, "--mem", "lots");
	ck_assert_int_eq(r.status, L0_EXIT_USAGE);
	RUN(&r, "--kernel", kernel, "--timeout", "-3");
	ck_assert_int_eq(r.status, L0_EXIT_USAGE);
	RUN(&r, "--kernel", kernel, "stray");
	ck_assert_int_eq(r.status, L0_EXIT_USAGE);
	RUN(&r, "--kernel", kernel, "--kernel-cache");
	ck_assert_int_eq(r.status, L0_EXIT_USAGE);
	unlink(kernel);
}
END_TEST

START_TEST(kernel_command_line_too_long)
{
	const char *kernel = l0t_make_bzimage("bz-exit");
	static char cmdline[3000];

	memset(cmdline, 'y', sizeof(cmdline) - 1);
	RUN(&r, "--kernel", kernel, "--mem", "32M", "--cmdline", cmdline);
	ck_assert_int_eq(r.status, L0_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(r.err, "command line"));
	unlink(kernel);
}
END_TEST

START_TEST(missing_files)
{
	const char *kernel = l0t_make_bzimage("bz-exit");

	RUN(&r, "--kernel", "/nonexistent/bzImage");
	ck_assert_int_eq(r.status, L0_EXIT_NO_FILE);
	RUN(&r, "--kernel", kernel, "--initrd", "/nonexistent/initrd");
	ck_assert_int_eq(r.status, L0_EXIT_NO_FILE);
	RUN(&r, "--kernel", "/tmp");
	ck_assert_int_eq(r.status, L0_EXIT_NO_FILE);
	unlink(kernel);
}
END_TEST

START_TEST(corrupt_kernel)
{
	char path[64];
	char junk[8192];
	int fd;

	snprintf(path, sizeof(path), "/tmp/ooh-l0-test-junk-%d", (int)getpid());
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	RUN(&r, "--kernel", path, "--mem", "32M");
	ck_assert_int_eq(r.status, L0_EXIT_BAD_KERNEL);
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	RUN(&r, "--kernel", path, "--mem", "32M"); /* empty file */
	ck_assert_int_eq(r.status, L0_EXIT_BAD_KERNEL);
	unlink(path);
}
END_TEST

START_TEST(too_little_memory)
{
	const char *kernel = l0t_make_bzimage("bz-exit");

	RUN(&r, "--kernel", kernel, "--mem", "8M");
	ck_assert_int_eq(r.status, L0_EXIT_TOO_LITTLE_MEMORY);
	ck_assert_ptr_nonnull(strstr(r.err, "too little memory"));
	unlink(kernel);
}
END_TEST

START_TEST(no_kvm)
{
	const char *kernel = l0t_make_bzimage("bz-exit");

	l0t_run_ooh_l0((const char *const[]){ "--kernel", kernel, NULL }, "/nonexistent/kvm", 0, &r);
	ck_assert_int_eq(r.status, L0_EXIT_NO_KVM);
	l0t_run_ooh_l0((const char *const[]){ "--kernel", kernel, NULL }, "/dev/null", 0, &r);
	ck_assert_int_eq(r.status, L0_EXIT_NO_KVM);
	unlink(kernel);
}
END_TEST

START_TEST(guest_exit_status_and_cmdline)
{
	const char *kernel = l0t_make_bzimage("bz-exit");

	RUN(&r, "--kernel", kernel, "--mem", "32M", "--cmdline", "7 console=ttyS0");
	ck_assert_int_eq(r.status, 7);
	ck_assert_str_eq(r.out, "bz\n");
	RUN(&r, "--kernel", kernel, "--mem", "32M", "--cpus", "2", "--cmdline", "0");
	ck_assert_int_eq(r.status, 0);
	unlink(kernel);
}
END_TEST

START_TEST(elf_vmlinux_exit_status)
{
	const char *kernel = l0t_make_elf("bz-exit");

	RUN(&r, "--kernel", kernel, "--mem", "32M", "--cmdline", "11");
	ck_assert_int_eq(r.status, 11);
	ck_assert_str_eq(r.out, "bz\n");
	unlink(kernel);
}
END_TEST

START_TEST(unmapped_memory)
{
	const char *kernel = l0t_make_bzimage("bz-unmapped");

	RUN(&r, "--kernel", kernel, "--mem", "32M");
	ck_assert_int_eq(r.status, L0_EXIT_GUEST_FAULT);
	ck_assert_ptr_nonnull(strstr(r.err, "unmapped"));
	unlink(kernel);
}
END_TEST

START_TEST(halt_and_reset)
{
	const char *kernel = l0t_make_bzimage("bz-hlt");

	RUN(&r, "--kernel", kernel, "--mem", "32M", "--timeout", "20");
	ck_assert_int_eq(r.status, L0_EXIT_OK);
	unlink(kernel);
	kernel = l0t_make_bzimage("bz-reset");
	RUN(&r, "--kernel", kernel, "--mem", "32M");
	ck_assert_int_eq(r.status, L0_EXIT_GUEST_RESET);
	unlink(kernel);
	kernel = l0t_make_bzimage("bz-triple-fault");
	RUN(&r, "--kernel", kernel, "--mem", "32M");
	ck_assert_int_eq(r.status, L0_EXIT_GUEST_RESET);
	unlink(kernel);
}
END_TEST

START_TEST(timeout_says_why)
{
	const char *kernel = l0t_make_bzimage("bz-spin");

	RUN(&r, "--kernel", kernel, "--mem", "32M", "--timeout", "0.3");
	ck_assert_int_eq(r.status, L0_EXIT_TIMEOUT);
	ck_assert_ptr_nonnull(strstr(r.err, "timeout"));
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		ck_assert_ptr_nonnull(strstr(r.err, "kvm_pvm"));
	unlink(kernel);
}
END_TEST

START_TEST(sigterm)
{
	const char *kernel = l0t_make_bzimage("bz-spin");

	l0t_run_ooh_l0((const char *const[]){ "--kernel", kernel, "--mem", "32M", NULL }, NULL, 300, &r);
	ck_assert_int_eq(r.status, L0_EXIT_SIGNAL_BASE + 15);
	unlink(kernel);
}
END_TEST

START_TEST(stats)
{
	const char *kernel = l0t_make_bzimage("bz-exit");

	RUN(&r, "--kernel", kernel, "--mem", "32M", "--stats", "--cmdline", "3");
	ck_assert_int_eq(r.status, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "vmm_rss_kib="));
	unlink(kernel);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-cli");
	TCase *tc = tcase_create("cli");

	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, help_documents_exit_codes);
	tcase_add_test(tc, bad_command_lines);
	tcase_add_test(tc, kernel_command_line_too_long);
	tcase_add_test(tc, missing_files);
	tcase_add_test(tc, corrupt_kernel);
	tcase_add_test(tc, too_little_memory);
	tcase_add_test(tc, no_kvm);
	tcase_add_test(tc, guest_exit_status_and_cmdline);
	tcase_add_test(tc, elf_vmlinux_exit_status);
	tcase_add_test(tc, unmapped_memory);
	tcase_add_test(tc, halt_and_reset);
	tcase_add_test(tc, timeout_says_why);
	tcase_add_test(tc, sigterm);
	tcase_add_test(tc, stats);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
