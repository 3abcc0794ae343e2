/* SPDX-License-Identifier: MIT */
/*
 * OoH hypervisor <-> guest ABI: the one header shared by ooh-l0 (l0/) and
 * ooh.ko (guest-module/). Discovery (CPUID leaves), hypercalls, the
 * shadow-VMCS control page and the dirty-log ring format live here.
 * See docs/abi.md.
 */
#ifndef OOH_HV_ABI_H
#define OOH_HV_ABI_H

/* __u8..__u64: the kernel's own types, from uapi headers in userspace. */
#include <linux/types.h>

/*
 * Discovery: a hypervisor CPUID leaf range carrying the OoH signature.
 *
 * ooh-l0 puts it at OOH_CPUID_BASE and leaves KVM's own range
 * ("KVMKVMKVM\0\0\0") at 0x40000000, so an unmodified guest keeps kvmclock
 * and the other KVM paravirt features. Guests must not hard-code the base:
 * scan OOH_CPUID_SCAN_FIRST..OOH_CPUID_SCAN_LAST in steps of
 * OOH_CPUID_SCAN_STEP (as Linux does for KVM) and compare the signature.
 *
 *   leaf base+0: eax = highest OoH leaf (base + OOH_CPUID_NR_LEAVES - 1)
 *                ebx, ecx, edx = OOH_CPUID_SIGNATURE_{EBX,ECX,EDX}
 *   leaf base+1: eax = ABI version (OOH_ABI_VERSION), ebx = feature bits
 *                (OOH_FEAT_*), ecx = exit port (OOH_EXIT_PORT), edx = 0
 */
#define OOH_CPUID_BASE          0x40000100u
#define OOH_CPUID_SCAN_FIRST    0x40000000u
#define OOH_CPUID_SCAN_LAST     0x4000ff00u
#define OOH_CPUID_SCAN_STEP     0x100u
#define OOH_CPUID_LEAF_SIGNATURE 0u     /* offset from the base */
#define OOH_CPUID_LEAF_FEATURES  1u
#define OOH_CPUID_NR_LEAVES      2u

/* "OoHOoHOoHOoH" as little-endian register contents, ebx:ecx:edx */
#define OOH_CPUID_SIGNATURE     "OoHOoHOoHOoH"
#define OOH_CPUID_SIGNATURE_EBX 0x4f486f4fu /* "OoHO" */
#define OOH_CPUID_SIGNATURE_ECX 0x6f4f486fu /* "oHOo" */
#define OOH_CPUID_SIGNATURE_EDX 0x486f4f48u /* "HOoH" */

#define OOH_ABI_VERSION_MAJOR   0u
#define OOH_ABI_VERSION_MINOR   1u
#define OOH_ABI_VERSION         ((OOH_ABI_VERSION_MAJOR << 16) | OOH_ABI_VERSION_MINOR)

/* Feature bits in leaf base+1 ebx. */
#define OOH_FEAT_EXIT_PORT      (1u << 0)

/*
 * Exit port: a guest payload writes its exit status (low 8 bits of a 1, 2
 * or 4 byte OUT) to this I/O port; ooh-l0 stops the VM and exits with that
 * status. Same port as QEMU's customary isa-debug-exit (iobase=0xf4), so
 * the same payload also ends a QEMU run (QEMU exits with status*2+1).
 */
#define OOH_EXIT_PORT           0x00f4u

#endif /* OOH_HV_ABI_H */
