#!/bin/sh
# Inside L1 (Debian 6.1: soft-dirty built in, no PAGEMAP_SCAN, userfaultfd
# write-protect yes): `ooh backends` must say exactly that, with a reason
# for pagemap, and the library's self-check (differential tests of every
# usable backend on itself and on a child process) must pass there.
. "$OOH_TESTS/harness/result.sh"
fail=0
B=$OOH_BIN
if [ ! -x "$B/ooh" ] || [ ! -x "$B/ooh-lib-selftest" ]; then
	ooh_fail ooh-lib-binaries "ooh or ooh-lib-selftest missing in $B"
	exit 1
fi

out=$("$B/ooh" backends 2>&1)
echo "$out"
check_line() { # name, pattern, what
	if echo "$out" | grep -q "$2"; then
		ooh_pass "$1" "$(echo "$out" | grep "$2" | head -n 1)"
	else
		ooh_fail "$1" "$3: $(echo "$out" | tr '\n' ';')"
		fail=1
	fi
}
check_line ooh-backends-softdirty-usable '^softdirty  *usable' "soft-dirty should work on this kernel"
check_line ooh-backends-uffd-usable '^uffd  *usable' "userfaultfd write-protect should work"
check_line ooh-backends-mprotect-usable '^mprotect  *usable' "mprotect should work"
check_line ooh-backends-pagemap-refused '^pagemap  *UNUSABLE  *[A-Za-z]' "pagemap must be refused with a reason"

json=$("$B/ooh" backends --json 2>&1)
if echo "$json" | grep -q '"name":"pagemap","usable":false' &&
   echo "$json" | grep -q '"name":"softdirty","usable":true'; then
	ooh_pass ooh-backends-json
else
	ooh_fail ooh-backends-json "$json"
	fail=1
fi

# Self-check: PASS|FAIL|SKIP <name> <detail> lines, one per check.
"$B/ooh-lib-selftest" --usable softdirty,uffd,mprotect --unusable pagemap > /tmp/ooh-lib-selftest.out 2>&1
st=$?
while read -r status name detail; do
	case $status in
	PASS) ooh_pass "ooh-lib-$name" "$detail" ;;
	FAIL) ooh_fail "ooh-lib-$name" "$detail"; fail=1 ;;
	SKIP) ooh_skip "ooh-lib-$name" "$detail" ;;
	*) echo "$status $name $detail" ;;
	esac
done < /tmp/ooh-lib-selftest.out
if [ "$st" != 0 ] && [ "$fail" = 0 ]; then
	ooh_fail ooh-lib-selftest "exited with status $st"
	fail=1
fi

# The command tracks a program it starts (soft-dirty is the best one here).
out=$("$B/ooh" track --interval 100 --count 3 -- sh -c 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; sleep 1' 2>&1)
st=$?
echo "$out"
n=$(echo "$out" | grep -c '^interval [0-9]')
if [ "$st" = 0 ] && [ "$n" -ge 1 ] && echo "$out" | grep -q 'with softdirty'; then
	ooh_pass ooh-track-command "$n intervals with softdirty"
else
	ooh_fail ooh-track-command "status $st, $n intervals: $(echo "$out" | tr '\n' ';')"
	fail=1
fi
exit $fail
