#!/bin/sh
# Inside L2 (2 vCPUs) under ooh-l0: ooh.ko, then ooh-storm (an ioctl storm
# on /dev/ooh with a well-behaved tracker per PML mode beside it) for
# ooh.storm=SECONDS (default 60: half without SPP, half with); then the
# kernel log since the module loaded must hold no BUG, WARNING, Oops or
# lockup report (this Debian kernel has no lockdep), and the module must
# unload.
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/kernel-log.sh"
secs=60
for arg in $(cat /proc/cmdline); do
	case $arg in ooh.storm=*) secs=${arg#ooh.storm=} ;; esac
done
dmesg_before=$(kernel_log_mark)
mig_before=$(grep -E "^pgmigrate_success " /proc/vmstat | cut -d" " -f2)
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail l2-storm-module-load "insmod: $err"
	exit 1
fi
# a new seed each run, printed by ooh-storm: a failure can be run again.
# Half the time without SPP, the trackers exact; then with SPP, the
# trackers missing nothing (an SPP change makes KVM log every page the
# guest touches next: false positives, tests/guest-module/ooh-storm.c).
seed=$(cut -d' ' -f1 /proc/uptime | tr -d .)
status=0
"$OOH_BIN/ooh-storm" -s $((secs / 2)) -w 4 -S "$seed" -n -e || status=1
"$OOH_BIN/ooh-storm" -s $((secs - secs / 2)) -w 4 -S "$((seed + 1))" || status=1
echo "ooh-storm: pages migrated in L2 meanwhile: $(($(grep -E '^pgmigrate_success ' /proc/vmstat | cut -d' ' -f2) - mig_before))"
kernel_log_clean l2-storm-kernel-clean "$dmesg_before" || status=1
# every file is closed once the storm's processes are gone (those it
# signalled at its end may still be exiting: up to 30 s)
holders() {
	for fd in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = /dev/ooh ] && echo "${fd%/fd/*}"
	done | sort -u | sed 's|/proc/||' | tr '\n' ' '
}
i=0
while [ -n "$(holders)" ] && [ $i -lt 30 ]; do
	sleep 1
	i=$((i + 1))
done
if err=$(rmmod ooh 2>&1); then
	ooh_pass l2-storm-module-unload
else
	ooh_fail l2-storm-module-unload "rmmod: $err; /dev/ooh open in: $(holders)"
	status=1
fi
exit $status
