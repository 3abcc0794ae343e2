#!/bin/sh
# make deps: install the Debian packages the tree needs, only those missing,
# after one apt-get update. Safe to run again.
set -e
PACKAGES="build-essential pkg-config check libnuma-dev libbpf-dev libxen-dev
qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static cpio kmod
linux-source shellcheck xen-hypervisor-4.17-amd64 xen-utils-4.17 xz-utils file
liblzma-dev zlib1g-dev libgc-dev"
missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
