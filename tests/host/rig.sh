#!/bin/bash
# The rig's own behaviour, on this machine: its choice of accelerator, a
# reproducible image with what L1 needs, the payload's exit status passed
# on, a hanging payload killed at the time-out with a message naming it,
# and clear errors for missing inputs.
. "$(dirname "$0")/../harness/result.sh"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
RIG="$TOP/l1/ooh-rig --kernel ${OOH_KERNEL:-$(ls /boot/vmlinuz-* | sort -V | tail -1)}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Accelerator: decided from vmx/svm, never from /dev/kvm alone.
why=$($RIG accel)
if grep -qwE 'vmx|svm' /proc/cpuinfo; then
	ooh_skip rig-accel-tcg "host has vmx/svm: $why"
elif [[ $why == TCG*"-cpu EPYC"*"no vmx/svm"* ]]; then
	ooh_pass rig-accel-tcg "$why"
else
	ooh_fail rig-accel-tcg "unexpected choice: $why"
fi

# Image: reproducible (two builds from a snapshot of the build output, so
# a concurrent rebuild cannot change the inputs), and carrying what L1 and
# L2 need.
mkdir -p "$work/snap"
cp -a "$TOP/build/normal" "$work/snap/normal"
$RIG --build "$work/snap" build 2>/dev/null && sum1=$(sha256sum <"$work/snap/rig/l1-initrd.cpio")
sleep 1
$RIG --build "$work/snap" build 2>/dev/null && sum2=$(sha256sum <"$work/snap/rig/l1-initrd.cpio")
if [ -n "${sum1:-}" ] && [ "$sum1" = "$sum2" ]; then
	ooh_pass rig-image-reproducible
else
	ooh_fail rig-image-reproducible "two builds differ: ${sum1:-none} vs ${sum2:-none}"
fi
listing=$(cpio -it --quiet <"$work/snap/rig/l1-initrd.cpio")
missing=
for f in init bin/busybox bin/sh ooh/modules.kvm-amd ooh/modules.kvm-intel \
	 ooh/l2/bzImage ooh/l2/initrd.cpio ooh/bin/ooh-test-kvm-tiny \
	 ooh/tests/integration/run-all lib64/ld-linux-x86-64.so.2; do
	grep -qx "$f" <<<"$listing" || missing+=" $f"
done
for m in $(cpio -i --quiet --to-stdout ooh/modules.kvm-amd <"$work/snap/rig/l1-initrd.cpio"); do
	grep -qx "${m#/}" <<<"$listing" || missing+=" $m"
done
if [ -z "$missing" ]; then
	ooh_pass rig-image-contents
else
	ooh_fail rig-image-contents "missing:$missing"
fi
l2listing=$(cpio -it --quiet <"$work/snap/rig/l2-initrd.cpio")
if grep -qx init <<<"$l2listing" && grep -qx ooh/l2/run-default <<<"$l2listing"; then
	ooh_pass rig-l2-image-contents
else
	ooh_fail rig-l2-image-contents "L2 image lacks init or its default payload"
fi

# Exit status of the payload is the rig's exit status.
printf '#!/bin/sh\necho payload-ran\nexit 3\n' >"$work/exit3.sh"
out=$($RIG run "$work/exit3.sh" 2>&1)
status=$?
if [ "$status" = 3 ] && grep -q '^payload-ran' <<<"$out"; then
	ooh_pass rig-exit-status "payload's exit 3 came back as 3"
else
	ooh_fail rig-exit-status "status $status; output: $(tail -3 <<<"$out" | tr '\n' ' ')"
fi

# A hanging payload is killed at the time-out, with a message naming it.
# The time-out counts L1's boot too: 60 s, not 30, so that a slow boot on a
# loaded host (once over 30 s) still leaves the payload time to start.
printf '#!/bin/sh\necho hanging-now\nwhile :; do sleep 1; done\n' >"$work/hangs.sh"
out=$($RIG --timeout 60 run "$work/hangs.sh" 2>&1)
status=$?
if [ "$status" = 124 ] && grep -q "time-out: killed after 60s while running $work/hangs.sh" <<<"$out" &&
   grep -q '^hanging-now' <<<"$out"; then
	ooh_pass rig-timeout "killed after 60s, named $work/hangs.sh"
else
	ooh_fail rig-timeout "status $status; output: $(tail -3 <<<"$out" | tr '\n' ' ')"
fi

# The watchdog: a test that outlives --test-timeout while L1 beats fails
# and the tests after it still run; an L1 that stops beating (here: every
# process stopped, the heartbeat with them) is the emulation's (SKIP) when
# ooh.ko is not loaded in L1: that test runs once more (OOH-RIG-RETRY),
# and after its second stop the run goes on after it.
cat >"$work/watchdog.sh" <<'PAYLOAD'
#!/bin/sh
mkdir -p /tmp/wd
printf 'echo hanging-now\nwhile :; do sleep 1; done\n' >/tmp/wd/01-hang.sh
printf 'kill -STOP -1\nwhile :; do sleep 1; done\n' >/tmp/wd/02-freeze.sh
printf '. "$OOH_TESTS/harness/result.sh"\nooh_pass wd-after-both\n' >/tmp/wd/03-ok.sh
sh "$OOH_TESTS/harness/run-suite" /tmp/wd
PAYLOAD
out=$(OOH_RIG_SILENT_S=35 $RIG --timeout 600 --test-timeout 50 run "$work/watchdog.sh" 2>&1)
status=$?
if [ "$status" = 1 ] && grep -q '^hanging-now' <<<"$out" &&
   grep -q '^OOH-RESULT FAIL 01-hang-timeout 01-hang still running after 50s with L1 alive' <<<"$out" &&
   [ "$(grep -c '^OOH-RESULT SKIP 02-freeze-l1-silent L1 stopped during 02-freeze (no heartbeat for 35s, ooh.ko not loaded' <<<"$out")" = 2 ] &&
   [ "$(grep -c '^OOH-RIG-RETRY 02-freeze$' <<<"$out")" = 1 ] &&
   [ "$(grep -c '^OOH-RIG-RUNNING 01-hang$' <<<"$out")" = 1 ] &&
   grep -q '^OOH-RESULT PASS wd-after-both' <<<"$out"; then
	ooh_pass rig-watchdog "hung test failed (not run again), stopped L1 skipped and run once more, the run went on after both, status 1"
else
	ooh_fail rig-watchdog "status $status; output: $(grep -E '^OOH-|ooh-rig' <<<"$out" | sed 's/^OOH-RESULT/result/' | tail -8 | tr '\n' ' ')"
fi

# Clear errors for what cannot start.
out=$("$TOP/l1/ooh-rig" --kernel /nonexistent/vmlinuz run 2>&1)
status=$?
if [ "$status" = 125 ] && grep -q 'kernel /nonexistent/vmlinuz not readable' <<<"$out"; then
	ooh_pass rig-missing-kernel
else
	ooh_fail rig-missing-kernel "status $status: $out"
fi
out=$($RIG run /nonexistent/payload.sh 2>&1)
status=$?
if [ "$status" = 125 ] && grep -q 'payload /nonexistent/payload.sh not found' <<<"$out"; then
	ooh_pass rig-missing-payload
else
	ooh_fail rig-missing-payload "status $status: $out"
fi
out=$($RIG --accel bogus run 2>&1)
status=$?
if [ "$status" = 125 ] && grep -q 'accel must be auto, tcg or kvm' <<<"$out"; then
	ooh_pass rig-bad-option
else
	ooh_fail rig-bad-option "status $status: $out"
fi
