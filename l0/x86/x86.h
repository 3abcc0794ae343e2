/* SPDX-License-Identifier: MIT */
/* x86-specific parts of ooh-l0: CPU state, interrupts, legacy devices, boot. */
#ifndef L0_X86_H
#define L0_X86_H

#include "../vm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/*
 * Fixed low-memory layout used for both Linux and micro-guests.
 * Everything below 1 MiB except the MP table area is ordinary RAM.
 */
#define L0_X86_GDT_ADDR      0x0500ull
#define L0_X86_PML4_ADDR     0x1000ull
#define L0_X86_PDPT_ADDR     0x2000ull
#define L0_X86_PD_ADDR       0x3000ull  /* 4 PDs: identity map of 4 GiB in 2 MiB pages */
#define L0_X86_ZERO_PAGE     0x7000ull
#define L0_X86_CMDLINE_ADDR  0x20000ull
#define L0_X86_CMDLINE_MAX   0x10000ull
#define L0_X86_STACK_TOP     0x8ff0ull  /* micro-guests' initial stack */
#define L0_X86_EBDA_START    0x9fc00ull /* MP table lives here; reserved in e820 */
#define L0_X86_KERNEL_ADDR   0x100000ull
#define L0_X86_TSS_ADDR      0xfffbd000ull /* 3 pages KVM wants on Intel, in the hole */

#define L0_X86_SEL_CODE64    0x10 /* Linux __BOOT_CS */
#define L0_X86_SEL_DATA      0x18 /* Linux __BOOT_DS */
#define L0_X86_SEL_TSS       0x20

/* x86/cpu.c */
int l0_x86_vm_init(struct l0_vm *vm);          /* irqchip, PIT, TSS, supported CPUID */
/* Adds the OoH discovery leaves (vm->ooh_cpuid), once the devices exist. */
int l0_x86_cpuid_finish(struct l0_vm *vm);
int l0_x86_vcpu_init(struct l0_vcpu *vcpu);    /* CPUID, FPU, LAPIC LINT pins */
/* Writes GDT and identity page tables for long mode into guest RAM. */
int l0_x86_build_boot_tables(struct l0_memory *mem);
int l0_x86_setup_long_mode(struct l0_vcpu *vcpu, uint64_t rip, uint64_t rsi, uint64_t rsp);
int l0_x86_setup_real_mode(struct l0_vcpu *vcpu, uint16_t cs, uint16_t ip, uint16_t sp);
/* Halted with interrupts off, or never started (an AP nobody woke). */
int l0_x86_vcpu_halted_for_good(struct l0_vcpu *vcpu, bool *halted);
bool l0_x86_host_is_kvm_pvm(void);

/* x86/vcpu-state.c: a vCPU's paging mode; its registers when its guest died */
/* Is the vCPU on 5-level paging (CR4.LA57)? Called on the vCPU's thread. */
bool l0_x86_vcpu_paging_5level(struct l0_vcpu *vcpu);
void l0_x86_dump_vcpu(struct l0_vcpu *vcpu, FILE *out);

/* x86/irq.c */
int l0_x86_irq_init(struct l0_vm *vm);
void l0_x86_set_irq_line(void *vm, int irq, int level);

/* x86/legacy.c: i8042 reset line, port 0xcf9 reset, CMOS RTC */
int l0_x86_legacy_register(struct l0_vm *vm);

/* x86/mptable.c: MP spec 1.4 table so Linux finds the CPUs and the IOAPIC */
size_t l0_x86_mptable_size(int nr_cpus);
int l0_x86_write_mptable(struct l0_memory *mem, uint64_t gpa, int nr_cpus);

/* x86/boot.c: Linux x86 boot protocol, 64-bit entry */
struct l0_x86_boot_info {
	uint64_t entry;          /* startup_64 */
	uint64_t zero_page;
	uint64_t kernel_end;     /* load address + init_size */
	uint64_t initrd_addr;
	uint64_t initrd_size;
	uint16_t protocol;       /* boot protocol version, e.g. 0x020f */
};
/* Returns 0 or an L0_EXIT_* code, message printed. */
int l0_x86_load_linux(struct l0_memory *mem, const uint8_t *kernel, size_t kernel_size,
		      const uint8_t *initrd, size_t initrd_size, const char *cmdline,
		      int nr_cpus, struct l0_x86_boot_info *info);
struct l0_x86_boot_options {
	bool guest_decompress;      /* boot a bzImage as is, through its decompressor */
	const char *kernel_cache;   /* directory of decompressed kernels, or NULL */
};
/* What l0_x86_load_image booted, for ooh-l0's verbose line. */
struct l0_x86_load_report {
	bool from_cache;            /* the vmlinux came from the kernel cache */
	bool decompressed;          /* a vmlinux from a bzImage (decompressed or cached) */
	double t_extract;           /* CLOCK_MONOTONIC ms once the vmlinux was had */
};
/*
 * A kernel image and initrd already in memory (the part of
 * l0_x86_boot_linux after the files are mapped; the fuzzer's entry,
 * tests/fuzz/l0-kernel-loader): host decompression or the cache unless
 * opts->guest_decompress, then l0_x86_load_linux. 0 or an L0_EXIT_* code.
 */
int l0_x86_load_image(struct l0_vm *vm, const uint8_t *kernel, size_t kernel_size,
		      const uint8_t *initrd, size_t initrd_size, const char *cmdline,
		      const struct l0_x86_boot_options *opts, struct l0_x86_boot_info *info,
		      struct l0_x86_load_report *report);
/* Maps the files, loads them, points vCPU 0 at the kernel. */
int l0_x86_boot_linux(struct l0_vm *vm, const char *kernel_path, const char *initrd_path,
		      const char *cmdline, const struct l0_x86_boot_options *opts);
/*
 * x86/bzimage-extract.c: decompress a bzImage's payload on the host into
 * *vmlinux (malloc'd ELF). 0 on success, 1 if the payload is not one we
 * decompress (boot the bzImage as is), or an L0_EXIT_* code.
 */
int l0_x86_bzimage_extract(const uint8_t *kernel, size_t kernel_size, uint8_t **vmlinux,
			   size_t *vmlinux_size);
/* Copies a flat binary (micro-guest) into RAM at gpa. */
int l0_x86_load_flat(struct l0_memory *mem, uint64_t gpa, const void *code, size_t size);

#endif
