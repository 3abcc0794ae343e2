// SPDX-License-Identifier: MIT
/* Interrupts: KVM's in-kernel PIC + IOAPIC + LAPIC and PIT; ISA IRQ lines. */
#include "x86.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

int l0_x86_irq_init(struct l0_vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		fprintf(stderr, "ooh-l0: KVM_CREATE_IRQCHIP: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		fprintf(stderr, "ooh-l0: KVM_CREATE_PIT2: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Drives an ISA IRQ line (PIC and IOAPIC pin of the same number). */
void l0_x86_set_irq_line(void *opaque, int irq, int level)
{
	struct l0_vm *vm = opaque;
	struct kvm_irq_level line = { .irq = (uint32_t)irq, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &line) < 0 && vm->cfg.verbose)
		fprintf(stderr, "ooh-l0: KVM_IRQ_LINE %d: %s\n", irq, strerror(errno));
}
