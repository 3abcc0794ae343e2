#!/bin/sh
# Inside L1 (Debian 6.1: soft-dirty, userfaultfd-wp, no PAGEMAP_SCAN): the
# examples work on the backends this kernel has.
#  - ooh-ckpt (soft-dirty and uffd): a restored target reaches the same
#    result as the uninterrupted run; incremental images hold the re-dirtied
#    pages (soft-dirty may add a few false positives, never miss one);
#  - ooh-ckpt on memory that changes without a write (softdirty, uffd; and
#    pagemap where the kernel has it): a target drops (MADV_DONTNEED),
#    re-creates (munmap + mmap) and moves (mremap) memory between
#    checkpoints; each checkpoint of the chain, materialized, is byte for
#    byte the memory ooh-ckpt copied from the frozen target (--reference),
#    and a restarted target restored from the last one finds exactly it;
#  - unless turned off (a file no-examples-l2 in l1/ooh-rig's --include DIR): the
#    same ooh-ckpt checks in L2 under ooh-l0 on libooh's ooh-epml backend
#    (the OoH path), and the changes-without-writes check on ooh-epml and
#    ooh-spml;
#  - ooh-wss: a phased target's dirty plateaus within 5 % (the referenced
#    set is reported: under TCG the target is often starved of CPU within an
#    interval, so its accessed-bit samples are not stable enough to assert);
#  - if CRIU was included (l1/ooh-rig --include DIR with DIR/criu/criu and
#    DIR/criu/lib/, DIR/criu/modules/{crc32c_generic,libcrc32c,nfnetlink,
#    nf_tables,veth}.ko for CRIU's probes; examples/ckpt/criu-stage.sh):
#    ooh-ckpt incremental checkpoints vs `criu pre-dump --track-mem` on the
#    same target (a figure, reported as PASS detail): in L1 with ooh-ckpt on
#    softdirty (examples-ckpt-vs-criu; where PAGEMAP_SCAN exists also on
#    pagemap, examples-ckpt-vs-criu-pagemap), and, when L2 is asked for too, in L2
#    with ooh-ckpt on ooh-epml (examples-ckpt-vs-criu-l2; CRIU on soft-dirty
#    there as well).
. "$OOH_TESTS/harness/result.sh"
failed=0
ooh_fail() { echo "OOH-RESULT FAIL $1${2:+ $2}"; failed=1; }
B=$OOH_BIN
T=/tmp/ooh-examples
rm -rf "$T"
mkdir -p "$T"
for p in ooh-ckpt ooh-ckpt-target ooh-wss ooh-wss-target; do
	if [ ! -x "$B/$p" ]; then
		ooh_fail examples-binaries "$p missing in $B"
		exit 1
	fi
done

# --- checkpoint / restore on one backend: ckpt_tests BACKEND KICK_INTERVAL_MS STEPS ---
ckpt_tests() {
	bk=$1
	d=$T/ck-$bk
	"$B/ooh-ckpt-target" --steps "$3" --touch 8 --delay 2000 > "$T/orig-$bk.out" 2>&1 &
	tp=$!
	i=0
	while ! grep -q computing "$T/orig-$bk.out" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 0.2
	# the arena only (uffd-wp on 6.1 covers anonymous memory only)
	if ! "$B/ooh-ckpt" dump "$tp" "$d" -n 3 -i 300 -b "$bk" -r 6f0000000000-6f0000801000 \
		> "$T/dump-$bk.out" 2>&1; then
		ooh_fail "examples-ckpt-$bk-dump" "$(tr '\n' ';' < "$T/dump-$bk.out")"
		kill "$tp" 2>/dev/null
		wait "$tp"
		return
	fi
	wait "$tp"
	want=$(sed -n 's/^result \([0-9a-f]*\).*/\1/p' "$T/orig-$bk.out")
	"$B/ooh-ckpt-target" --wait > "$T/rest-$bk.out" 2>&1 &
	rp=$!
	sleep 0.3
	"$B/ooh-ckpt" restore "$d" "$rp" -k 2 > "$T/restore-$bk.out" 2>&1
	wait "$rp"
	got=$(sed -n 's/^result \([0-9a-f]*\).*/\1/p' "$T/rest-$bk.out")
	step=$(sed -n 's/^resumed at step //p' "$T/rest-$bk.out")
	if [ -n "$want" ] && [ "$want" = "$got" ] && [ "${step:-0}" -gt 0 ]; then
		ooh_pass "examples-ckpt-$bk-restore" "resumed at step $step, result $got as uninterrupted"
	else
		ooh_fail "examples-ckpt-$bk-restore" "want '$want' got '$got' step '$step': $(tr '\n' ';' < "$T/restore-$bk.out")"
	fi
	rm -rf "$d"

	# 16 MiB target, 5 % = 204 distinct pages re-dirtied after each checkpoint
	"$B/ooh-ckpt-target" --kick --size 16 --pct 5 > "$T/kick-$bk.out" 2>&1 &
	kp=$!
	i=0
	while ! grep -q ready "$T/kick-$bk.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	"$B/ooh-ckpt" dump "$kp" "$d" -n 3 -i "$2" --kick 10 -b "$bk" -r 6f0000000000-6f0001001000 \
		> "$T/kdump-$bk.out" 2>&1
	kill "$kp"
	wait "$kp"
	cat "$T/kdump-$bk.out"
	# soft-dirty may add a few false positives; "ovfl" = libooh reported an
	# overflow and every page was saved (allowed, but one exact image is due)
	bad=$(awk '$2 == "incr" && ($3 < 204 || $3 > 220) { print }' "$T/kdump-$bk.out")
	n=$(awk '$2 == "incr" || $2 == "ovfl"' "$T/kdump-$bk.out" | wc -l)
	exact=$(awk '$2 == "incr"' "$T/kdump-$bk.out" | wc -l)
	if [ "$n" = 2 ] && [ "$exact" -ge 1 ] && [ -z "$bad" ]; then
		ooh_pass "examples-ckpt-$bk-incremental" "$(awk '$2 != "full" && $3 ~ /^[0-9]/ { printf "%s %s pages %s ms; ", $2, $3, $7 }' "$T/kdump-$bk.out")"
	else
		ooh_fail "examples-ckpt-$bk-incremental" "want 204 pages per incremental image: $(tr '\n' ';' < "$T/kdump-$bk.out")"
	fi
	rm -rf "$d"
}

# --- memory changed without writes, restored exactly: churn_test BACKEND ---
churn_test() {
	bk=$1
	d=$T/churn-$bk
	rm -rf "$d"
	"$B/ooh-ckpt-target" --churn > "$T/churn-$bk.out" 2>&1 &
	cp=$!
	i=0
	while ! grep -q ready "$T/churn-$bk.out" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	# --kick: each checkpoint starts the target's next phase (4 of them)
	if ! "$B/ooh-ckpt" dump "$cp" "$d" -n 5 -i 300 --kick 10 -b "$bk" -r 6e0000000000-6e0001000000 \
		--reference > "$T/churn-dump-$bk.out" 2>&1; then
		ooh_fail "examples-ckpt-$bk-churn" "dump: $(tr '\n' ';' < "$T/churn-dump-$bk.out")"
		kill "$cp"
		wait "$cp"
		return
	fi
	kill "$cp"
	wait "$cp"
	cat "$T/churn-dump-$bk.out"
	bad=
	for k in 0 1 2 3 4; do
		if ! "$B/ooh-ckpt" materialize "$d" "$d/mat-$k" -k "$k" > "$T/churn-mat.out" 2>&1 ||
		   ! cmp "$d/mat-$k" "$d/ref-000$k.mem" > "$T/churn-cmp.out" 2>&1; then
			bad="$bad checkpoint $k: $(tr '\n' ';' < "$T/churn-mat.out") $(tr '\n' ';' < "$T/churn-cmp.out")"
		fi
	done
	# the drops did reach the incremental images as zero runs (column 9)
	zero=$(awk '$2 == "incr" || $2 == "ovfl" { z += $9 } END { print z + 0 }' "$T/churn-dump-$bk.out")
	[ "$zero" -gt 0 ] || bad="$bad no zero pages in the incremental images;"
	# a restarted target, its regions filled with garbage, restored from the last checkpoint
	"$B/ooh-ckpt-target" --check "$d/ref-0004.mem" > "$T/churn-check-$bk.out" 2>&1 &
	rp=$!
	i=0
	while ! grep -q waiting "$T/churn-check-$bk.out" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	# (ooh-ckpt restore waits for it to be stopped, whichever SIGSTOP comes first)
	while [ "$(awk '{ print $3 }' "/proc/$rp/stat" 2>/dev/null)" != T ] && [ $i -lt 600 ]; do
		sleep 0.1; i=$((i + 1)); done
	"$B/ooh-ckpt" restore "$d" "$rp" > "$T/churn-restore-$bk.out" 2>&1 ||
		bad="$bad restore: $(tr '\n' ';' < "$T/churn-restore-$bk.out")"
	kill -CONT "$rp" 2>/dev/null
	wait "$rp"
	grep -q "memory matches" "$T/churn-check-$bk.out" ||
		bad="$bad restored target: $(tr '\n' ';' < "$T/churn-check-$bk.out")"
	if [ -z "$bad" ]; then
		ooh_pass "examples-ckpt-$bk-churn" "5 checkpoints byte-identical to the frozen target's memory, $zero zero pages in the incremental images; restored target's memory matches"
	else
		ooh_fail "examples-ckpt-$bk-churn" "$bad"
	fi
	rm -rf "$d"
}

wss_test() { # BACKEND
	"$B/ooh-wss" --json -b "$1" -i 400 -w 3 -- "$B/ooh-wss-target" write:8M:2.4,read:16M:2.4 > "$T/wss.out" 2>&1
	zero=$(awk 'index($0, "\"type\":\"plateau\"") && index($0, "\"set\":\"dirty\"") {
		b = $0; sub(/.*"bytes":/, "", b); sub(/}.*/, "", b); if (b + 0 < 262144) print }' "$T/wss.out")
	refmax=$(awk 'index($0, "\"type\":\"interval\"") { b = $0; sub(/.*"ref_anon_bytes":/, "", b); sub(/,.*/, "", b); b += 0
		if (b > m) m = b } END { printf "%.1f", m / 1048576 }' "$T/wss.out")
	if [ -n "$(plateau dirty 8)" ] && [ -n "$zero" ]; then
		ooh_pass "examples-wss-$1-plateaus" "dirty 8 MiB then ~0 within 5 %; $(grep -c '"type":"interval"' "$T/wss.out") intervals; referenced peak ${refmax} MiB (16 MiB read phase)"
	else
		ooh_fail "examples-wss-$1-plateaus" "$(tr '\n' ';' < "$T/wss.out")"
	fi
}

plateau() { # set MiB -> prints the matching plateau line, if any
	awk -v set="\"set\":\"$1\"" -v want="$2" '
		index($0, "\"type\":\"plateau\"") && index($0, set) {
			b = $0; sub(/.*"bytes":/, "", b); sub(/}.*/, "", b); b += 0
			if (b >= want * 1048576 * 0.95 && b <= want * 1048576 * 1.05) print
		}' "$T/wss.out"
}

# --- CRIU pre-dump vs ooh-ckpt on the same target: criu_vs NAME BACKEND ---
# CRIU is at /ooh/include/criu (l1/ooh-rig --include DIR with DIR/criu/criu,
# DIR/criu/lib/, DIR/criu/modules/*.ko for its probes; in L2 the same files
# come in a second initrd archive). Rounds of: CRIU (a first pre-dump, then
# 3 incremental ones), then ooh-ckpt on BACKEND (a full image, then 3
# incremental ones), 1 % re-dirtied before each; the two never track the
# target at the same time (on softdirty both would use its soft-dirty bits).
# Rounds alternate so that the machine's load hits both. Reports NAME as a
# PASS with the figures (a figure, not a pass/fail on the ratio).
C=/ooh/include/criu
criu() { LD_LIBRARY_PATH=$C/lib "$C/criu" "$@"; }
criu_vs() {
	name=$1
	bk=$2
	SIZE=${OOH_CKPT_MIB:-128}
	END=$(printf '%x' $((0x6f0000000000 + SIZE * 1048576 + 4096)))
	# CRIU's kernel feature probes: TCP repair on loopback, veth, nftables
	ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
	for m in crc32c_generic libcrc32c nfnetlink nf_tables veth; do
		[ -f "$C/modules/$m.ko" ] && insmod "$C/modules/$m.ko" 2>/dev/null
	done
	setsid "$B/ooh-ckpt-target" --kick --size "$SIZE" --pct 1 < /dev/null > "$T/ck.out" 2>&1 &
	sleep 0.2
	cp=$(pidof ooh-ckpt-target)
	i=0
	while ! grep -q ready "$T/ck.out" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	ROUNDS=${OOH_CKPT_ROUNDS:-3}
	ratios=
	all_criu=
	all_ooh=
	novfl=0
	r=1
	while [ "$r" -le "$ROUNDS" ]; do
		prev=
		criu_first=0
		criu_sum=0
		for k in 1 2 3 4; do
			mkdir -p "$T/criu/$k"
			start=$(cut -d' ' -f1 /proc/uptime)
			if ! criu pre-dump -t "$cp" -D "$T/criu/$k" --track-mem ${prev:+--prev-images-dir ../$prev} \
				-o pre-dump.log --display-stats > "$T/criu-$k.out" 2>&1; then
				ooh_fail "$name" "criu pre-dump $k failed: $(tail -n 5 "$T/criu/$k/pre-dump.log" 2>/dev/null | tr '\n' ';') $(tr '\n' ';' < "$T/criu-$k.out")"
				kill "$cp"
				return
			fi
			end=$(cut -d' ' -f1 /proc/uptime)
			ms=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
			echo "$name round $r criu pre-dump $k: $ms ms wall, $(du -sk "$T/criu/$k" | cut -f1) KiB"
			grep -i "time\|pages" "$T/criu-$k.out"
			if [ "$k" = 1 ]; then criu_first=$ms; else criu_sum=$((criu_sum + ms)); all_criu="$all_criu $ms"; fi
			prev=$k
			kill -USR1 "$cp"
			sleep 0.3
		done
		rm -rf "$T/criu" "$T/ooh"
		OOH_CKPT_PROFILE=1 "$B/ooh-ckpt" dump "$cp" "$T/ooh" -n 4 -i 300 --kick 10 -b "$bk" \
			-r "6f0000000000-$END" > "$T/ooh.out" 2>&1
		echo "$name round $r ooh-ckpt ($bk):"
		cat "$T/ooh.out"
		# an "ovfl" checkpoint (libooh overflowed: every page saved) is
		# one of ooh-ckpt's incremental checkpoints too: it counts
		ooh_ms=$(awk '$2 == "incr" || $2 == "ovfl" { s += $8; n++ } END { if (n) printf "%.1f", s / n }' "$T/ooh.out")
		if [ -z "$ooh_ms" ]; then
			ooh_fail "$name" "ooh-ckpt failed: $(tr '\n' ';' < "$T/ooh.out")"
			kill "$cp"
			return
		fi
		all_ooh="$all_ooh $(awk '$2 == "incr" || $2 == "ovfl" { printf " %s", $8 }' "$T/ooh.out")"
		novfl=$((novfl + $(awk '$2 == "ovfl"' "$T/ooh.out" | wc -l)))
		criu_ms=$((criu_sum / 3))
		ratio=$(awk -v a="$criu_ms" -v b="$ooh_ms" 'BEGIN { printf "%.1fx", a / b }')
		echo "$name round $r: criu pre-dump incremental $criu_ms ms (first $criu_first ms) vs ooh-ckpt incremental $ooh_ms ms: $ratio"
		ratios="$ratios $ratio"
		r=$((r + 1))
	done
	kill "$cp"
	wait "$cp" 2>/dev/null
	rm -rf "$T/ooh"
	mc=$(med $all_criu)
	mo=$(med $all_ooh)
	ooh_pass "$name" "$SIZE MiB target, 1 % re-dirtied, $ROUNDS rounds, ooh-ckpt on $bk: per round (mean incremental criu pre-dump / ooh-ckpt):$ratios; medians of all incrementals ($novfl of ooh-ckpt's overflowed): criu $mc ms, ooh-ckpt $mo ms: $(awk -v a="$mc" -v b="$mo" 'BEGIN { printf "%.1fx", a / b }')"
}
med() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

if [ -z "${OOH_L2:-}" ]; then
	# Inside L2 under ooh-l0 (started below): the OoH backends.
	if ! err=$(insmod "$OOH_MODULES/ooh.ko" 2>&1); then
		ooh_fail examples-l2-module "insmod ooh.ko: $err"
		exit 1
	fi
	# (ooh-spml passes the same; ooh-wss is not run here: under nested TCG
	# the synthetic target cannot keep up its own working set)
	# (a longer computation: a checkpoint freezes the target for seconds here)
	ckpt_tests ooh-epml 300 4000
	# memory changed without writes, on both PML modes
	churn_test ooh-epml
	churn_test ooh-spml
	# CRIU, if it came in the second initrd archive (see below)
	[ -x "$C/criu" ] && criu_vs examples-ckpt-vs-criu-l2 ooh-epml
	rmmod ooh
	exit "$failed"
fi

# uffd resolves each first write synchronously (slow under TCG): the kick
# interval gives the target time to finish its 204 writes
ckpt_tests softdirty 300 1000
ckpt_tests uffd 3000 1000
churn_test softdirty
churn_test uffd
if "$B/ooh" backends | grep -q '^pagemap  *usable'; then
	churn_test pagemap
fi
wss_test auto

# The same on the OoH backends, in L2 under ooh-l0 (about 70 s more under
# TCG): the checkpoints of memory changed without writes on both PML modes
# are issue 16's check, so they run unless turned off (a file
# "no-examples-l2" in the --include DIR).
if [ -e /ooh/include/no-examples-l2 ]; then
	ooh_skip examples-l2 "L2 run turned off (a file no-examples-l2 in l1/ooh-rig's --include DIR)"
else
	initrd=$OOH_L2/initrd.cpio mem=256M tmo=240 what="ooh-ckpt on ooh-epml, changes without writes on ooh-epml and ooh-spml"
	if [ -x "$C/criu" ]; then
		# CRIU in L2 too: L2's image is l1/ooh-rig's, so CRIU comes as a
		# second newc archive after it (the kernel unpacks both; the
		# second must start 4-byte aligned). L2 then needs room for the
		# target, CRIU's and ooh-ckpt's full images (tmpfs) and ooh-ckpt's
		# copy buffer, and time: nested TCG.
		initrd=/tmp/l2-criu.cpio mem=1024M tmo=900 what="$what, vs CRIU pre-dump"
		cp "$OOH_L2/initrd.cpio" "$initrd"
		pad=$(( (4 - $(wc -c < "$initrd") % 4) % 4 ))
		[ "$pad" -gt 0 ] && head -c "$pad" /dev/zero >> "$initrd"
		(cd / && { echo ooh; echo ooh/include; find ooh/include/criu; } | cpio -o -H newc) \
			>> "$initrd" 2>/dev/null
	fi
	"$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$initrd" --mem "$mem" \
		--cpus 2 --timeout "$tmo" --append "quiet ooh.run=/ooh/tests/integration/50-examples.sh"
	st=$?
	rm -f /tmp/l2-criu.cpio
	if [ "$st" = 0 ]; then
		ooh_pass examples-l2 "ooh-l0 -> L2: $what, status 0"
	else
		ooh_fail examples-l2 "ooh-l0 exited with $st"
	fi
fi

if [ ! -x "$C/criu" ]; then
	ooh_skip examples-ckpt-vs-criu "CRIU not included (l1/ooh-rig --include DIR with DIR/criu/criu)"
	exit "$failed"
fi
criu_vs examples-ckpt-vs-criu softdirty
# On a kernel with PAGEMAP_SCAN (>= 6.7, e.g. l1/ooh-rig --kernel with
# Debian 12's linux-image-6.12), also with libooh's pagemap backend, the
# one libooh's AUTO picks there (CRIU 3.17 still reads soft-dirty bits).
if "$B/ooh" backends | grep -q '^pagemap  *usable'; then
	criu_vs examples-ckpt-vs-criu-pagemap pagemap
fi
rm -rf "$T"
exit "$failed"
