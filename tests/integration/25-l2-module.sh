#!/bin/sh
# The whole stack: inside L1, ooh-l0 boots L2, which loads ooh.ko, finds
# ooh-l0 below it and runs the /dev/ooh suite; L2's results come back
# through ooh-l0's serial console, and its status as ooh-l0's exit status.
. "$OOH_TESTS/harness/result.sh"
"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
	--mem 256M --timeout 180 --append "quiet ooh.run=/ooh/tests/l2/module.sh"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l2-stack "ooh-l0 -> L2 -> ooh.ko -> /dev/ooh, status 0"
else
	ooh_fail l2-stack "ooh-l0 exited with $status"
fi
