// SPDX-License-Identifier: MIT
/* OOH_EXIT_PORT: the guest hands ooh-l0 its exit status. */
#include "exit-port.h"
#include "exit-codes.h"
#include "vm.h"

#include <ooh/hv-abi.h>

static void exit_port_io(void *opaque, struct l0_vcpu *vcpu, uint64_t offset,
			 uint8_t *data, unsigned len, bool is_write)
{
	(void)vcpu;
	struct l0_vm *vm = opaque;

	if (!is_write) {
		/* Reads tell a probing guest the port is ours: "OoH!" bytes. */
		static const uint8_t id[4] = { 'O', 'o', 'H', '!' };
		for (unsigned i = 0; i < len; i++)
			data[i] = (offset + i < 4) ? id[offset + i] : 0xff;
		return;
	}
	if (offset != 0)
		return; /* only a write at the base carries a status */
	l0_vm_request_stop(vm, L0_STOP_EXIT_PORT, data[0], "guest exit status %u", data[0]);
}

int l0_exit_port_register(struct l0_vm *vm)
{
	return l0_bus_register(&vm->pio, OOH_EXIT_PORT, 4, exit_port_io, vm, "ooh-exit");
}
