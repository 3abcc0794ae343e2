// SPDX-License-Identifier: GPL-2.0
/*
 * Finds ooh-l0 below us: scans the hypervisor CPUID leaf range for the OoH
 * signature, the way Linux finds KVM's, so no base is hard-coded.
 */
#include <asm/cpufeature.h>
#include <asm/processor.h>
#include <ooh/hv-abi.h>

#include "ooh.h"

void ooh_discover(struct ooh_hv *hv)
{
	u32 base, eax, ebx, ecx, edx, range;

	memset(hv, 0, sizeof(*hv));
	if (!boot_cpu_has(X86_FEATURE_HYPERVISOR))
		return;
	for (base = OOH_CPUID_SCAN_FIRST; base <= OOH_CPUID_SCAN_LAST;
	     base += OOH_CPUID_SCAN_STEP) {
		cpuid(base + OOH_CPUID_LEAF_SIGNATURE, &eax, &ebx, &ecx, &edx);
		if (ebx != OOH_CPUID_SIGNATURE_EBX ||
		    ecx != OOH_CPUID_SIGNATURE_ECX ||
		    edx != OOH_CPUID_SIGNATURE_EDX)
			continue;
		/* A range too short to hold the feature leaf is not ours. */
		if (eax < base + OOH_CPUID_LEAF_FEATURES)
			continue;
		range = eax;
		cpuid(base + OOH_CPUID_LEAF_FEATURES, &eax, &ebx, &ecx, &edx);
		hv->present = true;
		hv->cpuid_base = base;
		hv->abi_version = eax;
		hv->features = ebx;
		if ((ebx & OOH_FEAT_HYPERCALL) && edx && edx <= 0xffff)
			hv->hc_port = edx;
		else
			hv->features &= ~(OOH_FEAT_HYPERCALL | OOH_FEAT_SPML |
					  OOH_FEAT_EPML | OOH_FEAT_SHADOW);
		if (range >= base + OOH_CPUID_LEAF_PML) {
			cpuid(base + OOH_CPUID_LEAF_PML, &eax, &ebx, &ecx,
			      &edx);
			hv->notify_gsi = eax;
			hv->max_log_bytes = ecx;
		}
		return;
	}
}
