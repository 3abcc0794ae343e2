#!/bin/sh
# make demo's L2 payload: the guest under ooh-l0 loads ooh.ko and shows
# what it found below it and what a process can use.
echo "OOH-DEMO level 3: L2 Linux $(uname -r) under ooh-l0, $(grep -c ^processor /proc/cpuinfo) vCPU, init after $(cut -d' ' -f1 /proc/uptime) s"
if insmod "$OOH_MODULES/ooh.ko"; then
	echo "OOH-DEMO level 3: ooh.ko loaded: $(dmesg | grep 'ooh:' | tail -1 | sed 's/^\[[^]]*\] //')"
	echo "OOH-DEMO level 3: /dev/ooh: $(ls -l /dev/ooh | cut -c1-10)"
fi
if [ -x "$OOH_BIN/ooh" ]; then
	echo "OOH-DEMO level 3: libooh backends in L2:"
	"$OOH_BIN/ooh" backends 2>&1 | sed 's/^/OOH-DEMO   /'
fi
