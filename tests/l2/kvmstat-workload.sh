#!/bin/sh
# Inside L2 under ooh-l0, watched from L1 by ooh-kvmstat
# (tests/integration/65-kvmstat.sh): exits whose number the guest knows
# (ooh-kvmstat-workload prints each phase's window), and ooh-kvmstat here,
# where there is no KVM, refusing in one line with status 5.
. "$OOH_TESTS/harness/result.sh"
out=$("$OOH_BIN/ooh-kvmstat" -d 1 2>&1)
st=$?
case $st:$out in
5:"ooh-kvmstat: no kvm:kvm_exit tracepoint"*"is kvm loaded?") ooh_pass kvmstat-no-kvm "status 5: $out" ;;
*) ooh_fail kvmstat-no-kvm "status $st: $out" ;;
esac
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail l2-kvmstat-module-load "insmod: $err"
	exit 1
fi
# ooh.kvmstat_args=PINGS,WRITES,ROUNDS; ooh.kvmstat_sleep=SEC: stay up after
args="2000 1000 1000" hold=0
for arg in $(cat /proc/cmdline); do
	case $arg in
	ooh.kvmstat_args=*) args=$(echo "${arg#ooh.kvmstat_args=}" | tr , ' ') ;;
	ooh.kvmstat_sleep=*) hold=${arg#ooh.kvmstat_sleep=} ;;
	esac
done
# shellcheck disable=SC2086  # three numbers
"$OOH_BIN/ooh-kvmstat-workload" $args
status=$?
sleep "$hold"
exit $status
