#!/bin/sh
# Inside L1 (KVM on kvm-amd): ooh-kvmstat counts an ooh-l0 VM's exits from
# outside the VM, per OoH op, and agrees with KVM's own statistics.
#  1. errors: one line each, their own status;
#  2. ooh-kvmstat --split-on stats -- ooh-l0 ... : L2 runs
#     ooh-kvmstat-workload, which prints the window of each phase; here,
#     N PINGs are N io exits attributed to op ping, N permitted SPP writes
#     N npf exits attributed to spp-permit, EPML target context switches
#     0 hypercalls, SPML's per-switch hypercalls as many as the guest's own
#     counters say;
#  3. --verify: the counts equal KVM's statistics (KVM_GET_STATS_FD through
#     ooh-l0's control socket) for the same paused-to-paused interval.
# L2 in this TCG-emulated rig now and then triple-faults (docs/abi.md, "Rig
# caveat"): such a run is a SKIP and is done again, up to 3 times.
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2.sh"
log=/tmp/kvmstat-l2.log
json=/tmp/kvmstat.json
prom=/tmp/kvmstat.prom
sock=/tmp/kvmstat-vm.sock

# expect NAME STATUS PATTERN CMD...: CMD fails with STATUS and one line matching PATTERN.
expect() {
	name=$1 want=$2 pattern=$3
	shift 3
	out=$("$@" 2>&1 >/dev/null)
	st=$?
	lines=$(printf '%s\n' "$out" | grep -c .)
	if [ "$st" = "$want" ] && [ "$lines" = 1 ] && printf '%s' "$out" | grep -q "$pattern"; then
		ooh_pass "$name" "status $st: $out"
	else
		ooh_fail "$name" "status $st (want $want), $lines lines: $out"
	fi
}
expect kvmstat-usage 2 "bad option" ooh-kvmstat --no-such-option
expect kvmstat-no-such-pid 6 "no such process: 999999" ooh-kvmstat -p 999999
expect kvmstat-not-ooh-l0 6 "not an ooh-l0" ooh-kvmstat -p $$
expect kvmstat-verify-no-vm 6 "no ooh-l0 answers" ooh-kvmstat --verify /tmp/none.sock

# field WINDOW OP NAME: the sum of NAME over the JSON report's ops of WINDOW and OP.
field() {
	grep -o "{\"pid\":[0-9]*,\"window\":$1,\"op\":\"$2\",[^}]*}" $json |
		grep -o "\"$3\":[0-9]*" | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'
}
# reasons WINDOW OP: the exit reasons OP's exits carried in WINDOW.
reasons() {
	grep -o "{\"pid\":[0-9]*,\"window\":$1,\"op\":\"$2\",[^}]*}" $json |
		grep -o '"exit_reason":"[^"]*"' | cut -d'"' -f4 | sort -u | tr '\n' ' '
}
# calls_except WINDOW OP: calls of every op but OP in WINDOW.
calls_except() {
	grep -o "{\"pid\":[0-9]*,\"window\":$1,\"op\":\"[a-z-]*\",[^}]*}" $json |
		grep -v "\"op\":\"$2\"" | grep -o '"calls":[0-9]*' | cut -d: -f2 |
		awk '{ s += $1 } END { print s + 0 }'
}
phase() { # NAME KEY: KEY's value on the workload's PHASE line NAME
	grep -o "OOH-KVMSTAT-PHASE $1 .*" $log | grep -o "$2=[0-9]*" | head -1 | cut -d= -f2
}

attempt=1
while :; do
	ooh-kvmstat --json --split-on stats -o $json --openmetrics $prom -- \
		ooh-l0 --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" --mem 256M --cpus 2 \
		--timeout 400 --append "quiet ooh.run=/ooh/tests/l2/kvmstat-workload.sh" \
		>$log 2>/tmp/kvmstat.err
	st=$?
	if l2_crashed "$st" && [ $attempt -lt 3 ]; then
		ooh_skip "kvmstat-run-$attempt" "L2 crashed in the nested rig (ooh-l0 status $st): again"
		attempt=$((attempt + 1))
		continue
	fi
	break
done
grep '^OOH-RESULT' $log
if [ "$st" = 0 ] && grep -q OOH-KVMSTAT-DONE $log; then
	ooh_pass kvmstat-run "ooh-l0 and ooh-kvmstat status 0, $(wc -c <$json) bytes of JSON"
else
	ooh_fail kvmstat-run "status $st: $(tail -3 /tmp/kvmstat.err)"
	tail -n 20 $log | sed 's/^/kvmstat-l2: /'
fi

# N PINGs: N hypercalls of op ping, each one io exit and one KVM_RUN return
w=$(phase ping window) n=$(phase ping calls)
got="calls $(field "$w" ping calls) exits $(field "$w" ping exits) user_exits $(field "$w" ping user_exits) reasons $(reasons "$w" ping)"
if [ -n "$n" ] && [ "$got" = "calls $n exits $n user_exits $n reasons io " ]; then
	ooh_pass kvmstat-ping-exits "$n PINGs: $got"
else
	ooh_fail kvmstat-ping-exits "window $w, $n PINGs: $got"
fi

# --openmetrics: the same totals as the JSON report, which was made from
# the same last read of the maps (every window summed on both sides)
om_sum() { # FAMILY LABEL=VALUE: FAMILY's samples with that label, summed
	grep "^ooh_kvmstat_$1_total{.*$2[,}]" $prom | awk '{ s += $NF } END { printf "%.0f", s }'
}
json_sum() { # ARRAY-KEY LABEL-KEY LABEL VALUE-KEY
	grep -o "\"$1\":\[[^]]*\]" $json | grep -o "{[^}]*\"$2\":\"$3\"[^}]*}" |
		grep -o "\"$4\":[0-9]*" | cut -d: -f2 | awk '{ s += $1 } END { printf "%.0f", s }'
}
om="ping calls $(om_sum op_calls 'op="ping"') io exits $(om_sum exits 'reason="io"') npf exits $(om_sum exits 'reason="npf"') io returns $(om_sum userspace_exits 'reason="io"')"
js="ping calls $(json_sum ops op ping calls) io exits $(json_sum exits reason io count) npf exits $(json_sum exits reason npf count) io returns $(json_sum userspace_exits reason io count)"
if [ "$(tail -1 $prom)" = "# EOF" ] && [ "$om" = "$js" ] && [ "$(om_sum op_calls 'op="ping"')" -gt 0 ]; then
	ooh_pass kvmstat-openmetrics "OpenMetrics = JSON: $om"
else
	ooh_fail kvmstat-openmetrics "OpenMetrics: $om; JSON: $js; last line: $(tail -1 $prom)"
fi

# N permitted SPP writes: N npf exits, each emulated by l0 (spp-permit)
w=$(phase spp-permit window) n=$(phase spp-permit writes)
got="calls $(field "$w" spp-permit calls) exits $(field "$w" spp-permit exits) reasons $(reasons "$w" spp-permit)"
if [ -n "$n" ] && [ "$got" = "calls $n exits $n reasons npf " ]; then
	ooh_pass kvmstat-spp-permit-exits "$n writes: $got"
else
	ooh_fail kvmstat-spp-permit-exits "window $w, $n writes: $got"
fi

# Target context switches (counted from /proc in L2; before the SPP phase,
# whose clear ooh.ko may send later): EPML makes no
# hypercall for them (the window's only one is the STATS that opened it);
# SPML has no per-switch hook either. L1's count must equal the guest's.
for mode in epml spml; do
	w=$(phase switches-$mode window) sw=$(phase switches-$mode switches)
	guest=$(phase switches-$mode hypercalls)
	ours=$(calls_except "$w" stats) stats=$(field "$w" stats calls)
	per=$(awk -v h="$ours" -v s="$sw" 'BEGIN { if (s > 0) printf "%.4f", h / s; else print "n/a" }')
	which=$(grep -o "{\"pid\":[0-9]*,\"window\":$w,\"op\":\"[a-z-]*\",[^}]*\"calls\":[1-9][0-9]*" $json |
		grep -v '"op":"stats"' | sed 's/.*"op":"\([a-z-]*\)".*"calls":\([0-9]*\)/\1:\2/' | tr '\n' ' ')
	echo "OOH-BENCH kvmstat-$mode-hypercalls-per-target-switch $per exits ($ours hypercalls${which:+ (${which% })} over $sw switches, counted in L1)"
	if [ -z "$sw" ] || [ "$sw" = 0 ] || [ "$stats" != 1 ] || [ "$ours" != "$guest" ]; then
		ooh_fail "kvmstat-$mode-switches" "window $w: $sw switches, L1 counted $ours hypercalls ($which) + $stats stats, the guest $guest"
	elif [ $mode = epml ] && [ "$ours" != 0 ]; then
		ooh_fail kvmstat-epml-switches "$sw switches cost $ours hypercalls: $which"
	else
		ooh_pass "kvmstat-$mode-switches" "$sw target switches: $ours hypercalls counted in L1${which:+ ($which)}, the guest says $guest"
	fi
done

# --verify: KVM's statistics and ooh-kvmstat's counts over the same interval
ooh-l0 --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" --mem 256M --cpus 2 \
	--control $sock --timeout 300 \
	--append "quiet ooh.run=/ooh/tests/l2/kvmstat-workload.sh ooh.kvmstat_args=20000,1000,1000 ooh.kvmstat_sleep=200" \
	>/tmp/kvmstat-verify-l2.log 2>&1 &
vm=$!
i=0
while [ ! -S $sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 5
ooh-kvmstat --verify $sock -d 10 --json --hist -o /tmp/kvmstat-verify.json 2>/tmp/kvmstat-verify.err
st=$?
verdict=$(grep -o '{"verify".*' /tmp/kvmstat-verify.json)
case $st:$verdict in
0:*'"agree":true}') ooh_pass kvmstat-verify "$verdict" ;;
*) ooh_fail kvmstat-verify "status $st: $verdict $(cat /tmp/kvmstat-verify.err)" ;;
esac
# --hist: every exit's latency is in its histogram once its vCPU entered
# again; the VM was paused at the end, so at most one exit per vCPU is not
hist=$(grep -o '"count":[0-9]*,"ns":[0-9]*,"hist_log2_ns":\[[0-9,]*\]' /tmp/kvmstat-verify.json |
	tr '[],:' '    ' | awk '{ c += $2; for (i = 6; i <= NF; i++) h += $i } END { print c, h }')
set -- $hist
if [ -n "$2" ] && [ "$1" -gt 0 ] && [ "$2" -le "$1" ] && [ $(($1 - $2)) -le 2 ]; then
	ooh_pass kvmstat-hist "$1 exits, $2 in the latency histograms"
else
	ooh_fail kvmstat-hist "exits and histogram entries: $hist"
fi
# -c: one vCPU's rows only, a report every second
ooh-kvmstat -p $vm -c 1 -i 1 -n 2 --json >/tmp/kvmstat-c.json 2>/tmp/kvmstat-c.err
st=$?
vcpus=$(grep -o '"vcpu":[0-9]*' /tmp/kvmstat-c.json | sort -u | tr '\n' ' ')
reports=$(grep -c '^{"report"' /tmp/kvmstat-c.json)
if [ $st = 0 ] && [ "$vcpus" = '"vcpu":1 ' ] && [ "$reports" = 2 ]; then
	ooh_pass kvmstat-one-vcpu "2 reports, rows of vCPU 1 only"
else
	ooh_fail kvmstat-one-vcpu "status $st, $reports reports, vCPUs in rows: $vcpus $(cat /tmp/kvmstat-c.err)"
fi
# the watched ooh-l0 exits: status 7 after the last report
ooh-kvmstat -p $vm --json -o /tmp/kvmstat-gone.json 2>/tmp/kvmstat-gone.err &
mon=$!
sleep 3
kill $vm
wait $vm
wait $mon
st=$?
if [ $st = 7 ] && grep -q '"report":1' /tmp/kvmstat-gone.json && [ "$(grep -c . /tmp/kvmstat-gone.err)" = 2 ]; then
	ooh_pass kvmstat-target-exits "status 7: $(tail -1 /tmp/kvmstat-gone.err)"
else
	ooh_fail kvmstat-target-exits "status $st: $(cat /tmp/kvmstat-gone.err)"
fi
exit 0
