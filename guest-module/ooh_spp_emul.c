// SPDX-License-Identifier: GPL-2.0
/*
 * VEX-encoded stores into SPP-protected pages, done by the guest kernel.
 *
 * ooh-l0 enforces SPP with read-only memory slots: KVM emulates every
 * write to a protected page. The KVM of the rig (6.1) cannot decode
 * VEX-encoded instructions, and for user-mode code it then injects #UD
 * instead of exiting: glibc's AVX2 memset/memcpy into a protected page
 * would die of SIGILL. So at a user-mode #UD (die notifier, before the
 * kernel sends SIGILL) this file decodes the instruction; if it is a plain
 * VEX vector or scalar store (vmovdqu/vmovdqa/vmovups/vmovaps/vmovntdq,
 * vmovss/vmovsd, vmovd/vmovq, vmovlps/vmovhps) whose destination is a page
 * this process protects, it judges the store against the vectors: if a
 * byte is refused, nothing is written and the thread gets SIGSEGV at that
 * byte (as l0 would do); else the bytes are written with an ordinary
 * kernel copy (which KVM can emulate, and l0 checks again). Either way the
 * instruction is skipped. Anything else is left to the kernel (SIGILL).
 *
 * The same notifier takes l0's violation notification: #BR (vector 5,
 * which 64-bit code never raises) queued on the writing vCPU.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kdebug.h>
#include <linux/mm.h>
#include <linux/notifier.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/uaccess.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>
#include <asm/processor.h>
#include <asm/trapnr.h>
#include <ooh/hv-abi.h>

#include "ooh.h"

#define XSAVE_AVX_OFFSET	576	/* component 2, standard or compacted */
#define XFEATURE_BIT_SSE	(1ull << 1)
#define XFEATURE_BIT_YMM	(1ull << 2)

struct vex_store {
	unsigned int len;	/* instruction bytes */
	unsigned int reg;	/* source xmm/ymm */
	unsigned int size;	/* bytes stored */
	unsigned int src_off;	/* byte offset in the register (vmovhps) */
	unsigned long addr;	/* destination */
};

static unsigned long gpr(struct pt_regs *regs, unsigned int n)
{
	switch (n) {
	case 0: return regs->ax;
	case 1: return regs->cx;
	case 2: return regs->dx;
	case 3: return regs->bx;
	case 4: return regs->sp;
	case 5: return regs->bp;
	case 6: return regs->si;
	case 7: return regs->di;
	case 8: return regs->r8;
	case 9: return regs->r9;
	case 10: return regs->r10;
	case 11: return regs->r11;
	case 12: return regs->r12;
	case 13: return regs->r13;
	case 14: return regs->r14;
	default: return regs->r15;
	}
}

/* Bytes stored by opcode op (map 0F) with prefix pp, L and W; 0: not ours. */
static unsigned int store_size(u8 op, unsigned int pp, bool l, bool w,
			       unsigned int *src_off)
{
	unsigned int vec = l ? 32 : 16;

	*src_off = 0;
	switch (op) {
	case 0x11:	/* vmovups, vmovupd, vmovss, vmovsd */
		return pp <= 1 ? vec : pp == 2 ? 4 : 8;
	case 0x29:	/* vmovaps, vmovapd */
	case 0x2b:	/* vmovntps, vmovntpd */
		return pp <= 1 ? vec : 0;
	case 0x7f:	/* vmovdqa, vmovdqu */
		return pp == 1 || pp == 2 ? vec : 0;
	case 0xe7:	/* vmovntdq */
		return pp == 1 ? vec : 0;
	case 0xd6:	/* vmovq m64, xmm */
		return pp == 1 ? 8 : 0;
	case 0x7e:	/* vmovd/vmovq r/m, xmm */
		return pp == 1 ? (w ? 8 : 4) : 0;
	case 0x13:	/* vmovlps, vmovlpd */
		return pp <= 1 ? 8 : 0;
	case 0x17:	/* vmovhps, vmovhpd */
		*src_off = 8;
		return pp <= 1 ? 8 : 0;
	default:
		return 0;
	}
}

/* Decodes the instruction at regs->ip; false if it is not a store of ours. */
static bool decode(struct pt_regs *regs, const u8 *b, unsigned int avail,
		   struct vex_store *st)
{
	unsigned int i = 0, pp, map, mod, reg, rm, base, index, scale;
	bool r, x, bb, w, l, addr32 = false, sib;
	unsigned long ea = 0;
	u8 op, modrm;
	s32 disp = 0;

	for (; i < 4 && i < avail; i++) {
		if (b[i] == 0x67)
			addr32 = true;
		else if (b[i] != 0x2e && b[i] != 0x3e && b[i] != 0x26 &&
			 b[i] != 0x36)
			break; /* fs/gs overrides are not handled */
	}
	if (i + 4 > avail)
		return false;
	if (b[i] == 0xc5) {
		r = !(b[i + 1] & 0x80);
		x = false;
		bb = false;
		w = false;
		l = b[i + 1] & 0x04;
		pp = b[i + 1] & 3;
		map = 1;
		i += 2;
	} else if (b[i] == 0xc4) {
		r = !(b[i + 1] & 0x80);
		x = !(b[i + 1] & 0x40);
		bb = !(b[i + 1] & 0x20);
		map = b[i + 1] & 0x1f;
		w = b[i + 2] & 0x80;
		l = b[i + 2] & 0x04;
		pp = b[i + 2] & 3;
		i += 3;
	} else {
		return false;
	}
	if (map != 1 || i + 2 > avail)
		return false;
	op = b[i++];
	modrm = b[i++];
	mod = modrm >> 6;
	reg = ((modrm >> 3) & 7) | (r ? 8 : 0);
	rm = modrm & 7;
	if (mod == 3)
		return false; /* register destination: never a store */
	st->size = store_size(op, pp, l, w, &st->src_off);
	if (!st->size)
		return false;
	sib = rm == 4;
	if (sib) {
		if (i + 1 > avail)
			return false;
		scale = 1u << (b[i] >> 6);
		index = ((b[i] >> 3) & 7) | (x ? 8 : 0);
		base = (b[i] & 7) | (bb ? 8 : 0);
		i++;
		if (index != 4)
			ea += gpr(regs, index) * scale;
		if (mod == 0 && (base & 7) == 5)
			mod = 4; /* disp32, no base */
		else
			ea += gpr(regs, base);
	} else if (mod == 0 && rm == 5) {
		mod = 5; /* RIP-relative */
	} else {
		ea += gpr(regs, rm | (bb ? 8 : 0));
	}
	if (mod == 1) {
		if (i + 1 > avail)
			return false;
		disp = (s8)b[i];
		i += 1;
	} else if (mod == 2 || mod == 4 || mod == 5) {
		if (i + 4 > avail)
			return false;
		disp = (s32)(b[i] | b[i + 1] << 8 | b[i + 2] << 16 |
			     (u32)b[i + 3] << 24);
		i += 4;
	}
	st->len = i;
	ea += (long)disp;
	if (mod == 5)
		ea += regs->ip + i;
	if (addr32)
		ea = (u32)ea;
	st->addr = ea;
	st->reg = reg;
	return true;
}

/* The source bytes from the user's saved register state. */
static void source_bytes(const struct vex_store *st, u8 *out)
{
	struct fxregs_state *fx;
	u8 *xsave, full[32];
	u64 bv;

	kernel_fpu_begin_mask(0); /* saves the user's registers to fpstate */
	xsave = (u8 *)&current->thread.fpu.fpstate->regs.xsave;
	fx = (struct fxregs_state *)xsave;
	bv = current->thread.fpu.fpstate->regs.xsave.header.xfeatures;
	memset(full, 0, sizeof(full));
	if (bv & XFEATURE_BIT_SSE)
		memcpy(full, (u8 *)fx->xmm_space + 16 * st->reg, 16);
	if (bv & XFEATURE_BIT_YMM)
		memcpy(full + 16, xsave + XSAVE_AVX_OFFSET + 16 * st->reg, 16);
	kernel_fpu_end();
	memcpy(out, full + st->src_off, st->size);
}

static bool ooh_spp_emulate(struct pt_regs *regs)
{
	struct vex_store st;
	unsigned long a, refused = 0;
	bool ours = false;
	u8 insn[15], data[32];
	u32 mask;
	int n;

	n = 15 - copy_from_user_nofault(insn, (void __user *)regs->ip, 15);
	if (n <= 0)
		n = 0;
	if (!decode(regs, insn, n, &st) || st.addr >= TASK_SIZE_MAX ||
	    st.addr + st.size > TASK_SIZE_MAX)
		return false;
	for (a = st.addr; a < st.addr + st.size; a++) {
		if (!ooh_spp_mask_of(a, &mask))
			continue;
		ours = true;
		if (!refused && !(mask & (1u << ((a & ~PAGE_MASK) >>
						 OOH_SPP_SUBPAGE_SHIFT))))
			refused = a;
	}
	if (!ours)
		return false; /* not a protected page: a genuine #UD */
	if (refused) {
		ooh_spp_report_va(refused);
	} else {
		source_bytes(&st, data);
		if (copy_to_user_nofault((void __user *)st.addr, data, st.size))
			return false; /* not mapped after all: let it fault */
	}
	regs->ip += st.len;
	return true;
}

static int ooh_spp_die(struct notifier_block *nb, unsigned long val,
		       void *data)
{
	struct die_args *args = data;

	if (val != DIE_TRAP)
		return NOTIFY_DONE;
	/* l0's violation notification (user or kernel mode) */
	if (args->trapnr == X86_TRAP_BR)
		return ooh_spp_bound_trap() ? NOTIFY_STOP : NOTIFY_DONE;
	if (args->trapnr != X86_TRAP_UD || !user_mode(args->regs))
		return NOTIFY_DONE;
	return ooh_spp_emulate(args->regs) ? NOTIFY_STOP : NOTIFY_DONE;
}

static struct notifier_block ooh_spp_die_nb = {
	.notifier_call = ooh_spp_die,
};

int ooh_spp_emul_init(void)
{
	return register_die_notifier(&ooh_spp_die_nb);
}

void ooh_spp_emul_exit(void)
{
	unregister_die_notifier(&ooh_spp_die_nb);
}
