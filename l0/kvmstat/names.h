/* SPDX-License-Identifier: MIT */
/* Names ooh-kvmstat prints: exit reasons (Intel, AMD), KVM_RUN returns, OoH ops. */
#ifndef OOH_KVMSTAT_NAMES_H
#define OOH_KVMSTAT_NAMES_H

#include <stdint.h>

#define KVMSTAT_ISA_VMX 1	/* kvm_exit's isa field, as KVM_ISA_VMX */
#define KVMSTAT_ISA_SVM 2

/* "io", "npf", ... (SVM, lower case as the kernel's table); NULL if unknown. */
const char *kvmstat_exit_name(uint32_t isa, uint32_t reason);
const char *kvmstat_isa_name(uint32_t isa);
/* KVM_EXIT_* as the kernel prints it without the prefix, lower case. */
const char *kvmstat_uexit_name(uint32_t reason);
/* "ping", "spp-permit", ...; NULL for an index with no name. */
const char *kvmstat_op_name(uint32_t op);
/* The op index of a name or number, or -1. */
int kvmstat_op_parse(const char *s);

#endif
