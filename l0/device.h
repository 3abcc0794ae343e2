/* SPDX-License-Identifier: MIT */
/*
 * The device model. A device is a struct l0_device with a table of
 * optional hooks; the VM holds the list. Port and MMIO accesses reach a
 * device through the buses it claimed ranges on (bus.h), interrupts leave
 * it through l0_vm_set_irq (vm.h); everything else the VMM core does with devices
 * (vCPU set-up, the moment before each KVM_RUN, exits no bus took, the
 * kernel command line, control-socket commands) goes through these hooks,
 * so the core knows no device by name.
 *
 * Lifetime: l0_device_add (before any vCPU exists) calls realize; the
 * vCPUs are created; the VM runs; after its vCPU threads have stopped,
 * destroy runs, last added first.
 */
#ifndef L0_DEVICE_H
#define L0_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define L0_MAX_DEVICES 16

struct l0_vm;
struct l0_vcpu;
struct l0_device;
struct l0_reply;

enum l0_exit_claim {
	L0_EXIT_NOT_MINE,   /* ask the next device */
	L0_EXIT_TAKEN,      /* handled; run the vCPU again */
	L0_EXIT_REDISPATCH, /* handled, and kvm_run now holds another exit */
};

struct l0_device_ops {
	const char *name;
	/* Claims bus ranges and IRQ lines; 0 or an L0_EXIT_* code, message printed. */
	int (*realize)(struct l0_device *dev);
	void (*destroy)(struct l0_device *dev);
	int (*vcpu_init)(struct l0_device *dev, struct l0_vcpu *vcpu);
	/* On the vCPU's thread before each KVM_RUN (may wait: a harvest gate). */
	void (*before_run)(struct l0_device *dev, struct l0_vcpu *vcpu);
	/* A KVM exit no bus took: MMIO outside every range, internal error, ... */
	enum l0_exit_claim (*exit)(struct l0_device *dev, struct l0_vcpu *vcpu);
	/* Kernel command line words for this device, snprintf-style. */
	int (*cmdline)(struct l0_device *dev, char *buf, size_t size);
	/* A control-socket command: true if this device answers cmd. */
	bool (*control)(struct l0_device *dev, const char *cmd, struct l0_reply *r);
	/*
	 * Another device wrote [gpa, gpa+len) of guest RAM from ooh-l0 (DMA):
	 * KVM's dirty log never sees such writes (the OoH device records them).
	 */
	void (*guest_written)(struct l0_device *dev, uint64_t gpa, uint64_t len);
	/* Its "devices" entry: ,"key":value pairs (counters, options). */
	void (*describe)(struct l0_device *dev, struct l0_reply *r);
};

struct l0_device {
	const struct l0_device_ops *ops;
	struct l0_vm *vm;
	const char *arg;    /* its option's value (e.g. --disk's), or NULL */
	void *priv;         /* the device's own state, set by realize */
};

/* What a VM is configured with: one per device, realized in this order. */
struct l0_device_spec {
	const struct l0_device_ops *ops;
	const char *arg;
};

/* A VM's devices, in the order they were added. */
struct l0_device_list {
	int nr;
	struct l0_device device[L0_MAX_DEVICES];
};

/* Realizes a device of vm and adds it to the list: 0 or an L0_EXIT_* code. */
int l0_device_add(struct l0_device_list *list, struct l0_vm *vm, const struct l0_device_ops *ops,
		  const char *arg);
void l0_devices_destroy(struct l0_device_list *list);
int l0_devices_vcpu_init(struct l0_device_list *list, struct l0_vcpu *vcpu);
void l0_devices_before_run(struct l0_device_list *list, struct l0_vcpu *vcpu);
enum l0_exit_claim l0_devices_exit(struct l0_device_list *list, struct l0_vcpu *vcpu);
/* Appends each device's command line words (space-separated) to buf. */
int l0_devices_cmdline(struct l0_device_list *list, char *buf, size_t size);
bool l0_devices_control(struct l0_device_list *list, const char *cmd, struct l0_reply *r);
void l0_devices_guest_written(struct l0_device_list *list, uint64_t gpa, uint64_t len);
/* The first device of this type, or NULL. */
struct l0_device *l0_device_find(struct l0_device_list *list, const struct l0_device_ops *ops);

#endif
