/*
 * Virtual SPP next to virtual PML: protected pages re-split guest RAM into
 * more memory slots while an SPML session logs; the log must keep exact
 * GPAs, include the writes l0 performs itself, and the slot budget
 * (OOH_L0_SPP_MAX_SLOTS=4, set by the test) must be enforced.
 */
	.code64
	.text
	.set REQ, 0x200000
	.set RES, 0x210000
	.set BATCH, 0x240000
	.set LOG, 0x300000
	.set DATA, 0x150000
	.set PORT, 0xef0

	.macro hc op, session, a0, a1, a2, slot
	movl $\op, REQ
	movl $0x7fffffff, REQ+4
	movl $\session, REQ+8
	movl $0, REQ+12
	mov $\a0, %rax
	mov %rax, REQ+16
	mov $\a1, %rax
	mov %rax, REQ+24
	mov $\a2, %rax
	mov %rax, REQ+32
	movq $0, REQ+40
	mov $(REQ >> 6), %eax
	mov $PORT, %dx
	out %eax, (%dx)
	movslq REQ+4, %rax
	mov %rax, RES + 8 * \slot
	.endm

	.macro ent n, gpa, mask
	mov $\gpa, %rax
	mov %rax, BATCH + 16 * \n
	movl $\mask, BATCH + 16 * \n + 8
	movl $0, BATCH + 16 * \n + 12
	.endm

	hc 1, 0, 1, LOG, 0x10000, 0             /* 0: OPEN SPML -> 1 */
	hc 3, 1, 0, 0, 0, 1                     /* 1: START -> 0 */
	ent 0, DATA + 0x3000, 0xfffffffe
	hc 11, 0, BATCH, 1, 0, 2                /* 2: SET -> 1 (3 slots) */
	movb $1, DATA + 0x3000 + 200            /* permitted: l0 writes, logged */
	movb $2, DATA + 0x3001                  /* refused */
	movb $3, DATA                           /* writable slot below */
	movb $4, DATA + 0x5000                  /* writable slot above */
	hc 5, 0, 0, 0, 0, 3                     /* 3: SYNC -> 0 */
	ent 0, DATA + 0x6000, 0xfffffffe
	hc 11, 0, BATCH, 1, 0, 4                /* 4: 5 slots > 4 -> -ENOSPC */
	ent 0, DATA + 0x4000, 0xffff0000
	hc 11, 0, BATCH, 1, 0, 5                /* 5: adjacent: 3 slots -> 1 */
	movb $5, DATA + 0x4900                  /* permitted */
	movb $6, DATA + 0x7000
	movb $7, DATA + 0x6000                  /* not protected (refused batch) */
	hc 4, 1, 0, 0, 0, 6                     /* 6: STOP -> 0 */
	hc 2, 1, 0, 0, 0, 7                     /* 7: CLOSE -> 0 */
	mov $0, %al
	out %al, $0xf4
	hlt
