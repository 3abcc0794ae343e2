#!/bin/sh
# make fuzz: run each libFuzzer target for SECONDS, new inputs going to a
# work directory, then minimize (-merge=1) the committed corpus together
# with them back into tests/fuzz/<target>/corpus. Crashers are written to
# BINDIR/<target>-crash-*; regressions/ (crashers fixed) are never merged
# away.   run.sh BINDIR SECONDS TARGET...
here=$(cd "$(dirname "$0")" && pwd)
bindir=$1
seconds=$2
shift 2
status=0
for t in "$@"; do
	dir=$here/$t
	work=$bindir/$t.work
	min=$bindir/$t.min
	rm -rf "$min"
	mkdir -p "$work" "$min" "$dir/corpus"
	# extra libFuzzer flags of this target (-max_len=...), and its dictionary
	opts=$(cat "$dir/options" 2>/dev/null)
	[ -f "$dir/$t.dict" ] && opts="$opts -dict=$dir/$t.dict"
	regress=
	[ -d "$dir/regressions" ] && regress=$dir/regressions
	echo "fuzz $t: $seconds s"
	# shellcheck disable=SC2086 # opts is a list of flags
	if ! "$bindir/$t" $opts -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$bindir/$t-" "$work" "$dir/corpus" $regress >"$bindir/$t.log" 2>&1; then
		grep -m3 -E 'ERROR|runtime error|deadly' "$bindir/$t.log"
		echo "fuzz $t: FAILED (log $bindir/$t.log, crasher in $bindir/$t-*)"
		status=1
		continue
	fi
	echo "fuzz $t: $(sed -n 's/^stat::number_of_executed_units: *//p' "$bindir/$t.log") executions," \
		"$(grep -E '^#[0-9]+' "$bindir/$t.log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')" \
		"(log $bindir/$t.log)"
	# shellcheck disable=SC2086
	if "$bindir/$t" $opts -merge=1 "$min" "$dir/corpus" "$work" 2>"$bindir/$t.merge.log"; then
		rm -f "$dir/corpus"/*
		cp "$min"/* "$dir/corpus"/
		echo "fuzz $t: corpus minimized to $(ls "$dir/corpus" | wc -l) inputs"
	else
		echo "fuzz $t: merge failed, corpus unchanged (see $bindir/$t.merge.log)"
		status=1
	fi
done
exit $status
