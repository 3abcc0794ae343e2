// SPDX-License-Identifier: MIT
/*
 * x86 CPU state: CPUID (KVM's supported set plus the OoH leaves), FPU and
 * LAPIC reset values, the identity page tables and GDT the Linux 64-bit
 * boot protocol wants, and real-mode entry for micro-guests.
 */
#include "x86.h"
#include "../exit-codes.h"

#include <ooh/hv-abi.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CPUID_MAX_ENTRIES 256
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

#define CR0_PE 0x00000001ull
#define CR0_ET 0x00000010ull
#define CR0_NE 0x00000020ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x00000020ull
#define EFER_LME 0x00000100ull
#define EFER_LMA 0x00000400ull

#define PTE_PRESENT 0x1ull
#define PTE_WRITE   0x2ull
#define PTE_HUGE    0x80ull

static struct kvm_cpuid2 *get_supported_cpuid(int kvm_fd)
{
	size_t size = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *cpuid = calloc(1, size);

	if (!cpuid)
		return NULL;
	cpuid->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		fprintf(stderr, "ooh-l0: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
		free(cpuid);
		return NULL;
	}
	return cpuid;
}

/* Adds (or replaces) the OoH discovery leaves; keeps KVM's at 0x40000000. */
static int add_ooh_leaves(struct kvm_cpuid2 *cpuid, const struct l0_vm *vm)
{
	uint32_t features = vm->ooh_cpuid.features;
	struct kvm_cpuid_entry2 leaves[OOH_CPUID_NR_LEAVES] = {
		{ .function = OOH_CPUID_BASE + OOH_CPUID_LEAF_SIGNATURE,
		  .eax = OOH_CPUID_BASE + OOH_CPUID_NR_LEAVES - 1,
		  .ebx = OOH_CPUID_SIGNATURE_EBX, .ecx = OOH_CPUID_SIGNATURE_ECX,
		  .edx = OOH_CPUID_SIGNATURE_EDX },
		{ .function = OOH_CPUID_BASE + OOH_CPUID_LEAF_FEATURES,
		  .eax = OOH_ABI_VERSION, .ebx = OOH_FEAT_EXIT_PORT | features, .ecx = OOH_EXIT_PORT,
		  .edx = (features & OOH_FEAT_HYPERCALL) ? OOH_HC_PORT : 0 },
		{ .function = OOH_CPUID_BASE + OOH_CPUID_LEAF_PML,
		  .eax = vm->ooh_cpuid.gsi, .ebx = OOH_MAX_SESSIONS, .ecx = OOH_LOG_MAX_BYTES,
		  .edx = OOH_SHADOW_NR_FIELDS },
	};

	for (unsigned i = 0; i < OOH_CPUID_NR_LEAVES; i++) {
		uint32_t n;

		for (n = 0; n < cpuid->nent; n++)
			if (cpuid->entries[n].function == leaves[i].function)
				break;
		if (n == cpuid->nent) {
			if (cpuid->nent == CPUID_MAX_ENTRIES)
				return -1;
			cpuid->nent++;
		}
		cpuid->entries[n] = leaves[i];
	}
	return 0;
}

int l0_x86_vm_init(struct l0_vm *vm)
{
	/* Intel VMX needs these three pages somewhere unused; harmless elsewhere. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)L0_X86_TSS_ADDR) < 0 && vm->cfg.verbose)
		fprintf(stderr, "ooh-l0: KVM_SET_TSS_ADDR: %s (ignored)\n", strerror(errno));
	if (vm->cfg.irqchip && l0_x86_irq_init(vm) != 0)
		return L0_EXIT_INTERNAL;
	vm->cpuid = get_supported_cpuid(vm->kvm_fd);
	if (!vm->cpuid)
		return L0_EXIT_INTERNAL;
	/*
	 * The in-kernel LAPIC always emulates TSC-deadline mode (in software
	 * if need be) but KVM leaves advertising it to us; firecracker sets it
	 * unconditionally too. Without it Linux calibrates the LAPIC timer
	 * against the PIT, which fails under nested TCG and leaves the guest
	 * with no tick once idle (sleep never returns).
	 */
	if (vm->cfg.irqchip)
		for (uint32_t i = 0; i < vm->cpuid->nent; i++)
			if (vm->cpuid->entries[i].function == 1)
				vm->cpuid->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
	return 0;
}

int l0_x86_cpuid_finish(struct l0_vm *vm)
{
	return add_ooh_leaves(vm->cpuid, vm) == 0 ? 0 : L0_EXIT_INTERNAL;
}

static int set_vcpu_cpuid(struct l0_vcpu *vcpu)
{
	const struct kvm_cpuid2 *base = vcpu->vm->cpuid;
	size_t size = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(size);
	int ret;

	if (!cpuid)
		return -1;
	memcpy(cpuid, base, size);
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 1) {
			/* Initial APIC ID = vCPU index, as the MP table says. */
			e->ebx = (e->ebx & 0x00ffffffu) | ((uint32_t)vcpu->id << 24);
			/*
			 * KVM does not report the "running on a hypervisor"
			 * bit as supported; without it guests never look at
			 * the 0x4000xxxx leaves, ours included.
			 */
			e->ecx |= 1u << 31;
		} else if (e->function == 0xb || e->function == 0x1f) {
			e->edx = (uint32_t)vcpu->id; /* x2APIC ID */
		}
	}
	ret = ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid);
	if (ret < 0)
		fprintf(stderr, "ooh-l0: KVM_SET_CPUID2: %s\n", strerror(errno));
	free(cpuid);
	return ret;
}

/* LAPIC LVT registers inside struct kvm_lapic_state */
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static void set_lvt_mode(struct kvm_lapic_state *lapic, unsigned reg, uint32_t mode)
{
	uint32_t value;

	memcpy(&value, &lapic->regs[reg], sizeof(value));
	value = (value & ~0x700u) | (mode << 8);
	memcpy(&lapic->regs[reg], &value, sizeof(value));
}

/* Legacy wiring: PIC output on LINT0, NMI on LINT1 (what firmware would do). */
static int set_lint(struct l0_vcpu *vcpu)
{
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -1;
	set_lvt_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	set_lvt_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic);
}

int l0_x86_vcpu_init(struct l0_vcpu *vcpu)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (set_vcpu_cpuid(vcpu) < 0)
		return L0_EXIT_INTERNAL;
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0) {
		fprintf(stderr, "ooh-l0: KVM_SET_FPU: %s\n", strerror(errno));
		return L0_EXIT_INTERNAL;
	}
	if (vcpu->vm->cfg.irqchip && set_lint(vcpu) < 0) {
		fprintf(stderr, "ooh-l0: LAPIC setup: %s\n", strerror(errno));
		return L0_EXIT_INTERNAL;
	}
	return 0;
}

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

int l0_x86_build_boot_tables(struct l0_memory *mem)
{
	uint64_t *gdt = l0_gpa_to_host(mem, L0_X86_GDT_ADDR, 5 * sizeof(uint64_t));
	uint64_t *pml4 = l0_gpa_to_host(mem, L0_X86_PML4_ADDR, 4096);
	uint64_t *pdpt = l0_gpa_to_host(mem, L0_X86_PDPT_ADDR, 4096);
	uint64_t *pd = l0_gpa_to_host(mem, L0_X86_PD_ADDR, 4 * 4096);

	if (!gdt || !pml4 || !pdpt || !pd)
		return -1;
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[L0_X86_SEL_CODE64 / 8] = gdt_entry(0xa09b, 0, 0xfffff); /* 64-bit code, present */
	gdt[L0_X86_SEL_DATA / 8] = gdt_entry(0xc093, 0, 0xfffff);   /* flat data */
	gdt[L0_X86_SEL_TSS / 8] = gdt_entry(0x808b, 0, 0xfffff);    /* busy TSS, for VMX */

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = L0_X86_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (L0_X86_PD_ADDR + i * 4096) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_HUGE;
	return 0;
}

static void set_segment(struct kvm_segment *seg, uint16_t selector, uint8_t type, bool code64)
{
	*seg = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = code64 ? 0 : 1, .s = 1, .l = code64 ? 1 : 0, .g = 1,
	};
}

int l0_x86_setup_long_mode(struct l0_vcpu *vcpu, uint64_t rip, uint64_t rsi, uint64_t rsp)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = rip, .rsi = rsi, .rsp = rsp, .rflags = 0x2 };

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	set_segment(&sregs.cs, L0_X86_SEL_CODE64, 0xb, true);
	set_segment(&sregs.ds, L0_X86_SEL_DATA, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .selector = L0_X86_SEL_TSS, .limit = 0xffff, .type = 0xb,
					  .present = 1 };
	sregs.gdt.base = L0_X86_GDT_ADDR;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr3 = L0_X86_PML4_ADDR;
	sregs.cr4 = CR4_PAE;
	sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	return ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 ? -1 : 0;
}

int l0_x86_setup_real_mode(struct l0_vcpu *vcpu, uint16_t cs, uint16_t ip, uint16_t sp)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = ip, .rsp = sp, .rflags = 0x2 };

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	sregs.cs.selector = cs;
	sregs.cs.base = (uint64_t)cs << 4;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = sregs.cs;
	sregs.ds.type = sregs.es.type = sregs.ss.type = sregs.fs.type = sregs.gs.type = 0x3;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	return ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 ? -1 : 0;
}

int l0_x86_vcpu_halted_for_good(struct l0_vcpu *vcpu, bool *halted)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0)
		return -1;
	if (vcpu->vm->cfg.verbose > 1) {
		ioctl(vcpu->fd, KVM_GET_REGS, &regs);
		fprintf(stderr, "ooh-l0: vCPU %d mp_state %u rflags 0x%llx rip 0x%llx\n", vcpu->id,
			mp.mp_state, (unsigned long long)regs.rflags, (unsigned long long)regs.rip);
	}
	switch (mp.mp_state) {
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_INIT_RECEIVED:
		*halted = true;  /* an AP that was never started (or was stopped) */
		vcpu->halt_rip = 0;
		return 0;
	case KVM_MP_STATE_HALTED:
		if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
			return -1;
		*halted = !(regs.rflags & 0x200); /* IF clear: only an NMI could wake it */
		vcpu->halt_rip = regs.rip;
		return 0;
	default:
		*halted = false;
		return 0;
	}
}

/*
 * kvm_pvm (the "PVM" KVM flavour that runs without VMX/SVM) is what this
 * project's development machines have; a stock Linux guest hangs on it.
 * We can only see it from outside: the module is loaded and the CPU lacks
 * hardware virtualization flags.
 */
bool l0_x86_host_is_kvm_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}
