# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034  # kernel, build, TOP, RIG_DIR come from
# ooh-rig, and XEN_QEMU_ARGS goes back to it
# The Xen rig, sourced by l1/ooh-rig: Xen 4.17 under QEMU with a Debian-
# kernel dom0 that runs the toolstack, and a PVH domU image. Built from
# installed packages only (xen-hypervisor-4.17-amd64, xen-utils-4.17, the
# Debian kernel) plus this tree's build output.

XEN_GZ=${XEN_GZ:-$(ls /boot/xen-4.*-amd64.gz 2>/dev/null | sort -V | tail -1)}
XEN_LIBEXEC=${XEN_LIBEXEC:-$(ls -d /usr/lib/xen-4.* 2>/dev/null | sort -V | tail -1)/bin}

# xen_vmlinux BZIMAGE OUT: the raw vmlinux ELF inside a bzImage. Xen boots
# it as dom0 (and as a PVH domU) ~5 s faster than the bzImage.
xen_vmlinux() {
	local bz=$1 out=$2 off tmp
	off=$(perl -0777 -ne 'print index($_, "\xfd7zXZ\x00")' "$bz")
	[ "$off" -ge 0 ] || die "$bz: no xz payload found (only xz-compressed kernels are supported)"
	tmp=$(mktemp "$out.XXXXXX")
	# xz stops at the end of its stream and complains about what follows.
	tail -c +$((off + 1)) "$bz" | xz -dc 2>/dev/null >"$tmp" || true
	file -b "$tmp" | grep -q '^ELF 64-bit' || die "$bz: the extracted payload is not an ELF vmlinux"
	mv "$tmp" "$out"
}

# xen_cr2_livepatch XEN_ELF OUT: a Xen livepatch (Debian's Xen has
# CONFIG_LIVEPATCH) for QEMU 10 TCG, whose SVM (unlike 7.2's) reports every
# guest MOV from CRn as a CR0-read intercept. Xen intercepts CR0 reads, so it
# emulates the guest's CR2 reads from its own copy of CR2, which 4.17 never
# syncs on VMEXIT (an upstream patch of 2026-05 does): a PVH domU dies in its
# first page fault. The patch makes that read return the CPU's CR2, which
# #VMEXIT leaves holding the guest's. Xen refuses it unless its build id
# matches and the function starts with the 27 bytes below (Debian's 4.17.7).
xen_cr2_livepatch() {
	local xen=$1 out=$2 bid self src note sym='arch/x86/hvm/emulate.c#hvmemul_read_cr'
	local expect=f30f1efa85ff740d8d57feb80100000083fa02773b4883ec1089fa
	bid=$(readelf -n "$xen" | awk '/Build ID:/ { print $3 }')
	[ ${#bid} = 40 ] || die "$xen: no 20-byte build id"
	self=$(printf 'ooh-cr2 %s' "$bid" | sha1sum | cut -c1-40)
	src=$(mktemp "$out.XXXXXX")
	{
		cat <<-EOF
		.text
		.type ooh_read_cr, @function
		ooh_read_cr:		# (reg, *val, ctxt), as hvmemul_read_cr
		endbr64
		cmp \$2, %edi
		jne 1f
		mov %cr2, %rax
		mov %rax, (%rsi)
		xor %eax, %eax
		ret
		1: test %edi, %edi
		je 2f
		lea -2(%rdi), %edx
		cmp \$2, %edx
		ja 3f
		2: jmp "$sym" + 0x15	# the original's CR0/CR3/CR4 path
		3: mov \$1, %eax	# X86EMUL_UNHANDLEABLE
		ret
		ooh_read_cr_end:
		.size ooh_read_cr, .-ooh_read_cr
		.section .rodata.str, "a", @progbits
		name: .asciz "$sym"
		.section .livepatch.funcs, "aw", @progbits	# struct livepatch_func
		.p2align 3
		.quad name, ooh_read_cr, "$sym"
		.long ooh_read_cr_end - ooh_read_cr, 32
		.byte 2			# LIVEPATCH_PAYLOAD_VERSION
		.fill 39, 1, 0
		.byte 1 | (27 << 1)	# expect: enabled, 27 bytes
		.byte $(xen_hex_bytes "$expect")
		.fill 4, 1, 0
		EOF
		for note in .note.gnu.build-id:"$self" .livepatch.depends:"$bid" .livepatch.xen_depends:"$bid"; do
			printf '.section %s, "a", @note\n.p2align 2\n.long 4, 20, 3\n.asciz "GNU"\n.byte %s\n' \
				"${note%%:*}" "$(xen_hex_bytes "${note#*:}")"
		done
	} >"$src"
	as --64 -o "$out" "$src" || die "could not assemble the Xen CR2 livepatch ($src)"
	rm -f "$src"
}
xen_hex_bytes() { echo "$1" | sed 's/../0x&,/g; s/,$//'; }

build_xen_images() {
	local kver=${kernel#*/vmlinuz-} out=$build/rig/xen dom0 domu prog tool
	[ -n "$XEN_GZ" ] || die "no /boot/xen-4.*-amd64.gz: apt-get install xen-hypervisor-4.17-amd64 xen-utils-4.17 (make deps)"
	[ -x "$XEN_LIBEXEC/xl" ] || die "no $XEN_LIBEXEC/xl: apt-get install xen-utils-4.17 (make deps)"
	mkdir -p "$out"
	dom0=$(mktemp -d) domu=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$dom0' '$domu'" RETURN

	say "building Xen rig images ($(basename "$XEN_GZ"), $kver as dom0 and PVH domU)"
	zcat "$XEN_GZ" >"$out/xen.elf.tmp" && mv "$out/xen.elf.tmp" "$out/xen.elf"
	xen_cr2_livepatch "$out/xen.elf" "$out/ooh-cr2.livepatch"
	[ "$out/vmlinux" -nt "$kernel" ] || xen_vmlinux "$kernel" "$out/vmlinux"

	image_skeleton "$domu"
	install -m 755 "$RIG_DIR/init-domu" "$domu/init"
	mkdir -p "$domu/ooh/xen"
	add_programs "$domu"
	cp -r "$TOP/tests" "$domu/ooh/tests"
	printf '#!/bin/sh\necho "ooh-domu: default payload: idle"\nsleep 3600\n' >"$domu/ooh/xen/run-default"
	image_pack "$domu" "$out/domu.cpio"

	image_skeleton "$dom0"
	install -m 755 "$RIG_DIR/init-dom0" "$dom0/init"
	image_add_modules "$dom0" "$kver" ooh/modules.xen xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc
	for tool in xl xenstored xenconsoled xen-init-dom0 xen-livepatch; do
		image_add_program "$dom0" "$XEN_LIBEXEC/$tool" /usr/lib/xen/bin
	done
	image_add_program "$dom0" /usr/bin/xenstore /usr/bin
	# xl dlopens nothing but aborts without libgcc_s (pthread_cancel).
	image_add_program "$dom0" "$(ldconfig -p | awk '/libgcc_s.so.1 .*x86-64/ { print $NF; exit }')" /lib/x86_64-linux-gnu
	mkdir -p "$dom0/etc/xen"
	echo '# xl defaults: none needed by the rig' >"$dom0/etc/xen/xl.conf"
	add_programs "$dom0"
	cp -r "$TOP/tests" "$dom0/ooh/tests"
	mkdir -p "$dom0/ooh/xen"
	cp "$out/vmlinux" "$dom0/ooh/xen/vmlinux"
	cp "$out/domu.cpio" "$dom0/ooh/xen/domu.cpio"
	cp "$out/ooh-cr2.livepatch" "$dom0/ooh/xen/ooh-cr2.livepatch"
	[ -n "${PAYLOAD_FILE:-}" ] && install -m 755 "$PAYLOAD_FILE" "$dom0/ooh/payload"
	image_pack "$dom0" "$out/dom0.cpio"
	say "Xen images: $out/dom0.cpio ($(du -h "$out/dom0.cpio" | cut -f1)), domU $(du -h "$out/domu.cpio" | cut -f1)"
}

# xen_qemu_args RUN: the QEMU arguments that boot Xen with dom0.
xen_qemu_args() {
	local run=$1 out=$build/rig/xen fix=
	# Only TCG's SVM has the CR-read bug (xen_cr2_livepatch).
	[[ ${ACCEL_ARGS[1]} == tcg* ]] && fix=' ooh.xen-cr2-fix'
	XEN_QEMU_ARGS=(-kernel "$out/xen.elf"
		-append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 loglvl=warning guest_loglvl=warning"
		-initrd "$out/vmlinux console=hvc0 earlyprintk=xen quiet ooh.run=$run$fix,$out/dom0.cpio")
}
