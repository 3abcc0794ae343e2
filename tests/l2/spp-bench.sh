#!/bin/sh
# Inside L2 (2 vCPUs) under ooh-l0, watched from L1 by ooh-kvmstat
# (bench/ooh-bench-spp-l1.sh): ooh.ko, then the cost per write of
# sub-page protection on libooh's ooh backend, as tests/l2/spp-suite.sh
# runs it (--quick), each phase in a window of its own (--windows: the
# OOH-BENCH-WINDOW lines, unprefixed).
. "$OOH_TESTS/harness/result.sh"
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail l2-spp-bench-module-load "insmod: $err"
	exit 1
fi
"$OOH_BIN/ooh-bench-spp" --quick --backend ooh --windows >/tmp/spp-bench.out 2>&1
status=$?
# its times include the watching (bench/kvmstat-overhead-l1.sh): not the
# figures tests/l2/spp-suite.sh prints
sed '/^OOH-BENCH-WINDOW /!s/^/bench-spp-l2-watched: /' /tmp/spp-bench.out
rmmod ooh
exit $status
