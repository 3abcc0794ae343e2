// SPDX-License-Identifier: MIT
/*
 * Online and offline are one estimator: the same recorded series, fed to
 * the offline analysis (wss_find_plateaus, as ooh-wss runs it at the end)
 * and to the online estimator (wss_estimator_add, as ooh-vmwss runs it
 * interval by interval), gives the same plateaus, and the online use
 * reports each at the interval where the offline list says it was found.
 * Checked on the library and through both programs' --replay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ooh_check.h"
#include "ooh_run.h"
#include "wss-estimator.h"

/*
 * An L2 VM seen by ooh-vmwss in the rig (2 s intervals, pages; levels as
 * in vmwss/README.md): idle, a 4 MiB phase with one burst, a ramp while
 * the 16 MiB phase starts, 16 MiB, idle again.
 */
static const double series[] = {
	180, 93, 90, 92, 91, 94,			/*  0- 5 idle (0: the start) */
	640, 1121, 1117, 1135, 2650, 1124, 1128, 1119,	/*  6-13 4 MiB; 10: a burst */
	1800, 2500, 3100, 3700,				/* 14-17 the ramp */
	4213, 4230, 4208, 4226, 4219,			/* 18-22 16 MiB */
	95, 90, 92, 91,					/* 23-26 idle */
};
#define N (sizeof(series) / sizeof(series[0]))

/* ooh-vmwss's defaults, then ooh-wss's */
static const struct wss_params params[] = {
	{ .window = 3, .tolerance = 0.10, .slack = WSS_SLACK_PAGES },
	{ .window = 4, .tolerance = 0.05, .slack = WSS_SLACK_PAGES },
};

/* With ooh-vmwss's defaults: the burst ends no plateau, the ramp makes none. */
static const struct wss_plateau expected[] = {
	{ .first = 1, .last = 5, .found = 3, .level = 92 },
	{ .first = 7, .last = 13, .found = 9, .level = 1121 },
	{ .first = 18, .last = 22, .found = 20, .level = 4213 },
	{ .first = 23, .last = 26, .found = 25, .level = 92 },
};
#define NR_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static void assert_same(const struct wss_plateau *a, const struct wss_plateau *b, int i)
{
	ck_assert_msg(a->first == b->first && a->last == b->last && a->found == b->found &&
			      a->level == b->level,
		      "plateau %d: intervals %u-%u found at %u, %.1f pages; wanted %u-%u at %u, %.1f",
		      i, a->first, a->last, a->found, a->level, b->first, b->last, b->found, b->level);
}

/* Online: where each plateau was reported, and its level then. */
struct report {
	unsigned int at;
	double level;
};

static int feed_online(const struct wss_params *p, struct wss_estimator *est,
		       struct report *rep, int max)
{
	int n = 0;

	ck_assert_int_eq(wss_estimator_init(est, p), 0);
	for (unsigned int i = 0; i < N; i++) {
		int r = wss_estimator_add(est, series[i]);

		ck_assert_int_ge(r, 0);
		if (r) {
			ck_assert_int_lt(n, max);
			rep[n++] = (struct report){ i, wss_estimator_current(est)->level };
		}
	}
	return n;
}

START_TEST(the_series_has_the_expected_plateaus)
{
	struct wss_plateau *pl;
	int n = wss_find_plateaus(series, N, &params[0], &pl);

	ck_assert_int_eq(n, NR_EXPECTED);
	for (int i = 0; i < n; i++)
		assert_same(&pl[i], &expected[i], i);
	free(pl);
}
END_TEST

START_TEST(offline_and_online_find_the_same_plateaus)
{
	const struct wss_params *p = &params[_i];
	struct wss_estimator est;
	struct wss_plateau *off;
	struct report rep[N];
	int n = wss_find_plateaus(series, N, p, &off);
	int nrep = feed_online(p, &est, rep, N);

	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(est.nr_plateaus, n);
	ck_assert_int_eq(nrep, n);
	for (int i = 0; i < n; i++) {
		assert_same(&est.plateaus[i], &off[i], i);
		/* reported at the interval the offline list says, with its value */
		ck_assert_uint_eq(rep[i].at, off[i].found);
		ck_assert_uint_eq(off[i].found, off[i].first + p->window - 1);
		ck_assert_double_eq(rep[i].level, off[i].level);
	}
	wss_estimator_free(&est);
	free(off);
}
END_TEST


/* ooh-wss's dirty plateaus (JSON lines), as the estimator's intervals. */
static int wss_plateaus(const char *out, double interval_s, struct wss_plateau *pl, int max)
{
	const char *key = "{\"type\":\"plateau\",\"set\":\"dirty\"";
	int n = 0;

	for (const char *l = strstr(out, key); l && n < max; l = strstr(l + 1, key)) {
		double start, end;
		unsigned long long bytes;
		int intervals;

		ck_assert_int_eq(sscanf(l + strlen(key), ",\"start\":%lf,\"end\":%lf,\"intervals\":%d,"
					"\"bytes\":%llu}", &start, &end, &intervals, &bytes), 4);
		pl[n].first = (unsigned int)(start / interval_s + 0.5);
		pl[n].last = (unsigned int)(end / interval_s + 0.5) - 1;
		ck_assert_int_eq(intervals, pl[n].last - pl[n].first + 1);
		pl[n].level = (double)bytes / 4096;
		n++;
	}
	return n;
}

/* ooh-vmwss's plateaus: where each was reported (the phase count grew). */
static int vmwss_reports(const char *out, struct report *rep, int max)
{
	unsigned int phase = 0;
	int n = 0;

	for (const char *l = strstr(out, "{\"interval\":"); l; l = strstr(l + 1, "{\"interval\":")) {
		unsigned int interval, now;
		const char *wss = strstr(l, "\"wss_pages\":"), *ph = strstr(l, "\"phase\":");

		ck_assert(wss && ph);
		ck_assert_int_eq(sscanf(l, "{\"interval\":%u,", &interval), 1);
		ck_assert_int_eq(sscanf(ph, "\"phase\":%u", &now), 1);
		if (now == phase)
			continue;
		ck_assert_uint_eq(now, phase + 1);
		ck_assert_int_lt(n, max);
		rep[n].at = interval - 1;
		ck_assert_int_eq(sscanf(wss, "\"wss_pages\":%lf", &rep[n].level), 1);
		phase = now;
		n++;
	}
	return n;
}

/* ooh-vmwss's summary: {"plateaus":[{"first":F,"last":L,"wss_pages":P,...},...]} */
static int vmwss_summary(const char *out, struct wss_plateau *pl, int max)
{
	const char *s = strstr(out, "{\"plateaus\":[");
	int n = 0;

	ck_assert_ptr_nonnull(s);
	for (const char *l = strstr(s, "{\"first\":"); l && n < max; l = strstr(l + 1, "{\"first\":")) {
		ck_assert_int_eq(sscanf(l, "{\"first\":%u,\"last\":%u,\"wss_pages\":%lf", &pl[n].first,
					&pl[n].last, &pl[n].level), 3);
		pl[n].first--;	/* the programs count intervals from 1 */
		pl[n].last--;
		n++;
	}
	return n;
}

START_TEST(ooh_wss_and_ooh_vmwss_agree_on_a_recording)
{
	static char out_wss[1 << 16], out_vm[1 << 16];
	char path[] = "/tmp/ooh-wss-series-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# dirty pages per 2 s interval\n");
	for (unsigned int i = 0; i < N; i++)
		fprintf(f, "%.0f\n", series[i]);
	ck_assert_int_eq(fclose(f), 0);

	/* the same parameters (ooh-vmwss's defaults) in each program's units */
	char *wss[] = { OOH_BINDIR "/ooh-wss", "--replay", path, "--json", "-i", "2000",
			"-w", "3", "-t", "10", NULL };
	char *vm[] = { OOH_BINDIR "/ooh-vmwss", "--replay", path, "--json", "--interval", "2000",
		       "--window", "3", "--tolerance", "0.1", NULL };
	int st_wss = ooh_run(wss, out_wss, sizeof(out_wss), 0, false);
	int st_vm = ooh_run(vm, out_vm, sizeof(out_vm), 0, false);

	unlink(path);
	ck_assert_msg(WIFEXITED(st_wss) && WEXITSTATUS(st_wss) == 0, "ooh-wss: %s", out_wss);
	ck_assert_msg(WIFEXITED(st_vm) && WEXITSTATUS(st_vm) == 0, "ooh-vmwss: %s", out_vm);

	struct wss_plateau off[N], sum[N];
	struct report rep[N];
	int n = wss_plateaus(out_wss, 2.0, off, N);

	ck_assert_msg(n == NR_EXPECTED, "ooh-wss found %d plateaus:\n%s", n, out_wss);
	for (int i = 0; i < n; i++) {
		off[i].found = off[i].first + 2;	/* window 3 */
		assert_same(&off[i], &expected[i], i);
	}
	ck_assert_msg(vmwss_summary(out_vm, sum, N) == n, "%s", out_vm);
	ck_assert_msg(vmwss_reports(out_vm, rep, N) == n, "%s", out_vm);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(sum[i].first, off[i].first);
		ck_assert_uint_eq(sum[i].last, off[i].last);
		ck_assert_double_eq(sum[i].level, off[i].level);
		ck_assert_uint_eq(rep[i].at, off[i].found);
		ck_assert_double_eq(rep[i].level, off[i].level);
	}
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("wss-online-offline");
	TCase *tc = tcase_create("online-offline");

	tcase_add_test(tc, the_series_has_the_expected_plateaus);
	tcase_add_loop_test(tc, offline_and_online_find_the_same_plateaus, 0,
			    sizeof(params) / sizeof(params[0]));
	tcase_add_test(tc, ooh_wss_and_ooh_vmwss_agree_on_a_recording);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
