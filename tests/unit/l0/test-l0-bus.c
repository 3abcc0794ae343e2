// SPDX-License-Identifier: MIT
/* Port I/O dispatch: the bus itself, then a real-mode micro-guest on KVM. */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "exit-codes.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct access_log {
	int count;
	struct access { uint64_t offset; unsigned len; uint64_t value; bool write; } entry[16];
	uint8_t next_read;
};

static void logging_device(void *opaque, struct l0_vcpu *vcpu, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)vcpu;
	struct access_log *log = opaque;
	uint64_t value = 0;

	if (!is_write)
		memset(data, log->next_read++, len);
	memcpy(&value, data, len);
	if (log->count < 16)
		log->entry[log->count++] = (struct access){ offset, len, value, is_write };
}

START_TEST(bus_rejects_overlaps_and_empty_ranges)
{
	struct l0_bus bus;
	struct access_log log = { 0 };

	l0_bus_init(&bus, "test");
	ck_assert_int_eq(l0_bus_register(&bus, 0x100, 8, logging_device, &log, "a"), 0);
	ck_assert_int_eq(l0_bus_register(&bus, 0x107, 2, logging_device, &log, "overlap"), -1);
	ck_assert_int_eq(l0_bus_register(&bus, 0x0ff, 2, logging_device, &log, "overlap"), -1);
	ck_assert_int_eq(l0_bus_register(&bus, 0x200, 0, logging_device, &log, "empty"), -1);
	ck_assert_int_eq(l0_bus_register(&bus, UINT64_MAX, 2, logging_device, &log, "wraps"), -1);
	ck_assert_int_eq(l0_bus_register(&bus, 0x108, 1, logging_device, &log, "adjacent"), 0);
}
END_TEST

START_TEST(bus_dispatches_by_offset)
{
	struct l0_bus bus;
	struct access_log log = { .next_read = 0x5a };
	uint8_t data[4] = { 1, 2, 3, 4 };

	l0_bus_init(&bus, "test");
	ck_assert_int_eq(l0_bus_register(&bus, 0x100, 8, logging_device, &log, "a"), 0);
	ck_assert(l0_bus_dispatch(&bus, NULL, 0x103, data, 2, true));
	ck_assert(l0_bus_dispatch(&bus, NULL, 0x107, data, 1, false));
	ck_assert(!l0_bus_dispatch(&bus, NULL, 0x108, data, 1, false));
	ck_assert(!l0_bus_dispatch(&bus, NULL, 0xff, data, 1, true));
	ck_assert_int_eq(log.count, 2);
	ck_assert_int_eq(log.entry[0].offset, 3);
	ck_assert_int_eq(log.entry[0].value, 0x0201);
	ck_assert(log.entry[0].write);
	ck_assert_int_eq(log.entry[1].offset, 7);
	ck_assert_int_eq(data[0], 0x5a);
}
END_TEST

/* rm-port-io: OUT 1/2/4 bytes, REP OUTSB, two INs, one IN from nowhere. */
START_TEST(real_mode_guest_port_io)
{
	struct l0_vm *vm = l0t_vm(false, -1);
	struct access_log log = { .next_read = 5 };

	ck_assert_int_eq(l0_bus_register(&vm->pio, 0x500, 1, logging_device, &log, "test"), 0);
	l0t_load_real(vm, "rm-port-io");
	/* 5 + 6 from the device, 0xff from the unclaimed port: 0x10a */
	ck_assert_int_eq(l0t_run(vm, 10000), 0x0a);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_EXIT_PORT);
	ck_assert_int_eq(log.count, 8);
	ck_assert_int_eq(log.entry[0].len, 1);
	ck_assert_int_eq(log.entry[0].value, 0x11);
	ck_assert_int_eq(log.entry[1].len, 2);
	ck_assert_int_eq(log.entry[1].value, 0x2233);
	ck_assert_int_eq(log.entry[2].len, 4);
	ck_assert_int_eq(log.entry[2].value, 0x44556677);
	ck_assert_int_eq(log.entry[3].value, 'a');
	ck_assert_int_eq(log.entry[4].value, 'b');
	ck_assert_int_eq(log.entry[5].value, 'c');
	ck_assert(!log.entry[6].write && !log.entry[7].write);
	l0_vm_destroy(vm);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-bus");
	TCase *tc = tcase_create("port");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, bus_rejects_overlaps_and_empty_ranges);
	tcase_add_test(tc, bus_dispatches_by_offset);
	tcase_add_test(tc, real_mode_guest_port_io);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
