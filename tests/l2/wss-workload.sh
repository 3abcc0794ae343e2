#!/bin/sh
# L2 payload of tests/integration/60-vmwss-l0.sh: the known, phase-changing
# write working set (MIB:SECONDS): idle, 4 MiB, 16 MiB, then idle.
exec "$OOH_BIN/ooh-test-wss-workload" 0:8 4:14 16:18 0:3600
