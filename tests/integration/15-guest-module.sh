#!/bin/sh
# Inside L1: ooh.ko loads, creates /dev/ooh, answers its ABI correctly with
# no OoH hypervisor below (L1 runs on QEMU, not ooh-l0), and unloads.
. "$OOH_TESTS/harness/result.sh"
ko=$OOH_MODULES/ooh.ko
if ! err=$(insmod "$ko" 2>&1); then
	ooh_fail module-load "insmod $ko: $err"
	exit 1
fi
ooh_pass module-load
if dmesg | grep -q 'ooh: no OoH hypervisor below'; then
	ooh_pass module-discovery-absent "no OoH CPUID signature under QEMU"
else
	ooh_fail module-discovery-absent "$(dmesg | grep 'ooh:' | tail -1)"
fi
OOH_LEVEL=dev-L1 OOH_EXPECT_HV=0 "$OOH_BIN/ooh-test-dev"
status=$?
if rmmod ooh && [ ! -e /dev/ooh ]; then
	ooh_pass module-unload
else
	ooh_fail module-unload "rmmod failed or /dev/ooh still present"
fi
exit $status
