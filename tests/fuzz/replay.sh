#!/bin/bash
# Replays every committed input of each libFuzzer target (its corpus/ and
# regressions/, each run once), then fuzzes it briefly (REPLAY_SECONDS, 5 by
# default) from that corpus into a scratch directory. One result line per
# target:   replay.sh [BINDIR [TARGET...]]
# BINDIR: the built targets (make -C tests/fuzz O=...: BUILD/fuzz).
here=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$here/../.." && pwd)
. "$TOP/tests/harness/result.sh"
bindir=${1:-$TOP/build/normal/fuzz}
shift
seconds=${REPLAY_SECONDS:-5}
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
	for d in "$here"/*/; do
		t=$(basename "$d")
		[ -f "$d/$t.c" ] && targets+=("$t")
	done
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
	dir=$here/$t
	bin=$bindir/$t
	if [ ! -x "$bin" ]; then
		ooh_fail "fuzz-$t" "not built: $bin (make -C tests/fuzz O=...)"
		continue
	fi
	opts=$(cat "$dir/options" 2>/dev/null)
	[ -f "$dir/$t.dict" ] && opts="$opts -dict=$dir/$t.dict"
	inputs=()
	for d in corpus regressions; do
		[ -d "$dir/$d" ] && inputs+=("$dir/$d")
	done
	n=$(find "${inputs[@]}" -type f | wc -l)
	log=$scratch/$t.log
	# -runs=0: each input once, no mutation
	# shellcheck disable=SC2086 # opts is a list of flags
	if ! "$bin" $opts -runs=0 -artifact_prefix="$scratch/$t-" "${inputs[@]}" >"$log" 2>&1; then
		ooh_fail "fuzz-$t" "replay of $n inputs: $(grep -m1 -E 'ERROR|runtime error|deadly' "$log")"
		continue
	fi
	mkdir -p "$scratch/$t.work"
	# shellcheck disable=SC2086
	if ! "$bin" $opts -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$scratch/$t-" \
		"$scratch/$t.work" "${inputs[@]}" >"$log" 2>&1; then
		ooh_fail "fuzz-$t" "${seconds} s run: $(grep -m1 -E 'ERROR|runtime error|deadly' "$log")"
		continue
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
	ooh_pass "fuzz-$t" "$n inputs replayed; ${seconds} s: $execs execs, $cov"
done
