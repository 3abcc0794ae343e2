#!/bin/sh
# make demo's L2 payload, run by the guest that ooh-l0 boots in L1 (l1/demo.sh):
# loads ooh.ko, then shows the OoH features a process in L2 uses. Kernel
# parameter ooh.demo=1,2,3,4 says which (l1/demo.sh boots L2 again for
# those a crash of the emulation cut short):
#   [1] OoH-PML: a process's working set (ooh-wss on ooh-epml)
#   [2] OoH-SPP: an overflow into a guard sub-page caught (ooh-spp-demo)
#   [3] OoH-PML: incremental checkpoints and a verified restore (ooh-ckpt)
#   [4] a workload for l1/demo.sh's ooh-vmwss, which watches L2 from L1
#   [5] ooh-l0's virtio devices: / on the disk, a ping to L1 over the tap,
#       and an answer to L1 over vsock (l1/demo.sh says OK or FAILED)
# Every line for the host starts with "OOH-DEMO"; "OOH-DEMO [N] OK: ..." or
# "OOH-DEMO [N] FAILED: ..." ends feature N. Plots go to the host over
# the console as OOH-DEMO-FILE lines (gzip + base64, l1/demo-report.sh
# decodes them). Every step has a time-out: nested TCG is slow, never hung.
B=$OOH_BIN
T=/tmp/demo
mkdir -p "$T"
todo=1,2,3,4,5 ip='' peer=''
for arg in $(cat /proc/cmdline); do
	case $arg in
	ooh.demo=*) todo=${arg#ooh.demo=} ;;
	ooh.ip=*) ip=${arg#ooh.ip=} ;;
	ooh.peer=*) peer=${arg#ooh.peer=} ;;
	esac
done
wanted() { case ,$todo, in *,$1,*) return 0 ;; esac; return 1; }
say() { echo "OOH-DEMO $*"; }
# block N FILE: FILE's lines as feature N's
block() { sed "s/^/OOH-DEMO [$1]   /" "$2"; }
# send_file NAME FILE: FILE to the host, over the console
send_file() {
	echo "OOH-DEMO-FILE-BEGIN $1"
	gzip -c "$2" | base64 | sed "s/^/OOH-DEMO-FILE $1 /"
	echo "OOH-DEMO-FILE-END $1 $(md5sum <"$2" | cut -d' ' -f1)"
}

say "L2: Linux $(uname -r) under ooh-l0, $(grep -c ^processor /proc/cpuinfo) vCPU, $(grep MemTotal /proc/meminfo | tr -s ' '), init after $(cut -d' ' -f1 /proc/uptime) s"
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	say "L2: ooh.ko did not load: $err"
	for n in 1 2 3; do wanted $n && say "[$n] FAILED: ooh.ko did not load in L2"; done
	exit 1
fi
say "L2: ooh.ko loaded ($(dmesg | grep 'ooh:' | tail -1 | sed 's/^\[[^]]*\] //')); libooh's backends here: $("$B/ooh" backends 2>&1 | awk '$2 == "usable" { printf "%s ", $1 }')"

if wanted 1; then
	say "[1] OoH-PML working set: ooh-wss --backend ooh-epml tracks ooh-wss-target in L2 (writes 4 MiB for 5 s, then 1 MiB for 5 s), 1 s intervals"
	timeout 60 "$B/ooh-wss" --backend ooh-epml -i 1000 -w 3 -t 10 --no-referenced --svg "$T/wss.svg" \
		-- "$B/ooh-wss-target" write:4M:5,write:1M:5 >"$T/wss.out" 2>&1
	st=$?
	# the referenced-set columns are empty with --no-referenced
	sed -i -e '/^# referenced/d' -e 's/ *ref(KiB) *refanon(KiB)//' -e 's/ *- *-//' "$T/wss.out"
	block 1 "$T/wss.out"
	# the dirty pages of each phase's intervals: 4 MiB, then 1 MiB (+ the
	# target's stack and libc pages, a few KiB)
	p4=$(awk '/^plateau dirty/ && $(NF-1) >= 3.9 && $(NF-1) <= 4.3' "$T/wss.out")
	p1=$(awk '/^plateau dirty/ && $(NF-1) >= 0.9 && $(NF-1) <= 1.3' "$T/wss.out")
	if [ "$st" = 0 ] && grep -q 'backend ooh-epml' "$T/wss.out" && [ -n "$p4" ] && [ -n "$p1" ]; then
		send_file wss.svg "$T/wss.svg"
		say "[1] OK: OoH-PML saw the target's working set: $(echo "$p4" | awk 'NR == 1 { print $(NF-1) }') MiB, then $(echo "$p1" | awk 'NR == 1 { print $(NF-1) }') MiB, as written"
	else
		[ -s "$T/wss.svg" ] && send_file wss.svg "$T/wss.svg"
		say "[1] FAILED: ooh-wss status $st; wanted dirty plateaus of 4 MiB and 1 MiB on ooh-epml"
	fi
fi

if wanted 2; then
	say "[2] OoH-SPP guard: ooh-spp-demo copies 200 bytes into a 128-byte object guarded by write-protected sub-pages (libooh's ooh backend: ooh-l0 judges each write)"
	timeout 30 "$B/ooh-spp-demo" -b ooh >"$T/spp.out" 2>&1
	st=$?
	block 2 "$T/spp.out"
	if [ "$st" = 0 ]; then
		say "[2] OK: overflow caught at $(sed -n 's/^caught: .* at \(0x[0-9a-f]*\) = \(object + [0-9]*\).*/\1 (\2)/p' "$T/spp.out"), the first byte past the object; nothing beyond it written"
	else
		say "[2] FAILED: ooh-spp-demo exited with status $st"
	fi
fi

if wanted 3; then
	say "[3] incremental checkpoint + restore: ooh-ckpt on ooh-epml checkpoints ooh-ckpt-target (2500 steps in an 8 MiB arena) 3 times, 500 ms apart; a fresh target is restored from the last one"
	ck=$T/ckpt
	rm -rf "$ck"
	"$B/ooh-ckpt-target" --steps 2500 --touch 8 --delay 2000 >"$T/orig.out" 2>&1 &
	tp=$!
	i=0
	while ! grep -q computing "$T/orig.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	timeout 60 "$B/ooh-ckpt" dump "$tp" "$ck" -n 3 -i 500 -b ooh-epml -r 6f0000000000-6f0000801000 \
		>"$T/dump.out" 2>&1
	dst=$?
	block 3 "$T/dump.out"
	# the uninterrupted run's result, then the same computation restored
	(sleep 60; kill "$tp" 2>/dev/null) &
	guard=$!
	wait "$tp"
	kill "$guard" 2>/dev/null
	want=$(sed -n 's/^result \([0-9a-f]*\).*/\1/p' "$T/orig.out")
	timeout 30 "$B/ooh-ckpt" verify "$ck" >"$T/verify.out" 2>&1
	vst=$?
	tail -1 "$T/verify.out" | sed 's/^/OOH-DEMO [3]   verify: /'
	"$B/ooh-ckpt-target" --wait >"$T/rest.out" 2>&1 &
	rp=$!
	sleep 0.3
	timeout 30 "$B/ooh-ckpt" restore "$ck" "$rp" >"$T/restore.out" 2>&1
	rst=$?
	sed 's/^/OOH-DEMO [3]   restore: /' "$T/restore.out"
	(sleep 60; kill "$rp" 2>/dev/null) &
	guard=$!
	wait "$rp"
	kill "$guard" 2>/dev/null
	got=$(sed -n 's/^result \([0-9a-f]*\).*/\1/p' "$T/rest.out")
	step=$(sed -n 's/^resumed at step //p' "$T/rest.out")
	incr=$(awk '$2 == "incr" { printf "%s%s pages", n++ ? ", " : "", $3 }' "$T/dump.out")
	say "[3]   uninterrupted run: result ${want:-none}; restored run: resumed at step ${step:-?}, result ${got:-none}"
	if [ "$dst" = 0 ] && [ "$vst" = 0 ] && [ "$rst" = 0 ] && [ -n "$want" ] && [ "$want" = "$got" ] &&
		[ "${step:-0}" -gt 0 ] && [ -n "$incr" ]; then
		say "[3] OK: incremental images of $incr (the arena holds 2049); the restored process resumed at step $step and reached the uninterrupted run's result, $got"
	else
		say "[3] FAILED: dump $dst, verify $vst, restore $rst; result '$want' uninterrupted vs '$got' restored"
	fi
fi

if wanted 5; then
	root=$(awk '$2 == "/" { dev = $1 } END { print dev }' /proc/mounts)
	say "[5] L2's / is $(grep " / " /proc/mounts | tail -1 | cut -d' ' -f1-3)"
	pings=0
	if [ -n "$ip" ] && ip addr add "$ip" dev eth0 2>/dev/null && ip link set eth0 up; then
		pings=$(ping -c 3 -W 5 "$peer" 2>&1 | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	fi
	say "[5] L2 pinged L1 ($peer) over virtio-net: ${pings:-0} of 3 answered"
	# l1/demo.sh asks over vsock on this line, and says [5]'s result
	echo "OOH-DEMO-L2-VIRTIO root=$root ping=${pings:-0}/3"
	timeout 90 "$B/ooh-vsock" serve 1234 1
fi

if wanted 4; then
	# l1/demo.sh starts ooh-vmwss on the GO line and stops it on STOP
	say "[4] L2 runs a workload that writes nothing for 3 s, then 4 MiB for 6 s, then 16 MiB for 6 s"
	echo "OOH-DEMO-L2-VMWSS-GO"
	timeout 60 "$B/ooh-test-wss-workload" 0:3 4:6 16:6 2>&1 |
		sed -n 's/^OOH-WSS-PHASE \([0-9]*\) \(.*\)/OOH-DEMO [4]   L2 workload phase \1: \2/p'
	echo "OOH-DEMO-L2-VMWSS-STOP"
	# stay up while ooh-vmwss ends its run (it reports a VM that exits
	# under it as an error)
	sleep 5
fi
rmmod ooh 2>/dev/null
exit 0
