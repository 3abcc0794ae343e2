#!/bin/sh
# OoH-PML end to end: inside L1, ooh-l0 boots L2 on 2 vCPUs; L2 loads
# ooh.ko and runs tests/l2/pml-suite.sh (exact dirty sets in SPML and EPML
# mode against content hashes, two trackers, isolation, EPERM/ESRCH, target
# exit, overflow, the malicious guest). ooh-l0 must survive it all: its exit
# status is the suite's.
. "$OOH_TESTS/harness/result.sh"
"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
	--mem 256M --cpus 2 --timeout 900 \
	--append "quiet ooh.run=/ooh/tests/l2/pml-suite.sh"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l0-pml-survives "ooh-l0 -> L2 (2 vCPUs) -> ooh.ko sessions, status 0"
else
	ooh_fail l0-pml-survives "ooh-l0 exited with $status"
fi
