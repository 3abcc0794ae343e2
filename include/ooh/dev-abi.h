/* SPDX-License-Identifier: MIT */
/*
 * OoH kernel <-> user ABI: the /dev/ooh ioctls, shared by ooh.ko
 * (guest-module/) and libooh (ooh-lib/). See docs/abi.md.
 */
#ifndef OOH_DEV_ABI_H
#define OOH_DEV_ABI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define OOH_DEV_NAME		"ooh"
#define OOH_DEV_ABI_VERSION	1
#define OOH_IOC_MAGIC		0xB5

/* Version and what the hypervisor below offers. */
struct ooh_dev_info {
	__u32 abi_version;	/* OOH_DEV_ABI_VERSION of the module */
	__u32 hv_present;	/* 1 when the OoH CPUID signature was found */
	__u32 hv_abi_version;	/* hypervisor ABI version, 0 if absent */
	__u32 hv_features;	/* OOH_HV_F_* bits offered by l0 */
};

#define OOH_IOC_GET_INFO	_IOR(OOH_IOC_MAGIC, 0x00, struct ooh_dev_info)

#endif /* OOH_DEV_ABI_H */
