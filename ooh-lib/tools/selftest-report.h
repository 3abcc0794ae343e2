/* SPDX-License-Identifier: MIT */
/*
 * The result lines of the dependency-free self-tests (ooh-lib-selftest,
 * ooh-spp-selftest): "PASS|FAIL|SKIP name detail", which the rig's
 * integration scripts turn into OOH-RESULT lines. Each program includes
 * this once.
 */
#ifndef OOH_SELFTEST_REPORT_H
#define OOH_SELFTEST_REPORT_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void result(const char *status, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %s ", status, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!strcmp(status, "FAIL"))
		failures++;
}

#endif
