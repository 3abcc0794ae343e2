#!/bin/sh
# ioctl storm on ooh.ko (issue 22): inside L1, ooh-l0 boots L2 on 2 vCPUs,
# which runs tests/l2/storm.sh: random /dev/ooh ioctls from 4 workers (two
# threads each, half of them unprivileged) forking, exiting, munmapping,
# mprotecting and killed, on both PML modes and SPP, beside one exact
# tracker per mode; then a clean kernel log and a module that unloads.
# ooh-l0 must survive it: its exit status is the script's.
# OOH_STORM_SECONDS sets the storm's length (default 60; the issue's
# check is a 600 s run).
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2.sh"
secs=${OOH_STORM_SECONDS:-60}
l2_boot l2-storm --mem 256M --cpus 2 --timeout $((secs + 240)) \
	--append "quiet ooh.run=/ooh/tests/l2/storm.sh ooh.storm=$secs"
status=$?
if [ "$status" = 0 ]; then
	ooh_pass l2-storm-survives "ooh-l0 -> L2 -> ${secs} s of ioctl storm, status 0"
elif l2_crashed "$status"; then
	ooh_skip l2-storm-survives "L2 crashed in all 3 boots, last with status $status (the TCG-emulated nested rig, docs/abi.md)"
else
	ooh_fail l2-storm-survives "ooh-l0 exited with $status"
	exit 1
fi
