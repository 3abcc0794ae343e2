#!/bin/sh
# Inside L2 (2 vCPUs) under ooh-l0: ooh.ko, then the OoH-PML benchmark.
. "$OOH_TESTS/harness/result.sh"
insmod "$OOH_MODULES/ooh.ko" || exit 1
"$OOH_BIN/ooh-pml-bench"
