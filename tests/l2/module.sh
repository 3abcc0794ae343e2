#!/bin/sh
# Inside L2, under ooh-l0: ooh.ko loads, finds ooh-l0 through the OoH CPUID
# leaves, and /dev/ooh reports it.
. "$OOH_TESTS/harness/result.sh"
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail l2-module-load "insmod: $err"
	exit 1
fi
ooh_pass l2-module-load
found=$(dmesg | grep 'ooh: ooh-l0 found')
if [ -n "$found" ]; then
	ooh_pass l2-module-discovery "${found#*ooh: }"
else
	ooh_fail l2-module-discovery "$(dmesg | grep 'ooh:' | tail -1)"
fi
OOH_LEVEL=dev-L2 OOH_EXPECT_HV=1 "$OOH_BIN/ooh-test-dev"
