// SPDX-License-Identifier: MIT
/*
 * OoH virtual SPP in ooh-l0, driven by long-mode micro-guests on this
 * machine's /dev/kvm: permitted writes land exactly, refused ones are
 * suppressed whole and reported in the vCPU's violation record, malformed
 * hypercalls are refused with nothing changed, the memory-slot budget is
 * enforced, and virtual PML keeps exact GPAs across re-split slots.
 */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "ooh/ooh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RES   0x210000ull
#define LOG   0x300000ull
#define DATA  0x150000ull

static int64_t result(struct l0_vm *vm, int slot)
{
	int64_t v;

	memcpy(&v, l0_gpa_to_host(&vm->mem, RES + 8 * (uint64_t)slot, 8), 8);
	return v;
}

static uint8_t byte_at(struct l0_vm *vm, uint64_t gpa)
{
	return *(uint8_t *)l0_gpa_to_host(&vm->mem, gpa, 1);
}

START_TEST(permitted_land_refused_reported_malformed_refused)
{
	struct l0_vm *vm = l0t_vm(false, -1);

	ck_assert(l0_ooh_features(vm) & OOH_FEAT_SPP);
	l0t_load_long(vm, "lm-ooh-spp");
	ck_assert_int_eq(l0t_run(vm, 30000), 0);

	ck_assert_int_eq(result(vm, 0), 0);
	ck_assert_int_eq(result(vm, 1), 2);
	/* 1-byte write into the refused sub-page 0: exact address, nothing written */
	ck_assert_int_eq(result(vm, 2), 1);
	ck_assert_uint_eq((uint64_t)result(vm, 3), DATA + 127);
	ck_assert_uint_eq(byte_at(vm, DATA + 128), 0x11);
	/* straddling 8-byte store: refused whole, reported at its first refused byte */
	ck_assert_int_eq(result(vm, 4), 2);
	ck_assert_uint_eq((uint64_t)result(vm, 5), DATA + 120);
	ck_assert_int_eq(result(vm, 6), 8);
	for (int i = 120; i < 128; i++)
		ck_assert_uint_eq(byte_at(vm, DATA + i), 0);
	/* second page: lower half writable, upper refused */
	ck_assert_uint_eq(*(uint32_t *)l0_gpa_to_host(&vm->mem, DATA + 0x2100, 4), 0x44444444);
	ck_assert_uint_eq((uint64_t)result(vm, 7), DATA + 0x2800);
	ck_assert_uint_eq((uint64_t)result(vm, 8), DATA + 0x27fc);
	for (int i = 0x7fc; i < 0x800; i++)
		ck_assert_msg(byte_at(vm, DATA + 0x2000 + i) == 0x66 || i >= 0x7f0,
			      "byte %#x", i);
	/* rep stosb across the boundary: the permitted half lands, the rest not */
	for (int i = 0x7f0; i < 0x800; i++)
		ck_assert_msg(byte_at(vm, DATA + 0x2000 + i) == 0x66, "byte %#x", i);
	for (int i = 0x800; i < 0x810; i++)
		ck_assert_msg(byte_at(vm, DATA + 0x2000 + i) == 0, "byte %#x", i);
	ck_assert_int_gt(result(vm, 9), 3);
	ck_assert_uint_eq(byte_at(vm, DATA + 0x1005), 0x77);
	/* malformed */
	ck_assert_int_eq(result(vm, 10), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 11), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 12), -OOH_E_FAULT);
	ck_assert_int_eq(result(vm, 13), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 14), -OOH_E_FAULT);
	ck_assert_int_eq(result(vm, 15), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 16), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 17), -OOH_E_BUSY);
	ck_assert_int_eq(result(vm, 18), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 19), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 20), -OOH_E_FAULT);
	ck_assert_int_eq(result(vm, 21), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 22), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 23), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 24), -OOH_E_FAULT);
	/* the refused batch changed nothing */
	ck_assert_uint_eq(byte_at(vm, DATA + 0x1006), 0x88);
	ck_assert_int_eq(result(vm, 25), result(vm, 9) + 1);
	/* cleared: writes land again */
	ck_assert_int_eq(result(vm, 26), 1);
	ck_assert_uint_eq(byte_at(vm, DATA + 5), 0xaa);
	ck_assert_int_eq(result(vm, 27), 0);
	ck_assert_int_eq(result(vm, 28), 1);
	ck_assert_uint_eq(byte_at(vm, DATA + 0x2900), 0xbb);
	ck_assert_int_eq(result(vm, 29), OOH_ABI_VERSION);
	ck_assert_int_eq(result(vm, 30), result(vm, 25));
	/* page-crossing store: both pieces judged together */
	ck_assert_int_eq(result(vm, 31), 2);
	ck_assert_uint_eq((uint64_t)result(vm, 32), DATA + 0x4000);
	ck_assert_uint_eq((uint64_t)result(vm, 33), DATA + 0x3ffc);
	ck_assert_int_eq(result(vm, 34), 8);
	ck_assert_uint_eq(*(uint64_t *)l0_gpa_to_host(&vm->mem, DATA + 0x3ff8, 8), 8);
	ck_assert_uint_eq(*(uint64_t *)l0_gpa_to_host(&vm->mem, DATA + 0x3100, 8), 8);
	ck_assert_uint_eq(*(uint32_t *)l0_gpa_to_host(&vm->mem, DATA + 0x4000, 4), 0);
	ck_assert_int_eq(result(vm, 35), result(vm, 30) + 1);
	/* vector 0xffffffff: writable, still in the protected set (no slot work) */
	ck_assert_int_eq(result(vm, 36), 1);
	ck_assert_uint_eq(byte_at(vm, DATA + 0x3001), 0x5a);
	ck_assert_uint_eq(vm->ooh->spp.nr_pages, 2);
	ck_assert_uint_eq(vm->ooh->stats.spp_violations, (uint64_t)result(vm, 35));
	ck_assert_uint_ge(vm->ooh->stats.spp_writes, 3);
	l0_vm_destroy(vm);
}
END_TEST

/* Whether the log holds addr (any sequence). */
static int count_in_log(struct l0_vm *vm, uint64_t addr, uint64_t *bogus)
{
	struct ooh_log_header *h = l0_gpa_to_host(&vm->mem, LOG, 4096);
	struct ooh_log_entry *e = (struct ooh_log_entry *)(h + 1);
	int n = 0;

	*bogus = 0;
	for (uint64_t i = h->consumer; i < h->producer; i++) {
		struct ooh_log_entry *x = &e[i & (h->size - 1)];

		if (x->addr == addr)
			n++;
		if (x->addr >= L0T_MEM || (x->addr & 4095))
			(*bogus)++;
	}
	return n;
}

START_TEST(pml_across_resplit_slots_and_slot_budget)
{
	struct l0_vm *vm;
	uint64_t bogus;

	setenv("OOH_L0_SPP_MAX_SLOTS", "4", 1);
	vm = l0t_vm(false, -1);
	unsetenv("OOH_L0_SPP_MAX_SLOTS");
	ck_assert_msg(vm->ooh->has_ring, "no KVM dirty ring on this host");
	ck_assert_uint_eq(vm->ooh->spp.max_slots, 4);
	l0t_load_long(vm, "lm-ooh-spp-pml");
	ck_assert_int_eq(l0t_run(vm, 30000), 0);
	ck_assert_int_eq(result(vm, 0), 1);
	ck_assert_int_eq(result(vm, 1), 0);
	ck_assert_int_eq(result(vm, 2), 1);
	ck_assert_int_eq(result(vm, 3), 0);
	ck_assert_int_eq(result(vm, 4), -OOH_E_NOSPC);
	ck_assert_int_eq(result(vm, 5), 1);
	ck_assert_int_eq(result(vm, 6), 0);
	ck_assert_int_eq(result(vm, 7), 0);
	ck_assert_uint_eq(byte_at(vm, DATA + 0x3000 + 200), 1);
	ck_assert_uint_eq(byte_at(vm, DATA + 0x3001), 0);
	ck_assert_uint_eq(byte_at(vm, DATA + 0x4900), 5);
	ck_assert_uint_eq(byte_at(vm, DATA + 0x6000), 7);
	/* exact GPAs from every slot, l0's own writes included */
	ck_assert_int_ge(count_in_log(vm, DATA + 0x3000, &bogus), 1);
	ck_assert_int_ge(count_in_log(vm, DATA, &bogus), 1);
	ck_assert_int_ge(count_in_log(vm, DATA + 0x5000, &bogus), 1);
	ck_assert_int_ge(count_in_log(vm, DATA + 0x4000, &bogus), 1);
	ck_assert_int_ge(count_in_log(vm, DATA + 0x7000, &bogus), 1);
	ck_assert_int_ge(count_in_log(vm, DATA + 0x6000, &bogus), 1);
	ck_assert_int_eq(count_in_log(vm, DATA + 0x8000, &bogus), 0);
	ck_assert_uint_eq(bogus, 0);
	ck_assert_uint_eq(vm->ooh->spp.nr_pages, 2);
	ck_assert_uint_eq(vm->ooh->spp.nr_slots, 3);
	ck_assert_uint_eq(vm->ooh->stats.spp_violations, 1);
	l0_vm_destroy(vm);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-ooh-spp");
	TCase *tc = tcase_create("spp");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, permitted_land_refused_reported_malformed_refused);
	tcase_add_test(tc, pml_across_resplit_slots_and_slot_budget);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
