#!/bin/bash
# guard-bench.sh -- the heap-guard benchmark: glibc malloc, Electric Fence,
# ooh-guard (every object guarded) and ooh-guard sampled, side by side.
# A program that prints figures, not a test: it exits 0 whenever it could
# measure, whatever the figures (a configuration that dies or times out is
# a figure too, and is reported, never dropped).
#
#   examples/guard/guard-bench.sh [--runs K] [--timeout S] [--quick]
#	[--bindir DIR] [--libdir DIR] [--json FILE] [--efence LIB]
#	[--sample N] [--configs LIST] [--workloads LIST] [--workdir DIR]
#
# Every (workload, configuration) pair runs --runs times (default 3), the
# configurations interleaved within each repetition; figures are medians.
# A pair that died or timed out is not repeated (its failure is
# deterministic, and a timeout costs --timeout seconds each time).
#
# Configurations (--configs, comma-separated; default all four):
#   glibc          no preload
#   efence         LD_PRELOAD=/usr/lib/libefence.so EF_ALLOW_MALLOC_0=1
#   guard-full     LD_PRELOAD=$LIBDIR/libooh-guard.so
#   guard-sampled  LD_PRELOAD=$LIBDIR/libooh-guard.so OOH_GUARD_SAMPLE=1000
# OOH_GUARD_SAMPLE and LD_PRELOAD are cleared for every configuration; other
# OOH_GUARD_* (BACKEND, QUARANTINE) and EF_* variables pass through.
#
# Workloads (--workloads, comma-separated KIND:SIZE; default
# mix:5000,mix:20000,mix:100000,mix:1000000,maxlive:1200000,sort:1000000,xz:20000000;
# --quick: mix:2000,mix:20000,maxlive:50000,sort:50000,xz:2000000, 1 run):
#   mix:N      ooh-guard-bench-mix mix --objects N (bench/ooh-guard-bench.c):
#	       N live objects of 16 B-64 KiB with churn, each written and read
#	       back; the checksum must equal glibc's. 20 000 is the largest
#	       mix Electric Fence survives (one guard page, two VMAs, each);
#	       5 000 is one that ooh-guard's full mode finishes within the
#	       timeout on the software SPP backend (every write to a page
#	       holding a guard is a fault).
#   maxlive:N  ooh-guard-bench-mix maxlive --limit N: 16-256 B objects
#	       until N are live, malloc fails or the process dies; the count
#	       reached is the figure.
#   sort:N     LC_ALL=C sort --parallel=1 of N random lines (generated)
#   xz:N       xz -6 -T1 of N bytes of word-like text (generated)
#	       sort's and xz's outputs must be byte-identical to glibc's (cmp).
#
# Columns: wall (s), cpu = user+sys (s), peak RSS (MiB, ru_maxrss of the
# workload process, from GNU time), RSS overhead = peak RSS / glibc's - 1,
# wall/glibc and cpu/glibc = the ratios to glibc's; status and what was
# checked. Goals, computed in the same run: memory overhead of guard-full /
# efence's <= 0.1 (on the mixes both finish), CPU time of guard-sampled /
# glibc's <= 1.2 (on the mixes; wall beside it), guard-full's time beside
# efence's.
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BINDIR=$TOP/build/normal/bin
LIBDIR=$TOP/build/normal/lib
RUNS=3
TIMEOUT=300
QUICK=0
JSON=""
EFENCE=/usr/lib/libefence.so
SAMPLE=1000
CONFIGS="glibc,efence,guard-full,guard-sampled"
WORKLOADS=""
WORK=""
RUNS_SET=0
TIMEOUT_SET=0

usage() {
	sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit "${1:-1}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; RUNS_SET=1; shift ;;
	--timeout) TIMEOUT=$2; TIMEOUT_SET=1; shift ;;
	--quick) QUICK=1 ;;
	--bindir) BINDIR=$2; shift ;;
	--libdir) LIBDIR=$2; shift ;;
	--json) JSON=$2; shift ;;
	--efence) EFENCE=$2; shift ;;
	--sample) SAMPLE=$2; shift ;;
	--configs) CONFIGS=$2; shift ;;
	--workloads) WORKLOADS=$2; shift ;;
	--workdir) WORK=$2; shift ;;
	-h|--help) usage 0 ;;
	*) echo "guard-bench: unknown option $1" >&2; usage 1 ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	[ "$RUNS_SET" = 1 ] || RUNS=1
	[ "$TIMEOUT_SET" = 1 ] || TIMEOUT=60
	[ -n "$WORKLOADS" ] || WORKLOADS="mix:2000,mix:20000,maxlive:50000,sort:50000,xz:2000000"
fi
[ -n "$WORKLOADS" ] || WORKLOADS="mix:5000,mix:20000,mix:100000,mix:1000000,maxlive:1200000,sort:1000000,xz:20000000"

DRIVER=$BINDIR/ooh-guard-bench-mix
GUARD=$LIBDIR/libooh-guard.so
TIME=/usr/bin/time
if [ ! -x "$DRIVER" ]; then
	echo "guard-bench: $DRIVER not built (make -C examples O=...)" >&2
	exit 1
fi
if ! "$TIME" -f %e true 2>/dev/null >/dev/null; then
	echo "guard-bench: needs GNU time as $TIME (Debian package 'time')" >&2
	exit 1
fi
for t in timeout sort xz cmp od awk; do
	command -v "$t" >/dev/null || { echo "guard-bench: needs $t" >&2; exit 1; }
done

if [ -z "$WORK" ]; then
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/guard-bench.XXXXXX") || exit 1
	trap 'rm -rf "$WORK"' EXIT
else
	mkdir -p "$WORK" || exit 1
fi

IFS=, read -r -a CFG_LIST <<<"$CONFIGS"
IFS=, read -r -a WL_LIST <<<"$WORKLOADS"

# A configuration's environment (env arguments), or why it cannot run.
declare -A CFG_ENV CFG_MISSING
for c in "${CFG_LIST[@]}"; do
	case $c in
	glibc) CFG_ENV[$c]="" ;;
	efence) CFG_ENV[$c]="LD_PRELOAD=$EFENCE EF_ALLOW_MALLOC_0=1"
		[ -f "$EFENCE" ] || CFG_MISSING[$c]="no $EFENCE" ;;
	guard-full) CFG_ENV[$c]="LD_PRELOAD=$GUARD"
		[ -f "$GUARD" ] || CFG_MISSING[$c]="no $GUARD" ;;
	guard-sampled) CFG_ENV[$c]="LD_PRELOAD=$GUARD OOH_GUARD_SAMPLE=$SAMPLE"
		[ -f "$GUARD" ] || CFG_MISSING[$c]="no $GUARD" ;;
	*) echo "guard-bench: unknown configuration $c" >&2; exit 1 ;;
	esac
done

human() {	# 20000 -> 20k, 1000000 -> 1M, 1200000 -> 1.2M
	local n=$1
	if [ $((n % 1000000)) = 0 ]; then echo "$((n / 1000000))M"
	elif [ "$n" -gt 1000000 ] && [ $((n % 100000)) = 0 ]; then
		echo "$((n / 1000000)).$((n % 1000000 / 100000))M"
	elif [ $((n % 1000)) = 0 ]; then echo "$((n / 1000))k"
	else echo "$n"; fi
}

group() {	# 32768 -> 32 768
	echo "$1" | sed ':a;s/\([0-9]\)\([0-9]\{3\}\)\($\| \)/\1 \2\3/;ta'
}

# ---- workloads: name, command, inputs ----
declare -A WL_KIND WL_SIZE WL_DESC
WL_NAMES=()
for spec in "${WL_LIST[@]}"; do
	kind=${spec%%:*}
	size=${spec#*:}
	case $kind in mix|maxlive|sort|xz) ;; *)
		echo "guard-bench: unknown workload $spec" >&2; exit 1 ;; esac
	case $size in ''|*[!0-9]*) echo "guard-bench: bad size in $spec" >&2; exit 1 ;; esac
	name=$kind-$(human "$size")
	WL_NAMES+=("$name")
	WL_KIND[$name]=$kind
	WL_SIZE[$name]=$size
	case $kind in
	mix) WL_DESC[$name]="ooh-guard-bench-mix mix --objects $size" ;;
	maxlive) WL_DESC[$name]="ooh-guard-bench-mix maxlive --limit $size (16-256 B)" ;;
	sort) WL_DESC[$name]="LC_ALL=C sort --parallel=1 of $(group "$size") random lines" ;;
	xz) WL_DESC[$name]="xz -6 -T1 of $(group "$size") bytes of text" ;;
	esac
	if [ "$kind" = sort ] && [ ! -f "$WORK/lines.$size" ]; then
		"$DRIVER" gen-lines --lines "$size" --seed 1 >"$WORK/lines.$size" || exit 1
	fi
	if [ "$kind" = xz ] && [ ! -f "$WORK/text.$size" ]; then
		"$DRIVER" gen-text --bytes "$size" --seed 1 >"$WORK/text.$size" || exit 1
	fi
done

# ---- one run ----
# Per (workload, config): space-separated lists over the runs, and the
# first failure, if any.
declare -A R_WALL R_CPU R_RSS R_FIN R_COUNT R_STATUS R_CHECK R_ERR R_GUARD REF REF_CFG

run_one() {	# workload config rep
	local wl=$1 c=$2 rep=$3 kind=${WL_KIND[$1]} size=${WL_SIZE[$1]}
	local key="$1|$2" base="$WORK/run.$1.$2.$3" stdout_to rc
	local -a cmd envs
	read -r -a envs <<<"${CFG_ENV[$c]}"
	case $kind in
	mix) cmd=("$DRIVER" mix --objects "$size" --progress "$base.progress"); stdout_to=$base.out ;;
	maxlive) cmd=("$DRIVER" maxlive --limit "$size" --size-small --progress "$base.progress")
		stdout_to=$base.out ;;
	sort) cmd=(sort --parallel=1 -o "$base.result" "$WORK/lines.$size"); stdout_to=$base.out ;;
	xz) cmd=(xz -6 -T1 -c "$WORK/text.$size"); stdout_to=$base.result ;;
	esac
	: >"$base.progress"
	# GNU time for the peak RSS and how the command ended; bash's time for
	# wall and CPU in ms (GNU time's have 10 ms steps). Bash's covers
	# GNU time + timeout + env too: a millisecond or two, alike for all.
	local TIMEFORMAT='%3R %3U %3S'
	{ time LC_ALL=C "$TIME" -f '%M' -o "$base.time" \
		timeout -k 5 "$TIMEOUT" env -u LD_PRELOAD -u OOH_GUARD_SAMPLE "${envs[@]}" "${cmd[@]}" \
		>"$stdout_to" 2>"$base.err"; } 2>"$base.btime"
	rc=$?

	local wall user sys rss count="" status=ok check="" sig
	read -r wall user sys < <(tail -1 "$base.btime")
	rss=$(tail -1 "$base.time")
	if [ -s "$base.progress" ]; then
		count=$(od -An -t u8 -N8 "$base.progress" | tr -d ' ')
	fi
	sig=$(sed -n 's/^Command terminated by signal \([0-9]*\).*/\1/p' "$base.time")
	if [ "$rc" = 124 ] || { [ "$sig" = 9 ] && awk -v w="$wall" -v t="$TIMEOUT" 'BEGIN{exit !(w >= t)}'; }; then
		status="timeout after ${TIMEOUT} s"
		[ -n "$count" ] && status="$status ($(group "$count") objects)"
	elif [ -n "$sig" ]; then
		status="died: SIG$(kill -l "$sig" 2>/dev/null || echo "$sig")"
		[ -n "$count" ] && status="$status after $(group "$count") objects"
	elif [ "$kind" = maxlive ] && [ "$rc" = 2 ]; then
		check="malloc NULL"	# a legitimate end of maxlive
	elif [ "$rc" != 0 ]; then
		status="exit $rc"
		[ "$rc" = 3 ] && status="exit 3: objects corrupted"
	fi

	if [ "$status" = ok ]; then
		case $kind in
		mix)
			local sum
			sum=$(sed -n 's/.* checksum \([0-9a-f]*\)$/\1/p' "$base.out")
			if [ -z "${REF[$wl]:-}" ]; then
				REF[$wl]=$sum
				REF_CFG[$wl]=$c
				check="checksum $sum"
			elif [ "$sum" = "${REF[$wl]}" ]; then
				check="checksum = ${REF_CFG[$wl]}'s"
			else
				status="WRONG checksum $sum (${REF_CFG[$wl]}'s: ${REF[$wl]})"
			fi ;;
		maxlive)
			[ -n "$check" ] || check="limit reached" ;;
		sort|xz)
			if [ -z "${REF[$wl]:-}" ]; then
				mv "$base.result" "$WORK/ref.$wl"
				REF[$wl]="$WORK/ref.$wl"
				REF_CFG[$wl]=$c
				check="reference output"
				if [ "$kind" = xz ] && ! xz -dc "$WORK/ref.$wl" | cmp -s - "$WORK/text.$size"; then
					status="WRONG: output does not decompress to the input"
				fi
				if [ "$kind" = sort ] && ! LC_ALL=C sort -c "$WORK/ref.$wl" 2>/dev/null; then
					status="WRONG: output not sorted"
				fi
			elif cmp -s "$base.result" "${REF[$wl]}"; then
				check="cmp: identical to ${REF_CFG[$wl]}'s"
			else
				status="WRONG: output differs from ${REF_CFG[$wl]}'s"
			fi ;;
		esac
	fi
	rm -f "$base.result"
	# the driver's own report of a preloaded ooh-guard (mix, maxlive)
	local gs
	gs=$(sed -n 's/^guard-stats //p' "$base.out" 2>/dev/null | tail -1)
	if [ -n "$gs" ]; then
		R_GUARD[$key]=$gs
		awk '{ for (i = 1; i < NF; i += 2) v[$i] = $(i + 1) }
		     END { exit !(v["degraded"] != 0 || (v["sample"] == 1 && v["plain"] > 0)) }' <<<"$gs" &&
			check="$check; ooh-guard DEGRADED: $gs"
	fi

	R_WALL[$key]="${R_WALL[$key]:-} $wall"
	R_CPU[$key]="${R_CPU[$key]:-} $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.3f", u + s}')"
	R_RSS[$key]="${R_RSS[$key]:-} $rss"
	R_FIN[$key]="${R_FIN[$key]:-} $([ "$status" = ok ] && echo 1 || echo 0)"
	[ -n "$count" ] && R_COUNT[$key]="${R_COUNT[$key]:-} $count"
	if [ "$status" != ok ] && [ -z "${R_STATUS[$key]:-}" ]; then
		R_STATUS[$key]="$status (run $rep of $RUNS)"
		R_ERR[$key]=$(awk 'NF' "$base.err" | tail -1 | cut -c1-100)
	fi
	[ -n "$check" ] && R_CHECK[$key]=$check
	printf '  run %d  %-13s %-14s %7s s  %7s MiB  %s\n' "$rep" "$wl" "$c" "$wall" \
		"$(awk -v k="$rss" 'BEGIN{printf "%.1f", k / 1024}')" "${status/#ok/ok ${check}}" >&2
}

median() {	# "values" "finished flags" -> median of the finished runs' values,
		# or of all if none finished ("" if none)
	awk -v v="$1" -v f="$2" 'BEGIN {
		n = split(v, a, " "); split(f, ok, " "); m = 0
		for (i = 1; i <= n; i++) if (ok[i] == 1) b[++m] = a[i]
		if (m == 0) for (i = 1; i <= n; i++) b[++m] = a[i]
		if (m == 0) exit
		for (i = 2; i <= m; i++) { x = b[i]; for (j = i - 1; j >= 1 && b[j] > x; j--) b[j + 1] = b[j]; b[j + 1] = x }
		if (m % 2) print b[(m + 1) / 2]; else printf "%.3f\n", (b[m / 2] + b[m / 2 + 1]) / 2 }'
}

maxof() {
	printf '%s\n' "$@" | awk 'NF' | sort -g | tail -1
}

echo "guard-bench: $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
	"vm.max_map_count $(cat /proc/sys/vm/max_map_count)" >&2
echo "  runs $RUNS, timeout ${TIMEOUT} s, driver $DRIVER, ooh-guard $GUARD," \
	"OOH_GUARD_BACKEND=${OOH_GUARD_BACKEND:-(unset)} OOH_GUARD_QUARANTINE=${OOH_GUARD_QUARANTINE:-(unset)}" >&2
for c in "${CFG_LIST[@]}"; do
	[ -n "${CFG_MISSING[$c]:-}" ] && echo "  $c: not run (${CFG_MISSING[$c]})" >&2
done

for rep in $(seq 1 "$RUNS"); do
	for wl in "${WL_NAMES[@]}"; do
		for c in "${CFG_LIST[@]}"; do
			[ -n "${CFG_MISSING[$c]:-}" ] && continue
			[ -n "${R_STATUS[$wl|$c]:-}" ] && continue	# failed before: not repeated
			run_one "$wl" "$c" "$rep"
		done
	done
done

# ---- figures ----
declare -A M_WALL M_CPU M_RSS M_COUNT
for wl in "${WL_NAMES[@]}"; do
	for c in "${CFG_LIST[@]}"; do
		k="$wl|$c"
		[ -n "${R_WALL[$k]:-}" ] || continue
		M_WALL[$k]=$(median "${R_WALL[$k]}" "${R_FIN[$k]}")
		M_CPU[$k]=$(median "${R_CPU[$k]}" "${R_FIN[$k]}")
		M_RSS[$k]=$(median "${R_RSS[$k]}" "${R_FIN[$k]}")
		# shellcheck disable=SC2086  # one number a word
		[ -n "${R_COUNT[$k]:-}" ] && M_COUNT[$k]=$(maxof ${R_COUNT[$k]})
	done
done

ok() {	# workload config: finished and correct?
	[ -n "${R_WALL[$1|$2]:-}" ] && [ -z "${R_STATUS[$1|$2]:-}" ]
}
ratio() {	# a b -> a/b, or "" if either is missing
	[ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b }'
}
overhead() {	# rss ref -> rss/ref - 1
	[ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b - 1 }'
}

echo
echo "Heap-guard benchmark: $RUNS run(s) per pair, medians; timeout ${TIMEOUT} s per run"
echo "columns: wall s | cpu s (user+sys) | peak RSS MiB | RSS overhead (/glibc - 1) | wall/glibc | cpu/glibc | status, check"
for wl in "${WL_NAMES[@]}"; do
	echo
	echo "== $wl: ${WL_DESC[$wl]}"
	printf '%-14s %8s %8s %9s %9s %9s %9s  %s\n' config "wall s" "cpu s" "RSS MiB" "RSS ovh" "wall/gl" "cpu/gl" "status"
	for c in "${CFG_LIST[@]}"; do
		k="$wl|$c"
		if [ -n "${CFG_MISSING[$c]:-}" ]; then
			printf '%-14s %8s %8s %9s %9s %9s %9s  %s\n' "$c" - - - - - - "not run: ${CFG_MISSING[$c]}"
			continue
		fi
		st=${R_STATUS[$k]:-ok}
		[ "$st" = ok ] && st="ok, ${R_CHECK[$k]:-}"
		[ -n "${M_COUNT[$k]:-}" ] && [ "${WL_KIND[$wl]}" = maxlive ] && st="$st; reached $(group "${M_COUNT[$k]}")"
		rss=$(awk -v k="${M_RSS[$k]}" 'BEGIN{printf "%.1f", k / 1024}')
		ovh=-; tr=-; cr=-
		if ok "$wl" glibc && [ "$c" != glibc ]; then
			ovh=$(overhead "${M_RSS[$k]}" "${M_RSS[$wl|glibc]}")
			tr=$(ratio "${M_WALL[$k]}" "${M_WALL[$wl|glibc]}")
			cr=$(ratio "${M_CPU[$k]}" "${M_CPU[$wl|glibc]}")
			[ -n "$ovh" ] || ovh=-
			[ -n "$tr" ] || tr=-
			[ -n "$cr" ] || cr=-
			ok "$wl" "$c" || { ovh="($ovh)"; tr="($tr)"; cr="($cr)"; }
		fi
		printf '%-14s %8s %8s %9s %9s %9s %9s  %s\n' "$c" "${M_WALL[$k]}" "${M_CPU[$k]}" "$rss" "$ovh" "$tr" "$cr" "$st"
	done
done
echo
echo "(figures: medians of the finished runs; in parentheses: of runs that did not finish, up to their death or timeout)"
for wl in "${WL_NAMES[@]}"; do
	for c in "${CFG_LIST[@]}"; do
		[ -n "${R_GUARD[$wl|$c]:-}" ] && echo "  $wl $c: ooh-guard's counts with all objects live: ${R_GUARD[$wl|$c]}"
	done
done
for wl in "${WL_NAMES[@]}"; do
	for c in "${CFG_LIST[@]}"; do
		[ -n "${R_STATUS[$wl|$c]:-}" ] || continue
		echo "  $wl $c: ${R_STATUS[$wl|$c]}; its last stderr line: ${R_ERR[$wl|$c]:-(none)}"
	done
done

# ---- the goals ----
GOALS=()
echo
echo "Goals (only where both sides finished):"
for wl in "${WL_NAMES[@]}"; do
	ok "$wl" glibc || continue
	g=${M_RSS[$wl|glibc]}
	if ok "$wl" guard-full && ok "$wl" efence; then
		of=$(overhead "${M_RSS[$wl|guard-full]}" "$g")
		oe=$(overhead "${M_RSS[$wl|efence]}" "$g")
		r=$(awk -v a="$of" -v b="$oe" 'BEGIN{ if (b > 0) printf "%.3f", a / b; else print "n/a" }')
		if [ "${WL_KIND[$wl]}" = mix ]; then
			# the goal is about many small objects: the mixes
			met=$(awk -v r="$r" 'BEGIN{ print (r != "n/a" && r <= 0.1) ? "met" : "NOT met" }')
			echo "  $wl: memory overhead ooh-guard full $of vs efence $oe: ratio $r (goal <= 0.1: $met)"
			GOALS+=("{\"workload\":\"$wl\",\"goal\":\"memory overhead full / efence <= 0.1\",\"full\":$of,\"efence\":$oe,\"ratio\":\"$r\",\"met\":\"$met\"}")
		else
			echo "  $wl: memory overhead ooh-guard full $of vs efence $oe (few, large allocations: not a goal)"
		fi
	fi
	if [ "${WL_KIND[$wl]}" = mix ] && ok "$wl" guard-sampled; then
		# judged on CPU time (wall is noisy on a shared machine); wall beside
		r=$(ratio "${M_CPU[$wl|guard-sampled]}" "${M_CPU[$wl|glibc]}")
		rw=$(ratio "${M_WALL[$wl|guard-sampled]}" "${M_WALL[$wl|glibc]}")
		met=$(awk -v r="$r" 'BEGIN{ print (r <= 1.2) ? "met" : "NOT met" }')
		echo "  $wl: CPU time ooh-guard sampled / glibc $r (goal <= 1.2: $met); wall $rw"
		GOALS+=("{\"workload\":\"$wl\",\"goal\":\"sampled CPU time / glibc CPU time <= 1.2\",\"ratio\":$r,\"wall_ratio\":$rw,\"met\":\"$met\"}")
	fi
	if [ -n "${R_WALL[$wl|guard-full]:-}" ] && [ -n "${R_WALL[$wl|efence]:-}" ]; then
		fs=${R_STATUS[$wl|guard-full]:-ok}
		es=${R_STATUS[$wl|efence]:-ok}
		echo "  $wl: time ooh-guard full ${M_WALL[$wl|guard-full]} s ($fs) beside efence ${M_WALL[$wl|efence]} s ($es)"
	fi
done
[ ${#GOALS[@]} -gt 0 ] || echo "  (none computable: ooh-guard not run or not finished)"

# ---- JSON ----
jstr() {	# a JSON string
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}
jnum() {	# a number, or null
	if [ -n "$1" ]; then printf '%s' "$1"; else printf null; fi
}
jlist() {	# space-separated numbers -> JSON array
	# shellcheck disable=SC2086
	printf '[%s]' "$(printf '%s\n' $1 | awk 'NF' | paste -sd,)"
}
if [ -n "$JSON" ]; then
	{
		printf '{"benchmark":"ooh-guard","date":%s,"kernel":%s,"cpus":%s,"runs":%s,"timeout_s":%s,' \
			"$(jstr "$(date -u +%FT%TZ)")" "$(jstr "$(uname -r)")" "$(nproc)" "$RUNS" "$TIMEOUT"
		printf '"guard_lib":%s,"efence_lib":%s,"sample":%s,"guard_backend":%s,"workloads":[' \
			"$(jstr "$GUARD")" "$(jstr "$EFENCE")" "$SAMPLE" "$(jstr "${OOH_GUARD_BACKEND:-}")"
		first=1
		for wl in "${WL_NAMES[@]}"; do
			[ $first = 1 ] || printf ','
			first=0
			printf '{"name":%s,"command":%s,"configs":[' "$(jstr "$wl")" "$(jstr "${WL_DESC[$wl]}")"
			cf=1
			for c in "${CFG_LIST[@]}"; do
				k="$wl|$c"
				[ $cf = 1 ] || printf ','
				cf=0
				if [ -n "${CFG_MISSING[$c]:-}" ]; then
					printf '{"config":%s,"status":%s}' "$(jstr "$c")" "$(jstr "not run: ${CFG_MISSING[$c]}")"
					continue
				fi
				ovh=""; tr=""; cr=""
				if ok "$wl" glibc && [ "$c" != glibc ]; then
					ovh=$(overhead "${M_RSS[$k]}" "${M_RSS[$wl|glibc]}")
					tr=$(ratio "${M_WALL[$k]}" "${M_WALL[$wl|glibc]}")
					cr=$(ratio "${M_CPU[$k]}" "${M_CPU[$wl|glibc]}")
				fi
				printf '{"config":%s,"status":%s,"finished":%s,"check":%s,"stderr":%s,"guard_stats":%s,' "$(jstr "$c")" \
					"$(jstr "${R_STATUS[$k]:-ok}")" "$(ok "$wl" "$c" && echo true || echo false)" \
					"$(jstr "${R_CHECK[$k]:-}")" "$(jstr "${R_ERR[$k]:-}")" "$(jstr "${R_GUARD[$k]:-}")"
				printf '"wall_s":%s,"cpu_s":%s,"peak_rss_kib":%s,"max_count":%s,' \
					"$(jnum "${M_WALL[$k]}")" "$(jnum "${M_CPU[$k]}")" "$(jnum "${M_RSS[$k]}")" \
					"$(jnum "${M_COUNT[$k]:-}")"
				printf '"rss_overhead":%s,"wall_vs_glibc":%s,"cpu_vs_glibc":%s,' "$(jnum "$ovh")" "$(jnum "$tr")" "$(jnum "$cr")"
				printf '"runs_wall_s":%s,"runs_cpu_s":%s,"runs_peak_rss_kib":%s}' \
					"$(jlist "${R_WALL[$k]}")" "$(jlist "${R_CPU[$k]}")" "$(jlist "${R_RSS[$k]}")"
			done
			printf ']}'
		done
		printf '],"goals":[%s]}\n' "$(IFS=,; echo "${GOALS[*]}")"
	} >"$JSON"
	echo
	echo "JSON: $JSON"
fi
exit 0
