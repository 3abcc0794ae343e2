// SPDX-License-Identifier: MIT
/*
 * ooh-test-kvm-tiny [DEVICE]: the smallest end-to-end check that KVM works
 * where it runs (inside the rig's L1, or on the machine's own /dev/kvm).
 * Prints one result line per check (tests/harness/result.sh's protocol).
 */
#include <stdio.h>
#include <string.h>

#include "kvm-tiny.h"

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/kvm";
	struct tiny_run run;
	int failures = 0;

	if (tiny_boot(dev, &run) < 0) {
		printf("OOH-RESULT FAIL kvm-tiny-boot %s\n", run.error);
		return 1;
	}
	printf("OOH-RESULT PASS kvm-tiny-boot %d exits\n", run.exits);
	printf("guest said: %s", run.text);
	if (strcmp(run.text, TINY_EXPECTED_TEXT) == 0) {
		printf("OOH-RESULT PASS kvm-tiny-output\n");
	} else {
		printf("OOH-RESULT FAIL kvm-tiny-output got \"%s\"\n", run.text);
		failures++;
	}
	if (run.result == TINY_EXPECTED_RESULT && run.halted) {
		printf("OOH-RESULT PASS kvm-tiny-compute 6*7=42, then hlt\n");
	} else {
		printf("OOH-RESULT FAIL kvm-tiny-compute result %d halted %d\n",
		       run.result, run.halted);
		failures++;
	}
	return failures ? 1 : 0;
}
