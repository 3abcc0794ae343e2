#!/bin/sh
# demo-report.sh CONSOLE_LOG REPORT_HTML [RIG_STATUS]: make demo's last step,
# on the host. Reads the OOH-DEMO lines of the rig run (l1/demo.sh,
# l1/demo-l2.sh), decodes the plots that came over the serial consoles
# (OOH-DEMO-FILE-BEGIN NAME / OOH-DEMO-FILE NAME BASE64 / OOH-DEMO-FILE-END
# NAME MD5: gzip + base64, checked against the MD5 taken where the file was
# made) and writes one self-contained HTML page: per feature a caption,
# its measured lines and its plot inline. Prints the page's path last.
# Exit status 0 only when the rig run succeeded, the five features reported
# OK and both plots arrived intact (feature [6], this report).
log=$1
out=$2
rig_status=${3:-0}
if [ -z "$log" ] || [ -z "$out" ] || [ ! -r "$log" ]; then
	echo "usage: demo-report.sh CONSOLE_LOG REPORT_HTML [RIG_STATUS]" >&2
	exit 2
fi
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. the files: the last complete copy of each (an L2 that crashed
# mid-file and ran again sends it again)
awk -v dir="$tmp" '
	$1 == "OOH-DEMO-FILE-BEGIN" && $2 ~ /^[a-z0-9.-]+$/ { buf[$2] = ""; open[$2] = 1; next }
	$1 == "OOH-DEMO-FILE" && open[$2] { buf[$2] = buf[$2] $3 "\n"; next }
	$1 == "OOH-DEMO-FILE-END" && open[$2] { done[$2] = buf[$2]; sum[$2] = $3; open[$2] = 0; next }
	END {
		for (n in done) {
			printf "%s", done[n] > (dir "/" n ".b64")
			close(dir "/" n ".b64")
			print n, sum[n] > (dir "/sums")
		}
	}' "$log"
plot() { # NAME: the decoded SVG's path, or nothing (and a note why in notes)
	want=$(awk -v n="$1" '$1 == n { print $2 }' "$tmp/sums" 2>/dev/null)
	if [ -z "$want" ]; then
		echo "OOH-DEMO [6]   plot $1: not received" >>"$tmp/notes"
		return
	fi
	if base64 -d <"$tmp/$1.b64" 2>/dev/null | gunzip >"$tmp/$1" 2>/dev/null &&
		[ "$(md5sum <"$tmp/$1" | cut -d' ' -f1)" = "$want" ]; then
		echo "$tmp/$1"
	else
		echo "OOH-DEMO [6]   plot $1: damaged on the way (MD5 differs)" >>"$tmp/notes"
	fi
}
esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
# lines N: feature N's lines, without the prefix
lines() { sed -n "s/^OOH-DEMO \[$1\] //p" "$log"; }
status() { # N: OK or FAILED, from its last result line
	r=$(grep "^OOH-DEMO \[$1\] \(OK\|FAILED\)" "$log" | tail -1 | cut -d' ' -f3 | tr -d :)
	echo "${r:-FAILED}"
}

wss_svg=$(plot wss.svg)
vmwss_svg=$(plot vmwss.svg)
plots_ok=1
[ -n "$wss_svg" ] && [ -n "$vmwss_svg" ] || plots_ok=0
section() { # N TITLE CAPTION [SVG]
	st=$(status "$1")
	echo "<h2>[$1] $2 <span class=\"$st\">$st</span></h2>"
	echo "<p>$3</p>"
	r=$(grep "^OOH-DEMO \[$1\] \(OK\|FAILED\)" "$log" | tail -1 | sed "s/^OOH-DEMO \[$1\] //")
	echo "<p class=\"result\">$(echo "${r:-no result reported (see the console log)}" | esc)</p>"
	[ -n "$4" ] && grep -v '^<?xml' "$4"
	echo "<details><summary>measured lines</summary><pre>"
	lines "$1" | esc
	echo "</pre></details>"
}
{
	cat <<'EOF'
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>OoH demo</title>
<style>
body { font-family: sans-serif; max-width: 960px; margin: 2em auto; color: #222 }
pre { background: #f4f4f4; padding: .6em; overflow-x: auto; font-size: 12px }
.OK { color: #080 } .FAILED { color: #c00 }
.result { font-weight: bold }
</style></head><body>
<h1>OoH &mdash; Out of Hypervisor: demo</h1>
EOF
	echo "<p>$(date -u '+%Y-%m-%d %H:%M UTC'), made by <code>make demo</code>. The stack, as it came up:</p><pre>"
	sed -n -e 's/^OOH-DEMO \(stack\|L2\): /\1: /p' "$log" | esc
	echo "</pre>"
	section 1 "OoH-PML: a process's working set, in L2" \
		"<code>ooh-wss --backend ooh-epml</code> in L2 reads the pages <code>ooh-wss-target</code> wrote in each interval from libooh's ooh-epml backend (OoH's virtual PML: ooh-l0 logs the guest's writes, ooh.ko hands them to the process). The target writes 4 MiB, then 1 MiB: the plot shows the dirty pages per interval and the plateaus found." \
		"$wss_svg"
	section 2 "OoH-SPP: an overflow into a guard sub-page, caught" \
		"<code>ooh-spp-demo</code> in L2 protects the 128-byte sub-pages around an object with libooh's <code>ooh</code> SPP backend (ooh-l0 judges every write to the page) and copies 200 bytes into the 128-byte object. The first byte past the end is refused and reported at its exact address (SIGSEGV, si_code OOH_SEGV_SPPERR)."
	section 3 "OoH-PML: incremental checkpoint and a verified restore" \
		"<code>ooh-ckpt</code> on ooh-epml in L2 takes a full and two incremental checkpoints of <code>ooh-ckpt-target</code>, which is computing; an incremental image holds only the pages written since the previous one. A fresh target restored from the last image must reach the uninterrupted run's result."
	section 4 "L2's working set, seen from L1" \
		"<code>ooh-vmwss --l0</code> in L1 asks ooh-l0 over its control socket for the pages the whole L2 VM dirtied in each interval (the KVM dirty ring), while L2 runs a workload that writes nothing, then 4 MiB, then 16 MiB. The plot shows the dirty pages per interval and the working-set estimate." \
		"$vmwss_svg"
	section 5 "ooh-l0's virtio devices" \
		"ooh-l0 boots L2 with its root filesystem on a virtio-blk disk (an ext4 image of L2's tree, made in L1), a virtio-net card on a tap whose other end is L1, and a virtio-vsock device (the host's vhost-vsock). L2 pings L1 over the tap; L1 asks L2 a question over vsock and gets its answer."
	echo "<h2>[6] this report</h2><p>The plots were made inside L2 and L1, sent over the serial consoles (gzip + base64, checked by MD5) and put here by <code>l1/demo-report.sh</code>.</p>"
	echo "</body></html>"
} >"$out"

ok=0
failed=
for n in 1 2 3 4 5; do
	if [ "$(status $n)" = OK ]; then ok=$((ok + 1)); else failed="$failed [$n]"; fi
done
if [ "$plots_ok" = 1 ]; then
	ok=$((ok + 1))
	echo "OOH-DEMO [6] OK: report with 2 plots (working set in L2 over OoH-PML, L2 from L1 over ooh-l0's socket)"
else
	failed="$failed [6]"
	cat "$tmp/notes"
	echo "OOH-DEMO [6] FAILED: a plot is missing or damaged (above); report written without it"
fi
[ "$rig_status" = 0 ] || failed="$failed (rig status $rig_status)"
if [ -z "$failed" ]; then
	echo "OOH-DEMO result: all 6 features OK"
else
	echo "OOH-DEMO result: $ok of 6 features OK; FAILED:$failed"
fi
echo "OOH-DEMO report: $out"
[ -z "$failed" ]
