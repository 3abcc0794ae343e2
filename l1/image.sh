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
	local root=$1 file=$2 dest=$3
	mkdir -p "$root/$dest"
	cp -L "$file" "$root/$dest/"
	image_add_libs "$root" "$file"
}

# image_add_libs DIR FILE: the host's shared libraries FILE needs, at the
# paths the dynamic loader expects (those not found here are left out).
image_add_libs() {
	local root=$1 file=$2 lib
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

# The project's packages (l1/ooh-rig --debs DIR, from `make deb`), so that
# rig runs test what a user installs.
#
# debs_install DIR ROOT: installs the userspace packages from DIR into ROOT
# with dpkg (a database of its own in ROOT; the host's libraries they
# depend on are copied, not installed) and links /ooh/bin/NAME and
# /ooh/lib/NAME to what they installed, where the tests look.
debs_install() {
	local dir=$1 root=$2 pkg debs=() f log
	for pkg in libooh1 libooh-gc1 ooh-guard ooh-tools ooh-l0; do
		f=$(ls "$dir"/"${pkg}"_*.deb 2>/dev/null | tail -1)
		[ -n "$f" ] || { echo "ooh-rig: no $pkg package in $dir (make deb)" >&2; return 1; }
		debs+=("$f")
	done
	mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/ooh/bin" "$root/ooh/lib"
	: >"$root/var/lib/dpkg/status"
	: >"$root/var/lib/dpkg/available"
	log=$(mktemp)
	# libc and friends are the host's, copied below: not known to this dpkg
	if ! dpkg --root="$root" --force-depends -i "${debs[@]}" >"$log" 2>&1; then
		echo "ooh-rig: dpkg could not install the packages into the image:" >&2
		cat "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
	for f in "$root"/usr/bin/ooh*; do
		image_add_libs "$root" "$f"
		ln -sf "/usr/bin/${f##*/}" "$root/ooh/bin/${f##*/}"
	done
	for f in "$root"/usr/lib/libooh-gc.so "$root"/usr/lib/libooh-guard.so; do
		[ -e "$f" ] && ln -sf "/usr/lib/${f##*/}" "$root/ooh/lib/${f##*/}"
	done
	return 0
}

# debs_programs DIR: the program names the packages install (one per line).
debs_programs() {
	local f
	for f in "$1"/ooh-tools_*.deb "$1"/ooh-l0_*.deb; do
		dpkg-deb -c "$f" | awk '{ print $NF }' | sed -n 's|^\./usr/bin/||p'
	done | sort -u
}

# debs_module DIR KVER OUT: ooh-dkms's sources built for KVER the way DKMS
# builds them (its postinst runs DKMS, which the images do not have); the
# modules into OUT.
debs_module() {
	local dir=$1 kver=$2 out=$3 tmp src f
	f=$(ls "$dir"/ooh-dkms_*.deb 2>/dev/null | tail -1)
	[ -n "$f" ] || { echo "ooh-rig: no ooh-dkms package in $dir" >&2; return 1; }
	tmp=$(mktemp -d)
	dpkg-deb -x "$f" "$tmp"
	src=$(ls -d "$tmp"/usr/src/ooh-*/guest-module | head -1)
	if ! make -s -C "/lib/modules/$kver/build" M="$src" modules >"$tmp.log" 2>&1; then
		echo "ooh-rig: ooh-dkms's module does not build for $kver:" >&2
		cat "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		return 1
	fi
	mkdir -p "$out"
	cp "$src"/*.ko "$out/"
	rm -rf "$tmp" "$tmp.log"
}
