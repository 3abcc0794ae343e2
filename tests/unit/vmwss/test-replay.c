// SPDX-License-Identifier: MIT
/*
 * ooh-vmwss --replay FILE: a recorded series runs through the monitor's
 * real loop and outputs (no VM needed), --count is honoured, and a bad
 * recording is a clear error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ooh_check.h"
#include "ooh_run.h"


/* A recording with these lines, in a temporary file named in path. */
static void record(char *path, const char *text)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int exit_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(text_output_of_a_recording)
{
	static char out[1 << 14];
	char path[] = "/tmp/ooh-vmwss-replay-XXXXXX";

	record(path, "# idle, then 4 MiB\n91\n93\n90\n\n1117\n1121\n1119 ignored fields\n");
	char *argv[] = { OOH_BINDIR "/ooh-vmwss", "--replay", path, NULL };
	int st = ooh_run(argv, out, sizeof(out), 0, true);

	unlink(path);
	ck_assert_msg(exit_status(st) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "interval      t_s  dirty_pages"));
	ck_assert_ptr_nonnull(strstr(out, "6 intervals, 2 plateau(s):"));
	ck_assert_ptr_nonnull(strstr(out, "plateau 1: 91 pages (0.36 MiB), intervals 1-3"));
	ck_assert_ptr_nonnull(strstr(out, "plateau 2: 1119 pages (4.37 MiB), intervals 4-6"));
}
END_TEST

START_TEST(count_stops_a_replay)
{
	static char out[1 << 14];
	char path[] = "/tmp/ooh-vmwss-replay-XXXXXX";

	record(path, "1\n2\n3\n4\n5\n");
	char *argv[] = { OOH_BINDIR "/ooh-vmwss", "--replay", path, "--count", "2", "--json", NULL };
	int st = ooh_run(argv, out, sizeof(out), 0, true);

	unlink(path);
	ck_assert_msg(exit_status(st) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "{\"interval\":2,"));
	ck_assert_ptr_null(strstr(out, "{\"interval\":3,"));
	ck_assert_ptr_nonnull(strstr(out, "{\"plateaus\":[],\"intervals\":2}"));
}
END_TEST

START_TEST(bad_recordings_are_errors)
{
	static char out[1 << 14];
	char path[] = "/tmp/ooh-vmwss-replay-XXXXXX";
	char *missing[] = { OOH_BINDIR "/ooh-vmwss", "--replay", "/nonexistent/rec", NULL };
	int st = ooh_run(missing, out, sizeof(out), 0, true);

	ck_assert_msg(exit_status(st) == 1 && strstr(out, "cannot open the recording /nonexistent/rec"),
		      "%s", out);

	record(path, "12\n-3\n");
	char *bad[] = { OOH_BINDIR "/ooh-vmwss", "--replay", path, NULL };
	char want[64];

	st = ooh_run(bad, out, sizeof(out), 0, true);
	unlink(path);
	snprintf(want, sizeof(want), "%s:2: not a page count: -3\n", path);
	ck_assert_msg(exit_status(st) == 1 && strstr(out, want), "%s", out);

	char *two[] = { OOH_BINDIR "/ooh-vmwss", "--replay", "x", "--l0", "/tmp/none.sock", NULL };

	st = ooh_run(two, out, sizeof(out), 0, true);
	ck_assert_msg(exit_status(st) == 2 && strstr(out, "usage:"), "%s", out);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("vmwss-replay");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, text_output_of_a_recording);
	tcase_add_test(tc, count_stops_a_replay);
	tcase_add_test(tc, bad_recordings_are_errors);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
