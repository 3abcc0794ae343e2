#!/bin/sh
# Benchmark (not a test), run in the KVM rig's L1:
#   l1/ooh-rig run bench/vmwss-l0.sh
# Prints the ooh-l0 source's cost per interval (a control-socket `dirty`
# query: a dirty-ring harvest of every vCPU) and the overhead monitoring
# causes on the monitored L2 guest: the same 16 MiB write workload, first
# unmonitored, then monitored at 1 s intervals, in the same VM and run.
sock=/tmp/bench.sock
log=/tmp/l2-bench.log
ooh-l0 --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" --mem 256M \
	--control $sock --timeout 300 --append "quiet ooh.run=/ooh/tests/l2/wss-bench.sh" >$log 2>&1 &
vm=$!
wait_for() {
	i=0
	while ! grep -q "$1" $log && [ $i -lt 400 ]; do
		sleep 0.5; i=$((i + 1))
	done
}
wait_for 'OOH-WSS-PHASE 2'
ooh-vmwss --l0 $sock --interval 1000 --json >/tmp/bench.json 2>/dev/null &
mon=$!
wait_for 'OOH-WSS-PHASE 3'
kill -INT $mon
wait $mon
kill $vm
wait $vm
unmon=$(sed -n 's/^OOH-WSS-RATE 1 \([0-9]*\) .*/\1/p' $log | tr -d '\r')
mon=$(sed -n 's/^OOH-WSS-RATE 2 \([0-9]*\) .*/\1/p' $log | tr -d '\r')
samples=$(grep -o '"sample_us":[0-9.]*' /tmp/bench.json | cut -d: -f2 | sort -n)
n=$(echo "$samples" | grep -c .)
median=$(echo "$samples" | sed -n "$(( (n + 1) / 2 ))p")
max=$(echo "$samples" | tail -1)
dirty=$(grep -o '"dirty_pages":[0-9]*' /tmp/bench.json | cut -d: -f2 | sort -n | sed -n "$(( (n + 1) / 2 ))p")
echo "OOH-BENCH vmwss-l0: source=ooh-l0-dirty-ring interval=1000ms intervals=$n dirty_pages_median=$dirty"
echo "OOH-BENCH vmwss-l0: sample_us median=$median max=$max (harvest of a 256 MiB, 1-vCPU L2)"
echo "OOH-BENCH vmwss-l0: workload pages/s unmonitored=$unmon monitored=$mon overhead=$(awk "BEGIN{printf \"%.1f\", ($unmon - $mon) * 100 / $unmon}")%"
