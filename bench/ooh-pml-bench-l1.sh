#!/bin/sh
# L1 payload (l1/ooh-rig run bench/ooh-pml-bench-l1.sh): ooh-l0 boots L2 on
# 2 vCPUs, which runs the OoH-PML benchmark (bench/ooh-pml-bench.c) and
# prints OOH-BENCH lines. Then L2 boots again and runs it under
# ooh-kvmstat --split-on stats, which watches the VM from its first
# instruction: for each phase the benchmark marked (OOH-BENCH-WINDOW
# lines: the phase's window and the guest's own counters) this prints, as
# "OOH-BENCH l1-..." lines, what L1 counted in that window beside what the
# guest's counters say: hypercalls per op, exits with their reasons, kicks,
# KVM_RUN returns. Two boots because watching slows every exit that
# reaches ooh-l0 (bench/kvmstat-overhead-l1.sh): the benchmark's own
# figures come from the first, unwatched boot, as before; the second boot's
# console is printed prefixed with "watched: ". OOH-RESULT
# l1-pml-bench-counts: the hypercalls and kicks L1 counted equal the
# guest's in every window. An L2 triple fault (docs/abi.md, "Rig caveat")
# is a SKIP and that boot is done again, up to 3 times in all.
# KVM_RUN returns: ooh-kvmstat counts every return of KVM_RUN; l0's
# vcpu_exits leaves out the -EINTR returns of a kicked vCPU (its kick_exits
# count harvest kicks; ooh-l0's halt check kicks every vCPU every 250 ms).
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2.sh"
. "$OOH_TESTS/harness/kvmstat-json.sh"
json=/tmp/pml-bench-kvmstat.json

# boot NAME [ooh-kvmstat ARGS... --]: ooh-l0 with the benchmark, its
# console in /tmp/NAME.log; again after an L2 crash (up to 3 boots)
boot() {
	name=$1
	shift
	attempt=1
	while :; do
		"$@" "$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
			--mem 256M --cpus 2 --timeout 900 \
			--append "quiet ooh.run=/ooh/tests/l2/pml-bench.sh" >/tmp/$name.log 2>/tmp/$name.err
		status=$?
		[ "$status" = 0 ] && ! grep -q 'OOH-L2-EXIT 0' /tmp/$name.log && status=74
		if l2_crashed "$status" && [ $attempt -lt 3 ]; then
			tail -n 5 /tmp/$name.log | sed 's/^/crashed-run: /'
			ooh_skip "$name-run-$attempt" "L2 crashed in the nested rig (status $status): again"
			attempt=$((attempt + 1))
			continue
		fi
		break
	done
	if [ "$status" = 0 ]; then
		ooh_pass "$name" "status 0"
	else
		ooh_fail "$name" "ooh-l0 exited with $status: $(tail -n 2 /tmp/$name.err | tr '\n' ' ')"
	fi
	return "$status"
}
boot l2-pml-bench env
cat /tmp/l2-pml-bench.log
boot l2-pml-bench-watched ooh-kvmstat --split-on stats --json -o $json --
st=$?
sed 's/^/watched: /' /tmp/l2-pml-bench-watched.log
[ "$st" = 0 ] || exit 0
log=/tmp/l2-pml-bench-watched.log

# "N k:v k:v" -> "k:v k:v" (the list of a kj answer), or "none"
rest() { r=${1#* }; [ "$r" = "$1" ] && r=none; echo "$r"; }
# "N k:v k:v" -> "N (k:v k:v)"
paren() { echo "${1%% *} ($(rest "$1"))"; }
# KEY=VALUE from the window line's details
key() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

phases=0 agree=0 disagree=
kj_window_lines $log >/tmp/pml-bench-windows
while read -r _ phase w details; do
	case $w in
	'' | *[!0-9]*)
		echo "OOH-BENCH l1-$phase n/a (no window: $w $details)"
		continue ;;
	esac
	exits=$(kj $json "$w" exits)
	uexits=$(kj $json "$w" uexits)
	hc=$(kj $json "$w" hypercalls) others=$(kj $json "$w" other-ops)
	case $phase in
	empty-hypercall)
		n=$(key pings "$details")
		calls=$(kj $json "$w" op ping calls) pexits=$(kj $json "$w" op ping exits)
		puser=$(kj $json "$w" op ping user_exits)
		echo "OOH-BENCH l1-empty-hypercall-exits-per-ping $(kj_div "$pexits" "$calls") exits ($calls ping calls counted in L1, the guest made $n: $pexits exits, $puser KVM_RUN returns; all exits of the window: $(paren "$exits"))"
		echo "OOH-BENCH l1-empty-hypercall-l0-time $(kj_div "$(kj $json "$w" op ping l0_ns)" "$((calls * 1000))") us (per ping, KVM_RUN return to the vCPU's next entry, counted in L1, the tracing's own cost included)"
		phases=$((phases + 1))
		if [ "$calls" = "$n" ]; then agree=$((agree + 1)); else disagree="$disagree $phase(ping $calls/$n)"; fi
		;;
	*-write-*)
		pages=$(key pages "$details")
		echo "OOH-BENCH l1-$phase-exits-per-page $(kj_div "${exits%% *}" "$pages") exits ($pages writes; counted in L1: exits $(paren "$exits"), KVM_RUN returns $(paren "$uexits"), dirty-ring pushes $(kj $json "$w" vcpu dirty_ring_pushes), hypercalls $(paren "$hc"), other ops $(paren "$others"))"
		;;
	*-untracked-pingpong)
		rounds=$(key rounds "$details")
		echo "OOH-BENCH l1-$phase-exits-per-round $(kj_div "${exits%% *}" "$rounds") exits (no session; counted in L1: $(paren "$exits"), KVM_RUN returns $(paren "$uexits"), hypercalls $(paren "$hc"))"
		;;
	*-collect-* | *-context-switch)
		kicks=$(kj $json "$w" op '*' kicks)
		ghc=$(key hypercalls "$details") gkicks=$(key kicks "$details") gret=$(key vcpu_exits "$details")
		rounds=$(key rounds "$details")
		guest_returns="the guest counted $gret with an exit + $gkicks harvest kicks"
		if [ -n "$rounds" ]; then
			m=${phase%-context-switch}
			sched=$(key sched_in "$details")
			[ "$sched" = 0 ] && sched=
			echo "OOH-BENCH l1-$m-context-switch-hypercalls ${hc%% *} hypercalls ($(rest "$hc"); $rounds ping-pong rounds${sched:+, $sched target sched-ins seen by the EPML hook}, counted in L1; the guest counted $ghc)"
			echo "OOH-BENCH l1-$m-exits-per-round $(kj_div "${exits%% *}" "$rounds") exits (counted in L1: $(paren "$exits"); other ops $(paren "$others"))"
			echo "OOH-BENCH l1-$m-kvm-run-returns ${uexits%% *} returns ($(rest "$uexits") over $rounds rounds, counted in L1; $guest_returns)"
		else
			echo "OOH-BENCH l1-$phase-hypercalls ${hc%% *} hypercalls ($(rest "$hc"), counted in L1; the guest counted $ghc)"
			echo "OOH-BENCH l1-$phase-kicks $kicks exits (other vCPUs stopped by the harvest, counted in L1; the guest counted $gkicks)"
			echo "OOH-BENCH l1-$phase-kvm-run-returns ${uexits%% *} returns ($(rest "$uexits"), counted in L1; $guest_returns)"
			echo "OOH-BENCH l1-$phase-exits ${exits%% *} exits ($(rest "$exits"), counted in L1; other ops $(paren "$others"))"
		fi
		phases=$((phases + 1))
		if [ "${hc%% *}" = "$ghc" ] && [ "$kicks" = "$gkicks" ]; then
			agree=$((agree + 1))
		else
			disagree="$disagree $phase(hypercalls ${hc%% *}/$ghc kicks $kicks/$gkicks)"
		fi
		;;
	esac
done </tmp/pml-bench-windows
if [ "$phases" = 0 ]; then
	ooh_fail l1-pml-bench-counts "no window to read: $(head -1 /tmp/pml-bench-windows)"
elif [ -n "$disagree" ]; then
	ooh_fail l1-pml-bench-counts "L1 (ooh-kvmstat) / guest counts differ in$disagree"
else
	ooh_pass l1-pml-bench-counts "$agree windows: the hypercalls and kicks ooh-kvmstat counted in L1 are the guest's"
fi
exit 0
