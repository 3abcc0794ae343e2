#!/bin/sh
# L1 payload (l1/ooh-rig run bench/gc-l2-bench-l1.sh): ooh-l0 boots L2 on
# 2 vCPUs, which runs ooh-gc-bench there (tests/l2/gc-bench.sh): Boehm
# stop-the-world and Boehm's incremental mode beside libooh-gc on libooh's
# ooh-epml backend (the OoH path), in the same run; prints OOH-BENCH lines.
# Not part of make check: under nested TCG it takes about half an hour.
. "$OOH_TESTS/harness/result.sh"
"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
	--mem 512M --cpus 2 --timeout 1700 \
	--append "quiet ooh.run=/ooh/tests/l2/gc-bench.sh"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l2-gc-bench "status 0"
else
	ooh_fail l2-gc-bench "ooh-l0 exited with $status"
fi
