#!/bin/sh
# Same-run A/B of two ooh-ckpt binaries in the rig's L1 (softdirty) and L2
# (ooh-epml): one 128 MiB target, 1 % re-dirtied between checkpoints, rounds
# in ABBA order, `ooh-ckpt dump -n 5` each, with OOH_CKPT_PROFILE=1. "old"
# is DIR/ooh-ckpt-old, "new" the build's ooh-ckpt:
#   cp OLD-BINARY DIR/ooh-ckpt-old
#   l1/ooh-rig --timeout 2000 --test-timeout 1900 --include DIR run examples/ckpt/ckpt-ab-rig.sh
# Output lines start with "EXP BACKEND old|new rROUND:" (ooh-ckpt's table,
# its profile lines and `ooh-ckpt verify`'s verdict).
B=$OOH_BIN
T=/tmp/ckx; rm -rf "$T"; mkdir -p "$T"
ab() {
	bk=$1
	setsid "$B/ooh-ckpt-target" --kick --size 128 --pct 1 < /dev/null > "$T/ck.out" 2>&1 &
	sleep 0.2; cp=$(pidof ooh-ckpt-target)
	i=0; while ! grep -q ready "$T/ck.out" && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	for r in 1 2 3 4 5 6; do
		ord="old new"; [ $((r % 2)) = 0 ] && ord="new old"
		for m in $ord; do
			bin=$B/ooh-ckpt; [ "$m" = old ] && bin=/ooh/include/ooh-ckpt-old
			rm -rf "$T/ooh"
			OOH_CKPT_PROFILE=1 "$bin" dump "$cp" "$T/ooh" -n 5 -i 300 --kick 10 -b "$bk" \
				-r 6f0000000000-6f0008001000 > "$T/o.out" 2>&1
			sed "s/^/EXP $bk $m r$r: /" "$T/o.out"
			"$B/ooh-ckpt" verify "$T/ooh" | tail -1 | sed "s/^/EXP $bk $m r$r: /"
		done
	done
	kill "$cp"; wait "$cp" 2>/dev/null; rm -rf "$T/ooh"
}
if [ -z "${OOH_L2:-}" ]; then
	insmod "$OOH_MODULES/ooh.ko"
	ab ooh-epml
	rmmod ooh
	exit 0
fi
ab softdirty
cp "$OOH_L2/initrd.cpio" /tmp/l2x.cpio
pad=$(( (4 - $(wc -c < /tmp/l2x.cpio) % 4) % 4 ))
[ "$pad" -gt 0 ] && head -c "$pad" /dev/zero >> /tmp/l2x.cpio
mkdir -p /tmp/x/ooh/include && cp /ooh/payload /tmp/x/ooh/include/exp.sh && cp /ooh/include/ooh-ckpt-old /tmp/x/ooh/include/
(cd /tmp/x && { echo ooh; echo ooh/include; echo ooh/include/exp.sh; echo ooh/include/ooh-ckpt-old; } | cpio -o -H newc) >> /tmp/l2x.cpio 2>/dev/null
"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd /tmp/l2x.cpio --mem 1024M \
	--cpus 2 --timeout 900 --append "quiet ooh.run=/ooh/include/exp.sh"
echo "EXP l0 status $?"
