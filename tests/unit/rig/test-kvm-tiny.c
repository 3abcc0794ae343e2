// SPDX-License-Identifier: MIT
/*
 * The rig's first check, on this machine's own /dev/kvm: the tiny guest
 * runs, prints exactly its greeting and computes 6 * 7; a missing device
 * is a clear error, not a crash.
 */
#include <string.h>

#include "../../harness/ooh_check.h"
#include "../../kvm-tiny/kvm-tiny.h"

START_TEST(tiny_guest_prints_and_computes)
{
	struct tiny_run run;

	ck_assert_msg(tiny_boot("/dev/kvm", &run) == 0, "%s", run.error);
	ck_assert_str_eq(run.text, TINY_EXPECTED_TEXT);
	ck_assert_uint_eq(run.text_len, strlen(TINY_EXPECTED_TEXT));
	ck_assert_int_eq(run.result, TINY_EXPECTED_RESULT);
	ck_assert_int_eq(run.halted, 1);
	/* One exit per character, one for the result: no spurious exits. */
	ck_assert_int_eq(run.exits, (int)strlen(TINY_EXPECTED_TEXT) + 1);
}
END_TEST

START_TEST(tiny_guest_runs_twice_in_one_process)
{
	struct tiny_run first, second;

	ck_assert_msg(tiny_boot("/dev/kvm", &first) == 0, "%s", first.error);
	ck_assert_msg(tiny_boot("/dev/kvm", &second) == 0, "%s", second.error);
	ck_assert_str_eq(first.text, second.text);
}
END_TEST

START_TEST(missing_device_is_a_clear_error)
{
	struct tiny_run run;

	ck_assert_int_eq(tiny_boot("/nonexistent/kvm", &run), -1);
	ck_assert_msg(strstr(run.error, "/nonexistent/kvm") &&
		      strstr(run.error, "No such file"), "error: %s", run.error);
	ck_assert_int_eq(run.halted, 0);
}
END_TEST

START_TEST(non_kvm_device_is_a_clear_error)
{
	struct tiny_run run;

	ck_assert_int_eq(tiny_boot("/dev/null", &run), -1);
	ck_assert_msg(strstr(run.error, "KVM_GET_API_VERSION"), "error: %s",
		      run.error);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("rig");
	TCase *tc = tcase_create("kvm-tiny");

	tcase_add_test(tc, tiny_guest_prints_and_computes);
	tcase_add_test(tc, tiny_guest_runs_twice_in_one_process);
	tcase_add_test(tc, missing_device_is_a_clear_error);
	tcase_add_test(tc, non_kvm_device_is_a_clear_error);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
