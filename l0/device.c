// SPDX-License-Identifier: MIT
/* The device list of a VM and the resources devices claim (device.h). */
#include "device.h"
#include "exit-codes.h"
#include "vm.h"

#include <stdio.h>
#include <string.h>

/* Device MMIO windows: in the hole, below the IOAPIC (0xfec00000). */
#define L0_DEVICE_MMIO_BASE  0xd0000000ull
#define L0_DEVICE_MMIO_LIMIT 0xfe000000ull

/* ISA lines no legacy device of ours drives (4: COM1, 8: RTC, 10: OoH). */
static const int free_isa_irqs[] = { 5, 6, 7, 9, 11, 12, 14, 15 };

int l0_device_add(struct l0_vm *vm, const struct l0_device_ops *ops, const char *arg)
{
	struct l0_device *dev;
	int err;

	if (vm->nr_devices == L0_MAX_DEVICES) {
		fprintf(stderr, "ooh-l0: too many devices (at most %d)\n", L0_MAX_DEVICES);
		return L0_EXIT_USAGE;
	}
	dev = &vm->device[vm->nr_devices];
	*dev = (struct l0_device){ .ops = ops, .vm = vm, .arg = arg };
	err = ops->realize ? ops->realize(dev) : 0;
	if (err)
		return err;
	vm->nr_devices++;
	return 0;
}

void l0_devices_destroy(struct l0_vm *vm)
{
	while (vm->nr_devices > 0) {
		struct l0_device *dev = &vm->device[--vm->nr_devices];

		if (dev->ops->destroy)
			dev->ops->destroy(dev);
	}
}

int l0_devices_vcpu_init(struct l0_vm *vm, struct l0_vcpu *vcpu)
{
	for (int i = 0; i < vm->nr_devices; i++) {
		struct l0_device *dev = &vm->device[i];
		int err = dev->ops->vcpu_init ? dev->ops->vcpu_init(dev, vcpu) : 0;

		if (err)
			return err;
	}
	return 0;
}

void l0_devices_before_run(struct l0_vm *vm, struct l0_vcpu *vcpu)
{
	for (int i = 0; i < vm->nr_devices; i++)
		if (vm->device[i].ops->before_run)
			vm->device[i].ops->before_run(&vm->device[i], vcpu);
}

enum l0_exit_claim l0_devices_exit(struct l0_vm *vm, struct l0_vcpu *vcpu)
{
	for (int i = 0; i < vm->nr_devices; i++) {
		struct l0_device *dev = &vm->device[i];
		enum l0_exit_claim claim = dev->ops->exit ? dev->ops->exit(dev, vcpu) : L0_EXIT_NOT_MINE;

		if (claim != L0_EXIT_NOT_MINE)
			return claim;
	}
	return L0_EXIT_NOT_MINE;
}

int l0_devices_cmdline(struct l0_vm *vm, char *buf, size_t size)
{
	size_t len = strnlen(buf, size);

	for (int i = 0; i < vm->nr_devices; i++) {
		struct l0_device *dev = &vm->device[i];
		int n;

		if (!dev->ops->cmdline)
			continue;
		if (len + 1 >= size)
			return -1;
		if (len > 0)
			buf[len++] = ' ';
		buf[len] = '\0';
		n = dev->ops->cmdline(dev, buf + len, size - len);
		if (n < 0 || (size_t)n >= size - len)
			return -1;
		len += (size_t)n;
	}
	return 0;
}

bool l0_devices_control(struct l0_vm *vm, const char *cmd, struct l0_reply *r)
{
	for (int i = 0; i < vm->nr_devices; i++) {
		struct l0_device *dev = &vm->device[i];

		if (dev->ops->control && dev->ops->control(dev, cmd, r))
			return true;
	}
	return false;
}

struct l0_device *l0_device_find(struct l0_vm *vm, const struct l0_device_ops *ops)
{
	for (int i = 0; i < vm->nr_devices; i++)
		if (vm->device[i].ops == ops)
			return &vm->device[i];
	return NULL;
}

uint64_t l0_device_mmio_alloc(struct l0_vm *vm, uint64_t size)
{
	uint64_t base = vm->mmio_next ? vm->mmio_next : L0_DEVICE_MMIO_BASE;

	size = (size + 4095) & ~4095ull;
	if (size == 0 || size > L0_DEVICE_MMIO_LIMIT - base)
		return 0;
	vm->mmio_next = base + size;
	return base;
}

int l0_device_irq_alloc(struct l0_vm *vm)
{
	for (size_t i = 0; i < sizeof(free_isa_irqs) / sizeof(free_isa_irqs[0]); i++) {
		int irq = free_isa_irqs[i];

		if (!(vm->irqs_used & (1u << irq))) {
			vm->irqs_used |= 1u << irq;
			return irq;
		}
	}
	return -1;
}

void l0_device_set_irq(struct l0_vm *vm, int irq, int level)
{
	if (vm->set_irq)
		vm->set_irq(vm, irq, level);
}
