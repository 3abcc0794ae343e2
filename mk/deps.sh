#!/bin/sh
# make deps: install the Debian packages the tree needs, only those missing,
# after one apt-get update. Safe to run again.
#
# QEMU comes from bookworm-backports (10.x): under Debian 12's QEMU 7.2 the
# rig's emulated SVM froze L1 and crashed L2 now and then (README, "Rig
# caveat"). The suite is added the Debian way (a sources entry) and pinned
# for QEMU's own packages only; everything else stays on bookworm.
# debhelper, dh-dkms, dkms and lintian build and check the Debian packages
# (make deb, debian/); pahole: ooh.ko's BTF for newer kernels (make module-check).
set -e
PACKAGES="build-essential pkg-config check libnuma-dev libbpf-dev libxen-dev
qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static cpio kmod
linux-source shellcheck xen-hypervisor-4.17-amd64 xen-utils-4.17 xz-utils file
systemtap-sdt-dev clang libclang-rt-14-dev bpftool libelf-dev
liblzma-dev zlib1g-dev libgc-dev time electric-fence
debhelper dh-dkms dkms lintian pahole"
QEMU_MIN=1:10.0
QEMU_PACKAGES="qemu-system-x86 qemu-system-common qemu-system-data seabios"
SOURCES=/etc/apt/sources.list.d/ooh-bookworm-backports.sources
PIN=/etc/apt/preferences.d/ooh-qemu-backports

missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
qemu=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
old_qemu=
if [ -n "$qemu" ] && dpkg --compare-versions "$qemu" lt "$QEMU_MIN"; then
	old_qemu=" (qemu-system-x86 $qemu -> bookworm-backports)"
	missing="$missing qemu-system-x86"
fi
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing$old_qemu; run 'make deps' as root" >&2
	exit 1
fi
case " $missing " in
*" qemu-system-x86 "*)
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		echo "deps: adding bookworm-backports ($SOURCES)"
		cat >"$SOURCES" <<-END
		Types: deb
		URIs: http://deb.debian.org/debian
		Suites: bookworm-backports
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		END
	fi
	cat >"$PIN" <<-END
	# Added by OoH's mk/deps.sh: QEMU 10 from bookworm-backports for the rig.
	Package: $QEMU_PACKAGES
	Pin: release n=bookworm-backports
	Pin-Priority: 990
	END
	;;
esac
echo "deps: installing$missing$old_qemu"
apt-get update -qq
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
