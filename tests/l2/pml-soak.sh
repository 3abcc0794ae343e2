#!/bin/sh
# Inside L2 (2 vCPUs), no ooh.ko: a few minutes of writes, forks and
# context switches, to tell nested-rig instability apart from OoH faults.
# OOH_SOAK_SECONDS (kernel parameter ooh.soak=N) sets the length.
. "$OOH_TESTS/harness/result.sh"
secs=180
for arg in $(cat /proc/cmdline); do
	case $arg in ooh.soak=*) secs=${arg#ooh.soak=} ;; esac
done
if [ -n "${OOH_SOAK_MODULE:-}" ] || grep -q 'ooh.soakmod=1' /proc/cmdline; then
	insmod "$OOH_MODULES/ooh.ko" && echo "ooh-soak: ooh.ko loaded"
fi
end=$(($(cut -d. -f1 /proc/uptime) + secs))
n=0
while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
	dd if=/dev/zero of=/tmp/soak.$((n % 2)) bs=64k count=256 2>/dev/null &
	dd if=/dev/zero of=/dev/null bs=1M count=64 2>/dev/null &
	wait
	n=$((n + 1))
	[ $((n % 20)) = 0 ] && echo "ooh-soak: $n rounds, uptime $(cut -d' ' -f1 /proc/uptime)"
done
ooh_pass l2-soak "$n rounds in ${secs}s on $(grep -c '^processor' /proc/cpuinfo) vCPUs"
