#!/bin/sh
# Benchmark (not a test): time from VMM start to the L2 guest's init, and
# the VMM's resident memory beyond guest RAM, for ooh-l0 and for QEMU
# (-enable-kvm, -M pc and -M microvm) with the same kernel, initrd, memory
# and command line, in the same rig run.
#
# ooh-l0 decompresses an xz/gzip bzImage itself and boots the vmlinux,
# keeping it in its kernel cache: row ooh-l0-cold is a boot with an empty
# cache (decompress + store), row ooh-l0 the next boot of the same bzImage
# (vmlinux from the cache: every boot but a kernel's first); ooh-l0-guest-dec
# boots the bzImage as QEMU does, through the in-guest decompressor. With
# --vmlinux both VMMs also boot the same kernel extracted beforehand on the
# host (ooh-l0: ELF vmlinux; QEMU microvm: PVH entry). A warm-up round
# (ooh-l0 and QEMU -M pc) comes first, reported but not counted: the first
# L2 boots in a fresh L1 pay one-off costs. The summary gives medians and,
# per run, each ooh-l0 row's time over each QEMU row's.
#
# On the host:   bench/l0-boot.sh [--runs N] [--vmlinux]
#   bundles QEMU (binary, libraries, firmware) and boots the rig with this
#   script as the L1 payload (l1/ooh-rig --include). Needs `make all` first.
# Inside L1:     run by the rig (OOH_L2 is set); prints one line per run and
#   a summary table of medians.
set -eu

RUNS=${OOH_BENCH_RUNS:-2}
MEM_MB=256
CMDLINE="console=ttyS0 reboot=k panic=-1 pci=off quiet"

host_side() {
	top=$(cd "$(dirname "$0")/.." && pwd)
	with_vmlinux=0
	while [ $# -gt 0 ]; do
		case $1 in
		--runs) RUNS=$2; shift ;;
		--vmlinux) with_vmlinux=1 ;;
		*) echo "usage: $0 [--runs N] [--vmlinux]" >&2; exit 2 ;;
		esac
		shift
	done
	kver=$(ls /boot | sed -n 's/^vmlinuz-//p' | sort -rV | head -1)
	bundle=$(mktemp -d /tmp/ooh-bench-qemu.XXXXXX)
	trap 'rm -rf "$bundle"' EXIT
	mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/share"
	cp /usr/bin/qemu-system-x86_64 "$bundle/bin/"
	for lib in $(ldd /usr/bin/qemu-system-x86_64 | grep -o '/[^ ]*'); do
		cp -L "$lib" "$bundle/lib/"
	done
	for fw in /usr/share/seabios/bios-256k.bin /usr/share/qemu/bios-microvm.bin \
		  /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/kvmvapic.bin \
		  /usr/share/qemu/multiboot_dma.bin; do
		[ -e "$fw" ] && cp -L "$fw" "$bundle/share/"
	done
	echo "$RUNS" >"$bundle/runs"
	# The same kernel uncompressed: ooh-l0 boots an ELF vmlinux directly,
	# QEMU through its PVH entry. Extracted here, natively, not in L1.
	# (--vmlinux only: 65 MB more in the L1 image costs minutes of L1 boot.)
	[ "$with_vmlinux" = 1 ] && python3 - "/boot/vmlinuz-$kver" "$bundle/vmlinux" <<'PY' || rm -f "$bundle/vmlinux"
import bz2, gzip, lzma, struct, sys
image = open(sys.argv[1], "rb").read()
setup = ((image[0x1f1] or 4) + 1) * 512
offset, length = struct.unpack_from("<II", image, 0x248)
payload = image[setup + offset:setup + offset + length]
if payload[:6] == b"\xfd7zXZ\x00":
    data = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
elif payload[:2] == b"\x1f\x8b":
    data = gzip.decompress(payload)
elif payload[:3] == b"BZh":
    data = bz2.decompress(payload)
else:
    sys.exit("unsupported kernel compression")
open(sys.argv[2], "wb").write(data)
PY
	exec "$top/l1/ooh-rig" --kernel "/boot/vmlinuz-$kver" --build "$top/build" \
		--include "$bundle" --timeout 5000 run "$top/bench/l0-boot.sh"
}

uptime_cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }

# vmm_rss_kib PID: resident KiB outside the guest RAM mapping (the largest
# mapping at least as big as guest RAM), from /proc/PID/smaps.
vmm_rss_kib() {
	awk -v ram_kib=$((MEM_MB * 1024)) '
		/^Size:/ { size = $2 }
		/^Rss:/ { total += $2; if (size >= ram_kib && size > best) { best = size; guest = $2 } }
		END { printf "%d %d", total - guest, guest }' "/proc/$1/smaps" 2>/dev/null || echo "-1 -1"
}

# measure NAME COMMAND...: one boot; prints "NAME init_s vmm_rss_kib status".
measure() {
	name=$1
	shift
	fifo=/tmp/bench-$name.fifo
	log=/tmp/bench-$name.log
	rm -f "$fifo"
	mkfifo "$fifo"
	start=$(uptime_cs)
	"$@" >"$fifo" 2>&1 </dev/null &
	pid=$!
	init_cs=-1 rss="-1 -1"
	: >"$log"
	while IFS= read -r line; do
		echo "$line" >>"$log"
		case $line in
		*"init reached"*)
			init_cs=$(($(uptime_cs) - start))
			rss=$(vmm_rss_kib "$pid") ;;
		esac
	done <"$fifo"
	status=0
	wait "$pid" || status=$?
	rm -f "$fifo"
	init_s=$(awk -v cs="$init_cs" 'BEGIN { printf "%.2f", cs / 100 }')
	# The guest kernel's own uptime at init: what is left is VMM start-up,
	# firmware and the decompressor.
	l2_uptime=$(sed -n 's/.*init reached.*uptime \([0-9.]*\) s.*/\1/p' "$log" | head -n 1)
	echo "OOH-BENCH $name init_s=$init_s l2_uptime_s=${l2_uptime:-?} vmm_rss_kib=${rss% *}" \
		"guest_rss_kib=${rss#* } status=$status"
	[ "$init_cs" -ge 0 ] || { echo "--- $name did not reach init:"; tail -n 20 "$log"; }
}

# one_round PREFIX RUN: one boot of every VMM configuration, names prefixed.
one_round() {
	p=$1 r=$2
	# Cold: a kernel cache of its own, empty, so ooh-l0 decompresses the
	# bzImage (and stores its vmlinux); warm: the same cache, now filled,
	# as for every later boot of that bzImage.
	rm -rf "/tmp/bench-kcache-$r"
	measure "${p}ooh-l0-cold" "$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" \
		--initrd "$OOH_L2/initrd.cpio" --mem ${MEM_MB}M --cpus 1 --cmdline "$CMDLINE" \
		--timeout 300 --kernel-cache "/tmp/bench-kcache-$r"
	measure "${p}ooh-l0" "$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" --initrd "$OOH_L2/initrd.cpio" \
		--mem ${MEM_MB}M --cpus 1 --cmdline "$CMDLINE" --timeout 300 \
		--kernel-cache "/tmp/bench-kcache-$r"
	rm -rf "/tmp/bench-kcache-$r"
	[ -n "$p" ] && return 0 # warm-up: one ooh-l0 and one QEMU boot are enough
	measure "${p}ooh-l0-guest-dec" "$OOH_BIN/ooh-l0" --kernel "$OOH_L2/bzImage" \
		--initrd "$OOH_L2/initrd.cpio" --mem ${MEM_MB}M --cpus 1 --cmdline "$CMDLINE" \
		--timeout 300 --guest-decompress
	if [ -f "$inc/vmlinux" ]; then
		measure "${p}ooh-l0-vmlinux" "$OOH_BIN/ooh-l0" --kernel "$inc/vmlinux" \
			--initrd "$OOH_L2/initrd.cpio" --mem ${MEM_MB}M --cpus 1 --cmdline "$CMDLINE" \
			--timeout 300
	fi
	if [ -x "$inc/bin/qemu-system-x86_64" ] && [ -f "$inc/vmlinux" ]; then
		# shellcheck disable=SC2086
		measure "${p}qemu-microvm-pvh" $qemu $common -M microvm -kernel "$inc/vmlinux" \
			-initrd "$OOH_L2/initrd.cpio" -append "$CMDLINE"
	fi
	if [ -x "$inc/bin/qemu-system-x86_64" ]; then
		# shellcheck disable=SC2086 # word splitting of the option lists is intended
		measure "${p}qemu-pc" $qemu $common -M pc -kernel "$OOH_L2/bzImage" \
			-initrd "$OOH_L2/initrd.cpio" -append "$CMDLINE"
		# shellcheck disable=SC2086
		measure "${p}qemu-microvm" $qemu $common -M microvm -kernel "$OOH_L2/bzImage" \
			-initrd "$OOH_L2/initrd.cpio" -append "$CMDLINE"
	fi
}

l1_side() {
	inc=/ooh/include
	[ -f "$inc/runs" ] && RUNS=$(cat "$inc/runs")
	qemu="$inc/lib/ld-linux-x86-64.so.2 --library-path $inc/lib $inc/bin/qemu-system-x86_64 -L $inc/share"
	common="-enable-kvm -cpu host -m $MEM_MB -smp 1 -nodefaults -no-user-config -display none
		-serial stdio -monitor none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4"
	echo "OOH-BENCH config: $RUNS runs each, ${MEM_MB} MiB, 1 vCPU, cmdline '$CMDLINE'"
	# The first L2 boots in a fresh L1 also pay one-off costs (TCG
	# translating L1's KVM paths and each VMM's code the first time):
	# a warm-up round of ooh-l0 and QEMU -M pc, reported, not counted.
	{
		one_round warmup- 0
		if [ -x "$inc/bin/qemu-system-x86_64" ]; then
			# shellcheck disable=SC2086
			measure warmup-qemu-pc $qemu $common -M pc -kernel "$OOH_L2/bzImage" \
				-initrd "$OOH_L2/initrd.cpio" -append "$CMDLINE"
		fi
		i=0
		while [ "$i" -lt "$RUNS" ]; do
			i=$((i + 1))
			one_round "" "$i"
		done
	} 2>&1 | tee /tmp/bench.out
	echo "OOH-BENCH summary (median over $RUNS runs; ratios per run, ooh-l0 / QEMU):"
	for vmm in ooh-l0 ooh-l0-cold ooh-l0-guest-dec qemu-pc qemu-microvm ooh-l0-vmlinux qemu-microvm-pvh; do
		grep "^OOH-BENCH $vmm " /tmp/bench.out |
		sed 's/.*init_s=\([^ ]*\) .*vmm_rss_kib=\([^ ]*\).*/\1 \2/' |
		sort -n | awk -v vmm="$vmm" '{ t[NR] = $1; r[NR] = $2 }
			END { if (NR) printf "OOH-BENCH %-17s init %6.2f s   vmm rss %6.1f MiB\n",
				vmm, t[int((NR + 1) / 2)], r[int((NR + 1) / 2)] / 1024 }'
	done
	# Per run: each ooh-l0 row against each QEMU row of the same round.
	awk '/^OOH-BENCH [a-z]/ && !/warmup-/ && $3 ~ /^init_s=/ {
			name = $2; sub(/init_s=/, "", $3)
			if (name == "ooh-l0-cold") run++
			t[run, name] = $3
		}
		END {
			for (r = 1; r <= run; r++)
				for (o = 0; o < 3; o++) {
					ooh = o == 0 ? "ooh-l0" : o == 1 ? "ooh-l0-cold" : "ooh-l0-vmlinux"
					line = ""
					for (q = 0; q < 3; q++) {
						qe = q == 0 ? "qemu-pc" : q == 1 ? "qemu-microvm" : "qemu-microvm-pvh"
						if (t[r, ooh] > 0 && t[r, qe] > 0)
							line = line sprintf("  /%s %.2fx", qe, t[r, ooh] / t[r, qe])
					}
					if (line != "")
						printf "OOH-BENCH ratio run %d %-14s%s\n", r, ooh, line
				}
		}' /tmp/bench.out
}

if [ -n "${OOH_L2:-}" ]; then
	l1_side
else
	host_side "$@"
fi
