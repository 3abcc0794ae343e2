#!/bin/sh
# Inside L1: KVM (kvm-amd on emulated SVM, or nested hardware) runs the
# tiny real-mode guest and it prints and computes what it should.
. "$OOH_TESTS/harness/result.sh"
if [ ! -c /dev/kvm ]; then
	ooh_fail kvm-tiny "/dev/kvm absent in L1"
	exit 1
fi
"$OOH_BIN/ooh-test-kvm-tiny" /dev/kvm
