#!/bin/sh
# L2 payload of bench/vmwss-l0.sh: 16 MiB unmonitored, then monitored, then
# monitored and watched by ooh-kvmstat.
exec "$OOH_BIN/ooh-test-wss-workload" 16:20 16:20 16:20 0:3600
