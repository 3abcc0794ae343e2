/* SPDX-License-Identifier: MIT */
/* OOH_EXIT_PORT: the guest hands ooh-l0 its exit status (exit-port.c). */
#ifndef L0_EXIT_PORT_H
#define L0_EXIT_PORT_H

struct l0_vm;

int l0_exit_port_register(struct l0_vm *vm);

#endif
