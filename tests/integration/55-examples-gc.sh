#!/bin/sh
# libooh-gc on an unmodified Boehm program (ooh-gc-bench --verify, linked
# with Debian's libgc only, libooh-gc.so preloaded): the liveness-verified
# workload of examples/gc/gc_workload.h must come out intact on the
# backends the rig's kernels have, and a feeder that drops libooh's pages
# (OOH_GC_TEST_DROP=1) must be caught, so that the check can fail.
#  - in L1 (Debian 6.1: soft-dirty, userfaultfd-wp, no PAGEMAP_SCAN):
#    libooh's softdirty and uffd backends;
#  - in L2 under ooh-l0: libooh's ooh-epml backend (the OoH path:
#    tests/l2/gc-suite.sh).
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2.sh"
. "$OOH_TESTS/harness/gc-verify.sh"
failed=0
for p in "$OOH_BIN/ooh-gc-bench" /ooh/lib/libooh-gc.so; do
	if [ ! -e "$p" ]; then
		ooh_fail examples-gc-binaries "$p missing"
		exit 1
	fi
done
gc_verify examples-gc-softdirty softdirty
gc_verify examples-gc-uffd uffd

l2_boot examples-gc-l2 --mem 256M --cpus 2 --timeout 300 \
	--append "quiet ooh.run=/ooh/tests/l2/gc-suite.sh"
status=$?
if l2_crashed "$status"; then
	ooh_skip examples-gc-l2 "L2 crashed in all 3 boots, last with status $status (the TCG-emulated nested rig, docs/abi.md)"
elif [ "$status" = 0 ]; then
	ooh_pass examples-gc-l2 "ooh-l0 -> L2 -> libooh-gc on ooh-epml, status 0"
else
	ooh_fail examples-gc-l2 "ooh-l0 exited with $status"
	failed=1
fi
exit $failed
