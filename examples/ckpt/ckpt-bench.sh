#!/bin/sh
# ooh-ckpt benchmark: a 1 GiB target re-dirties 1 % of its pages (distinct)
# after every checkpoint; one full then N-1 incremental checkpoints.
#   examples/ckpt/ckpt-bench.sh [BINDIR] [SIZE_MiB] [PCT] [N] [IMAGE_DIR]
set -eu
B=${1:-$(dirname "$0")/../../build/normal/bin}
SIZE=${2:-1024}
PCT=${3:-1}
N=${4:-6}
DIR=${5:-/dev/shm/ooh-ckpt-bench.$$}
OUT=$(mktemp)
trap 'kill "$T" 2>/dev/null || true; rm -rf "$DIR" "$OUT"' EXIT
"$B/ooh-ckpt-target" --kick --size "$SIZE" --pct "$PCT" >"$OUT" &
T=$!
i=0
until grep -q ready "$OUT"; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || { echo "target not ready" >&2; exit 1; }
	sleep 0.1
done
END=$(printf '%x' $((0x6f0000000000 + SIZE * 1048576 + 4096)))
echo "target: $SIZE MiB, $PCT % re-dirtied between checkpoints; images in $DIR"
"$B/ooh-ckpt" dump "$T" "$DIR" -n "$N" -i 300 --kick 10 -r "6f0000000000-$END"
du -sh "$DIR"
