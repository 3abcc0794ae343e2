# shellcheck shell=sh
# l2_boot NAME OOH-L0-ARGS...: boots L2 under ooh-l0 inside L1 and returns
# ooh-l0's exit status. In this rig L2 runs on KVM inside an L1 that QEMU
# TCG emulates, and L2 now and then ends in a triple fault that is the
# emulation's, not the test's (docs/abi.md, "Rig caveat"): a boot that ends
# so (status 73) is reported as SKIP with its console tail and retried once;
# a second one stands. Needs result.sh.
l2_boot() {
	name=$1
	shift
	first=/tmp/l2-boot-$name.first
	"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" "$@" \
		>"$first" 2>&1
	status=$?
	if [ "$status" != 73 ]; then
		cat "$first"
		return $status
	fi
	sed 's/^/first-run: /' "$first" | tail -n 25
	ooh_skip "$name-first-boot" "L2 triple fault in the nested rig (status 73): retrying once"
	"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" "$@"
}
