// SPDX-License-Identifier: MIT
/*
 * Pages a device writes from ooh-l0 (DMA, l0_vm_note_written) are dirty to
 * OoH although KVM never saw the writes: here through the host's view (the
 * control socket's dirty-start / dirty), on a VM that never runs, so every
 * dirty page counted is one the test noted.
 */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "control.h"

#include <stdio.h>
#include <string.h>

static unsigned long long dirty_pages(struct l0_vm *vm)
{
	char reply[256];
	unsigned long long n;

	l0_control_execute(vm, "{\"cmd\":\"dirty\"}", reply, sizeof(reply));
	ck_assert_msg(sscanf(reply, "{\"ok\":true,\"dirty_pages\":%llu", &n) == 1, "%s", reply);
	return n;
}

START_TEST(device_writes_are_dirty)
{
	struct l0_vm *vm = l0t_vm(true, -1);
	uint8_t *ram = l0_gpa_to_host(&vm->mem, 0x100000, 4 * 4096);
	uint8_t outside[8192];
	char reply[256];

	ck_assert_ptr_nonnull(ram);
	l0_control_execute(vm, "{\"cmd\":\"dirty-start\"}", reply, sizeof(reply));
	if (strstr(reply, "no dirty ring")) {
		printf("OOH-RESULT SKIP ooh-dma:device_writes_are_dirty KVM has no dirty ring here\n");
		l0_vm_destroy(vm);
		return;
	}
	ck_assert_msg(strstr(reply, "\"ok\":true"), "%s", reply);
	ck_assert_uint_eq(dirty_pages(vm), 0);

	l0_vm_note_written(vm, ram + 100, 4096);       /* straddles two pages */
	ck_assert_uint_eq(dirty_pages(vm), 2);
	ck_assert_uint_eq(dirty_pages(vm), 0);          /* and only once */

	l0_vm_note_written(vm, ram + 3 * 4096, 1);      /* one byte: its page */
	l0_vm_note_written(vm, ram + 3 * 4096 + 9, 7);  /* the same page again */
	ck_assert_uint_eq(dirty_pages(vm), 1);

	l0_vm_note_written(vm, outside, sizeof(outside)); /* not guest RAM: ignored */
	l0_vm_note_written(vm, ram, 0);
	ck_assert_uint_eq(dirty_pages(vm), 0);

	/* not watching: nothing is kept for later */
	l0_control_execute(vm, "{\"cmd\":\"dirty-stop\"}", reply, sizeof(reply));
	l0_control_execute(vm, "{\"cmd\":\"dirty-start\"}", reply, sizeof(reply));
	ck_assert_uint_eq(dirty_pages(vm), 0);
	l0_vm_destroy(vm);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("ooh-dma");
	TCase *tc = tcase_create("dma");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, device_writes_are_dirty);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
