# shellcheck shell=bash
# Initramfs assembly for the rig, sourced by l1/ooh-rig.
#
# Everything comes from installed packages (the Debian kernel and its
# modules, busybox-static) and from this tree's build output, so the same
# inputs give a byte-identical cpio: every file is stamped with mtime 0 and
# archived in sorted order.

# image_skeleton DIR: busybox with one symlink per applet, the usual mounts.
image_skeleton() {
	local root=$1 applet
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib64,usr/bin,usr/sbin}
	cp /bin/busybox "$root/bin/busybox"
	# root, and nobody for tests that need an unprivileged user.
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	for applet in $(/bin/busybox --list); do
		[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
	done
}

# image_add_program DIR FILE DEST_DIR: a program and the shared libraries
# it needs, at the paths the dynamic loader expects.
image_add_program() {
	local root=$1 file=$2 dest=$3 lib
	mkdir -p "$root/$dest"
	cp -L "$file" "$root/$dest/"
	# Static binaries make ldd fail; they need nothing more.
	for lib in $(ldd "$file" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# image_add_modules DIR KVER LIST_FILE MODULE...: the modules and their
# dependencies, with the insmod order written to LIST_FILE (inside DIR).
image_add_modules() {
	local root=$1 kver=$2 list=$3 mod path
	shift 3
	mkdir -p "$(dirname "$root/$list")"
	: >"$root/$list"
	for mod in "$@"; do
		if ! modprobe -S "$kver" --show-depends "$mod" >/dev/null 2>&1; then
			echo "ooh-rig: kernel module '$mod' not found for $kver" >&2
			return 1
		fi
		for path in $(modprobe -S "$kver" --show-depends "$mod" |
			      awk '$1 == "insmod" { print $2 }'); do
			grep -qx "$path" "$root/$list" && continue
			mkdir -p "$root$(dirname "$path")"
			cp "$path" "$root$path"
			echo "$path" >>"$root/$list"
		done
	done
}

# image_pack DIR OUT: a reproducible newc cpio, uncompressed because
# decompression is slow under TCG and the images are small.
image_pack() {
	local root=$1 out=$2 tmp
	find "$root" -exec touch -h -d @0 {} +
	# A private temporary and an atomic rename: rig runs may overlap.
	tmp=$(mktemp "$out.XXXXXX")
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc --reproducible -R 0:0) >"$tmp"
	chmod 644 "$tmp"
	mv "$tmp" "$out"
}
