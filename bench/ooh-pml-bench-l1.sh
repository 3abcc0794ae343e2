#!/bin/sh
# L1 payload (l1/ooh-rig run bench/ooh-pml-bench-l1.sh): ooh-l0 boots L2 on
# 2 vCPUs, which runs the OoH-PML benchmark (bench/ooh-pml-bench.c) and
# prints OOH-BENCH lines.
. "$OOH_TESTS/harness/result.sh"
"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
	--mem 256M --cpus 2 --timeout 900 \
	--append "quiet ooh.run=/ooh/tests/l2/pml-bench.sh"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l2-pml-bench "status 0"
else
	ooh_fail l2-pml-bench "ooh-l0 exited with $status"
fi
