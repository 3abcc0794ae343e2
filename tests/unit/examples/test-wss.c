/* SPDX-License-Identifier: MIT */
/*
 * ooh-wss: a synthetic target with known phases (write 24 MiB, read 40 MiB,
 * write 8 MiB) must be estimated within 5 %: dirty plateaus 24 / ~0 / 8 MiB,
 * referenced (anonymous) plateaus 24 / 40 / 8 MiB, in that order; the JSON
 * and SVG outputs are well formed; bad input (and a bad --replay
 * recording) gives clear errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "ooh_check.h"
#include "ooh_run.h"

#define MiB 1048576.0


struct pl {
	char set[32];
	double start, end, bytes;
};

static int parse_plateaus(const char *out, struct pl *p, int max)
{
	int n = 0;
	for (const char *l = strstr(out, "{\"type\":\"plateau\""); l && n < max;
	     l = strstr(l + 1, "{\"type\":\"plateau\"")) {
		unsigned long long b;
		int k;
		if (sscanf(l, "{\"type\":\"plateau\",\"set\":\"%31[a-z_]\",\"start\":%lf,\"end\":%lf,"
			      "\"intervals\":%d,\"bytes\":%llu}",
			   p[n].set, &p[n].start, &p[n].end, &k, &b) == 5) {
			p[n].bytes = (double)b;
			n++;
		}
	}
	return n;
}

/* The end of a long output, for a failure message (Check caps its size). */
static const char *tail_of(const char *out)
{
	size_t n = strlen(out);
	return n > 3000 ? out + n - 3000 : out;
}

/* Index of the first plateau of set within 5 % of want, starting after t. */
static int find(const struct pl *p, int n, const char *set, double want, double tol_abs, double after)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(p[i].set, set) && p[i].end > after &&
		    (want > 0 ? (p[i].bytes >= want * 0.95 && p[i].bytes <= want * 1.05)
			      : p[i].bytes <= tol_abs))
			return i;
	return -1;
}

/* NULL when out has the three phases, in order, each within 5 %; else why not. */
static const char *phases_found(const char *out)
{
	struct pl p[64];
	int n = parse_plateaus(out, p, 64);
	for (int i = 0; i < n; i++)
		printf("plateau %s %.2f-%.2f %.2f MiB\n", p[i].set, p[i].start, p[i].end, p[i].bytes / MiB);
	int d1 = find(p, n, "dirty", 24 * MiB, 0, 0);
	if (d1 < 0)
		return "no 24 MiB dirty plateau";
	int d2 = find(p, n, "dirty", 0, 1 * MiB, p[d1].end - 0.3);
	if (d2 < 0)
		return "no ~0 dirty plateau during the read phase";
	int d3 = find(p, n, "dirty", 8 * MiB, 0, p[d2].end - 0.3);
	if (d3 < 0)
		return "no 8 MiB dirty plateau";
	if (!(p[d1].start < p[d2].start && p[d2].start < p[d3].start))
		return "dirty plateaus out of order";
	int r1 = find(p, n, "referenced_anon", 24 * MiB, 0, 0);
	if (r1 < 0)
		return "no 24 MiB referenced plateau";
	int r2 = find(p, n, "referenced_anon", 40 * MiB, 0, p[r1].end - 0.3);
	if (r2 < 0)
		return "no 40 MiB referenced plateau";
	if (find(p, n, "referenced_anon", 8 * MiB, 0, p[r2].end - 0.3) < 0)
		return "no 8 MiB referenced plateau";
	return NULL;
}

/*
 * The estimate needs the target to get the CPU: a plateau is 4 intervals
 * within 5 %, and on a loaded 2-core VM (ASan) the target was once starved
 * through a whole 2.5 s phase.  So one measurement may be repeated; an
 * estimator that is wrong fails both.
 */
START_TEST(known_phases_within_5_percent)
{
	static char out[1 << 16];
	char svg[] = "/tmp/ooh-wss-test-XXXXXX";
	int sfd = mkstemp(svg);
	ck_assert_int_ge(sfd, 0);
	close(sfd);
	char *argv[] = { OOH_BINDIR "/ooh-wss", "--json", "-i", "250", "-w", "4", "--svg", svg, "--",
			 OOH_BINDIR "/ooh-wss-target", "write:24M:2.5,read:40M:2.5,write:8M:2.5", NULL };
	const char *why = NULL;
	for (int attempt = 1; attempt <= 2; attempt++) {
		int st = ooh_run(argv, out, sizeof(out), 0, true);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ooh-wss failed: %s", tail_of(out));
		ck_assert_ptr_nonnull(strstr(out, "{\"type\":\"config\""));
		ck_assert_ptr_nonnull(strstr(out, "{\"type\":\"summary\""));
		why = phases_found(out);
		if (!why)
			break;
		printf("attempt %d: %s; measuring again\n", attempt, why);
	}
	ck_assert_msg(!why, "%s:\n%s", why, tail_of(out));

	/* the plot exists and has the three series */
	FILE *f = fopen(svg, "r");
	ck_assert_ptr_nonnull(f);
	static char s[1 << 16];
	size_t len = fread(s, 1, sizeof(s) - 1, f);
	s[len] = 0;
	fclose(f);
	unlink(svg);
	ck_assert_ptr_nonnull(strstr(s, "<svg"));
	ck_assert_ptr_nonnull(strstr(s, "</svg>"));
	int polylines = 0;
	for (const char *q = strstr(s, "<polyline"); q; q = strstr(q + 1, "<polyline"))
		polylines++;
	ck_assert_int_eq(polylines, 3);
}
END_TEST

START_TEST(text_output_and_count)
{
	static char out[1 << 14];
	char *argv[] = { OOH_BINDIR "/ooh-wss", "-i", "100", "-n", "5", "--no-referenced", "--",
			 OOH_BINDIR "/ooh-wss-target", "write:4M:3", NULL };
	int st = ooh_run(argv, out, sizeof(out), 0, true);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "# ooh-wss pid"));
	int lines = 0;
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		double t;
		unsigned long long kib;
		if (l[0] == ' ' && sscanf(l, "%lf %llu", &t, &kib) == 2)
			lines++;
	}
	ck_assert_int_eq(lines, 5);
}
END_TEST

START_TEST(errors)
{
	static char out[4096];
	char *nopid[] = { OOH_BINDIR "/ooh-wss", "-n", "1", "12x", NULL };
	int st = ooh_run(nopid, out, sizeof(out), 0, true);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(out, "bad PID"));
	char *gone[] = { OOH_BINDIR "/ooh-wss", "-n", "1", "999999999", NULL };
	st = ooh_run(gone, out, sizeof(out), 0, true);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(out, "no such process"), "%s", out);
	char *badopt[] = { OOH_BINDIR "/ooh-wss", "-i", "abc", "1", NULL };
	st = ooh_run(badopt, out, sizeof(out), 0, true);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	char *badbk[] = { OOH_BINDIR "/ooh-wss", "-b", "nope", "1", NULL };
	st = ooh_run(badbk, out, sizeof(out), 0, true);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(out, "unknown backend"));
	char *vm[] = { OOH_BINDIR "/ooh-wss", "--vm", "/nonexistent/ooh-l0.sock", NULL };
	st = ooh_run(vm, out, sizeof(out), 0, true);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(out, "is ooh-l0 running"), "%s", out);
	char *norec[] = { OOH_BINDIR "/ooh-wss", "--replay", "/nonexistent/rec", NULL };
	st = ooh_run(norec, out, sizeof(out), 0, true);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(out, "cannot open the recording"),
		      "%s", out);
	char rec[] = "/tmp/ooh-wss-rec-XXXXXX";
	int rfd = mkstemp(rec);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_eq(write(rfd, "5 5 5\n6\n", 8), 8);
	close(rfd);
	char *badrec[] = { OOH_BINDIR "/ooh-wss", "--replay", rec, NULL };
	st = ooh_run(badrec, out, sizeof(out), 0, true);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(out, ":2: wanted 3 page counts"),
		      "%s", out);
	char *both[] = { OOH_BINDIR "/ooh-wss", "--replay", rec, "1", NULL };
	st = ooh_run(both, out, sizeof(out), 0, true);
	unlink(rec);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	if (geteuid() == 0) {
		/* an unprivileged user may not track init */
		char *perm[] = { OOH_BINDIR "/ooh-wss", "-n", "1", "1", NULL };
		st = ooh_run(perm, out, sizeof(out), 65534, true);
		/* 127: uid 65534 cannot even reach the binary (a private build dir) */
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			fprintf(stderr, "note: uid 65534 cannot run %s: permission check not made\n", perm[0]);
		else
			ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(out, "cannot track 1"),
				      "%s", out);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("examples-wss");
	TCase *tc = tcase_create("wss");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, known_phases_within_5_percent);
	tcase_add_test(tc, text_output_and_count);
	tcase_add_test(tc, errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ooh_check_main(suite());
}
