# shellcheck shell=sh
# gc_verify NAME BACKEND: libooh-gc, preloaded into an unmodified Boehm
# program (ooh-gc-bench --verify: the liveness-verified workload of
# examples/gc/gc_workload.h), on libooh's BACKEND keeps every live object;
# the same with OOH_GC_TEST_DROP=1 (libooh's pages never handed to Boehm)
# must be caught, so that the check can fail. Sets failed=1 on a failure.
# Needs result.sh.
gc_verify() {
	out=$(LD_PRELOAD=/ooh/lib/libooh-gc.so OOH_GC_BACKEND=$2 "$OOH_BIN/ooh-gc-bench" --verify 2>&1)
	st=$?
	info=$(echo "$out" | grep -E '^(libooh-gc|collections)' | tr '\n' ';')
	if [ "$st" = 0 ] && echo "$out" | grep -q '^verify: ok' &&
	   echo "$out" | grep -q "^libooh-gc: on .*backend $2,"; then
		ooh_pass "$1" "$info"
	else
		ooh_fail "$1" "status $st: $(echo "$out" | tail -n 5 | tr '\n' ';')"
		failed=1
	fi
	out=$(OOH_GC_TEST_DROP=1 LD_PRELOAD=/ooh/lib/libooh-gc.so OOH_GC_BACKEND=$2 \
		timeout 300 "$OOH_BIN/ooh-gc-bench" --verify 2>&1)
	st=$?
	if [ "$st" != 0 ]; then
		ooh_pass "$1-drop-caught" "status $st: $(echo "$out" | grep -E '^verify' | tr '\n' ';')"
	else
		ooh_fail "$1-drop-caught" "a feeder dropping every page went unnoticed: $(echo "$out" | tr '\n' ';')"
		failed=1
	fi
}
