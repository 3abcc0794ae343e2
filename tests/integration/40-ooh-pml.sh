#!/bin/sh
# OoH-PML end to end: inside L1, ooh-l0 boots L2 on 2 vCPUs, twice; L2
# loads ooh.ko and runs one part of tests/l2/pml-suite.sh each time (EPML:
# exact dirty sets against content hashes, threads, vCPU hopping, two
# trackers, fork, munmap, target exit, overflow, EPERM/ESRCH, then the
# malicious guest; SPML: the same suite, then libooh's selftest on the ooh
# backends). ooh-l0 must survive it all: its exit status is the suite's.
#
# In this rig L2 runs on KVM inside an L1 that QEMU TCG emulates (SVM +
# nested paging); with KVM dirty logging on, L2 triple-faults now and then
# even with no OoH session at all (docs/abi.md, "Rig caveat"). A boot that
# ends in a triple fault, or halts before L2's init reports the suite's
# status, is booted again (tests/harness/l2.sh), up to three times, each
# crash reported as SKIP with its console tail (its results prefixed, not
# counted); three in a row are a SKIP, not a verdict.
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/l2.sh"
failed=0
for part in epml spml; do
	l2_boot "l0-pml-$part" --mem 256M --cpus 2 --timeout 300 \
		--append "quiet ooh.run=/ooh/tests/l2/pml-suite.sh ooh.pml=$part"
	status=$?
	if l2_crashed "$status"; then
		# Three emulation crashes in a row: no verdict on our code either way.
		ooh_skip "l0-pml-$part-survives" "L2 crashed in all 3 boots, last with status $status (the TCG-emulated nested rig, docs/abi.md)"
		continue
	fi
	if [ "$status" = 0 ]; then
		ooh_pass "l0-pml-$part-survives" "ooh-l0 -> L2 (2 vCPUs) -> ooh.ko sessions, status 0"
	else
		ooh_fail "l0-pml-$part-survives" "ooh-l0 exited with $status"
		failed=1
	fi
done
exit $failed
