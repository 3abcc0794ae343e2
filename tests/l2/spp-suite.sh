#!/bin/sh
# Inside L2, under ooh-l0 (2 vCPUs): OoH virtual SPP end to end. ooh.ko
# loads and finds SPP below; then, on libooh's "ooh" backend only:
# ooh-spp-selftest (1-byte overflow at the exact address, every byte,
# straddling stores, threads, fork, munmap, no handler), the SPP Check
# suites (the ones the host runs on the software backend), ooh-guard's
# Check suite (a subset, OOH_GUARD_BACKEND=ooh), the malicious
# guest against the SPP hypercalls, the per-user limits (ooh-test-budget),
# the cost per write, and the module unloads. Kernel parameter
# ooh.spp_sw=1 adds libooh's software backend
# (single-stepping; see 45-ooh-spp.sh for why it is opt-in here).
. "$OOH_TESTS/harness/result.sh"
backends=ooh
# open/protect/close cycles of ooh-test-budget: 300 (~20 s under nested
# TCG; a leak of one object per cycle shows as well as in 10 000, which
# take ~15 min: ooh.budget_cycles=N, see 45-ooh-spp.sh)
cycles=300
for arg in $(cat /proc/cmdline); do
	case $arg in
	ooh.spp_sw=1) backends=ooh,mprotect ;;
	ooh.budget_cycles=*) cycles=${arg#ooh.budget_cycles=} ;;
	esac
done
export OOH_SPP_TEST_BACKENDS=$backends
fail=0
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail l2-spp-module-load "insmod: $err"
	exit 1
fi
dmesg | grep 'ooh:' | tail -1
if [ -c /dev/ooh ]; then
	ooh_pass l2-spp-module-load "/dev/ooh present"
else
	ooh_fail l2-spp-module-load "no /dev/ooh"
	fail=1
fi

"$OOH_BIN/ooh-spp-selftest" > /tmp/spp.out 2>&1
st=$?
while read -r status name detail; do
	case $status in
	PASS) ooh_pass "l2-$name" "$detail" ;;
	FAIL) ooh_fail "l2-$name" "$detail"; fail=1 ;;
	SKIP)
		# the ooh backend must be usable here: its SKIP is a failure
		if [ "$name" = ooh ]; then
			ooh_fail "l2-spp-ooh-usable" "$detail"
			fail=1
		else
			ooh_skip "l2-$name" "$detail"
		fi ;;
	*) echo "$status $name $detail" ;;
	esac
done < /tmp/spp.out
if [ "$st" != 0 ] && [ "$fail" = 0 ]; then
	ooh_fail l2-spp-selftest "exited with status $st"
	fail=1
fi

# The Check suites (their lines are counted as they are)
for t in "$OOH_BIN"/ooh-test-spp-*; do
	[ -x "$t" ] || continue
	case $t in *-evil) continue ;; esac
	"$t" 2>&1 || fail=1
done
"$OOH_BIN/ooh-test-spp-evil" || fail=1

# ooh-guard (LD_PRELOAD=libooh-guard.so) on the ooh backend: a subset of
# its Check suite (exact overflows of sizes 1..256 and up to 1 MiB,
# underflow, write after free, double and invalid free, 4 threads, a
# correct program): each write to a protected page is a VM exit here
if [ -x "$OOH_BIN/ooh-test-guard" ]; then
	OOH_GUARD_TEST_BINDIR=$OOH_BIN OOH_GUARD_TEST_LIBDIR=/ooh/lib OOH_GUARD_TEST_SUBSET=l2 \
		OOH_GUARD_TEST_MAXSIZE=256 OOH_GUARD_TEST_TIMEOUT=300 OOH_GUARD_BACKEND=ooh CK_TIMEOUT_MULTIPLIER=4 \
		"$OOH_BIN/ooh-test-guard" 2>&1 || fail=1
else
	ooh_fail l2-guard-binaries "ooh-test-guard missing in $OOH_BIN"
	fail=1
fi

# What unprivileged users may take (RLIMIT_MEMLOCK, per-user budgets,
# memcg, nothing left behind): children drop to uids 65534 and 65533
OOH_BUDGET_CYCLES=$cycles "$OOH_BIN/ooh-test-budget" || fail=1
for p in max_user_sessions max_user_spp_pages reserved_sessions reserved_spp_pages; do
	if dmesg | grep -q "ooh: uid 6553[34]: .* (parameter $p)"; then
		ooh_pass "l2-budget-warns-$p" "$(dmesg | grep -c "(parameter $p)") rate-limited messages"
	else
		ooh_fail "l2-budget-warns-$p" "no message naming $p"
		fail=1
	fi
done

# Cost per write (a figure, not a test)
"$OOH_BIN/ooh-bench-spp" --quick --backend ooh 2>&1 | sed 's/^/bench-spp-l2: /'

if rmmod ooh 2>/dev/null; then
	ooh_pass l2-spp-module-unload
else
	ooh_fail l2-spp-module-unload "rmmod failed"
	fail=1
fi
exit $fail
