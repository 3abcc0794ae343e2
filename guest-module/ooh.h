/* SPDX-License-Identifier: GPL-2.0 */
/* Internal declarations of ooh.ko (not an ABI: see include/ooh/). */
#ifndef OOH_MODULE_H
#define OOH_MODULE_H

#include <linux/types.h>

/* What the hypervisor below offers, found once at load time. */
struct ooh_hv {
	bool present;
	u32 cpuid_base;
	u32 abi_version;
	u32 features;
};

void ooh_discover(struct ooh_hv *hv);

#endif /* OOH_MODULE_H */
