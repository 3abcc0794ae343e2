// SPDX-License-Identifier: MIT
/*
 * The working-set estimator (wss-estimator/): finds each phase's level,
 * only stable ones, rides out one outlier interval, ends a plateau at its
 * last agreeing interval, and refuses bad parameters.
 */
#include <errno.h>

#include "../../harness/ooh_check.h"
#include "wss-estimator.h"

/* ooh-vmwss's defaults */
static const struct wss_params vm = { .window = 3, .tolerance = 0.1, .slack = WSS_SLACK_PAGES };

static unsigned int feed(struct wss_estimator *est, const double *v, int n)
{
	unsigned int found = 0;

	for (int i = 0; i < n; i++) {
		int r = wss_estimator_add(est, v[i]);

		ck_assert_int_ge(r, 0);
		found += (unsigned int)r;
	}
	return found;
}

static double level(const struct wss_estimator *est)
{
	const struct wss_plateau *pl = wss_estimator_current(est);

	ck_assert_ptr_nonnull(pl);
	return pl->level;
}

START_TEST(finds_each_phase)
{
	/* idle ~70, then ~1100 (4 MiB + noise), then ~4200 (16 MiB + noise) */
	const double idle[] = { 300, 72, 69, 75, 70 };
	const double small[] = { 700, 1110, 1099, 1188, 1120 };
	const double big[] = { 3000, 4191, 4436, 4300, 4250 };
	struct wss_estimator est;

	ck_assert_int_eq(wss_estimator_init(&est, &vm), 0);
	ck_assert_uint_eq(feed(&est, idle, 5), 1);
	ck_assert_double_eq(level(&est), 72);	/* the median of 72, 69, 75 */
	ck_assert_uint_eq(feed(&est, small, 5), 1);
	ck_assert_double_eq(level(&est), 1110);
	ck_assert_uint_eq(feed(&est, big, 5), 1);
	ck_assert_double_eq(level(&est), 4300);
	ck_assert_uint_eq(est.nr_plateaus, 3);
	/* each plateau ends at its phase's last interval */
	ck_assert_uint_eq(est.plateaus[0].first, 1);
	ck_assert_uint_eq(est.plateaus[0].last, 4);
	ck_assert_uint_eq(est.plateaus[1].first, 6);
	ck_assert_uint_eq(est.plateaus[1].last, 9);
	ck_assert_uint_eq(est.plateaus[2].first, 11);
	ck_assert_uint_eq(est.plateaus[2].last, 14);
	wss_estimator_free(&est);
}
END_TEST

START_TEST(no_plateau_while_unstable)
{
	const double ramp[] = { 100, 200, 300, 400, 500, 600, 700, 800 };
	struct wss_estimator est;

	ck_assert_int_eq(wss_estimator_init(&est, &vm), 0);
	ck_assert_uint_eq(feed(&est, ramp, 8), 0);
	ck_assert_ptr_null(wss_estimator_current(&est));
	wss_estimator_free(&est);
}
END_TEST

START_TEST(zero_is_a_plateau_only_with_slack)
{
	const double zero[] = { 0, 0, 0, 0 };
	struct wss_params p = { .window = 2, .tolerance = 0.1, .slack = 0 };
	struct wss_estimator est;

	/* without slack the band around 0 has no width: nothing agrees */
	ck_assert_int_eq(wss_estimator_init(&est, &p), 0);
	ck_assert_uint_eq(feed(&est, zero, 4), 0);
	wss_estimator_free(&est);
	/* with it, a process that only reads has a write set of 0 */
	p.slack = WSS_SLACK_PAGES;
	ck_assert_int_eq(wss_estimator_init(&est, &p), 0);
	ck_assert_uint_eq(feed(&est, zero, 4), 1);
	ck_assert_double_eq(level(&est), 0);
	wss_estimator_free(&est);
}
END_TEST

START_TEST(one_outlier_ends_no_plateau)
{
	const double v[] = { 1000, 1010, 990, 1005, 5000, 1000, 995, 1002 };
	struct wss_params p = vm;
	struct wss_estimator est;

	for (p.window = 3; p.window <= 4; p.window++) {
		ck_assert_int_eq(wss_estimator_init(&est, &p), 0);
		ck_assert_uint_eq(feed(&est, v, 8), 1);
		ck_assert_uint_eq(est.plateaus[0].first, 0);
		ck_assert_uint_eq(est.plateaus[0].last, 7);
		wss_estimator_free(&est);
	}
}
END_TEST

START_TEST(unknown_intervals_start_nothing)
{
	/* W = 3: an unknown interval in every window of the first six */
	const double v[] = { 1000, WSS_UNKNOWN, 1000, 1000, WSS_UNKNOWN, 1000, 1000, 1000 };
	struct wss_estimator est;

	ck_assert_int_eq(wss_estimator_init(&est, &vm), 0);
	ck_assert_uint_eq(feed(&est, v, 6), 0);
	ck_assert_uint_eq(feed(&est, v + 6, 2), 1);
	ck_assert_uint_eq(est.plateaus[0].first, 5);
	/* and alone, like any outlier, one ends no plateau */
	ck_assert_uint_eq(feed(&est, (const double[]){ WSS_UNKNOWN, 1000 }, 2), 0);
	ck_assert_uint_eq(est.plateaus[0].last, 9);
	ck_assert_ptr_nonnull(wss_estimator_current(&est));
	wss_estimator_free(&est);
}
END_TEST

START_TEST(bad_parameters_are_einval)
{
	struct wss_estimator est;
	struct wss_params p = vm;

	p.window = 1;
	ck_assert_int_eq(wss_estimator_init(&est, &p), -EINVAL);
	p = vm;
	p.tolerance = 0;
	ck_assert_int_eq(wss_estimator_init(&est, &p), -EINVAL);
	p.tolerance = 1.5;
	ck_assert_int_eq(wss_estimator_init(&est, &p), -EINVAL);
	p.tolerance = NAN;
	ck_assert_int_eq(wss_estimator_init(&est, &p), -EINVAL);
	p = vm;
	p.slack = -1;
	ck_assert_int_eq(wss_estimator_init(&est, &p), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("wss-estimator");
	TCase *tc = tcase_create("estimator");

	tcase_add_test(tc, finds_each_phase);
	tcase_add_test(tc, no_plateau_while_unstable);
	tcase_add_test(tc, zero_is_a_plateau_only_with_slack);
	tcase_add_test(tc, one_outlier_ends_no_plateau);
	tcase_add_test(tc, unknown_intervals_start_nothing);
	tcase_add_test(tc, bad_parameters_are_einval);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
