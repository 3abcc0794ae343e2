/*
 * OoH virtual SPP from a long-mode micro-guest (identity-mapped 4 GiB, 4 MiB
 * of RAM): protect sub-pages, write permitted and refused bytes, read the
 * violation record, send malformed batches. Results at RES + 8*n (read by
 * test-ooh-spp.c); exit 0 at the end.
 */
	.code64
	.text
	.set REQ, 0x200000
	.set RES, 0x210000
	.set REC, 0x230000
	.set BATCH, 0x240000
	.set DATA, 0x150000
	.set PORT, 0xef0
	.set SEQ, REC
	.set GPA, REC + 8
	.set WGPA, REC + 16
	.set LEN, REC + 24

	/* hc op, session, arg0, arg1, arg2, result slot */
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
	mov $(REQ >> 6), %eax
	mov $PORT, %dx
	out %eax, (%dx)
	movslq REQ+4, %rax
	mov %rax, RES + 8 * \slot
	.endm

	/* batch entry n: gpa, mask, reserved */
	.macro ent n, gpa, mask, rsv=0
	mov $\gpa, %rax
	mov %rax, BATCH + 16 * \n
	movl $\mask, BATCH + 16 * \n + 8
	movl $\rsv, BATCH + 16 * \n + 12
	.endm

	.macro save from, slot
	mov \from, %rax
	mov %rax, RES + 8 * \slot
	.endm

	hc 13, 0, REC, 0, 0, 0                  /* 0: REGISTER record, poll -> 0 */
	ent 0, DATA, 0xfffffffe                 /* sub-page 0 refused */
	ent 1, DATA + 0x2000, 0x0000ffff        /* upper half refused */
	hc 11, 0, BATCH, 2, 0, 1                /* 1: SET -> 2 */
	movb $0x11, DATA + 128                  /* permitted: lands */
	movb $0x22, DATA + 127                  /* refused */
	save SEQ, 2                             /* 2: seq 1 */
	save GPA, 3                             /* 3: DATA + 127 */
	mov $0x0102030405060708, %rax
	mov %rax, DATA + 120                    /* straddles: refused whole */
	save SEQ, 4                             /* 4: seq 2 */
	save GPA, 5                             /* 5: DATA + 120 */
	movl LEN, %eax
	mov %rax, RES + 8 * 6                   /* 6: 8 */
	movl $0x44444444, DATA + 0x2100         /* permitted */
	mov $0x5555555555555555, %rax
	mov %rax, DATA + 0x27fc                 /* refused from +0x800 on */
	save GPA, 7                             /* 7: DATA + 0x2800 */
	save WGPA, 8                            /* 8: DATA + 0x27fc */
	mov $(DATA + 0x27f0), %rdi              /* rep stosb over the boundary */
	mov $32, %rcx
	mov $0x66, %al
	rep stosb
	save SEQ, 9                             /* 9: > 3 */
	movb $0x77, DATA + 0x1005               /* unprotected page: lands */
	/* malformed */
	hc 11, 0, BATCH, 0, 0, 10               /* 10: count 0 -> -EINVAL */
	hc 11, 0, BATCH, 4097, 0, 11            /* 11: count > max -> -EINVAL */
	hc 11, 0, 0x500000, 1, 0, 12            /* 12: array outside RAM -> -EFAULT */
	ent 0, DATA + 0x10, 0
	hc 11, 0, BATCH, 1, 0, 13               /* 13: unaligned page -> -EINVAL */
	ent 0, 0x800000, 0
	hc 11, 0, BATCH, 1, 0, 14               /* 14: page outside RAM -> -EFAULT */
	ent 0, DATA + 0x1000, 0
	ent 1, DATA + 0x1000, 0
	hc 11, 0, BATCH, 2, 0, 15               /* 15: same page twice -> -EINVAL */
	ent 0, DATA + 0x1000, 0, 1
	hc 11, 0, BATCH, 1, 0, 16               /* 16: reserved set -> -EINVAL */
	ent 0, REC, 0
	hc 11, 0, BATCH, 1, 0, 17               /* 17: the record's page -> -EBUSY */
	ent 0, DATA + 0x1000, 0
	hc 11, 1, BATCH, 1, 0, 18               /* 18: a session -> -EINVAL */
	hc 13, 0, REC + 8, 0, 0, 19             /* 19: record unaligned -> -EINVAL */
	hc 13, 0, 0x500000, 0, 0, 20            /* 20: record outside RAM -> -EFAULT */
	hc 13, 0, REC, 7, 0, 21                 /* 21: bad notify -> -EINVAL */
	ent 0, DATA, 5
	hc 12, 0, BATCH, 1, 0, 22               /* 22: CLEAR with a mask -> -EINVAL */
	hc 12, 0, 0, 0, 5, 23                   /* 23: CLEAR bad flags -> -EINVAL */
	ent 0, DATA + 0x1000, 0
	ent 1, 0x900000, 0
	hc 11, 0, BATCH, 2, 0, 24               /* 24: half bad -> -EFAULT, nothing done */
	movb $0x88, DATA + 0x1006               /* still writable */
	movb $0x99, DATA + 5                    /* still refused */
	save SEQ, 25                            /* 25: seq of 9 + 1 */
	ent 0, DATA, 0
	hc 12, 0, BATCH, 1, 0, 26               /* 26: CLEAR DATA -> 1 */
	movb $0xaa, DATA + 5                    /* lands now */
	hc 12, 0, BATCH, 1, 0, 27               /* 27: CLEAR again -> 0 */
	hc 12, 0, 0, 0, 1, 28                   /* 28: CLEAR ALL -> 1 */
	movb $0xbb, DATA + 0x2900               /* lands now */
	hc 0, 0, 0, 0, 0, 29                    /* 29: PING: alive */
	save SEQ, 30                            /* 30: unchanged since 25 */
	/* a store crossing from a permitted end of one protected page into the
	 * refused start of the next: refused whole (KVM hands it in 2 pieces) */
	ent 0, DATA + 0x3000, 0xfffffffe
	ent 1, DATA + 0x4000, 0xfffffffe
	hc 11, 0, BATCH, 2, 0, 31               /* 31: SET -> 2 */
	mov $0x1122334455667788, %rax
	mov %rax, DATA + 0x3ffc                 /* refused whole */
	save GPA, 32                            /* 32: DATA + 0x4000 */
	save WGPA, 33                           /* 33: DATA + 0x3ffc */
	movl LEN, %eax
	mov %rax, RES + 8 * 34                  /* 34: 8 */
	mov %rax, DATA + 0x3ff8                 /* ends at the page end: lands */
	mov %rax, DATA + 0x3100                 /* 8 bytes inside: lands */
	save SEQ, 35                            /* 35: 30 + 1 */
	ent 0, DATA + 0x3000, 0xffffffff        /* every byte writable, kept */
	hc 11, 0, BATCH, 1, 0, 36               /* 36: SET -> 1 */
	movb $0x5a, DATA + 0x3001               /* lands (through l0) */
	mov $0, %al
	out %al, $0xf4
	hlt
