/* SPDX-License-Identifier: MIT */
/*
 * Shared main() for Check unit-test binaries.
 *
 * Every suite runs verbosely so that each test prints Check's own line
 * ("file:line:P|F|E:tcase:test:n: message"); tests/run-tests counts those
 * lines into make check's summary.
 */
#ifndef OOH_TESTS_CHECK_H
#define OOH_TESTS_CHECK_H

#include <check.h>
#include <stdlib.h>

static inline int ooh_check_main(Suite *suite)
{
	SRunner *runner = srunner_create(suite);
	int failed;

	srunner_run_all(runner, CK_VERBOSE);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
