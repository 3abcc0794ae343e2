#!/bin/sh
# Inside L1: the unit tests that need a /dev/kvm (tests/unit/needs-kvm:
# micro-guests in real and long mode, ooh-l0's devices, shutdown paths, the
# OoH core) on L1's kvm-amd; the ASan + UBSan builds too when asked for
# (a file kvm-unit-asan in l1/ooh-rig's --include DIR: under TCG an ASan
# run of test-l0-cli has twice frozen L1, the emulation's, 2026-12-02).
# make check runs all of them on the host when it has a usable /dev/kvm; a
# kvm-pvm guest has none. Their Check lines are counted as they are.
. "$OOH_TESTS/harness/result.sh"
if [ ! -d /ooh/unit ]; then
	ooh_skip kvm-unit "no unit binaries in L1's image (build them first: make unit)"
	exit 0
fi
fail=0
export OOH_BIN_DIR=$OOH_BIN
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
variants=normal
[ -e /ooh/include/kvm-unit-asan ] && variants="normal asan"
for variant in $variants; do
	for t in $(grep -v '^#' "$OOH_TESTS/unit/needs-kvm"); do
		t=/ooh/unit/$variant/$t
		[ -x "$t" ] || continue
		out=/tmp/kvm-unit.out
		echo "kvm-unit: $variant/$(basename "$t")"
		# each case has its own Check time-out; this catches a hung binary
		timeout -s KILL 600 "$t" >"$out" 2>&1
		st=$?
		cat "$out"
		if [ "$st" != 0 ] && ! grep -qE '^[^:]+:[0-9]+:[FE]:' "$out"; then
			ooh_fail "kvm-unit-$variant-$(basename "$t")" "exited with status $st without a failed case"
			fail=1
		elif [ "$st" != 0 ]; then
			fail=1
		fi
	done
done
exit $fail
