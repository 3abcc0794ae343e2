#!/bin/sh
# Inside L2, under ooh-l0: libooh-gc on libooh's ooh-epml backend (the OoH
# path) keeps every live object of an unmodified Boehm program, and a
# feeder that drops the pages is caught (tests/integration/55-examples-gc.sh).
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/gc-verify.sh"
failed=0
if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
	ooh_fail examples-gc-l2-module "insmod ooh.ko: $err"
	exit 1
fi
gc_verify examples-gc-l2-ooh-epml ooh-epml
rmmod ooh
exit $failed
