#!/bin/bash
# make check's part of the fuzzing (issue 22): every libFuzzer target of
# tests/fuzz built (clang, ASan + UBSan), each committed input replayed
# once, then each target fuzzed for a few seconds: a regression on a known
# input fails here. Long runs: make fuzz.
. "$(dirname "$0")/../harness/result.sh"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
if ! out=$(make -s -C "$TOP/tests/fuzz" O="$TOP/build/normal" all 2>&1); then
	ooh_fail fuzz-build "make -C tests/fuzz: $(echo "$out" | tail -3)"
	exit 1
fi
bash "$TOP/tests/fuzz/replay.sh" "$TOP/build/normal/fuzz"
