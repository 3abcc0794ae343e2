#!/bin/sh
# ooh.ko's tracepoints (issue 19): inside L1, ooh-l0 boots L2 on 2 vCPUs,
# which loads ooh.ko and runs tests/l2/trace-suite.sh (ooh-test-trace:
# EPML and SPML sessions and an SPP refused write through /dev/ooh, their
# events counted exactly in the trace buffer). A few seconds of L2 time.
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2.sh"
l2_boot l2-trace --mem 256M --cpus 2 --timeout 180 \
	--append "quiet ooh.run=/ooh/tests/l2/trace-suite.sh"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l2-trace "ooh-l0 -> L2 -> ooh.ko tracepoints, status 0"
elif l2_crashed "$status"; then
	ooh_skip l2-trace "L2 crashed in all 3 boots, last with status $status (the TCG-emulated nested rig, docs/abi.md)"
else
	ooh_fail l2-trace "ooh-l0 exited with $status"
	exit 1
fi
