#!/bin/sh
# Sub-page protection in the rig: libooh's software backend (mprotect +
# single-step; parking, since QEMU's EPYC model has no protection keys) in
# L1 (Debian 6.1 under TCG), then the same checks in L2 under ooh-l0.
# The ooh (virtual SPP) backend is not built yet: the selftest says SKIP.
. "$OOH_TESTS/harness/result.sh"
fail=0
if [ ! -x "$OOH_BIN/ooh-spp-selftest" ]; then
	ooh_fail spp-binaries "ooh-spp-selftest missing in $OOH_BIN"
	exit 1
fi
"$OOH_BIN/ooh-spp-selftest" > /tmp/ooh-spp-selftest.out 2>&1
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

. "$OOH_TESTS/harness/l2.sh"
l2_boot l2-spp --mem 256M --cpus 2 --timeout 240 --append "quiet ooh.run=/ooh/tests/l2/spp-suite.sh"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l2-spp "ooh-l0 -> L2 -> ooh-spp-selftest, status 0"
else
	ooh_fail l2-spp "ooh-l0 exited with $status"
	fail=1
fi
exit $fail
