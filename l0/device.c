// SPDX-License-Identifier: MIT
/* A VM's device list (device.h). */
#include "device.h"
#include "exit-codes.h"

#include <stdio.h>
#include <string.h>


int l0_device_add(struct l0_device_list *list, struct l0_vm *vm, const struct l0_device_ops *ops,
		  const char *arg)
{
	struct l0_device *dev;
	int err;

	if (list->nr == L0_MAX_DEVICES) {
		fprintf(stderr, "ooh-l0: too many devices (at most %d)\n", L0_MAX_DEVICES);
		return L0_EXIT_USAGE;
	}
	dev = &list->device[list->nr];
	*dev = (struct l0_device){ .ops = ops, .vm = vm, .arg = arg };
	err = ops->realize ? ops->realize(dev) : 0;
	if (err)
		return err;
	list->nr++;
	return 0;
}

void l0_devices_destroy(struct l0_device_list *list)
{
	while (list->nr > 0) {
		struct l0_device *dev = &list->device[--list->nr];

		if (dev->ops->destroy)
			dev->ops->destroy(dev);
	}
}

int l0_devices_vcpu_init(struct l0_device_list *list, struct l0_vcpu *vcpu)
{
	for (int i = 0; i < list->nr; i++) {
		struct l0_device *dev = &list->device[i];
		int err = dev->ops->vcpu_init ? dev->ops->vcpu_init(dev, vcpu) : 0;

		if (err)
			return err;
	}
	return 0;
}

void l0_devices_before_run(struct l0_device_list *list, struct l0_vcpu *vcpu)
{
	for (int i = 0; i < list->nr; i++)
		if (list->device[i].ops->before_run)
			list->device[i].ops->before_run(&list->device[i], vcpu);
}

enum l0_exit_claim l0_devices_exit(struct l0_device_list *list, struct l0_vcpu *vcpu)
{
	for (int i = 0; i < list->nr; i++) {
		struct l0_device *dev = &list->device[i];
		enum l0_exit_claim claim = dev->ops->exit ? dev->ops->exit(dev, vcpu) : L0_EXIT_NOT_MINE;

		if (claim != L0_EXIT_NOT_MINE)
			return claim;
	}
	return L0_EXIT_NOT_MINE;
}

int l0_devices_cmdline(struct l0_device_list *list, char *buf, size_t size)
{
	size_t len = strnlen(buf, size);

	for (int i = 0; i < list->nr; i++) {
		struct l0_device *dev = &list->device[i];
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

bool l0_devices_control(struct l0_device_list *list, const char *cmd, struct l0_reply *r)
{
	for (int i = 0; i < list->nr; i++) {
		struct l0_device *dev = &list->device[i];

		if (dev->ops->control && dev->ops->control(dev, cmd, r))
			return true;
	}
	return false;
}

void l0_devices_guest_written(struct l0_device_list *list, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < list->nr; i++)
		if (list->device[i].ops->guest_written)
			list->device[i].ops->guest_written(&list->device[i], gpa, len);
}

struct l0_device *l0_device_find(struct l0_device_list *list, const struct l0_device_ops *ops)
{
	for (int i = 0; i < list->nr; i++)
		if (list->device[i].ops == ops)
			return &list->device[i];
	return NULL;
}
