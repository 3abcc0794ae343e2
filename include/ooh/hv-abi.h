/* SPDX-License-Identifier: MIT */
/*
 * OoH hypervisor <-> guest ABI: the one header shared by ooh-l0 (l0/) and
 * ooh.ko (guest-module/). Discovery (CPUID leaves), hypercalls, the
 * shadow-VMCS control page and the dirty-log ring format live here.
 * See docs/abi.md.
 */
#ifndef OOH_HV_ABI_H
#define OOH_HV_ABI_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
#endif

#endif /* OOH_HV_ABI_H */
