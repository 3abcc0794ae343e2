# shellcheck shell=sh
# l2_boot NAME OOH-L0-ARGS...: boots L2 under ooh-l0 inside L1 and returns
# ooh-l0's exit status. In this rig L2 runs on KVM inside an L1 that QEMU
# TCG emulates, and L2 now and then ends in a triple fault that is the
# emulation's, not the test's (docs/abi.md, "Rig caveat"): a boot that ends
# so (status 73) is reported as SKIP with its console tail (prefixed, so its
# results are not counted) and booted again, up to three times in all.
# Status 73 after the third is the caller's to report. Needs result.sh.
l2_boot() {
	name=$1
	shift
	attempt=1
	while :; do
		out=/tmp/l2-boot-$name.$attempt
		"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" "$@" \
			>"$out" 2>&1
		status=$?
		if [ "$status" != 73 ]; then
			cat "$out"
			return $status
		fi
		sed 's/^/triple-faulted-run: /' "$out" | tail -n 25
		[ $attempt -lt 3 ] || return 73
		ooh_skip "$name-boot-$attempt" "L2 triple fault in the nested rig (status 73): booting again"
		attempt=$((attempt + 1))
	done
}
