// SPDX-License-Identifier: MIT
/* The plateau detector: finds each phase's level, and only stable ones. */
#include <errno.h>

#include "../../harness/ooh_check.h"
#include "vmwss.h"

static unsigned int feed(struct vmwss_estimator *est, const double *v, int n)
{
	unsigned int found = 0;

	for (int i = 0; i < n; i++)
		found += vmwss_estimator_add(est, v[i]);
	return found;
}

START_TEST(finds_each_phase)
{
	/* idle ~70, then ~1100 (4 MiB + noise), then ~4200 (16 MiB + noise) */
	const double idle[] = { 300, 72, 69, 75, 70 };
	const double small[] = { 700, 1110, 1099, 1188, 1120 };
	const double big[] = { 3000, 4191, 4436, 4300, 4250 };
	struct vmwss_estimator est;

	ck_assert_int_eq(vmwss_estimator_init(&est, 3, 0.1), 0);
	ck_assert_uint_eq(feed(&est, idle, 5), 1);
	ck_assert(est.stable);
	ck_assert_double_eq_tol(est.estimate, (72 + 69 + 75) / 3.0, 1e-9);
	ck_assert_uint_eq(feed(&est, small, 5), 1);
	ck_assert_double_eq_tol(est.estimate, (1110 + 1099 + 1188) / 3.0, 1e-9);
	ck_assert_uint_eq(feed(&est, big, 5), 1);
	ck_assert_double_eq_tol(est.estimate, (4191 + 4436 + 4300) / 3.0, 1e-9);
	ck_assert_uint_eq(est.phase, 3);
	vmwss_estimator_free(&est);
}
END_TEST

START_TEST(no_plateau_while_unstable)
{
	const double ramp[] = { 100, 200, 300, 400, 500, 600, 700, 800 };
	struct vmwss_estimator est;

	ck_assert_int_eq(vmwss_estimator_init(&est, 3, 0.1), 0);
	ck_assert_uint_eq(feed(&est, ramp, 8), 0);
	ck_assert(!est.stable);
	vmwss_estimator_free(&est);
}
END_TEST

START_TEST(an_idle_vm_of_zero_is_no_plateau)
{
	const double zero[] = { 0, 0, 0, 0 };
	struct vmwss_estimator est;

	ck_assert_int_eq(vmwss_estimator_init(&est, 2, 0.1), 0);
	ck_assert_uint_eq(feed(&est, zero, 4), 0);
	vmwss_estimator_free(&est);
}
END_TEST

START_TEST(bad_parameters_are_einval)
{
	struct vmwss_estimator est;

	ck_assert_int_eq(vmwss_estimator_init(&est, 1, 0.1), -EINVAL);
	ck_assert_int_eq(vmwss_estimator_init(&est, 3, 0), -EINVAL);
	ck_assert_int_eq(vmwss_estimator_init(&est, 3, 1.5), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("vmwss");
	TCase *tc = tcase_create("estimate");

	tcase_add_test(tc, finds_each_phase);
	tcase_add_test(tc, no_plateau_while_unstable);
	tcase_add_test(tc, an_idle_vm_of_zero_is_no_plateau);
	tcase_add_test(tc, bad_parameters_are_einval);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
