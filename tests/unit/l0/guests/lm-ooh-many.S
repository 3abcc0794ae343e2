/*
 * Writes many pages under an SPML session: log bytes at PARAM, page count
 * at PARAM+8 (set by the test). Results at RES + 8*n; exit 0.
 */
	.code64
	.text
	.set REQ, 0x200000
	.set RES, 0x210000
	.set PARAM, 0x208000
	.set LOG, 0x300000
	.set DATA, 0x100000
	.set PORT, 0xef0

	.macro hc_go slot
	movl $0x7fffffff, REQ+4
	movl $0, REQ+12
	mov $(REQ >> 6), %eax
	mov $PORT, %dx
	out %eax, (%dx)
	movslq REQ+4, %rax
	mov %rax, RES + 8 * \slot
	.endm

	movl $1, REQ			/* OPEN SPML LOG, [PARAM] bytes */
	movl $0, REQ+8
	movq $1, REQ+16
	movq $LOG, REQ+24
	mov PARAM, %rax
	mov %rax, REQ+32
	movq $0, REQ+40
	hc_go 0
	mov RES, %rbx			/* session id */
	movl $3, REQ			/* START */
	mov %ebx, REQ+8
	hc_go 1
	mov PARAM+8, %rcx
	mov $DATA, %rdi
1:	movb $1, (%rdi)
	add $0x1000, %rdi
	dec %rcx
	jnz 1b
	movl $5, REQ			/* SYNC */
	movl $0, REQ+8
	hc_go 2
	movl $4, REQ			/* STOP */
	mov %ebx, REQ+8
	hc_go 3
	mov $0, %al
	out %al, $0xf4
	hlt
