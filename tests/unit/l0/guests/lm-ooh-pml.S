/*
 * OoH virtual PML from a long-mode micro-guest (identity-mapped 4 GiB).
 * Hypercall results go to RES + 8*n (read by test-ooh-pml.c); exit 0 at
 * the end. Layout: request block REQ, shadow page SHADOW, SPML log LOG1,
 * EPML log LOG2, data pages DATA.. (see the test for what it expects).
 */
	.code64
	.text
	.set REQ, 0x200000
	.set RES, 0x210000
	.set SHADOW, 0x220000
	.set LOG1, 0x300000
	.set LOG2, 0x310000
	.set DATA, 0x150000
	.set PORT, 0xef0

	/* hc op, session, arg0, arg1, arg2, arg3, result slot */
	.macro hc op, session, a0, a1, a2, a3, slot
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
	mov $\a3, %rax
	mov %rax, REQ+40
	mov $(REQ >> 6), %eax
	mov $PORT, %dx
	out %eax, (%dx)
	movslq REQ+4, %rax
	mov %rax, RES + 8 * \slot
	.endm

	hc 0, 0, 0, 0, 0, 0, 0                  /* 0: PING -> ABI version */
	hc 6, 0, SHADOW, 0, 0, 0, 1             /* 1: SHADOW_REGISTER -> 0 */
	hc 1, 0, 1, LOG1, 0x4000, 0, 2          /* 2: OPEN SPML -> 1 */
	hc 1, 0, 2, LOG2, 0x4000, 0x1000, 3     /* 3: OPEN EPML, root = our PML4 -> 2 */
	hc 3, 1, 0, 0, 0, 0, 4                  /* 4: START 1 */
	hc 3, 2, 0, 0, 0, 0, 5                  /* 5: START 2 */
	/* EPML context 2 runs here: plain stores to the shadow page, no exit */
	movq $2, SHADOW + 64 + 16 * 3 + 8       /* EPML_ENABLE = bit 1 */
	movq $2, SHADOW + 64 + 16 * 4 + 8       /* EPML_SEEN |= bit 1 */
	movb $1, DATA
	movb $1, DATA + 0x1000
	movb $1, DATA + 0x3000
	hc 5, 0, 0, 0, 0, 0, 6                  /* 6: SYNC (seq 1) */
	movb $2, DATA                           /* written again: logged again */
	movq $0, SHADOW + 64 + 16 * 3 + 8       /* context 2 switched out */
	hc 5, 0, 0, 0, 0, 0, 7                  /* 7: SYNC (seq 2) */
	movb $3, DATA + 0x5000                  /* context 2 not running: SPML only */
	hc 4, 1, 0, 0, 0, 0, 8                  /* 8: STOP 1 (seq 3) */
	hc 4, 2, 0, 0, 0, 0, 9                  /* 9: STOP 2 */
	/* malformed requests */
	hc 99, 0, 0, 0, 0, 0, 10                /* 10: unknown op -> -ENOSYS */
	hc 1, 0, 1, LOG1 + 0x2000, 0x4000, 0, 11 /* 11: log overlaps session 1 -> -EBUSY */
	hc 1, 0, 1, 0xbfff0000, 0x4000, 0, 12   /* 12: log outside RAM -> -EFAULT */
	hc 1, 0, 1, 0x330000, 0x3000, 0, 13     /* 13: size not a power of 2 -> -EINVAL */
	hc 3, 42, 0, 0, 0, 0, 14                /* 14: no session 42 -> -ENOENT */
	hc 1, 0, 1, SHADOW, 0x1000, 0, 15       /* 15: log over the shadow page -> -EBUSY */
	hc 9, 0, 0xbffff000, 64, 0, 0, 16       /* 16: stats outside RAM -> -EFAULT */
	hc 1, 0, 2, 0x330000, 0x1000, 0xbfe00000, 17 /* 17: EPML root outside RAM -> -EFAULT */
	hc 1, 0, 7, 0x330000, 0x1000, 0, 18     /* 18: bad mode -> -EINVAL */
	hc 1, 0, 1, 0x331000, 0x1000, 0, 19     /* 19: unaligned... aligned log: ok -> 3 */
	hc 2, 3, 0, 0, 0, 0, 20                 /* 20: CLOSE 3 -> 0 */
	hc 2, 3, 0, 0, 0, 0, 21                 /* 21: CLOSE 3 again -> -ENOENT */
	hc 7, 0, 0x0812, 5, 0, 0, 22            /* 22: VMWRITE PML index -> -EPERM */
	hc 7, 0, 0x200e, 0x12345000, 0, 0, 23   /* 23: VMWRITE PML address not a log -> -EINVAL */
	hc 7, 0, 0x200e, LOG1, 0, 0, 24         /* 24: VMWRITE PML address = log 1 -> 0 */
	hc 8, 0, 0x200e, 0, 0, 0, 25            /* 25: VMREAD -> 0, value in REQ+24 */
	mov REQ+24, %rax
	mov %rax, RES + 8 * 26                  /* 26: the value read */
	hc 9, 0, RES + 0x800, 0x80, 0, 0, 27    /* 27: STATS (first 128 bytes) at RES+0x800 */
	/* unparsable OUTs: a GPA outside RAM, a 16-bit OUT, a 32-bit IN */
	mov $0xffffffff, %eax
	mov $PORT, %dx
	out %eax, (%dx)
	out %ax, (%dx)
	in (%dx), %eax
	mov %rax, RES + 8 * 28                  /* 28: IN reads the floating bus */
	hc 0, 0, 0, 0, 0, 0, 29                 /* 29: still alive: PING */
	mov $0, %al
	out %al, $0xf4
	hlt
