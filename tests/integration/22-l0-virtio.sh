#!/bin/sh
# ooh-l0's virtio devices, end to end in the rig: L2 boots with its root
# filesystem on a virtio-blk disk (an ext4 image of L2's tree made here),
# reaches L1 over virtio-net (a tap), answers over virtio-vsock (vhost in
# L1); a read-only disk refuses writes; then L2 writes 256 MiB of seeded
# data to a second disk and fsyncs, ooh-l0 is killed with SIGKILL as soon
# as L2 says the fsync returned, and the image must hold every byte.
#
# The same file is the L2 payload (ooh.run=, once L2 runs from the disk).

PORT=1234
SEED=20261206

l2_payload() {
	. "$OOH_TESTS/harness/result.sh"
	ip='' peer=''
	for arg in $(cat /proc/cmdline); do
		case $arg in
		ooh.ip=*) ip=${arg#*=} ;;
		ooh.peer=*) peer=${arg#*=} ;;
		esac
	done
	root=$(awk '$2 == "/" { dev = $1 } END { print dev }' /proc/mounts)
	if [ "$root" = /dev/vda ] && [ -e /ooh/l2/disk-root ]; then
		ooh_pass l2-virtio-root "/ is $(grep ' / ' /proc/mounts | tail -1)"
	else
		ooh_fail l2-virtio-root "/ is '$root', not the ext4 image on /dev/vda"
	fi
	ip addr add "$ip" dev eth0 && ip link set eth0 up
	if out=$(ping -c 3 -W 5 "$peer" 2>&1); then
		ooh_pass l2-virtio-net-ping "$(echo "$out" | grep -E 'packets transmitted')"
	else
		ooh_fail l2-virtio-net-ping "no answer from L1 at $peer: $(echo "$out" | tail -2 | tr '\n' ' ')"
	fi
	# one answer to L1's question, then on
	ooh-vsock serve $PORT 1
	# The driver honours VIRTIO_BLK_F_RO (EPERM, the disk is read-only to
	# the kernel, blockdev --setrw cannot undo it); the device's own
	# refusal (VIRTIO_BLK_S_IOERR) is checked by test-virtio-blk.
	if err=$(dd if=/dev/zero of=/dev/vdc bs=4096 count=1 oflag=direct 2>&1); then
		ooh_fail l2-virtio-ro-refused "a write to the read-only disk succeeded"
	else
		ooh_pass l2-virtio-ro-refused "$(echo "$err" | head -1)"
	fi
	ooh-fill write /dev/vdb 256 $SEED
	sleep 600 # L1 kills ooh-l0 now
}

if [ -z "${OOH_L2:-}" ] && grep -q 'ooh\.root=' /proc/cmdline 2>/dev/null; then
	l2_payload
	exit 1
fi

. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2-disk.sh"
self=/ooh/tests/integration/22-l0-virtio.sh
tap=ooh-tap0
log=/tmp/22-l0-virtio.log

for mod in $(cat /ooh/modules.virtio-host); do
	insmod "$mod" 2>/dev/null
done
if ! err=$(l2_root_image /tmp/l2-root.ext4 2>&1); then
	ooh_fail l0-virtio-root-image "could not make L2's root filesystem image: $(echo "$err" | tr '\n' ' ')"
	exit 1
fi
ooh_pass l0-virtio-root-image "ext4, $(($(wc -c </tmp/l2-root.ext4) >> 20)) MiB, from L2's tree"
rm -f /tmp/l2-data.img /tmp/l2-ro.img
truncate -s 300M /tmp/l2-data.img
dd if=/dev/urandom of=/tmp/l2-ro.img bs=4096 count=16 2>/dev/null
ro_sum=$(md5sum </tmp/l2-ro.img)

"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" --mem 512M \
	--disk /tmp/l2-root.ext4 --disk /tmp/l2-data.img --disk /tmp/l2-ro.img,ro \
	--net tap=$tap --vsock 3 --timeout 900 --verbose \
	--append "ooh.root=/dev/vda ooh.run=$self ooh.ip=10.0.2.15/24 ooh.peer=10.0.2.1" \
	>$log 2>&1 </dev/null &
pid=$!

# The tap exists once ooh-l0 opened it: give it L1's address.
for _ in $(seq 100); do [ -e /sys/class/net/$tap ] && break; sleep 0.2; done
ip addr add 10.0.2.1/24 dev $tap && ip link set $tap up ||
	ooh_fail l0-virtio-tap "no tap $tap from ooh-l0"

answer=$("$OOH_BIN/ooh-vsock" ask 3 $PORT "token-$$" 600)
if [ "$answer" = "ooh-vsock token-$$ root=/dev/vda" ]; then
	ooh_pass l0-virtio-vsock "L2 answered: $answer"
else
	ooh_fail l0-virtio-vsock "answer '$answer'"
fi

# SIGKILL the moment L2 reports its fsync returned.
killed=
for _ in $(seq 3000); do
	if grep -q 'ooh-fill: fsync done' $log; then
		kill -KILL $pid
		killed=1
		break
	fi
	kill -0 $pid 2>/dev/null || break
	sleep 0.2
done
[ -n "$killed" ] || kill -KILL $pid 2>/dev/null
wait $pid
status=$?
sed 's/^/l2: /' $log | grep -v 'OOH-RESULT' | tail -n 30
grep 'OOH-RESULT' $log

if [ -z "$killed" ]; then
	ooh_fail l0-virtio-fsync-kill "L2 never reported its fsync (ooh-l0 status $status)"
elif out=$("$OOH_BIN/ooh-fill" check /tmp/l2-data.img 256 $SEED); then
	ooh_pass l0-virtio-fsync-kill "ooh-l0 killed right after L2's fsync: $out"
else
	ooh_fail l0-virtio-fsync-kill "after SIGKILL: $out"
fi
# KVM's shortcuts: a notify signals the device's eventfd in L1's kernel, an
# interrupt is an irqfd write (ooh-l0 --verbose says which it got)
n=$(grep -c 'ioeventfd on, irqfd on' $log)
if [ "$n" = 5 ]; then
	ooh_pass l0-virtio-kvm-shortcuts "ioeventfd and irqfd for all 5 devices"
else
	ooh_fail l0-virtio-kvm-shortcuts "$n of 5 devices have ioeventfd and irqfd: $(grep -e 'ioeventfd' $log | tr '\n' ' ')"
fi
if [ "$(md5sum </tmp/l2-ro.img)" = "$ro_sum" ]; then
	ooh_pass l0-virtio-ro-unchanged "the read-only image is as it was"
else
	ooh_fail l0-virtio-ro-unchanged "the read-only image changed"
fi
rm -f /tmp/l2-root.ext4 /tmp/l2-data.img /tmp/l2-ro.img
