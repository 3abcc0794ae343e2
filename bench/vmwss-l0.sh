#!/bin/sh
# Benchmark (not a test), run in the KVM rig's L1:
#   l1/ooh-rig run bench/vmwss-l0.sh
# Prints the ooh-l0 source's cost per interval (a control-socket `dirty`
# query: a dirty-ring harvest of every vCPU) and the overhead monitoring
# causes on the monitored L2 guest: the same 16 MiB write workload, first
# unmonitored, then monitored at 1 s intervals, in the same VM and run.
# Then a third phase, still monitored, is also watched from here by
# ooh-kvmstat -p: the harvests it counted (op "harvest": calls, dirty-ring
# entries, l0 time) and the exits they caused (the kicks that stop the
# vCPU, the write faults after each ring reset), beside ooh-vmwss's own
# sample times for the same intervals. The figures of the first two
# phases do not include the watching.
. "$OOH_TESTS/harness/kvmstat-json.sh"
sock=/tmp/bench.sock
log=/tmp/l2-bench.log
kjson=/tmp/bench-kvmstat.json
ooh-l0 --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" --mem 256M \
	--control $sock --timeout 300 --append "quiet ooh.run=/ooh/tests/l2/wss-bench.sh" >$log 2>&1 &
vm=$!
# wait_for PATTERN FILE [PID]: until PATTERN is in FILE (200 s at most, or
# until process PID is gone)
wait_for() {
	i=0
	while ! grep -q "$1" "$2" 2>/dev/null && [ $i -lt 400 ]; do
		[ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && return
		sleep 0.5; i=$((i + 1))
	done
}
intervals() { grep -c '"interval":' /tmp/bench.json; }
# "N k:v k:v" -> "N (k:v k:v)"
paren() { r=${1#* }; [ "$r" = "$1" ] && r=none; echo "${1%% *} ($r)"; }
wait_for 'OOH-WSS-PHASE 2' $log
ooh-vmwss --l0 $sock --interval 1000 --json >/tmp/bench.json 2>/dev/null &
mon=$!
wait_for 'OOH-WSS-PHASE 3' $log
n=$(intervals)
t0=$(cut -d' ' -f1 /proc/uptime)
ooh-kvmstat -p $vm --json -o $kjson 2>/tmp/bench-kvmstat.err &
kmon=$!
wait_for 'watching pid' /tmp/bench-kvmstat.err $kmon
t1=$(cut -d' ' -f1 /proc/uptime)
first=$(($(intervals) + 1))
wait_for 'OOH-WSS-PHASE 4' $log
kill -INT $kmon
wait $kmon
kst=$?
last=$(intervals)
kill -INT $mon
wait $mon
kill $vm
wait $vm
unmon=$(sed -n 's/^OOH-WSS-RATE 1 \([0-9]*\) .*/\1/p' $log | tr -d '\r')
mon=$(sed -n 's/^OOH-WSS-RATE 2 \([0-9]*\) .*/\1/p' $log | tr -d '\r')
watched=$(sed -n 's/^OOH-WSS-RATE 3 \([0-9]*\) .*/\1/p' $log | tr -d '\r')
# FIELD of intervals FROM..TO of ooh-vmwss's JSON, sorted
column() {
	grep '"interval":' /tmp/bench.json | sed -n "$2,$3p" | grep -o "\"$1\":[0-9.]*" | cut -d: -f2 | sort -n
}
median() {
	m_in=$(cat)
	echo "$m_in" | sed -n "$(( ($(echo "$m_in" | grep -c .) + 1) / 2 ))p"
}
samples=$(column sample_us 1 "$n")
median=$(echo "$samples" | median)
max=$(echo "$samples" | tail -1)
dirty=$(column dirty_pages 1 "$n" | median)
echo "OOH-BENCH vmwss-l0: source=ooh-l0-dirty-ring interval=1000ms intervals=$n dirty_pages_median=$dirty"
echo "OOH-BENCH vmwss-l0: sample_us median=$median max=$max (harvest of a 256 MiB, 1-vCPU L2)"
echo "OOH-BENCH vmwss-l0: workload pages/s unmonitored=$unmon monitored=$mon overhead=$(awk "BEGIN{printf \"%.1f\", ($unmon - $mon) * 100 / $unmon}")%"

# Phase 3: watched by ooh-kvmstat from t1, some seconds into it (attaching)
if [ "$kst" != 0 ] || ! grep -q '"report"' $kjson; then
	echo "OOH-BENCH vmwss-l0: watched n/a (ooh-kvmstat status $kst: $(tail -n 2 /tmp/bench-kvmstat.err))"
	exit 0
fi
k=$((last - first + 1))
harvests=$(kj $kjson '*' op harvest calls)
entries=$(kj $kjson '*' op harvest ring_entries)
full=$(kj $kjson '*' vcpu dirty_ring_full_exits)
uexits=$(kj $kjson '*' uexits)
secs=$(grep -o '"seconds":[0-9.]*' $kjson | cut -d: -f2 | awk '{ s += $1 } END { printf "%.0f", s }')
exits=$(kj $kjson '*' exits)
npf=$(echo "$exits" | tr ' ' '\n' | sed -n 's/^npf://p')
wsamples=$(column sample_us "$first" "$last")
l0time=$(kj_div "$(kj $kjson '*' op harvest l0_ns)" "$((harvests * 1000))" 0)
case $l0time in
0 | n/a) l0time="n/a (ooh-kvmstat times an op from a vCPU's KVM_RUN return; it times no harvest outside a hypercall)" ;;
*) l0time="$l0time us per harvest" ;;
esac
echo "OOH-BENCH vmwss-l0: watched in L1 by ooh-kvmstat -p (phase 3, from $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s into it; ooh-vmwss intervals $first-$last, $k): harvests=$harvests (ring-full exits ${full:-0}) ring_entries=$entries ($(kj_div "$entries" "$harvests" 0) per harvest) l0 time $l0time"
echo "OOH-BENCH vmwss-l0: watched: exits the harvests caused: write faults after the ring resets npf ${npf:-0} ($(kj_div "${npf:-0}" "$k" 0) per interval), dirty-ring pushes $(kj $kjson '*' vcpu dirty_ring_pushes); KVM_RUN returns $(paren "$uexits") in $secs s: the harvests' kicks (1 vCPU: one per harvest) and ooh-l0's halt check (a kick every 250 ms: ~$((secs * 4))) among them, not told apart by ooh-kvmstat outside a hypercall; all exits $(paren "$exits")"
echo "OOH-BENCH vmwss-l0: watched: sample_us median=$(echo "$wsamples" | median) max=$(echo "$wsamples" | tail -1) (ooh-vmwss, the same intervals: $(echo "$wsamples" | awk '{ s += $1 } END { printf "%.0f", s / 1000 }') ms in all); the vCPU's time out of the guest in its external-interrupt exits (kicks and host interrupts, from the exit to the next entry) $(kj_div "$(kj $kjson '*' exit-ns interrupt)" 1000000 0) ms"
echo "OOH-BENCH vmwss-l0: workload pages/s monitored and watched (phase 3, watched from the time above)=$watched"
