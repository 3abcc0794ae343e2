#!/bin/sh
# Benchmark (not a test), run in the Xen rig's dom0:
#   l1/ooh-rig xen bench/vmwss-xen.sh
# Prints the Xen source's cost per interval (the log-dirty CLEAN read of the
# bitmap, measured by ooh-vmwss) and the overhead monitoring causes on the
# monitored domU: the same 16 MiB write workload, first unmonitored, then
# monitored at 1 s intervals, in the same domU and run.
log=/var/log/xen/console/guest-wssbench.log
mkdir -p /tmp/b
. "$OOH_TESTS/xen/domu/config.sh"
domu_cfg wssbench /ooh/tests/xen/domu/bench.sh >/tmp/b.cfg
xl create /tmp/b.cfg >/dev/null 2>&1 || { echo "xl create failed"; exit 1; }
domid=$(xl domid wssbench)
wait_for() {
	i=0
	while ! grep -q "$1" "$log" 2>/dev/null && [ $i -lt 400 ]; do
		sleep 0.5; i=$((i + 1))
	done
}
wait_for 'OOH-WSS-PHASE 2'
ooh-vmwss --xen "$domid" --interval 1000 --json >/tmp/b/wss.json 2>/dev/null &
mon=$!
wait_for 'OOH-WSS-PHASE 3'
kill -INT $mon
wait $mon
xl destroy wssbench
unmon=$(sed -n 's/^OOH-WSS-RATE 1 \([0-9]*\) .*/\1/p' "$log" | tr -d '\r')
mon=$(sed -n 's/^OOH-WSS-RATE 2 \([0-9]*\) .*/\1/p' "$log" | tr -d '\r')
samples=$(grep -o '"sample_us":[0-9.]*' /tmp/b/wss.json | cut -d: -f2 | sort -n)
n=$(echo "$samples" | grep -c .)
median=$(echo "$samples" | sed -n "$(( (n + 1) / 2 ))p")
max=$(echo "$samples" | tail -1)
dirty=$(grep -o '"dirty_pages":[0-9]*' /tmp/b/wss.json | cut -d: -f2 | sort -n | sed -n "$(( (n + 1) / 2 ))p")
echo "OOH-BENCH vmwss-xen: source=xen-logdirty interval=1000ms intervals=$n dirty_pages_median=$dirty"
echo "OOH-BENCH vmwss-xen: sample_us median=$median max=$max (CLEAN of a 256 MiB domU's bitmap)"
echo "OOH-BENCH vmwss-xen: workload pages/s unmonitored=$unmon monitored=$mon overhead=$(awk "BEGIN{printf \"%.1f\", ($unmon - $mon) * 100 / $unmon}")%"
