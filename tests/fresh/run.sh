#!/bin/bash
# tests/fresh/run.sh: the first run of a new user, on a Debian 12 root that
# never saw the project. Not part of `make check`: it downloads a base
# system. Run it (as root) before a change to the Makefile, mk/deps.sh or
# the rig lands.
#
#   tests/fresh/run.sh [--dir DIR] [--keep] [--no-demo] [--mirror URL]
#
# 1. debootstrap a minimal Debian 12 (bookworm) root into DIR (default: a
#    new directory under /var/tmp), with the sources a Debian 12 install
#    has (bookworm, bookworm-updates, bookworm-security);
# 2. inside it, as README says: apt-get install git make, git clone this
#    tree (its HEAD), `make check`, then `make demo`;
# 3. print each step's status and time, and a last line
#    "fresh: check STATUS in S s (SUMMARY); demo STATUS in S s"; exit 0
#    only if both passed the first time.
# The root is deleted afterwards unless --keep (or a step failed).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mirror=http://deb.debian.org/debian
dir=
keep=0
demo=1
while [ $# -gt 0 ]; do
	case $1 in
	--dir) dir=$2; shift ;;
	--keep) keep=1 ;;
	--no-demo) demo=0 ;;
	--mirror) mirror=$2; shift ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
	shift
done
say() { echo "fresh: $*"; }
[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, chroot, mounts)"; exit 2; }
if ! command -v debootstrap >/dev/null; then
	say "installing debootstrap on this machine"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
[ -n "$dir" ] || dir=$(mktemp -d /var/tmp/ooh-fresh.XXXXXX)
mkdir -p "$dir"
root=$(realpath "$dir")
[ -z "$(ls -A "$root")" ] || { say "$root is not empty"; exit 2; }

mounted=()
# unmount_all: in reverse order; the root is deleted only when nothing of
# the host (/dev, /sys) is still mounted inside it.
unmount_all() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -R "${mounted[$i]}" 2>/dev/null || umount -Rl "${mounted[$i]}" || true
	done
	mounted=()
}
finish() {
	local status=$?
	unmount_all
	if [ "$keep" = 0 ] && [ "$status" = 0 ] && ! grep -q " $root/" /proc/mounts; then
		rm -rf "$root"
	else
		say "root kept in $root"
	fi
}
trap finish EXIT

t0=$SECONDS
say "debootstrap bookworm (minbase) into $root from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
	{ say "debootstrap failed: $(tail -3 "$root.debootstrap.log")"; exit 1; }
cat >"$root/etc/apt/sources.list" <<END
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
END
cp /etc/resolv.conf "$root/etc/resolv.conf"
say "base system in $((SECONDS - t0)) s"

for m in proc sys dev; do
	mkdir -p "$root/$m"
done
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")
mkdir -p "$root/mnt/ooh-src"
mount --bind -o ro "$TOP" "$root/mnt/ooh-src" && mounted+=("$root/mnt/ooh-src")

# in_root CMD: a login-like shell in the root (clean environment).
in_root() {
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "$1"
}

t=$SECONDS
in_root 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git make >/dev/null' ||
	{ say "apt-get install git make failed"; exit 1; }
in_root 'git config --global --add safe.directory "*" && git clone -q /mnt/ooh-src /root/ooh' ||
	{ say "git clone failed"; exit 1; }
say "git make + clone of $(git -C "$TOP" rev-parse --short HEAD) in $((SECONDS - t)) s"

# make_in_root TARGET: `make TARGET` in the clone, its output shown and
# kept in $root.TARGET.log; sets status and took.
make_in_root() {
	local t=$SECONDS
	set +e
	in_root "cd /root/ooh && make $1" 2>&1 | tee "$root.$1.log"
	status=${PIPESTATUS[0]}
	set -e
	took=$((SECONDS - t))
}
make_in_root check
check_status=$status check_s=$took
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$root.check.log" | tail -1)
say "make check: status $check_status in $check_s s (${summary:-no summary})"

demo_status=skipped demo_s=0
if [ "$demo" = 1 ]; then
	make_in_root demo
	demo_status=$status demo_s=$took
	say "make demo: status $demo_status in $demo_s s"
fi
say "check $check_status in $check_s s (${summary:-no summary}); demo $demo_status in $demo_s s; logs $root.*.log"
[ "$check_status" = 0 ] && { [ "$demo_status" = 0 ] || [ "$demo_status" = skipped ]; }
