#!/bin/bash
# Style gates: the guest module and the ABI headers pass the kernel's
# checkpatch.pl (taken from Debian's linux-source, cached in build/tools);
# our shell scripts pass shellcheck at warning level.
. "$(dirname "$0")/../harness/result.sh"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
tools=$TOP/build/tools
checkpatch=$tools/scripts/checkpatch.pl

if [ ! -f "$checkpatch" ]; then
	src=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1)
	if [ -n "$src" ]; then
		mkdir -p "$tools"
		top=$(basename "$src" .tar.xz)
		tar -xJf "$src" -C "$tools" --strip-components=1 \
			"$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" \
			"$top/scripts/const_structs.checkpatch"
	fi
fi
if [ ! -f "$checkpatch" ]; then
	ooh_fail checkpatch "no checkpatch.pl: install linux-source (make deps)"
else
	for f in "$TOP"/guest-module/*.[ch] "$TOP"/include/ooh/*.h; do
		# Kbuild's generated files are not ours.
		[[ -f $f && $f != *.mod.c ]] || continue
		name=checkpatch:${f#"$TOP"/}
		out=$(perl "$checkpatch" --no-tree --show-types -f "$f" 2>&1)
		if grep -q 'total: 0 errors, 0 warnings' <<<"$out"; then
			ooh_pass "$name"
		else
			ooh_fail "$name" "$(grep -E 'ERROR|WARNING' <<<"$out" | head -3 | tr '\n' ' ')"
		fi
	done
fi

if ! command -v shellcheck >/dev/null; then
	ooh_fail shellcheck "shellcheck not installed (make deps)"
	exit 0
fi
cd "$TOP" || exit 1
for f in l1/ooh-rig l1/image.sh tests/run-tests tests/host/*.sh mk/deps.sh mk/kbuild-check.sh .ci/run \
	 l1/init-l1 l1/init-l2 l1/init-dom0 l1/init-domu l1/demo.sh l1/demo-l2.sh l1/demo-report.sh l1/xen.sh \
	 tests/fresh/*.sh \
	 tests/harness/run-suite tests/fuzz/*.sh tests/integration/run-all tests/integration/*.sh \
	 tests/xen/run-all tests/xen/*.sh tests/xen/domu/*.sh tests/l2/*.sh bench/*.sh \
	 examples/guard/guard-bench.sh; do
	[ -f "$f" ] || continue
	shell=bash
	head -1 "$f" | grep -q 'bin/sh' && shell="sh"
	if out=$(shellcheck -x -S warning -s "$shell" "$f" 2>&1); then
		ooh_pass "shellcheck:$f"
	else
		ooh_fail "shellcheck:$f" "$(head -4 <<<"$out" | tr '\n' ' ')"
	fi
done
