#!/bin/sh
# make demo's payload, run in L1: the stack coming up, then each OoH feature
# at work. ooh-l0 boots L2 from a root filesystem on its virtio-blk disk,
# with a virtio-net card on a tap and a virtio-vsock device; L2 runs
# l1/demo-l2.sh (features [1]-[3], the workload of [4], its half of [5]);
# [4] itself runs here: ooh-vmwss watches L2's working set from L1 through
# ooh-l0's control socket; and [5] ends here: L1 asks L2 over vsock. Lines for the host
# start with "OOH-DEMO"; plots travel as OOH-DEMO-FILE lines, which the
# Makefile hides and l1/demo-report.sh turns into build/demo/report.html.
# L2 now and then dies under nested TCG (a triple fault: README, "Rig
# caveat"): then L2 boots again, at most 3 times in all, for the features
# that had not reported yet. Exit status: 0 when all five reported OK.
T=/tmp/demo
sock=$T/vm.sock
mkdir -p "$T"
say() { echo "OOH-DEMO $*"; }
# send_file NAME FILE: FILE to the host, over the console (as demo-l2.sh)
send_file() {
	echo "OOH-DEMO-FILE-BEGIN $1"
	gzip -c "$2" | base64 | sed "s/^/OOH-DEMO-FILE $1 /"
	echo "OOH-DEMO-FILE-END $1 $(md5sum <"$2" | cut -d' ' -f1)"
}
# say_l1: a result L1 reports ([4], [5]), kept with this boot's L2 log
say_l1() { say "$@" | tee -a "$T/l1-$boot.log"; }
now() { cut -d' ' -f1 /proc/uptime; }

say "stack: host -> QEMU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')) -> L1 Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPU, init after $(now) s"
say "stack: L1 has KVM: $(lsmod | awk 'NR>1 && /^kvm_(amd|intel)/{print $1}'), nested paging $(cat /sys/module/kvm_amd/parameters/npt /sys/module/kvm_intel/parameters/ept 2>/dev/null); a tiny KVM guest computed $("$OOH_BIN/ooh-test-kvm-tiny" 2>&1 | sed -n 's/^OOH-RESULT PASS kvm-tiny-compute //p')"
if [ ! -x "$OOH_BIN/ooh-l0" ]; then
	say "stack: ooh-l0 is not built"
	exit 1
fi

# vmwss_start / vmwss_stop: feature [4], on demo-l2.sh's GO and STOP lines
vmwss_start() {
	say "[4] VM working set from L1: ooh-vmwss --l0 $sock (ooh-l0's control socket: L2's dirty pages from the KVM dirty ring), 1 s intervals"
	"$OOH_BIN/ooh-vmwss" --l0 "$sock" --interval 1000 --svg "$T/vmwss.svg" >"$T/vmwss.out" 2>&1 &
	echo $! >"$T/vmwss.pid"
}
vmwss_stop() {
	pid=$(cat "$T/vmwss.pid" 2>/dev/null)
	[ -n "$pid" ] || return
	rm -f "$T/vmwss.pid"
	kill -INT "$pid" 2>/dev/null
	wait "$pid"
	st=$?
	sed 's/^/OOH-DEMO [4]   /' "$T/vmwss.out"
	# the 4 MiB phase: 1024 pages plus what L2's kernel dirties by itself
	# (the lesser of the idle intervals 2-3: the first holds the start)
	idle=$(awk '$1 ~ /^[23]$/ { print $3 }' "$T/vmwss.out" | sort -n | head -1)
	want=$((1024 + ${idle:-0}))
	p4=$(awk -v w="$want" '$1 == "plateau" && $3 >= w * 0.85 && $3 <= w * 1.15 { print $3; exit }' "$T/vmwss.out")
	p16=$(awk -v w="$((4096 + ${idle:-0}))" '$1 == "plateau" && $3 >= w * 0.85 && $3 <= w * 1.15 { print $3; exit }' "$T/vmwss.out")
	if [ "$st" = 0 ] && [ -n "$p4" ] && [ -s "$T/vmwss.svg" ]; then
		send_file vmwss.svg "$T/vmwss.svg"
		say_l1 "[4] OK: from L1, L2's write working set was $p4 pages in the 4 MiB phase (expected 1024 + ${idle:-?} idle)${p16:+, $p16 pages in the 16 MiB phase}"
	else
		[ -s "$T/vmwss.svg" ] && send_file vmwss.svg "$T/vmwss.svg"
		say_l1 "[4] FAILED: ooh-vmwss status $st; wanted a plateau near $want pages (4 MiB + idle ${idle:-?})"
	fi
}

# virtio_ask LINE: [5] from L2's "OOH-DEMO-L2-VIRTIO root=... ping=..." line,
# once L1 had its answer over vsock
virtio_ask() {
	root=$(echo "$1" | sed -n 's/.* root=\([^ ]*\).*/\1/p')
	ping=$(echo "$1" | sed -n 's/.* ping=\([^ ]*\).*/\1/p')
	answer=$("$OOH_BIN/ooh-vsock" ask 3 1234 "hello-from-L1" 60 2>&1)
	if [ "$root" = /dev/vda ] && [ "$ping" = 3/3 ] && [ "$answer" = "ooh-vsock hello-from-L1 root=/dev/vda" ]; then
		say_l1 "[5] OK: L2's root is ext4 on ooh-l0's virtio-blk ($root), 3 of 3 pings from L2 reached L1 over virtio-net (tap $tap), and L2 answered L1 over virtio-vsock: '$answer'"
	else
		say_l1 "[5] FAILED: root '$root' (want /dev/vda), pings $ping (want 3/3), vsock answer '$answer'"
	fi
}

# relay: ooh-l0's output (L2's console) -> ours, running [4] on cue
relay() {
	while IFS= read -r line; do
		case $line in
		OOH-DEMO-L2-VMWSS-GO) vmwss_start ;;
		OOH-DEMO-L2-VMWSS-STOP) vmwss_stop ;;
		OOH-DEMO-L2-VIRTIO*) virtio_ask "$line" ;;
		OOH-DEMO*) echo "$line" ;;
		"ooh-l0: stats: "*) say "L2: ooh-l0's figures: ${line#ooh-l0: stats: }" ;;
		esac
	done
	# L2 ended during [4]: ooh-vmwss sees the VM go, it reports nothing
	pid=$(cat "$T/vmwss.pid" 2>/dev/null)
	[ -n "$pid" ] && { kill -INT "$pid"; wait "$pid"; rm -f "$T/vmwss.pid"; }
}

# ooh-l0's devices for L2: its root filesystem (made here from L2's tree),
# a tap with L1's end at 10.0.2.1, vsock CID 3
. "$OOH_TESTS/harness/l2-disk.sh"
tap=ooh-demo0
for mod in $(cat /ooh/modules.virtio-host); do insmod "$mod" 2>/dev/null; done
if ! err=$(l2_root_image "$T/root.ext4" 2>&1); then
	say "stack: could not make L2's root filesystem image: $err"
	exit 1
fi
say "stack: L2's root filesystem: an ext4 image of its tree ($(($(wc -c <"$T/root.ext4") >> 20)) MiB), on ooh-l0's virtio-blk"
tap_up() {
	for _ in $(seq 150); do [ -e /sys/class/net/$tap ] && break; sleep 0.2; done
	ip addr add 10.0.2.1/24 dev $tap 2>/dev/null
	ip link set $tap up
}

todo=1,2,3,4,5
boot=1
start=$(now)
while :; do
	say "stack: ooh-l0 boots L2 (boot $boot), features $todo ..."
	b0=$(now)
	{
		tap_up &
		"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
			--mem 256M --cpus 2 --timeout 180 --stats --control "$sock" \
			--disk "$T/root.ext4" --net tap=$tap --vsock 3 \
			--append "quiet ooh.root=/dev/vda ooh.ip=10.0.2.15/24 ooh.peer=10.0.2.1 ooh.run=/ooh/l2/demo.sh ooh.demo=$todo" 2>&1
		echo $? >"$T/l0.status"
	} | tr -d '\r' | tee "$T/l2-$boot.log" | relay
	st=$(cat "$T/l0.status")
	# features that reported (OK or FAILED) are done; the others go again
	left=
	for n in $(echo "$todo" | tr ',' ' '); do
		cat "$T/l2-$boot.log" "$T/l1-$boot.log" 2>/dev/null |
			grep -q "^OOH-DEMO \[$n\] \(OK\|FAILED\)" || left=$left${left:+,}$n
	done
	if grep -q '^OOH-L2-EXIT' "$T/l2-$boot.log"; then
		say "stack: L2 ran from start to power-off in $(awk "BEGIN { print $(now) - $b0 }") s (ooh-l0 status $st)"
	else
		why=
		[ "$st" = 73 ] && why=": a triple fault, the nested emulation's"
		[ "$st" = 72 ] && why=": ooh-l0's time-out"
		say "stack: L2 ended after $(awk "BEGIN { print $(now) - $b0 }") s without finishing (ooh-l0 status $st$why); its console's last lines:"
		grep -v '^OOH-DEMO-FILE' "$T/l2-$boot.log" | tail -n 4 | sed 's/^/OOH-DEMO   | /'
	fi
	[ -z "$left" ] && break
	if [ $boot -ge 3 ] || [ "$(awk "BEGIN { print ($(now) - $start > 240) }")" = 1 ]; then
		for n in $(echo "$left" | tr ',' ' '); do
			say "[$n] FAILED: no result after $boot L2 boot(s)"
		done
		break
	fi
	todo=$left
	boot=$((boot + 1))
done
# all five OK?
ok=0
for n in 1 2 3 4 5; do
	cat "$T"/l[12]-*.log 2>/dev/null | grep -q "^OOH-DEMO \[$n\] OK" && ok=$((ok + 1))
done
[ $ok = 5 ]
