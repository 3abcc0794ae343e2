// SPDX-License-Identifier: MIT
/* MMIO dispatch from a long-mode micro-guest; unmapped accesses stop the VM. */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "exit-codes.h"

#include <string.h>

#define TEST_MMIO_BASE 0xd0000000ull

struct mmio_log {
	int count;
	struct access { uint64_t offset; unsigned len; uint64_t value; bool write; } entry[8];
};

static void mmio_device(void *opaque, struct l0_vcpu *vcpu, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)vcpu;
	struct mmio_log *log = opaque;
	uint64_t value = 0;

	if (!is_write) {
		value = offset == 0 ? 0x12345678 : 0x22;
		memcpy(data, &value, len);
	}
	memcpy(&value, data, len);
	if (log->count < 8)
		log->entry[log->count++] = (struct access){ offset, len, value, is_write };
}

START_TEST(long_mode_guest_mmio)
{
	struct l0_vm *vm = l0t_vm(false, -1);
	struct mmio_log log = { 0 };

	ck_assert_int_eq(l0_bus_register(&vm->mmio, TEST_MMIO_BASE, 0x1000, mmio_device, &log, "t"), 0);
	l0t_load_long(vm, "lm-mmio");
	ck_assert_int_eq(l0t_run(vm, 10000), (0x78 + 0x22) & 0xff);
	ck_assert_int_eq(log.count, 4);
	ck_assert(log.entry[0].write);
	ck_assert_int_eq(log.entry[0].len, 4);
	ck_assert_uint_eq(log.entry[0].value, 0xdeadbeef);
	ck_assert_int_eq(log.entry[1].offset, 8);
	ck_assert_int_eq(log.entry[1].len, 8);
	ck_assert_uint_eq(log.entry[1].value, 0x0102030405060708ull);
	ck_assert(!log.entry[2].write);
	ck_assert_int_eq(log.entry[2].len, 4);
	ck_assert_int_eq(log.entry[3].offset, 0x10);
	ck_assert_int_eq(log.entry[3].len, 1);
	l0_vm_destroy(vm);
}
END_TEST

START_TEST(unmapped_access_is_a_guest_fault)
{
	struct l0_vm *vm = l0t_vm(false, -1);

	l0t_load_long(vm, "lm-unmapped");
	ck_assert_int_eq(l0t_run(vm, 10000), L0_EXIT_GUEST_FAULT);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_GUEST_FAULT);
	ck_assert_ptr_nonnull(strstr(vm->stop_message, "0xe0000000"));
	l0_vm_destroy(vm);
}
END_TEST

START_TEST(ram_is_not_mmio)
{
	/* The same access pattern to RAM never reaches the bus. */
	struct l0_vm *vm = l0t_vm(false, -1);
	struct mmio_log log = { 0 };

	ck_assert_int_eq(l0_bus_register(&vm->mmio, TEST_MMIO_BASE, 0x1000, mmio_device, &log, "t"), 0);
	l0t_load_long(vm, "lm-cpuid");
	ck_assert_int_eq(l0t_run(vm, 10000), 42);
	ck_assert_int_eq(log.count, 0);
	l0_vm_destroy(vm);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-mmio");
	TCase *tc = tcase_create("mmio");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, long_mode_guest_mmio);
	tcase_add_test(tc, unmapped_access_is_a_guest_fault);
	tcase_add_test(tc, ram_is_not_mmio);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
