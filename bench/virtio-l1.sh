#!/bin/sh
# L1 payload (l1/ooh-rig ... --include DIR run bench/virtio-l1.sh, DIR made
# by bench/virtio-qemu-bundle.sh), a benchmark (issue 23 item 5): ooh-l0's
# virtio devices against QEMU's, in ONE L1 run, three VMMs:
#   ooh-l0        --disk (virtio-blk over virtio-mmio), --net tap=
#   qemu-microvm  -M microvm, virtio-blk-device, virtio-net-device (mmio,
#                 described in ACPI)
#   qemu-pc       -M pc (SeaBIOS), virtio-blk-pci, virtio-net-pci
# Every VMM gets the same guest: the rig's L2 kernel and initramfs, the
# same --mem, 1 vCPU, a fresh copy of one ext4 root image (L2's tree plus
# this script) as the first disk, a second copy of it as the second disk
# (the benchmark's raw disk: whichever of vda/vdb is not mounted as /; a
# root image for both so that the probe order of -M microvm's mmio
# transports cannot matter), and the tap ooh-tap0 (10.0.2.1 in L1,
# 10.0.2.15 in L2). QEMU: -enable-kvm -cpu host, its default disk cache
# (writeback: the host's page cache, as ooh-l0's preadv/pwritev), tap with
# vhost=off (L1 has no vhost_net; ooh-l0 has no vhost-net either).
# Rounds (OOH_VBENCH_ROUNDS, default 3) run the three in turn, the order
# reversed every other round. Per run:
#   boot     L1's uptime from starting the VMM to the first "ooh-l2: init
#            reached" line on its console (printed on the disk root),
#            polled every 0.2 s
#   disk     ooh-diskbench on the raw disk (bench/ooh-diskbench.c: O_DIRECT,
#            one request in flight, OOH_VBENCH_DISK_S seconds (default 5)
#            per phase: sequential 1 MiB write and read, random 4 KiB write
#            and read, fixed seed)
#   net      L2 sends OOH_VBENCH_NET_MIB MiB (default 32) of zeros with
#            busybox dd | nc to busybox nc -l in L1 (into a tmpfs file,
#            whose size must be exact); timed in L2 (its /proc/uptime)
#            from the start of dd to nc's exit (L1's nc closes once it
#            has read everything)
#   rss      while L2 idles after those (5 s after its last line): the
#            VMM's total Rss minus the Rss of its largest mapping (guest
#            RAM; its size is printed, to check), from /proc/PID/smaps
# Prints OOH-VBENCH-RUN per run, then medians per VMM and ooh-l0's ratio
# to each QEMU machine (OOH-VBENCH lines and a table). Figures are
# relative only: L1 is QEMU TCG, L2 runs on L1's emulated SVM.
#
# The same file is the L2 payload (ooh.run=, once L2 runs from the disk).

PORT=5001
TAP=ooh-tap0
MEM=256M

l2_payload() {
	ip='' peer='' disk_s=5 net_mib=32
	for arg in $(cat /proc/cmdline); do
		case $arg in
		ooh.ip=*) ip=${arg#*=} ;;
		ooh.peer=*) peer=${arg#*=} ;;
		ooh.vbench=*) disk_s=${arg#*=} net_mib=${disk_s#*,} disk_s=${disk_s%,*} ;;
		esac
	done
	root=$(awk '$2 == "/" { dev = $1 } END { print dev }' /proc/mounts)
	data=''
	for dev in /dev/vda /dev/vdb; do
		[ "$dev" != "$root" ] && [ -b "$dev" ] && data=$dev
	done
	echo "OOH-VBENCH-L2 root=$root data=$data disk_s=$disk_s net_mib=$net_mib"
	if [ -n "$data" ]; then
		ooh-diskbench "$data" "$disk_s"
	else
		echo "OOH-VBENCH-L2 no second disk"
	fi
	ip addr add "$ip" dev eth0 && ip link set eth0 up
	ping -c 2 -W 5 "$peer" >/dev/null 2>&1 || ping -c 2 -W 5 "$peer" >/dev/null 2>&1 ||
		echo "OOH-VBENCH-L2 no answer from $peer"
	t0=$(cut -d' ' -f1 /proc/uptime)
	dd if=/dev/zero bs=64k count=$((net_mib * 16)) 2>/dev/null | nc "$peer" $PORT
	t1=$(cut -d' ' -f1 /proc/uptime)
	awk -v a="$t0" -v b="$t1" -v m="$net_mib" 'BEGIN {
		s = b - a; if (s <= 0) s = 0.01
		printf "OOH-NETBENCH mib=%d seconds=%.2f MBps=%.2f\n", m, s, m * 1.048576 / s }'
	echo "OOH-VBENCH-DONE"
	exec sleep 100000
}

if [ -z "${OOH_L2:-}" ] && grep -q 'ooh\.vbench=' /proc/cmdline 2>/dev/null; then
	l2_payload
	exit 1
fi

# ---- L1 ----
self=$0
dir=/tmp/vbench
rounds=${OOH_VBENCH_ROUNDS:-3}
disk_s=${OOH_VBENCH_DISK_S:-5}
net_mib=${OOH_VBENCH_NET_MIB:-32}
qemu=/ooh/include/qemu/qemu
rm -rf $dir
mkdir -p $dir
: >$dir/results
mkfifo $dir/nc.in

for mod in $(cat /ooh/modules.virtio-host); do
	insmod "$mod" 2>/dev/null
done
if [ ! -x $qemu ]; then
	echo "OOH-VBENCH-ERROR no QEMU bundle at $qemu (bench/virtio-qemu-bundle.sh DIR; ooh-rig --include DIR)"
	exit 1
fi
$qemu --version | head -n 1

# The root image: L2's tree (as tests/harness/l2-disk.sh makes it) with
# this script in it.
tree=$(mktemp -d /tmp/vbench-tree.XXXXXX)
(cd "$tree" && cpio -i -d -m <"$OOH_L2/initrd.cpio" 2>/dev/null)
: >"$tree/ooh/l2/disk-root"
cp "$self" "$tree/ooh/l2/virtio-bench.sh"
mib=$(($(du -sm "$tree" | cut -f1) + 64))
if ! /sbin/mke2fs -q -t ext4 -L ooh-l2-root -d "$tree" -F $dir/root.master "${mib}M" >$dir/mke2fs.log 2>&1; then
	echo "OOH-VBENCH-ERROR mke2fs failed: $(cat $dir/mke2fs.log)"
	exit 1
fi
rm -rf "$tree"
echo "OOH-VBENCH root image ${mib} MiB, guest --mem $MEM, 1 vCPU, disk phases ${disk_s} s, net ${net_mib} MiB, rounds $rounds"

cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }

# rss PID: "total guest extra guest_size" in KiB from smaps.
rss() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { n++ }
		/^Size:/ { size[n] = $2 }
		/^Rss:/ { rss[n] = $2; total += $2 }
		END { g = 0; for (i in size) if (size[i] > size[g]) g = i
			printf "%d %d %d %d", total, rss[g], total - rss[g], size[g] }' "/proc/$1/smaps"
}

# run VMM ROUND: one boot of L2 under VMM, appends its figures to results.
run() {
	vmm=$1 round=$2
	log=$dir/$vmm.$round.log
	append="ooh.root=/dev/vda ooh.run=/ooh/l2/virtio-bench.sh ooh.vbench=$disk_s,$net_mib ooh.ip=10.0.2.15/24 ooh.peer=10.0.2.1"
	for _ in $(seq 50); do [ -e /sys/class/net/$TAP ] || break; sleep 0.2; done
	cp $dir/root.master $dir/root.img
	cp $dir/root.master $dir/data.img
	# nc half-closes its connection when its stdin ends (the peer's nc
	# then stops): a FIFO opened read-write never ends.
	nc -l -p $PORT <>$dir/nc.in >$dir/nc.out &
	ncpid=$!
	t0=$(cs)
	case $vmm in
	ooh-l0)
		"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" --mem $MEM --cpus 1 \
			--disk $dir/root.img --disk $dir/data.img --net tap=$TAP --timeout 1800 \
			--append "$append" >"$log" 2>&1 </dev/null &
		;;
	qemu-microvm | qemu-pc)
		# the same devices on the machine's own transport: virtio-mmio
		# (microvm) or PCI (pc, whose NIC must not load an option ROM)
		if [ $vmm = qemu-pc ]; then m=pc bus=pci nic=,romfile=; else m=microvm bus=device nic=; fi
		$qemu -M $m -enable-kvm -cpu host -m $MEM -smp 1 -nodefaults -no-user-config \
			-display none -serial stdio -kernel "$OOH_L2/bzImage" -initrd "$OOH_L2/initrd.cpio" \
			-append "console=ttyS0 reboot=k panic=-1 $append" \
			-drive file=$dir/root.img,format=raw,if=none,id=d0 -device virtio-blk-$bus,drive=d0 \
			-drive file=$dir/data.img,format=raw,if=none,id=d1 -device virtio-blk-$bus,drive=d1 \
			-netdev tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off \
			-device virtio-net-$bus,netdev=n0$nic >"$log" 2>&1 </dev/null &
		;;
	esac
	pid=$!
	for _ in $(seq 100); do [ -e /sys/class/net/$TAP ] && break; sleep 0.2; done
	ip addr add 10.0.2.1/24 dev $TAP 2>/dev/null
	ip link set $TAP up
	boot=''
	i=0
	while [ $i -lt 3000 ] && kill -0 $pid 2>/dev/null; do
		if grep -q 'ooh-l2: init reached' "$log"; then
			boot=$(($(cs) - t0))
			break
		fi
		sleep 0.2
		i=$((i + 1))
	done
	i=0
	while [ $i -lt 900 ] && kill -0 $pid 2>/dev/null && ! grep -q '^OOH-VBENCH-DONE' "$log"; do
		sleep 1
		i=$((i + 1))
	done
	done=''
	grep -q '^OOH-VBENCH-DONE' "$log" && done=1
	sleep 5
	mem=''
	kill -0 $pid 2>/dev/null && mem=$(rss $pid)
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	kill $ncpid 2>/dev/null
	wait $ncpid 2>/dev/null
	tr -d '\r' <"$log" | grep -E '^(OOH-VBENCH-L2|OOH-DISKBENCH|OOH-NETBENCH|ooh-l2:|ooh-diskbench)' | sed "s/^/$vmm.$round: /"
	if [ -z "$done" ]; then
		echo "OOH-VBENCH-FAILED $vmm round $round: L2 did not finish; console tail:"
		tr -d '\r' <"$log" | tail -n 25 | sed "s/^/$vmm.$round| /"
		return
	fi
	disk=$(tr -d '\r' <"$log" | grep -m1 '^OOH-DISKBENCH' | cut -d' ' -f2-)
	net=$(tr -d '\r' <"$log" | grep -m1 '^OOH-NETBENCH' | sed 's/.*MBps=//')
	got=$(wc -c <$dir/nc.out)
	if [ "$got" != $((net_mib << 20)) ]; then
		echo "OOH-VBENCH-FAILED $vmm round $round: L1's nc got $got bytes, not $((net_mib << 20)): no net figure"
		net=''
	fi
	rm -f $dir/nc.out
	set -- $mem
	line="vmm=$vmm round=$round boot-s=$(awk -v c="$boot" 'BEGIN { printf "%.2f", c / 100 }') $disk${net:+ net-MBps=$net} rss-KiB=$1 guest-rss-KiB=$2 extra-rss-KiB=$3 guest-map-KiB=$4"
	echo "OOH-VBENCH-RUN $line"
	echo "$line" >>$dir/results
	rm -f $dir/root.img $dir/data.img
}

r=1
while [ $r -le "$rounds" ]; do
	if [ $((r % 2)) = 1 ]; then order="ooh-l0 qemu-microvm qemu-pc"; else order="qemu-pc qemu-microvm ooh-l0"; fi
	for vmm in $order; do
		run "$vmm" $r
	done
	r=$((r + 1))
done

# Medians per VMM and metric, then ooh-l0 / QEMU.
awk -v medians=$dir/medians '
function median(key,    n, i, j, t, v) {
	n = cnt[key]; if (!n) return ""
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
	vmm = ""
	for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "vmm") vmm = kv[2] }
	for (i = 1; i <= NF; i++) {
		split($i, kv, "=")
		if (kv[1] == "vmm" || kv[1] == "round") continue
		k = vmm SUBSEP kv[1]; cnt[k]++; val[k, cnt[k]] = kv[2]
		if (!(kv[1] in seen)) { seen[kv[1]] = 1; metrics[++nm] = kv[1] }
	}
}
END {
	nv = split("ooh-l0 qemu-microvm qemu-pc", vm, " ")
	printf "%-18s", "metric (median)"; for (v = 1; v <= nv; v++) printf " %13s", vm[v]
	printf " %11s %11s\n", "l0/microvm", "l0/pc"
	for (m = 1; m <= nm; m++) {
		if (metrics[m] == "guest-rss-KiB" || metrics[m] == "guest-map-KiB" || metrics[m] == "rss-KiB") continue
		printf "%-18s", metrics[m]
		for (v = 1; v <= nv; v++) { x[v] = median(vm[v] SUBSEP metrics[m]); printf " %13s", x[v] == "" ? "-" : x[v] }
		for (v = 2; v <= nv; v++) printf " %11s", (x[1] != "" && x[v] != "" && x[v] > 0) ? sprintf("%.2f", x[1] / x[v]) : "-"
		printf "\n"
		line = "OOH-VBENCH median " metrics[m]
		for (v = 1; v <= nv; v++) line = line " " vm[v] "=" (x[v] == "" ? "-" : x[v])
		print line > medians
	}
	for (v = 1; v <= nv; v++) printf "runs %s: %d\n", vm[v], cnt[vm[v] SUBSEP "boot-s"]
}' $dir/results
cat $dir/medians
echo "goal (issue 23): disk and net ratios >= 1 (throughput at least QEMU's; boot-s lower is better), extra-rss-KiB ratio <= 0.1"
