#!/bin/sh
# L1 payload (l1/ooh-rig run bench/ooh-pml-soak-l1.sh): boots L2 on 2 vCPUs
# under ooh-l0 running tests/l2/pml-soak.sh, without OoH activity. Used to
# tell nested-rig instability (triple faults) apart from OoH faults.
. "$OOH_TESTS/harness/result.sh"
# OOH_SOAK_DIRTY_LOG=always: with KVM dirty logging on the whole time
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
