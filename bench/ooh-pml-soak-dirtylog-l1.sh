#!/bin/sh
# L1 payload: as ooh-pml-soak-l1.sh, with KVM dirty logging on in ooh-l0
# from the start (OOH_L0_DIRTY_LOG=always) and no OoH session: ring-full
# exits harvest and discard. Tells dirty-logging faults from OoH ones.
. "$OOH_TESTS/harness/result.sh"
OOH_SOAK_DIRTY_LOG=always # KVM dirty logging on the whole time, no OoH session
OOH_L0_DIRTY_LOG=${OOH_SOAK_DIRTY_LOG:-} "$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
	--mem 256M --cpus 2 --timeout 900 \
	--append "quiet ooh.run=/ooh/tests/l2/pml-soak.sh ooh.soak=${OOH_SOAK:-240}"
status=$?
echo "ooh-soak: dirty log ${OOH_SOAK_DIRTY_LOG:-on demand}"
if [ "$status" = 0 ]; then
	ooh_pass l2-soak-l0 "L2 soak under ooh-l0, status 0"
else
	ooh_fail l2-soak-l0 "ooh-l0 exited with $status"
fi
