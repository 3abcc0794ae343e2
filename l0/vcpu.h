/* SPDX-License-Identifier: MIT */
/* One thread per vCPU: KVM_RUN and exit dispatch (vcpu.c). */
#ifndef L0_VCPU_H
#define L0_VCPU_H

#include "vm.h"

/* 0 or an L0_EXIT_* code. */
int l0_vcpu_create(struct l0_vm *vm, int id);
void l0_vcpu_destroy(struct l0_vcpu *vcpu);
int l0_vcpu_start(struct l0_vcpu *vcpu);

#endif
