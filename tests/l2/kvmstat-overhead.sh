#!/bin/sh
# Inside L2 (1 vCPU) under ooh-l0, watched now and then from L1 by
# ooh-kvmstat (bench/kvmstat-overhead-l1.sh): rounds of PING hypercalls,
# each opened by a STATS marker, each printing its window and its rate,
# until L1 ends the VM. ooh.ping_rounds=R,M (default 1000000,0: M 0 is
# about half a second a round). No ooh.ko: its hypercalls would be noise.
args="1000000 0"
for arg in $(cat /proc/cmdline); do
	case $arg in
	ooh.ping_rounds=*) args=$(echo "${arg#ooh.ping_rounds=}" | tr , ' ') ;;
	esac
done
# shellcheck disable=SC2086  # two numbers
exec "$OOH_BIN/ooh-kvmstat-workload" --ping-rounds $args
