#!/bin/sh
# Sub-page protection in the rig.
# L1 (Debian 6.1 under TCG, -cpu EPYC: no protection keys): libooh's
# software backend (mprotect + single-step, parking).
# L2 under ooh-l0: OoH virtual SPP through ooh.ko, libooh's "ooh" backend
# (tests/l2/spp-suite.sh: selftest, the SPP Check suites, the malicious
# guest, the benchmark). The software backend in L2 is opt-in (an empty
# file include/spp-l2 via `l1/ooh-rig --include DIR`): it single-steps, and
# under QEMU 7.2 TCG's emulated SVM that has reset L2 and then L1 itself
# (seen 2026-11-22: QEMU exits, every later test is lost).
. "$OOH_TESTS/harness/result.sh"
fail=0
if [ ! -x "$OOH_BIN/ooh-spp-selftest" ]; then
	ooh_fail spp-binaries "ooh-spp-selftest missing in $OOH_BIN"
	exit 1
fi
OOH_SPP_TEST_BACKENDS=mprotect "$OOH_BIN/ooh-spp-selftest" > /tmp/ooh-spp-selftest.out 2>&1
st=$?
while read -r status name detail; do
	case $status in
	PASS) ooh_pass "l1-$name" "$detail" ;;
	FAIL) ooh_fail "l1-$name" "$detail"; fail=1 ;;
	SKIP) ooh_skip "l1-$name" "$detail" ;;
	*) echo "$status $name $detail" ;;
	esac
done < /tmp/ooh-spp-selftest.out
if [ "$st" != 0 ] && [ "$fail" = 0 ]; then
	ooh_fail l1-spp-selftest "exited with status $st"
	fail=1
fi
# the software backend's cost here, next to the ooh backend's in L2
"$OOH_BIN/ooh-bench-spp" --quick --backend mprotect 2>&1 | sed 's/^/bench-spp-l1: /'

# ooh-guard (LD_PRELOAD=libooh-guard.so) on the software backend: its Check
# suite (counted as it is), sizes 1..1024 for the every-size cases (each
# write to a page that holds a guard is single-stepped, slow under TCG),
# without the Debian programs: L1's image is static busybox, which no
# LD_PRELOAD reaches, and has no perl or xz.
if [ -x "$OOH_BIN/ooh-test-guard" ]; then
	start=$(cut -d' ' -f1 /proc/uptime)
	OOH_GUARD_TEST_BINDIR=$OOH_BIN OOH_GUARD_TEST_LIBDIR=/ooh/lib OOH_GUARD_TEST_SUBSET=rig \
		OOH_GUARD_TEST_MAXSIZE=1024 OOH_GUARD_TEST_TIMEOUT=300 OOH_GUARD_BACKEND=mprotect CK_TIMEOUT_MULTIPLIER=4 \
		"$OOH_BIN/ooh-test-guard" 2>&1 || fail=1
	echo "l1-guard: $(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f", b - a }') s"
	ooh_skip l1-guard-real-programs "perl, xz, sort: L1's image has only static busybox (LD_PRELOAD does not reach it); they run on the host"
else
	ooh_fail l1-guard-binaries "ooh-test-guard missing in $OOH_BIN"
	fail=1
fi

sw=
[ -f /ooh/include/spp-l2 ] && sw=" ooh.spp_sw=1"
# ooh-test-budget's cycles (default 300): a file include/budget-cycles
# holding N (`l1/ooh-rig --include DIR`), ~0.11 s each in the loaded rig
timeout=300
if [ -f /ooh/include/budget-cycles ]; then
	n=$(cat /ooh/include/budget-cycles)
	sw="$sw ooh.budget_cycles=$n"
	timeout=$((300 + n / 8))
fi
. "$OOH_TESTS/harness/l2.sh"
l2_boot l2-spp --mem 256M --cpus 2 --timeout $timeout \
	--append "quiet ooh.run=/ooh/tests/l2/spp-suite.sh$sw"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l2-spp "ooh-l0 -> L2 -> ooh.ko -> libooh ooh backend, status 0"
elif l2_crashed "$status"; then
	ooh_skip l2-spp "L2 crashed in all 3 boots, last with status $status (the TCG-emulated nested rig)"
else
	ooh_fail l2-spp "ooh-l0 exited with $status"
	fail=1
fi
exit $fail
