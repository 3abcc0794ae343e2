#!/bin/sh
# L1 payload (l1/ooh-rig run bench/ooh-bench-spp-l1.sh): the cost per write
# of OoH-SPP (bench/ooh-bench-spp.c, ooh backend, --quick, as
# tests/l2/spp-suite.sh runs it) in L2 on 2 vCPUs, with the exits per
# write counted in L1: ooh-kvmstat --split-on stats watches the VM from its
# first instruction, the benchmark marks each phase's window
# (OOH-BENCH-WINDOW lines, with what l0's counters say of it), and this
# prints per phase, as OOH-BENCH lines, the exits per write L1 counted
# (all of the window's, and those of op spp-permit / spp-refuse), the
# KVM_RUN returns, and l0's time per permitted or refused write.
# OOH-RESULT l1-spp-bench-counts: every permitted write is one spp-permit
# call with one npf exit, every refused one one spp-refuse call, as many
# as l0's counters say. An L2 triple fault is a SKIP and the run is done
# again, up to 3 times.
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2.sh"
. "$OOH_TESTS/harness/kvmstat-json.sh"
log=/tmp/spp-bench-l2.log
json=/tmp/spp-bench-kvmstat.json
attempt=1
while :; do
	ooh-kvmstat --split-on stats --json -o $json -- \
		"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
		--mem 256M --cpus 2 --timeout 600 \
		--append "quiet ooh.run=/ooh/tests/l2/spp-bench.sh" >$log 2>/tmp/spp-bench-kvmstat.err
	status=$?
	[ "$status" = 0 ] && ! grep -q 'OOH-L2-EXIT 0' $log && status=74
	if l2_crashed "$status" && [ $attempt -lt 3 ]; then
		tail -n 5 $log | sed 's/^/crashed-run: /'
		ooh_skip "l2-spp-bench-run-$attempt" "L2 crashed in the nested rig (status $status): again"
		attempt=$((attempt + 1))
		continue
	fi
	break
done
cat $log
if [ "$status" = 0 ]; then
	ooh_pass l2-spp-bench "status 0"
else
	ooh_fail l2-spp-bench "ooh-l0 (under ooh-kvmstat) exited with $status: $(tail -n 2 /tmp/spp-bench-kvmstat.err)"
	exit 0
fi

rest() { r=${1#* }; [ "$r" = "$1" ] && r=none; echo "$r"; }
paren() { echo "${1%% *} ($(rest "$1"))"; }
key() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

phases=0 bad=
kj_window_lines $log >/tmp/spp-bench-windows
while read -r _ phase w details; do
	case $w in
	'' | *[!0-9]*)
		echo "OOH-BENCH l1-$phase n/a (no window: $w $details)"
		bad="$bad $phase(no window)"
		continue ;;
	esac
	writes=$(key writes "$details") l0w=$(key l0_writes "$details")
	l0v=$(key l0_violations "$details") gret=$(key vcpu_exits "$details")
	exits=$(kj $json "$w" exits) returns=$(kj $json "$w" vcpu userspace_exits)
	case $phase in
	*-violation) op=spp-refuse want=$l0v ;;
	*) op=spp-permit want=$l0w ;;
	esac
	calls=$(kj $json "$w" op $op calls) opexits=$(kj $json "$w" op $op exits)
	echo "OOH-BENCH l1-$phase-exits-per-write $(kj_div "${exits%% *}" "$writes" 3) exits ($writes writes; counted in L1: exits $(paren "$exits"), $op $calls calls with $opexits exits, KVM_RUN returns $returns (l0 counted $gret); l0 performed $l0w, refused $l0v)"
	if [ "$calls" -gt 0 ]; then
		echo "OOH-BENCH l1-$phase-l0-time $(kj_div "$(kj $json "$w" op $op l0_ns)" "$((calls * 1000))" 1) us (per $op, KVM_RUN return to the vCPU's next entry, counted in L1)"
	fi
	phases=$((phases + 1))
	case $phase in
	*-plain) [ "$calls" = 0 ] && [ "$l0w" = 0 ] || bad="$bad $phase($op $calls, l0 $l0w)" ;;
	*) [ "$calls" = "$writes" ] && [ "$opexits" = "$writes" ] && [ "$want" = "$writes" ] ||
		bad="$bad $phase($writes writes: $op $calls calls $opexits exits, l0 $want)" ;;
	esac
done </tmp/spp-bench-windows
if [ "$phases" = 0 ]; then
	ooh_fail l1-spp-bench-counts "no window to read: $(head -1 /tmp/spp-bench-windows)"
elif [ -n "$bad" ]; then
	ooh_fail l1-spp-bench-counts "L1 (ooh-kvmstat) / l0 counts differ:$bad"
else
	ooh_pass l1-spp-bench-counts "$phases windows: each permitted write one spp-permit call and exit, each refused one one spp-refuse call and exit, as l0 counted them"
fi
exit 0
