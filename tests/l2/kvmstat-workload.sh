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
# ooh-kvmstat --guest beside it: ooh.ko's tracepoints seen by the same tool
"$OOH_BIN/ooh-kvmstat" --guest --json -o /tmp/guest.json 2>/tmp/guest.err &
gs=$!
i=0
while ! grep -q watching /tmp/guest.err && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
# shellcheck disable=SC2086  # three numbers
"$OOH_BIN/ooh-kvmstat-workload" $args >/tmp/workload.log
status=$?
cat /tmp/workload.log
kill -INT $gs
wait $gs
gst=$?
session() { # MODE FIELD: FIELD of the guest report's session of MODE
	grep -o "{\"session\":[0-9]*,\"mode\":\"$1\"[^}]*}" /tmp/guest.json |
		grep -o "\"$2\":[0-9]*" | cut -d: -f2
}
phase() { # MODE KEY
	grep -o "OOH-KVMSTAT-PHASE switches-$1 .*" /tmp/workload.log | grep -o "$2=[0-9]*" | cut -d= -f2
}
# EPML: as many hook runs as the session's counters at its last STATS, or
# one more of each: closing the session may run the target once more
# after that read (its hooks are taken off on its own way through the
# kernel). SPML has no per-thread hook.
in=$(session epml switches_in) out=$(session epml switches_out)
want_in=$(phase epml sched_in_total) want_out=$(phase epml sched_out_total)
if [ "$gst" = 0 ] && [ "$(session epml starts)" = 1 ] && [ -n "$want_in" ] &&
	[ "$in" -ge "$want_in" ] && [ "$in" -le $((want_in + 1)) ] &&
	[ "$out" -ge "$want_out" ] && [ "$out" -le $((want_out + 1)) ]; then
	ooh_pass kvmstat-guest-epml "ooh.ko's tracepoints: 1 start, $in in, $out out (the session counted $want_in, $want_out at its last STATS)"
else
	ooh_fail kvmstat-guest-epml "status $gst: in $in out $out, the session $want_in $want_out: $(cat /tmp/guest.err) $(cat /tmp/guest.json)"
fi
got="starts $(session spml starts) in $(session spml switches_in) out $(session spml switches_out)"
if [ "$gst" = 0 ] && [ "$got" = "starts 1 in 0 out 0" ]; then
	ooh_pass kvmstat-guest-spml "ooh.ko's tracepoints: $got"
else
	ooh_fail kvmstat-guest-spml "status $gst, $got: $(cat /tmp/guest.json)"
fi
sleep "$hold"
exit $status
