// SPDX-License-Identifier: MIT
/*
 * Exit reason names come from the kernel's own tables (SVM_EXIT_REASONS,
 * VMX_EXIT_REASONS in the uapi headers), so they match what ftrace and
 * perf print; AMD's are lower case, Intel's upper case, as there.
 */
#include "names.h"
#include "ooh-kvmstat.h"

#include <linux/kvm.h>	/* the exception vectors SVM_EXIT_REASONS names */
#include <asm/svm.h>
#include <asm/vmx.h>
#include <ooh/hv-abi.h>
#include <stdlib.h>
#include <string.h>

struct code_name {
	uint32_t code;
	const char *name;
};

static const struct code_name svm_reasons[] = { SVM_EXIT_REASONS };
static const struct code_name vmx_reasons[] = { VMX_EXIT_REASONS };

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *lookup(const struct code_name *t, size_t n, uint32_t code)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].name;
	return NULL;
}

const char *kvmstat_exit_name(uint32_t isa, uint32_t reason)
{
	if (isa == KVMSTAT_ISA_SVM)
		return lookup(svm_reasons, LEN(svm_reasons), reason);
	if (isa == KVMSTAT_ISA_VMX)
		return lookup(vmx_reasons, LEN(vmx_reasons), reason);
	return NULL;
}

const char *kvmstat_isa_name(uint32_t isa)
{
	return isa == KVMSTAT_ISA_SVM ? "svm" : isa == KVMSTAT_ISA_VMX ? "vmx" : "unknown";
}

static const char *const uexit_names[] = {
	"unknown", "exception", "io", "hypercall", "debug", "hlt", "mmio",
	"irq_window_open", "shutdown", "fail_entry", "intr", "set_tpr",
	"tpr_access", "s390_sieic", "s390_reset", "dcr", "nmi",
	"internal_error", "osi", "papr_hcall", "s390_ucontrol", "watchdog",
	"s390_tsch", "epr", "system_event", "s390_stsi", "ioapic_eoi",
	"hyperv", "arm_nisv", "x86_rdmsr", "x86_wrmsr", "dirty_ring_full",
	"ap_reset_hold", "x86_bus_lock", "xen", "riscv_sbi", "riscv_csr",
	"notify",
};

const char *kvmstat_uexit_name(uint32_t reason)
{
	return reason < LEN(uexit_names) ? uexit_names[reason] : NULL;
}

/* enum ooh_hc_op, then ooh-kvmstat's own (ooh-kvmstat.h) */
static const char *const op_names[KVMSTAT_NR_OPS] = {
	[OOH_HC_PING] = "ping",
	[OOH_HC_SESSION_OPEN] = "session-open",
	[OOH_HC_SESSION_CLOSE] = "session-close",
	[OOH_HC_START] = "start",
	[OOH_HC_STOP] = "stop",
	[OOH_HC_SYNC] = "sync",
	[OOH_HC_SHADOW_REGISTER] = "shadow-register",
	[OOH_HC_VMWRITE] = "vmwrite",
	[OOH_HC_VMREAD] = "vmread",
	[OOH_HC_STATS] = "stats",
	[OOH_HC_SET_ROOT] = "set-root",
	[OOH_HC_SPP_SET] = "spp-set",
	[OOH_HC_SPP_CLEAR] = "spp-clear",
	[OOH_HC_SPP_REGISTER] = "spp-register",
	[KVMSTAT_OP_BAD_HC] = "bad-hypercall",
	[KVMSTAT_OP_SPP_PERMIT] = "spp-permit",
	[KVMSTAT_OP_SPP_REFUSE] = "spp-refuse",
	[KVMSTAT_OP_HARVEST] = "harvest",
};

_Static_assert(OOH_HC_NR_OPS <= KVMSTAT_OP_HC_MAX, "hypercall ops must fit below KVMSTAT_OP_BAD_HC");

const char *kvmstat_op_name(uint32_t op)
{
	return op < KVMSTAT_NR_OPS ? op_names[op] : NULL;
}

int kvmstat_op_parse(const char *s)
{
	char *end;
	long n = strtol(s, &end, 0);

	if (*s && !*end)
		return n >= 0 && n < OOH_HC_NR_OPS ? (int)n : -1;
	for (int i = 0; i < OOH_HC_NR_OPS; i++)
		if (op_names[i] && !strcmp(op_names[i], s))
			return i;
	return -1;
}
