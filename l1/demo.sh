#!/bin/sh
# make demo's payload: show the stack coming up, level by level.
echo "OOH-DEMO level 1: L1 Linux $(uname -r) with $(grep -c ^processor /proc/cpuinfo) vCPU, $(grep MemTotal /proc/meminfo | tr -s ' ')"
echo "OOH-DEMO level 1: KVM in L1: $(ls -l /dev/kvm | cut -c1-10) /dev/kvm, modules: $(lsmod | awk 'NR>1{print $1}' | tr '\n' ' ')"
echo "OOH-DEMO level 2: a tiny KVM guest inside L1:"
"$OOH_BIN/ooh-test-kvm-tiny" | sed 's/^/OOH-DEMO   /'
if [ -f "$OOH_MODULES/ooh.ko" ] && insmod "$OOH_MODULES/ooh.ko"; then
	echo "OOH-DEMO ooh.ko in L1: $(dmesg | grep 'ooh:' | tail -1 | sed 's/^\[[^]]*\] //')"
	rmmod ooh
fi
if [ -x "$OOH_BIN/ooh-l0" ]; then
	echo "OOH-DEMO level 2: ooh-l0 boots a Linux guest (L2) inside L1:"
	"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
		--mem 256M --timeout 120 --cmdline "console=ttyS0 quiet panic=-1" 2>&1 |
		grep -E 'ooh-l2|OOH-|ooh-l0' | sed 's/^/OOH-DEMO   /'
	echo "OOH-DEMO ooh-l0 exited with the guest's status"
else
	echo "OOH-DEMO level 2: ooh-l0 is not built yet"
fi
