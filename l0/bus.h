/* SPDX-License-Identifier: MIT */
/*
 * A tiny I/O bus: devices claim [base, base+len) in port or MMIO space and
 * get a callback with the offset. Registration happens before the vCPUs
 * start, so lookups take no lock; devices lock their own state.
 */
#ifndef L0_BUS_H
#define L0_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define L0_BUS_MAX_DEVICES 32

struct l0_vcpu;

/*
 * data points at len (1..8) bytes: filled on reads, consumed on writes.
 * vcpu is the vCPU that made the access (NULL from tests and other threads).
 */
typedef void (*l0_io_handler)(void *opaque, struct l0_vcpu *vcpu, uint64_t offset,
			      uint8_t *data, unsigned len, bool is_write);

struct l0_bus_device {
	uint64_t base;
	uint64_t len;
	l0_io_handler handler;
	void *opaque;
	const char *name;
};

struct l0_bus {
	const char *name;            /* "pio" or "mmio", for messages */
	int nr_devices;
	struct l0_bus_device device[L0_BUS_MAX_DEVICES];
};

void l0_bus_init(struct l0_bus *bus, const char *name);
/* 0, or -1 if the range is empty, overlaps another device or the bus is full. */
int l0_bus_register(struct l0_bus *bus, uint64_t base, uint64_t len, l0_io_handler handler,
		    void *opaque, const char *name);
/* True if a device took the access; false leaves data untouched. */
bool l0_bus_dispatch(const struct l0_bus *bus, struct l0_vcpu *vcpu, uint64_t addr, uint8_t *data,
		     unsigned len, bool is_write);

#endif
