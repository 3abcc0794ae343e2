# shellcheck shell=sh
# l2_root_image OUT: in L1, an ext4 image of L2's tree (the rig's L2
# initramfs, unpacked: the same programs, modules and tests) with room to
# spare, marked as a disk root (/ooh/l2/disk-root) for init-l2's
# ooh.root=. Prints nothing; returns non-zero with a message on failure.
l2_root_image() {
	out=$1
	tree=$(mktemp -d /tmp/l2-tree.XXXXXX)
	(cd "$tree" && cpio -i -d -m <"$OOH_L2/initrd.cpio" 2>/dev/null) || {
		echo "l2_root_image: cannot unpack $OOH_L2/initrd.cpio" >&2
		rm -rf "$tree"
		return 1
	}
	: >"$tree/ooh/l2/disk-root"
	mib=$(($(du -sm "$tree" | cut -f1) + 64))
	rm -f "$out"
	# e2fsprogs' mke2fs (busybox has one too, without ext4 or -d)
	if ! /sbin/mke2fs -q -t ext4 -L ooh-l2-root -d "$tree" -F "$out" "${mib}M" >/tmp/mke2fs.log 2>&1; then
		echo "l2_root_image: mke2fs failed:" >&2
		cat /tmp/mke2fs.log >&2
		rm -rf "$tree"
		return 1
	fi
	rm -rf "$tree"
}
