#!/bin/sh
# Stage Debian's CRIU (apt-get install criu) for the rig's L1 guest, for the
# ooh-ckpt vs `criu pre-dump` comparison in tests/integration/50-examples.sh:
#   examples/ckpt/criu-stage.sh /tmp/criu-inc
#   l1/ooh-rig --include /tmp/criu-inc run tests/integration/50-examples.sh
# Copies criu, the shared libraries it needs, and the L1 kernel modules its
# feature probes need (nf_tables, veth and their dependencies).
set -eu
DIR=${1:?usage: $0 DIR}
CRIU=$(command -v criu || echo /usr/sbin/criu)
[ -x "$CRIU" ] || { echo "criu not installed (apt-get install criu)" >&2; exit 1; }
KVER=$(cd /lib/modules && ls -d 6.1.* | head -n 1)
K=/lib/modules/$KVER/kernel
mkdir -p "$DIR/criu/lib" "$DIR/criu/modules"
cp "$CRIU" "$DIR/criu/criu"
for lib in $(ldd "$CRIU" | grep -o '/[^ ]*'); do
	cp -L "$lib" "$DIR/criu/lib/"
done
for m in crypto/crc32c_generic lib/libcrc32c net/netfilter/nfnetlink net/netfilter/nf_tables \
	drivers/net/veth; do
	cp "$K/$m.ko" "$DIR/criu/modules/"
done
echo "staged $("$CRIU" --version | head -n 1) with $KVER modules in $DIR/criu"
