#!/bin/sh
# Inside L2, under ooh-l0 (2 vCPUs): ooh.ko's tracepoints (system "ooh",
# guest-module/ooh_trace.h). tracefs is mounted if it is not; the four
# events' format files are shown, then ooh-test-trace enables them, runs
# EPML and SPML sessions and one refused SPP write through /dev/ooh and
# checks the trace buffer against what the ioctls answered (exact counts);
# then the module unloads and the kernel log stays clean.
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/kernel-log.sh"
dmesg_before=$(kernel_log_mark)
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail l2-trace-module-load "insmod: $err"
	exit 1
fi
dmesg | grep 'ooh:' | tail -1
tracefs=/sys/kernel/tracing
if [ ! -d $tracefs/events ] && ! mount -t tracefs nodev $tracefs 2>/dev/null; then
	ooh_fail l2-trace-tracefs "cannot mount tracefs on $tracefs"
	rmmod ooh
	exit 1
fi
status=0
if [ -d $tracefs/events/ooh ]; then
	events=
	for f in $tracefs/events/ooh/*/format; do
		events="$events $(basename "$(dirname "$f")")"
		sed 's/^/trace-format: /' "$f"
	done
	ooh_pass l2-trace-events "$events"
else
	ooh_fail l2-trace-events "no $tracefs/events/ooh"
	status=1
fi
OOH_TRACEFS=$tracefs "$OOH_BIN/ooh-test-trace" || status=1
if err=$(rmmod ooh 2>&1) && [ ! -d $tracefs/events/ooh ]; then
	ooh_pass l2-trace-module-unload "the ooh events went with the module"
else
	ooh_fail l2-trace-module-unload "rmmod: $err; $(ls $tracefs/events/ooh 2>&1 | head -1)"
	status=1
fi
kernel_log_clean l2-trace-kernel-clean "$dmesg_before" || status=1
exit $status
