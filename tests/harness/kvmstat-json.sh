# shellcheck shell=sh
# Reading ooh-kvmstat --json reports (l0/kvmstat/ooh-kvmstat.8) in the rig's
# scripts (bench/*-l1.sh). kj FILE WINDOW WHAT [ARG...] sums, over every
# report in FILE, the rows of window WINDOW ("*": every window):
#   kj F W op OP FIELD       FIELD (calls exits user_exits kicks errors
#                            ring_entries l0_ns) over OP's rows
#                            (every exit reason; OP "*": every op)
#   kj F W calls-except OPS  "N op:calls..." the calls of every op but OPS
#                            (comma-separated)
#   kj F W hypercalls        "N op:calls..." the hypercalls but STATS (the
#                            window's marker)
#   kj F W other-ops         "N op:calls..." the ops that are no hypercall
#                            (harvest, spp-permit, spp-refuse)
#   kj F W exits             "N reason:count..." the kvm_exit records
#   kj F W exit-ns REASON    exit-to-entry ns summed over REASON's exits
#   kj F W vcpu FIELD        FIELD (entries exits userspace_exits pio mmio
#                            page_faults dirty_ring_pushes ...) over vCPUs
#   kj F W uexits            "N reason:count..." the returns of KVM_RUN
#   kj F '*' windows OP      "WINDOW CALLS" per window with calls of OP
# Lists are "reason:count" words, most frequent first.
kj() {
	kj_file=$1 kj_win=$2 kj_what=$3
	shift 3
	grep -o '{[^{}]*}' "$kj_file" | awk -v w="$kj_win" -v what="$kj_what" \
		-v a1="${1:-}" -v a2="${2:-}" '
	function num(k) {
		if (match($0, "\"" k "\":[0-9]+"))
			return substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3) + 0
		return 0
	}
	function str(k) {
		if (match($0, "\"" k "\":\"[^\"]*\""))
			return substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 5)
		return ""
	}
	function add(key, n) {
		if (!(key in c))
			keys[++nk] = key
		c[key] += n
		total += n
	}
	# "TOTAL k:n k:n..." with the largest counts first
	function list(   i, j, t, out) {
		for (i = 1; i <= nk; i++)
			for (j = i + 1; j <= nk; j++)
				if (c[keys[j]] > c[keys[i]]) {
					t = keys[i]; keys[i] = keys[j]; keys[j] = t
				}
		out = total + 0
		for (i = 1; i <= nk; i++)
			if (c[keys[i]] > 0)
				out = out " " keys[i] ":" c[keys[i]]
		return out
	}
	!/"window":/ { next }
	{
		win = num("window")
		if (w != "*" && win != w + 0)
			next
		if (/"isa":/) kind = "exit"
		else if (/"entries":/) kind = "vcpu"
		else if (/"op":/) kind = "op"
		else if (/"reason":/) kind = "uexit"
		else next
	}
	what == "op" && kind == "op" && (a1 == "*" || str("op") == a1) { total += num(a2) }
	what == "calls-except" && kind == "op" && index("," a1 ",", "," str("op") ",") == 0 {
		add(str("op"), num("calls"))
	}
	what == "hypercalls" && kind == "op" && str("op") !~ /^(stats|harvest|spp-permit|spp-refuse)$/ {
		add(str("op"), num("calls"))
	}
	what == "other-ops" && kind == "op" && str("op") ~ /^(harvest|spp-permit|spp-refuse)$/ {
		add(str("op"), num("calls"))
	}
	what == "exits" && kind == "exit" { add(str("reason"), num("count")) }
	what == "exit-ns" && kind == "exit" && str("reason") == a1 { total += num("ns") }
	what == "vcpu" && kind == "vcpu" { total += num(a1) }
	what == "uexits" && kind == "uexit" { add(str("reason"), num("count")) }
	what == "windows" && kind == "op" && str("op") == a1 { add(win, num("calls")) }
	END {
		if (what == "windows") {
			for (i = 1; i <= nk; i++)
				print keys[i], c[keys[i]]
		} else if (what ~ /^(calls-except|hypercalls|other-ops|exits|uexits)$/) {
			print list()
		} else {
			print total + 0
		}
	}'
}

# kj_window_lines LOG: the OOH-BENCH-WINDOW lines of a console log, without
# the serial console's carriage returns.
kj_window_lines() {
	grep -a '^OOH-BENCH-WINDOW ' "$1" | tr -d '\r'
}

# kj_div A B [DIGITS]: A / B with DIGITS (default 2) decimals, n/a for B = 0.
kj_div() {
	awk -v a="$1" -v b="$2" -v d="${3:-2}" \
		'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%." d "f\n", a / b }'
}
