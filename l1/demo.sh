#!/bin/sh
# make demo's payload, run in L1: show the stack coming up, level by level.
echo "OOH-DEMO level 0: host -> QEMU ($(cat /proc/cpuinfo | grep -m1 'model name' | cut -d: -f2 | sed 's/^ //'))"
echo "OOH-DEMO level 1: L1 Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPU, $(grep MemTotal /proc/meminfo | tr -s ' '), init after $(cut -d' ' -f1 /proc/uptime) s"
echo "OOH-DEMO level 1: KVM in L1: /dev/kvm from $(lsmod | awk 'NR>1 && /^kvm_(amd|intel)/{print $1}'), nested paging $(cat /sys/module/kvm_amd/parameters/npt /sys/module/kvm_intel/parameters/ept 2>/dev/null)"
echo "OOH-DEMO level 2: a tiny KVM guest (real mode, a few bytes of code) inside L1:"
"$OOH_BIN/ooh-test-kvm-tiny" | sed 's/^/OOH-DEMO   /'
if [ ! -x "$OOH_BIN/ooh-l0" ]; then
	echo "OOH-DEMO level 2: ooh-l0 is not built"
	exit 1
fi
echo "OOH-DEMO level 2: ooh-l0 boots a Linux guest (L2) inside L1 ..."
start=$(cut -d' ' -f1 /proc/uptime)
"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
	--mem 256M --timeout 180 --stats --append "quiet ooh.run=/ooh/l2/demo.sh" 2>&1 |
	sed -n -e '/^OOH-DEMO/p' -e 's/^ooh-l0: stats: /OOH-DEMO level 2: ooh-l0 figures: /p'
status=$?
end=$(cut -d' ' -f1 /proc/uptime)
echo "OOH-DEMO level 2: ooh-l0 ran L2 from start to power-off in $(awk "BEGIN{print $end - $start}") s"
exit $status
