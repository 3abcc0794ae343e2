#!/bin/sh
# Inside L2, under ooh-l0 with 2 vCPUs: ooh.ko, then one part of the
# OoH-PML tests (kernel parameter ooh.pml=epml|spml), then module unload.
#   epml: the suite in EPML mode, then the malicious guest (it closes every
#         session id, so nothing else may track meanwhile)
#   spml: the suite in SPML mode, then libooh's selftest on every usable
#         backend (ooh-spml and ooh-epml included)
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/kernel-log.sh"
part=epml
for arg in $(cat /proc/cmdline); do
	case $arg in ooh.pml=*) part=${arg#ooh.pml=} ;; esac
done
# only what the kernel says from here on counts (boot warnings are not ours)
dmesg_before=$(kernel_log_mark)
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail "l2-pml-$part-module-load" "insmod: $err"
	exit 1
fi
dmesg | grep 'ooh:' | tail -1
cpus=$(grep -c '^processor' /proc/cpuinfo)
if [ "$cpus" -ge 2 ]; then
	ooh_pass "l2-pml-$part-two-vcpus" "$cpus vCPUs"
else
	ooh_fail "l2-pml-$part-two-vcpus" "only $cpus vCPU"
fi
status=0
case $part in
epml)
	OOH_PML_MODE=epml "$OOH_BIN/ooh-test-pml" || status=1
	"$OOH_BIN/ooh-test-evil" || status=1
	;;
spml)
	OOH_PML_MODE=spml "$OOH_BIN/ooh-test-pml" || status=1
	if "$OOH_BIN/ooh-lib-selftest" --usable ooh-spml,ooh-epml; then
		ooh_pass l2-libooh-selftest "differential self-check of every usable backend, ooh-spml and ooh-epml included"
	else
		ooh_fail l2-libooh-selftest "see the lines above"
		status=1
	fi
	# Only what the tracker could ptrace, security modules included: under
	# Yama's ptrace_scope 2 (attach needs CAP_SYS_PTRACE) an unprivileged
	# tracker is refused its own uid's process; at scope 0 it is allowed.
	yama=/proc/sys/kernel/yama/ptrace_scope
	if [ -w $yama ]; then
		target=$(su -s /bin/sh nobody -c 'sleep 120 >/dev/null 2>&1 & echo $!')
		track="$OOH_BIN/ooh track --backend ooh-spml --interval 100 --count 1 -p $target"
		echo 0 >$yama
		su -s /bin/sh nobody -c "$track" >/tmp/yama0.out 2>&1
		st0=$?
		echo 2 >$yama
		su -s /bin/sh nobody -c "$track" >/tmp/yama2.out 2>&1
		st2=$?
		echo 0 >$yama
		kill "$target"
		if [ $st0 = 0 ] && [ $st2 != 0 ] && grep -q -i 'not permitted' /tmp/yama2.out; then
			ooh_pass l2-pml-yama "same-uid tracking allowed at ptrace_scope 0, refused at 2"
		else
			ooh_fail l2-pml-yama "scope 0: $st0 $(head -2 /tmp/yama0.out); scope 2: $st2 $(head -2 /tmp/yama2.out)"
			status=1
		fi
	else
		ooh_skip l2-pml-yama "no Yama in this kernel"
	fi
	;;
esac
# unload is refused while a tracker holds /dev/ooh open, then works
exec 3<>/dev/ooh
if rmmod ooh 2>/dev/null; then
	ooh_fail "l2-pml-$part-unload-busy" "rmmod succeeded with /dev/ooh open"
	status=1
else
	ooh_pass "l2-pml-$part-unload-busy" "rmmod refused while /dev/ooh is open"
fi
exec 3>&-
if err=$(rmmod ooh 2>&1); then
	ooh_pass "l2-pml-$part-module-unload"
else
	ooh_fail "l2-pml-$part-module-unload" "rmmod: $err"
	status=1
fi
kernel_log_clean "l2-pml-$part-kernel-clean" "$dmesg_before" || status=1
exit $status
