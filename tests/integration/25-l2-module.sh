#!/bin/sh
# The whole stack: inside L1, ooh-l0 boots L2, which loads ooh.ko, finds
# ooh-l0 below it and runs the /dev/ooh suite; L2's results come back
# through ooh-l0's serial console, and its status as ooh-l0's exit status
# (l2_boot also wants L2's init to have reported it: tests/harness/l2.sh).
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2.sh"
l2_boot l2-stack --mem 256M --timeout 180 --append "quiet ooh.run=/ooh/tests/l2/module.sh"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l2-stack "ooh-l0 -> L2 -> ooh.ko -> /dev/ooh, status 0"
elif l2_crashed "$status"; then
	ooh_skip l2-stack "L2 crashed in all 3 boots, last with status $status (the TCG-emulated nested rig)"
else
	ooh_fail l2-stack "ooh-l0 exited with $status"
	exit 1
fi
