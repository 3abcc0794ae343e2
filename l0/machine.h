/* SPDX-License-Identifier: MIT */
/* Building a VM from its parts, running it, tearing it down (machine.c). */
#ifndef L0_MACHINE_H
#define L0_MACHINE_H

#include "vm.h"

/* Defaults: 256 MiB, one vCPU, the in-kernel irqchip, the OoH device. */
void l0_vm_config_defaults(struct l0_vm_config *cfg);
/* Adds a device (cfg->devices); 0, or -1 when the table is full. */
int l0_vm_config_add_device(struct l0_vm_config *cfg, const struct l0_device_ops *ops,
			    const char *arg);

/* Returns NULL and sets *exit_code (an L0_EXIT_*) on failure. */
struct l0_vm *l0_vm_create(const struct l0_vm_config *cfg, int *exit_code);
void l0_vm_destroy(struct l0_vm *vm);

struct l0_control;

struct l0_run_options {
	int timeout_ms;             /* 0: none */
	int signal_fd;              /* signalfd with SIGINT/SIGTERM, or -1 */
	struct l0_control *control; /* control socket, or NULL */
};

/* Runs the vCPUs until the VM stops; returns the process exit code. */
int l0_vm_run(struct l0_vm *vm, const struct l0_run_options *opts);

#endif
