#!/bin/sh
# Inside L2 (2 vCPUs) under ooh-l0 (bench/gc-l2-bench-l1.sh): ooh.ko, then
# ooh-gc-bench on GCBench and a small kv (128 Ki keys, about 45 MiB), 3 runs
# each, modes interleaved: Boehm stop-the-world, Boehm incremental, and
# libooh-gc (soft-dirty and manual VDB) on ooh-epml, whose dirty pages come
# from ooh-l0's virtual PML.  Every line of its output as an OOH-BENCH line.
. "$OOH_TESTS/harness/result.sh"
insmod "$OOH_MODULES/ooh.ko" || exit 1
for wl in gcbench kv; do
	if OOH_GC_BACKEND=ooh-epml OOH_GC_BENCH_KV_KEYS=131072 \
	   "$OOH_BIN/ooh-gc-bench" --runs 3 --workload "$wl" --json >/tmp/gc-bench.json 2>/tmp/gc-bench.err; then
		sed "s/^/OOH-BENCH gc-l2 /" /tmp/gc-bench.json
		ooh_pass "l2-gc-bench-$wl"
	else
		sed "s/^/OOH-BENCH gc-l2-error /" /tmp/gc-bench.err
		ooh_fail "l2-gc-bench-$wl" "ooh-gc-bench failed"
	fi
done
rmmod ooh
