/* SPDX-License-Identifier: MIT */
/*
 * The tiny KVM guest: 16-bit real-mode code that prints a greeting on port
 * 0x10, computes 6 * 7 and reports it on port 0x11, then halts. Assembled
 * into the host program's .rodata; kvm-tiny.c copies it to guest address
 * TINY_LOAD_ADDR (0x1000), so absolute addresses are offsets from there.
 */
	.section .rodata
	.globl	tiny_guest_code, tiny_guest_code_end
	.code16
tiny_guest_code:
	xor	%ax, %ax
	mov	%ax, %ds
	mov	$(greeting - tiny_guest_code + 0x1000), %si
	cld
1:	lodsb
	test	%al, %al
	jz	2f
	out	%al, $0x10
	jmp	1b
2:	mov	$6, %al
	mov	$7, %bl
	mul	%bl
	out	%al, $0x11
	hlt
greeting:
	.asciz	"hello from a tiny KVM guest\n"
tiny_guest_code_end:
	.code64
	.section .note.GNU-stack,"",@progbits
