#!/bin/sh
# PVH domU payload: the known, phase-changing write working set.
# Phases (MIB:SECONDS): idle, 4 MiB, 16 MiB, then idle until destroyed;
# tests/xen/10-vmwss.sh samples them at 2 s intervals.
exec "$OOH_BIN/ooh-test-wss-workload" 0:8 4:14 16:18 0:3600
