// SPDX-License-Identifier: MIT
#include "bus.h"

#include <string.h>

void l0_bus_init(struct l0_bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int l0_bus_register(struct l0_bus *bus, uint64_t base, uint64_t len, l0_io_handler handler,
		    void *opaque, const char *name)
{
	if (len == 0 || base + len < base || !handler || bus->nr_devices == L0_BUS_MAX_DEVICES)
		return -1;
	for (int i = 0; i < bus->nr_devices; i++)
		if (ranges_overlap(base, len, bus->device[i].base, bus->device[i].len))
			return -1;
	bus->device[bus->nr_devices++] = (struct l0_bus_device){ base, len, handler, opaque, name };
	return 0;
}

bool l0_bus_dispatch(const struct l0_bus *bus, struct l0_vcpu *vcpu, uint64_t addr, uint8_t *data,
		     unsigned len, bool is_write)
{
	/* Few devices: a linear scan is faster than anything clever. */
	for (int i = 0; i < bus->nr_devices; i++) {
		const struct l0_bus_device *dev = &bus->device[i];

		if (addr >= dev->base && addr - dev->base < dev->len) {
			dev->handler(dev->opaque, vcpu, addr - dev->base, data, len, is_write);
			return true;
		}
	}
	return false;
}
