#!/bin/sh
# L1 payload (l1/ooh-rig run bench/kvmstat-overhead-l1.sh), a benchmark:
# "watching costs at most 5 % of a hypercall-bound loop's rate". In ONE L2
# run (1 vCPU, no ooh.ko) ooh-kvmstat-workload --ping-rounds runs rounds of
# M PING hypercalls (about 0.5 s each), each opened by a STATS marker
# (window W) and tagged with W % 64 hypercalls of an op that does not
# exist, each printing its window and its rate. Meanwhile, CYCLES times,
# this script leaves the VM alone for 10 s, attaches
#   F: ooh-kvmstat -p PID --split-on stats --json -d 10 (kvm's tracepoints
#      and ooh-l0's USDT probes: two uprobes, int3 traps, per hypercall),
# leaves it alone for 10 s, attaches
#   P: ooh-kvmstat -p PID --json -d 10, the way to watch one VM (kvm's
#      tracepoints, ooh-l0's USDT probes for harvests and SPP writes; each
#      vCPU thread counts in its own map entry),
# leaves it alone for 10 s, and attaches
#   T: the same ooh-kvmstat copied where no ooh-l0 is beside it, without -p
#      (kvm's tracepoints only: how the cost splits).
# F is slower than P: with --split-on every count goes to per-window maps.
# Rounds:
#   watched (F): their window is in an F attachment's JSON with all M
#     PINGs. ooh-kvmstat -p numbers its windows from its own start, so its
#     window j is round j + OFF: OFF from the tags, near where the console
#     said the run was when the attachment began;
#   watched (P, T): ended on the console 3 rounds or more after it attached
#     and 2 or more before it exited (P and T have no windows);
#   unwatched: outside every attachment (from its start to 2 rounds after
#     it exited); the first 5 rounds are warm-up;
#   everything else (partly watched) is dropped.
# Prints the median rate of each kind and their ratios (OOH-BENCH), where
# the time per PING goes, and OOH-RESULT PASS/FAIL kvmstat-overhead-5pct
# for P.
# OOH_KVMSTAT_OVERHEAD_CYCLES (default 3).
. "$OOH_TESTS/harness/result.sh"
. "$OOH_TESTS/harness/kvmstat-json.sh"
dir=/tmp/kvmstat-overhead
log=$dir/l2.log
cycles=${OOH_KVMSTAT_OVERHEAD_CYCLES:-3}
watch_s=10 idle_s=10
rm -rf $dir
mkdir -p $dir/tp
cp "$OOH_BIN/ooh-kvmstat" $dir/tp/
: >$dir/attachments
ooh-l0 --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" --mem 256M --cpus 1 \
	--timeout 1000 --append "quiet ooh.run=/ooh/tests/l2/kvmstat-overhead.sh" >$log 2>&1 &
vm=$!
rounds() { grep -a -c '^OOH-KVMSTAT-ROUND ' $log; }
i=0
while [ "$(rounds)" -lt 6 ] && kill -0 $vm 2>/dev/null && [ $i -lt 800 ]; do
	sleep 0.5
	i=$((i + 1))
done
if [ "$(rounds)" -lt 6 ]; then
	ooh_fail kvmstat-overhead-5pct "the PING loop did not start in L2: $(tail -n 5 $log | tr '\r\n' '  ')"
	kill $vm 2>/dev/null
	wait $vm
	exit 0
fi
grep -a '^OOH-KVMSTAT-ROUNDS ' $log | tr -d '\r'

# attach KIND N: one attachment of watch_s seconds; appends
# "KIND S A D JSON STATUS" (rounds on the console at its start, once it
# said it was watching, after it exited) to $dir/attachments
attach() {
	json=$dir/$1$2.json err=$dir/$1$2.err
	s=$(rounds)
	if [ "$1" = F ]; then
		ooh-kvmstat -p $vm --split-on stats --json -d $watch_s -o "$json" 2>"$err" &
	elif [ "$1" = P ]; then
		ooh-kvmstat -p $vm --json -d $watch_s -o "$json" 2>"$err" &
	else
		"$dir/tp/ooh-kvmstat" --json -d $watch_s -o "$json" 2>"$err" &
	fi
	k=$!
	i=0
	while ! grep -q 'watching' "$err" 2>/dev/null && kill -0 $k 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	a=$(rounds)
	wait $k
	st=$?
	echo "$1 $s $a $(rounds) $json $st" >>$dir/attachments
	[ "$st" = 0 ] || echo "kvmstat-overhead: attachment $1$2: ooh-kvmstat status $st: $(cat "$err")"
}
c=1
while [ $c -le "$cycles" ] && kill -0 $vm 2>/dev/null; do
	sleep $idle_s
	attach F $c
	sleep $idle_s
	attach P $c
	sleep $idle_s
	attach T $c
	c=$((c + 1))
done
sleep $idle_s
kill $vm 2>/dev/null
wait $vm
grep -a 'OOH-KVMSTAT-ERROR' $log | tr -d '\r'

# The rounds, in console order: "WINDOW PINGS RATE" (-1 0 0: unreadable)
grep -a '^OOH-KVMSTAT-ROUND ' $log | tr -d '\r' | awk '{
	w = -1; m = 0; r = 0
	for (f = 2; f <= NF; f++) {
		split($f, kv, "=")
		if (kv[1] == "window") w = kv[2]
		if (kv[1] == "pings") m = kv[2]
		if (kv[1] == "rate") r = kv[2]
	}
	print w, m, r
}' >$dir/rounds
# Per F attachment, its windows: "p J PINGS", "b J TAG", "s J STATS"
# (unlisted: 0); ooh-kvmstat's own view of the watched PINGs, summed
: >$dir/view
while read -r kind _ _ _ json st; do
	[ "$st" = 0 ] || continue
	if [ "$kind" = F ]; then
		{
			kj "$json" '*' windows ping | sed 's/^/p /'
			kj "$json" '*' windows bad-hypercall | sed 's/^/b /'
			kj "$json" '*' windows stats | sed 's/^/s /'
		} >"${json%.json}.win"
		echo "F $(kj "$json" '*' op ping calls) $(kj "$json" '*' op ping l0_ns)" >>$dir/view
	fi
	# io exits: count, exit-to-entry ns
	echo "$kind-io $(kj "$json" '*' exits | tr ' ' '\n' | sed -n 's/^io://p') $(kj "$json" '*' exit-ns io)" >>$dir/view
done <$dir/attachments

awk -v rounds=$dir/rounds -v atts=$dir/attachments -v view=$dir/view '
function med(a, n,   i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : 0
}
BEGIN {
	n = 0
	while ((getline line < rounds) > 0) {
		split(line, f, " ")
		n++; W[n] = f[1] + 0; M[n] = f[2] + 0; R[n] = f[3] + 0
		if (W[n] >= 0) at[W[n]] = n
		if (f[2] + 0 > 0) m = f[2] + 0
	}
	nf = 0; nfail = 0; why = ""
	while ((getline line < atts) > 0) {
		split(line, a, " ")
		kind = a[1]; s = a[2] + 0; att = a[3] + 0; d = a[4] + 0; json = a[5]; st = a[6]
		for (i = s + 1; i <= d + 2; i++)
			inrange[i] = 1
		if (st != 0)
			continue
		for (i = att + 3; i <= d - 2; i++)
			if (kind == "T") tw[i] = 1; else if (kind == "P") pw[i] = 1; else fc[i] = 1
		if (kind != "F")
			continue
		nf++
		delete p; delete b; delete sc
		maxj = 0
		win = json; sub(/\.json$/, ".win", win)
		while ((getline line < win) > 0) {
			split(line, g, " ")
			if (g[1] == "p") p[g[2] + 0] = g[3] + 0
			if (g[1] == "b") b[g[2] + 0] = g[3] + 0
			if (g[1] == "s") sc[g[2] + 0] = g[3] + 0
			if (g[2] + 0 > maxj) maxj = g[2] + 0
		}
		close(win)
		if (maxj < 2) {
			nfail++; why = why " " kind "@" s ":" maxj "-windows"
			continue
		}
		# ooh-kvmstat window j is round j + off; off + 1 = tag of window 1 (mod 64),
		# near the window of the round the console showed next when it attached
		est = (att + 1 <= n ? W[att + 1] : W[att]) - 1
		off = est - 32
		for (k = 0; k < 64 && (off + 1) % 64 != (b[1] + 0); k++)
			off++
		ok = 1
		for (j = 1; j < maxj; j++)
			if ((b[j] + 0) != (j + off) % 64 || (sc[j] + 0) != 1)
				ok = 0
		if (!ok) {
			nfail++; why = why " " kind "@" s ":tags"
			continue
		}
		for (j = 1; j <= maxj; j++) {
			i = at[j + off]
			if (!i) continue
			if (j < maxj && (p[j] + 0) == m) fw[i] = 1; else part[i] = 1
		}
		if (at[off]) part[at[off]] = 1
		if (at[maxj + off + 1]) part[at[maxj + off + 1]] = 1
	}
	nF = nP = nT = nU = 0; both = only_w = only_c = 0
	for (i = 6; i <= n; i++) {
		if (W[i] < 0 || M[i] != m)
			continue
		if (fw[i] && fc[i]) both++
		else if (fw[i]) only_w++
		else if (fc[i]) only_c++
		if (fw[i] && !part[i]) F[++nF] = R[i]
		else if (tw[i]) T[++nT] = R[i]
		else if (pw[i]) P[++nP] = R[i]
		else if (!inrange[i] && !part[i]) U[++nU] = R[i]
	}
	while ((getline line < view) > 0) {
		split(line, v, " ")
		if (v[1] == "F") { calls += v[2]; l0 += v[3] }
		if (v[1] ~ /-io$/) { io[v[1]] += v[2]; ions[v[1]] += v[3] }
	}
	u = med(U, nU); f = med(F, nF); pp = med(P, nP); t = med(T, nT)
	printf "OOH-BENCH kvmstat-overhead-unwatched-rate %.1f pings/s (median of %d rounds of %d PINGs no ooh-kvmstat watched; %.1f us a PING)\n", u, nU, m, u ? 1e6 / u : 0
	printf "OOH-BENCH kvmstat-overhead-watched-rate %.1f pings/s (median of %d rounds watched by ooh-kvmstat -p, by console times; %.1f us a PING)\n", pp, nP, pp ? 1e6 / pp : 0
	printf "OOH-BENCH kvmstat-overhead-split-rate %.1f pings/s (median of %d rounds whose window ooh-kvmstat -p --split-on stats counted with all %d PINGs, in %d attachments; %.1f us a PING)\n", f, nF, m, nf, f ? 1e6 / f : 0
	printf "OOH-BENCH kvmstat-overhead-tracepoints-only-rate %.1f pings/s (median of %d rounds watched by ooh-kvmstat with no ooh-l0 beside it: kvm tracepoints only, no USDT probes; %.1f us a PING)\n", t, nT, t ? 1e6 / t : 0
	if (u && pp) {
		cost = (1 - pp / u) * 100
		printf "OOH-BENCH kvmstat-overhead-watched-ratio %.3f (watched / unwatched rate: watching costs %.1f %%)\n", pp / u, cost
	}
	if (u && f)
		printf "OOH-BENCH kvmstat-overhead-split-ratio %.3f (with --split-on: %.1f %%)\n", f / u, (1 - f / u) * 100
	if (u && f && t) {
		printf "OOH-BENCH kvmstat-overhead-tracepoints-only-ratio %.3f (tracepoints only / unwatched: %.1f %%)\n", t / u, (1 - t / u) * 100
		printf "OOH-BENCH kvmstat-overhead-per-ping of %.1f us unwatched: +%.1f us watched (-p), +%.1f us without -p (no USDT probe attached), +%.1f us with --split-on\n", 1e6 / u, pp ? 1e6 / pp - 1e6 / u : 0, 1e6 / t - 1e6 / u, f ? 1e6 / f - 1e6 / u : 0
	}
	if (io["F-io"] && io["P-io"] && io["T-io"] && calls)
		printf "OOH-BENCH kvmstat-overhead-l1-view io exit to next entry (ooh-kvmstat): %.1f us -p, %.1f us without -p, %.1f us with --split-on (%d, %d, %d exits); with --split-on, %.1f us from a PING'"'"'s KVM_RUN return to the next entry\n", ions["P-io"] / io["P-io"] / 1000, ions["T-io"] / io["T-io"] / 1000, ions["F-io"] / io["F-io"] / 1000, io["P-io"], io["T-io"], io["F-io"], l0 / calls / 1000
	printf "OOH-BENCH kvmstat-overhead-classification %d rounds watched by windows, %d of them also by console times (%d only by windows, %d only by the console); %d F attachment(s) unreadable%s\n", nF, both, only_w, only_c, nfail, why
	if (nU < 5 || nP < 5 || !u || !pp)
		printf "OOH-RESULT FAIL kvmstat-overhead-5pct too few rounds to compare: %d unwatched, %d watched\n", nU, nP
	else if (cost <= 5)
		printf "OOH-RESULT PASS kvmstat-overhead-5pct watching costs %.1f %% of a hypercall-bound loop rate (<= 5 %%): %.1f vs %.1f pings/s, medians of %d and %d rounds\n", cost, pp, u, nP, nU
	else
		printf "OOH-RESULT FAIL kvmstat-overhead-5pct watching costs %.1f %% of a hypercall-bound loop rate (> 5 %%): %.1f vs %.1f pings/s, medians of %d and %d rounds\n", cost, pp, u, nP, nU
}'
exit 0
