#!/bin/sh
# Inside L2, under ooh-l0 with 2 vCPUs: ooh.ko, then the OoH-PML suite in
# both modes, then the malicious guest (last: it closes every session id),
# then module unload.
. "$OOH_TESTS/harness/result.sh"
# only what the kernel says from here on counts (boot warnings are not ours)
dmesg_before=$(dmesg | wc -l)
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail l2-pml-module-load "insmod: $err"
	exit 1
fi
dmesg | grep 'ooh:' | tail -2
cpus=$(grep -c '^processor' /proc/cpuinfo)
if [ "$cpus" -ge 2 ]; then
	ooh_pass l2-pml-two-vcpus "$cpus vCPUs"
else
	ooh_fail l2-pml-two-vcpus "only $cpus vCPU"
fi
status=0
OOH_PML_MODE=epml "$OOH_BIN/ooh-test-pml" || status=1
OOH_PML_MODE=spml "$OOH_BIN/ooh-test-pml" || status=1
# libooh's differential self-check: every usable backend, the ooh ones included
if "$OOH_BIN/ooh-lib-selftest" --usable ooh-spml,ooh-epml; then
	ooh_pass l2-libooh-selftest "differential self-check of every usable backend, ooh-spml and ooh-epml included"
else
	ooh_fail l2-libooh-selftest "see the lines above"
	status=1
fi
"$OOH_BIN/ooh-test-evil" || status=1
# unload is refused while a tracker holds /dev/ooh open, then works
exec 3<>/dev/ooh
if rmmod ooh 2>/dev/null; then
	ooh_fail l2-pml-unload-busy "rmmod succeeded with /dev/ooh open"
	status=1
else
	ooh_pass l2-pml-unload-busy "rmmod refused while /dev/ooh is open"
fi
exec 3>&-
if err=$(rmmod ooh 2>&1); then
	ooh_pass l2-pml-module-unload
else
	ooh_fail l2-pml-module-unload "rmmod: $err"
	status=1
fi
bad='BUG:|WARNING:|Oops|general protection|soft lockup|hung_task|rcu_sched detected'
new=$(dmesg | tail -n +"$((dmesg_before + 1))")
if printf '%s\n' "$new" | grep -q -E "$bad"; then
	ooh_fail l2-pml-kernel-clean "$(printf '%s\n' "$new" | grep -E "$bad" | head -3)"
	printf '%s\n' "$new" | tail -40
	status=1
else
	ooh_pass l2-pml-kernel-clean "no BUG/WARNING/Oops in dmesg since the module loaded"
fi
exit $status
