#!/bin/sh
# make module-check [KHEADERS=linux-headers-VERSION-amd64]: build ooh.ko
# against another Debian kernel's headers, by default bookworm-backports'
# (so that the module keeps up with the kernel people upgrade to), without
# installing that kernel: Debian's linux-headers-* depend on their
# linux-image-*, and an installed newer image would become the rig's kernel
# (l1/ooh-rig and GUEST_KVER take the newest). The headers, their -common
# and linux-kbuild packages are downloaded (apt-get download; network) and
# extracted in build/kheaders/KVER/; a copy of guest-module/ is built
# there. With ooh-dkms installed, `dkms build` for that kernel follows, so
# that `dkms status` lists it. Needs pahole (BTF of the module).
set -e
TOP=$(cd "$(dirname "$0")/.." && pwd)
pkg=$1
if [ -z "$pkg" ]; then
	# The headers bookworm-backports' linux-headers-amd64 depends on.
	pkg=$(apt-cache show linux-headers-amd64 |
		awk -v RS= '/\nVersion: [^\n]*~bpo/' |
		sed -n 's/^Depends: \(linux-headers-[^ ,]*\).*/\1/p' | head -1)
	[ -n "$pkg" ] || { echo "module-check: no bookworm-backports linux-headers-amd64 (apt-get update?)" >&2; exit 1; }
fi
kver=${pkg#linux-headers-}
deps=$(apt-cache show "$pkg" | sed -n 's/^Depends: //p' | head -1 | tr ',' '\n' |
	grep -o 'linux-headers-[^ ]*-common\|linux-kbuild-[^ ]*' | sort -u)
dir=$TOP/build/kheaders/$kver
rm -rf "$dir" && mkdir -p "$dir/debs" "$dir/root" "$dir/src"
echo "module-check: $pkg $(echo "$deps" | tr '\n' ' ')"
# shellcheck disable=SC2086  # one word per package
(cd "$dir/debs" && apt-get download -q "$pkg" $deps 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for deb in "$dir"/debs/*.deb; do
	dpkg-deb -x "$deb" "$dir/root"
done
kdir=$dir/root/usr/src/$pkg
[ -f "$kdir/Makefile" ] || { echo "module-check: $pkg did not unpack" >&2; exit 1; }
# Its Makefile includes the -common one by absolute path.
sed -i "s|^include /usr/src/|include $dir/root/usr/src/|" "$kdir/Makefile"
cp -r "$TOP/guest-module" "$TOP/include" "$dir/src/"
(cd "$dir/src/guest-module" && rm -f ./*.o ./*.ko ./*.mod ./*.mod.c ./.*.cmd ./.*.d modules.order Module.symvers)
make -s -C "$kdir" M="$dir/src/guest-module" modules
echo "module-check: $dir/src/guest-module/ooh.ko: $(modinfo -F vermagic "$dir/src/guest-module/ooh.ko")"
if command -v dkms >/dev/null && ver=$(dkms status -m ooh 2>/dev/null | sed -n 's|^ooh/\([^,]*\),.*|\1|p' | head -1) &&
	[ -n "$ver" ]; then
	dkms build -q -m ooh -v "$ver" -k "$kver" --kernelsourcedir "$kdir" --force
	dkms status -m ooh
fi
