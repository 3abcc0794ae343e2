#!/bin/sh
# ooh-l0 boots the L2 Linux guest (rig: runs inside L1, where /dev/kvm is
# kvm-amd with nested paging) and hands the guest's status back as its own.
#
# The same file is the L2 payload: booted with ooh.run=<this file> and
# ooh.l0test.* parameters, it checks its vCPU count and then exits with,
# powers off or reboots as asked.

l2_payload() {
	want_exit=0 want_cpus='' action=exit
	for arg in $(cat /proc/cmdline); do
		case $arg in
		ooh.l0test.exit=*) want_exit=${arg#*=} ;;
		ooh.l0test.cpus=*) want_cpus=${arg#*=} ;;
		ooh.l0test.action=*) action=${arg#*=} ;;
		esac
	done
	cpus=$(grep -c '^processor' /proc/cpuinfo)
	echo "ooh-l0-test: L2 sees $cpus vCPU, action $action"
	if [ -n "$want_cpus" ] && [ "$cpus" != "$want_cpus" ]; then
		exit 99
	fi
	case $action in
	diag)
		head -n 12 /proc/interrupts
		cat /sys/devices/system/clockevents/clockevent0/current_device 2>/dev/null
		cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null
		echo "ooh-l0-test: sleeping 1 s"
		sleep 1
		echo "ooh-l0-test: slept"
		head -n 12 /proc/interrupts ;;
	poweroff) poweroff -f ;;
	reboot) reboot -f ;;
	esac
	exit "$want_exit"
}

if [ -z "${OOH_L2:-}" ] && grep -q 'ooh\.l0test\.' /proc/cmdline 2>/dev/null; then
	l2_payload
fi

. "$OOH_TESTS/harness/result.sh"
self=/ooh/tests/integration/20-l0-boot.sh # where L2 has this file

uptime_cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }
seconds() { awk -v cs="$1" 'BEGIN { printf "%.2f", cs / 100 }'; }

# boot NAME ARGS...: runs ooh-l0 on the L2 kernel, sets status, took, log.
boot() {
	log=/tmp/20-l0-$1.log
	shift
	start=$(uptime_cs)
	"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
		--mem 256M "$@" >"$log" 2>&1 </dev/null
	status=$?
	took=$(seconds $(($(uptime_cs) - start)))
}

show_log() {
	echo "--- last lines of $log"
	tail -n 15 "$log"
	echo "---"
}

if [ ! -x "$OOH_BIN/ooh-l0" ] || [ ! -f "$OOH_L2/bzImage" ]; then
	ooh_fail l0-boot "missing ooh-l0 ($OOH_BIN) or the L2 kernel ($OOH_L2)"
	exit 1
fi
if [ ! -c /dev/kvm ]; then
	ooh_skip l0-boot "no /dev/kvm in L1"
	exit 0
fi

# 1. Boot to init on 2 vCPUs; the payload exits 7; ooh-l0 must exit 7.
boot exit --cpus 2 --timeout 150 \
	--append "quiet ooh.run=$self ooh.l0test.cpus=2 ooh.l0test.exit=7"
if grep -q 'ooh-l2: init reached' "$log"; then
	ooh_pass l0-boot-init "L2 reached init ($(grep -o 'uptime [0-9.]* s' "$log" | head -1) in L2; ${took} s from ooh-l0 start to exit)"
else
	ooh_fail l0-boot-init "no 'init reached' from L2 (ooh-l0 status $status after ${took} s)"
	show_log
fi
if grep -q 'L2 sees 2 vCPU' "$log"; then
	ooh_pass l0-smp "L2 brought up both vCPUs (MP table)"
else
	ooh_fail l0-smp "L2 did not see 2 vCPUs"
fi
if [ "$status" = 7 ]; then
	ooh_pass l0-exit-status "guest payload exited 7, ooh-l0 exited 7"
else
	ooh_fail l0-exit-status "expected 7, ooh-l0 exited $status"
	show_log
fi

# 2. poweroff -f without ACPI ends in halt with interrupts off: exit 0.
boot poweroff --cpus 2 --timeout 150 --append "quiet ooh.run=$self ooh.l0test.action=poweroff"
if [ "$status" = 0 ]; then
	ooh_pass l0-poweroff "poweroff -f in L2: ooh-l0 exited 0 after ${took} s"
else
	ooh_fail l0-poweroff "expected 0, ooh-l0 exited $status"
	show_log
fi

# 3. reboot -f (reboot=k: i8042 reset line): the documented reset status 73.
boot reboot --timeout 150 --append "quiet ooh.run=$self ooh.l0test.action=reboot"
if [ "$status" = 73 ]; then
	ooh_pass l0-reboot "reboot -f in L2: ooh-l0 exited 73 (guest reset)"
else
	ooh_fail l0-reboot "expected 73, ooh-l0 exited $status"
	show_log
fi

# 4. --timeout stops a guest that is still booting, with status 72.
boot timeout --timeout 0.5
if [ "$status" = 72 ] && grep -q 'timeout' "$log"; then
	ooh_pass l0-timeout "stopped at --timeout 0.5 with status 72"
else
	ooh_fail l0-timeout "expected 72, ooh-l0 exited $status"
	show_log
fi
exit 0
