#!/bin/sh
# Inside L2, under ooh-l0 (Debian 6.1 guest kernel, QEMU's EPYC model: no
# protection keys): libooh's software sub-page protection, every check of
# ooh-spp-selftest (exact address, neighbours land, straddling stores,
# threads, fork, munmap, no handler), run in the nested guest.
. "$OOH_TESTS/harness/result.sh"
"$OOH_BIN/ooh-spp-selftest" > /tmp/spp.out 2>&1
st=$?
fail=0
while read -r status name detail; do
	case $status in
	PASS) ooh_pass "l2-$name" "$detail" ;;
	FAIL) ooh_fail "l2-$name" "$detail"; fail=1 ;;
	SKIP) ooh_skip "l2-$name" "$detail" ;;
	*) echo "$status $name $detail" ;;
	esac
done < /tmp/spp.out
if [ "$st" != 0 ] && [ "$fail" = 0 ]; then
	ooh_fail l2-spp-selftest "exited with status $st"
	fail=1
fi
exit $fail
