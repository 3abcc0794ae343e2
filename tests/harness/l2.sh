# shellcheck shell=sh
# l2_boot NAME OOH-L0-ARGS...: boots L2 under ooh-l0 inside L1 and returns
# ooh-l0's exit status, or 74 if ooh-l0 said 0 but L2's init never printed
# "OOH-L2-EXIT 0" (ooh-l0 exits 0 for a guest that halts for good, and a
# kernel that stopped early halts too: status 0 alone proves nothing), or 75
# if ooh-l0's --timeout ended a guest (72) whose init never reported any
# status (L2 hung; a payload that reported and then hung keeps 72).
# In this rig L2 runs on KVM inside an L1 that QEMU TCG emulates, and L2
# now and then ends in a triple fault, halts early or hangs, the emulation's,
# not the test's (docs/abi.md, "Rig caveat"): such a boot (73, 74, 75) is
# reported as SKIP with its console tail (prefixed, so its results are not
# counted) and booted again, up to three times in all. 73/74 after the
# third is the caller's to report (l2_crashed tells); a hang in all three
# is returned as the time-out (72), a failure: three in a row point at our
# code more than at the emulation. Needs result.sh.
l2_boot() {
	name=$1
	shift
	attempt=1
	while :; do
		out=/tmp/l2-boot-$name.$attempt
		"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" "$@" \
			>"$out" 2>&1
		status=$?
		if [ "$status" = 0 ] && ! grep -q 'OOH-L2-EXIT 0' "$out"; then
			status=74
		elif [ "$status" = 72 ] && ! grep -q 'OOH-L2-EXIT' "$out"; then
			status=75
		fi
		if ! l2_crashed "$status"; then
			cat "$out"
			return "$status"
		fi
		sed 's/^/crashed-run: /' "$out" | tail -n 25
		if [ $attempt -ge 3 ]; then
			[ "$status" = 75 ] && return 72
			return "$status"
		fi
		if [ "$status" = 73 ]; then
			ooh_skip "$name-boot-$attempt" "L2 triple fault in the nested rig (status 73): booting again"
		elif [ "$status" = 75 ]; then
			ooh_skip "$name-boot-$attempt" "L2 hung until ooh-l0's --timeout, its payload never reported a status: booting again"
		else
			ooh_skip "$name-boot-$attempt" "L2 halted before its payload reported a status: booting again"
		fi
		attempt=$((attempt + 1))
	done
}

# l2_crashed STATUS: true for the statuses l2_boot retries.
l2_crashed() {
	[ "$1" = 73 ] || [ "$1" = 74 ] || [ "$1" = 75 ]
}
