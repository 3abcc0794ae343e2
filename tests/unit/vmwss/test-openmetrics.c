// SPDX-License-Identifier: MIT
/*
 * ooh-vmwss --openmetrics FILE: after a recorded series, FILE holds the
 * same figures as the --json lines of the same run (the last interval's,
 * and the totals over all of them), in OpenMetrics text ending in # EOF;
 * a FILE that cannot be written is an error before monitoring starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ooh_check.h"
#include "ooh_run.h"

static int exit_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The value of the sample named name (with its labels) in text, or -1. */
static double sample(const char *text, const char *name)
{
	char key[128];
	const char *at;

	snprintf(key, sizeof(key), "\nooh_vmwss_%s{source=\"replay:", name);
	at = strstr(text, key);
	if (!at || !(at = strstr(at + 1, "} ")))
		return -1;
	return strtod(at + 2, NULL);
}

/* Field key of the JSON line of interval n in out, or -1. */
static double json_field(const char *out, unsigned n, const char *key)
{
	char line[64], k[64];
	const char *at;

	snprintf(line, sizeof(line), "{\"interval\":%u,", n);
	snprintf(k, sizeof(k), "\"%s\":", key);
	at = strstr(out, line);
	if (!at || !(at = strstr(at, k)))
		return -1;
	return strtod(at + strlen(k), NULL);
}

START_TEST(openmetrics_agrees_with_json)
{
	static char out[1 << 14], text[1 << 13];
	char series[] = "/tmp/ooh-vmwss-om-XXXXXX", prom[64];
	const char *data = "91\n93\n90\n1117\n1121\n1119\n";
	double sum = 0;
	FILE *f;
	size_t n;
	int fd = mkstemp(series);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	snprintf(prom, sizeof(prom), "%s.prom", series);
	char *argv[] = { OOH_BINDIR "/ooh-vmwss", "--replay", series, "--json",
			 "--openmetrics", prom, NULL };
	int st = ooh_run(argv, out, sizeof(out), 0, true);

	unlink(series);
	ck_assert_msg(exit_status(st) == 0, "%s", out);
	f = fopen(prom, "r");
	ck_assert_ptr_nonnull(f);
	text[0] = '\n';
	n = fread(text + 1, 1, sizeof(text) - 2, f);
	fclose(f);
	unlink(prom);
	text[n + 1] = 0;
	for (unsigned i = 1; i <= 6; i++)
		sum += json_field(out, i, "dirty_pages");
	ck_assert_double_eq(sample(text, "intervals_total"), 6);
	ck_assert_double_eq(sample(text, "dirty_pages_total"), sum);
	ck_assert_double_eq(sample(text, "interval_dirty_pages"), json_field(out, 6, "dirty_pages"));
	ck_assert_double_eq(sample(text, "working_set_pages"), json_field(out, 6, "wss_pages"));
	ck_assert_double_eq(sample(text, "working_set_stable"), 1);
	ck_assert_double_eq(sample(text, "plateaus_total"), json_field(out, 6, "phase"));
	ck_assert_double_eq(sample(text, "plateaus_total"), 2);
	ck_assert_ptr_nonnull(strstr(text, "\n# TYPE ooh_vmwss_dirty_pages counter\n"));
	ck_assert_str_eq(text + strlen(text) - 7, "\n# EOF\n");
}
END_TEST

START_TEST(unwritable_file_is_an_error_at_start)
{
	static char out[1 << 12];
	char *argv[] = { OOH_BINDIR "/ooh-vmwss", "--replay", "/dev/null", "--openmetrics",
			 "/nonexistent/vmwss.prom", NULL };
	int st = ooh_run(argv, out, sizeof(out), 0, true);

	ck_assert_int_eq(exit_status(st), 1);
	ck_assert_msg(strstr(out, "--openmetrics /nonexistent/vmwss.prom: No such file or directory"),
		      "%s", out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmwss-openmetrics");
	TCase *tc = tcase_create("openmetrics");

	tcase_add_test(tc, openmetrics_agrees_with_json);
	tcase_add_test(tc, unwritable_file_is_an_error_at_start);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
