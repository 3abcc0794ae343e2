// SPDX-License-Identifier: MIT
/*
 * OoH virtual PML in ooh-l0, driven by long-mode micro-guests on this
 * machine's /dev/kvm: hypercalls (valid and malformed), SPML and EPML logs
 * against what the guest wrote, re-arming, the shadow page, overflow and
 * dirty-ring-full exits.
 */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "ooh/ooh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RES   0x210000ull
#define PARAM 0x208000ull
#define LOG1  0x300000ull
#define LOG2  0x310000ull
#define DATA  0x150000ull
#define SHADOW 0x220000ull

static int64_t result(struct l0_vm *vm, int slot)
{
	int64_t v;

	memcpy(&v, l0_gpa_to_host(&vm->mem, RES + 8 * (uint64_t)slot, 8), 8);
	return v;
}

static struct ooh_log_header *header(struct l0_vm *vm, uint64_t gpa)
{
	return l0_gpa_to_host(&vm->mem, gpa, 4096);
}

/* Whether the log holds addr with sequence seq (0: any). */
static int count_in_log(struct l0_vm *vm, uint64_t gpa, uint64_t addr, uint64_t seq)
{
	struct ooh_log_header *h = header(vm, gpa);
	struct ooh_log_entry *e = (struct ooh_log_entry *)(h + 1);
	int n = 0;

	for (uint64_t i = h->consumer; i < h->producer; i++) {
		struct ooh_log_entry *x = &e[i & (h->size - 1)];

		if (x->addr == addr && (seq == 0 || x->seq == seq))
			n++;
	}
	return n;
}

START_TEST(hypercalls_spml_epml_and_malformed)
{
	struct l0_vm *vm = l0t_vm(false, -1);
	struct ooh_hv_stats *stats;

	ck_assert_ptr_nonnull(vm->ooh);
	ck_assert_msg(vm->ooh->has_ring, "no KVM dirty ring on this host");
	l0t_load_long(vm, "lm-ooh-pml");
	ck_assert_int_eq(l0t_run(vm, 20000), 0);

	ck_assert_int_eq(result(vm, 0), OOH_ABI_VERSION);
	ck_assert_int_eq(result(vm, 1), 0);
	ck_assert_int_eq(result(vm, 2), 1);
	ck_assert_int_eq(result(vm, 3), 2);
	for (int i = 4; i <= 9; i++)
		ck_assert_msg(result(vm, i) == 0, "slot %d: %lld", i, (long long)result(vm, i));
	ck_assert_int_eq(result(vm, 10), -OOH_E_NOSYS);
	ck_assert_int_eq(result(vm, 11), -OOH_E_BUSY);
	ck_assert_int_eq(result(vm, 12), -OOH_E_FAULT);
	ck_assert_int_eq(result(vm, 13), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 14), -OOH_E_NOENT);
	ck_assert_int_eq(result(vm, 15), -OOH_E_BUSY);
	ck_assert_int_eq(result(vm, 16), -OOH_E_FAULT);
	ck_assert_int_eq(result(vm, 17), -OOH_E_FAULT);
	ck_assert_int_eq(result(vm, 18), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 19), 3);
	ck_assert_int_eq(result(vm, 20), 0);
	ck_assert_int_eq(result(vm, 21), -OOH_E_NOENT);
	ck_assert_int_eq(result(vm, 22), -OOH_E_PERM);
	ck_assert_int_eq(result(vm, 23), -OOH_E_INVAL);
	ck_assert_int_eq(result(vm, 24), 0);
	ck_assert_int_eq(result(vm, 25), 0);
	ck_assert_uint_eq((uint64_t)result(vm, 26), LOG1);
	ck_assert_int_eq(result(vm, 27), 0);
	ck_assert_uint_eq((uint32_t)result(vm, 28), 0xffffffffu);
	ck_assert_int_eq(result(vm, 29), OOH_ABI_VERSION);

	/* SPML: guest-physical, every write since START, re-dirtied pages again */
	if (getenv("OOH_TEST_DUMP")) {
		struct ooh_log_header *h = header(vm, LOG1);
		struct ooh_log_entry *e = (struct ooh_log_entry *)(h + 1);

		for (uint64_t i = 0; i < h->producer; i++)
			fprintf(stderr, "log1 %#llx seq %llu\n", (unsigned long long)e[i].addr,
				(unsigned long long)e[i].seq);
	}
	/* seq 1 is the harvest at START of session 2, 2 and 3 the SYNCs, 4 the STOP */
	ck_assert_int_eq(count_in_log(vm, LOG1, DATA, 2), 1);
	ck_assert_int_eq(count_in_log(vm, LOG1, DATA + 0x1000, 2), 1);
	ck_assert_int_eq(count_in_log(vm, LOG1, DATA + 0x3000, 2), 1);
	ck_assert_int_eq(count_in_log(vm, LOG1, DATA + 0x2000, 0), 0);
	ck_assert_int_eq(count_in_log(vm, LOG1, DATA + 0x4000, 0), 0);
	ck_assert_int_eq(count_in_log(vm, LOG1, DATA, 3), 1);
	ck_assert_int_eq(count_in_log(vm, LOG1, DATA + 0x5000, 4), 1);
	/* one entry per page per harvest, even where the host logs a page twice */
	ck_assert_int_le(count_in_log(vm, LOG1, 0x200000, 2), 1);
	ck_assert_uint_eq(header(vm, LOG1)->overflow, 0);
	ck_assert_uint_eq(header(vm, LOG1)->size, 512);
	ck_assert_uint_eq(header(vm, LOG1)->session, 1);
	ck_assert_uint_eq(header(vm, LOG1)->flags & OOH_LOG_F_ACTIVE, 0);

	/* EPML: linear addresses, only while the context was enabled */
	ck_assert_int_eq(count_in_log(vm, LOG2, DATA, 1), 1);
	ck_assert_int_eq(count_in_log(vm, LOG2, DATA + 0x1000, 1), 1);
	ck_assert_int_eq(count_in_log(vm, LOG2, DATA + 0x3000, 1), 1);
	ck_assert_int_eq(count_in_log(vm, LOG2, DATA, 2), 1);
	ck_assert_int_eq(count_in_log(vm, LOG2, DATA + 0x5000, 0), 0);
	ck_assert_int_eq(count_in_log(vm, LOG2, DATA + 0x2000, 0), 0);
	ck_assert_uint_eq(header(vm, LOG2)->mode, OOH_MODE_EPML);

	/* shadow page: l0's bitmaps and fields */
	struct ooh_shadow_page *p = l0_gpa_to_host(&vm->mem, SHADOW, 4096);
	ck_assert_uint_eq(p->magic, OOH_SHADOW_MAGIC);
	ck_assert_uint_eq(p->field[OOH_SHADOW_PML_ADDRESS].encoding, 0x200e);
	ck_assert_uint_eq(p->field[OOH_SHADOW_PML_INDEX].encoding, 0x0812);
	ck_assert_uint_eq(p->field[OOH_SHADOW_PML_ADDRESS].value, LOG1);
	ck_assert(p->vmwrite_bitmap & (1u << OOH_SHADOW_PML_ADDRESS));
	ck_assert(!(p->vmwrite_bitmap & (1u << OOH_SHADOW_EPML_ENABLE)));
	ck_assert_uint_eq(p->vmread_bitmap, 0);

	/* stats written into guest memory, and no context-switch exits */
	stats = l0_gpa_to_host(&vm->mem, RES + 0x800, sizeof(*stats));
	ck_assert_uint_eq(stats->hypercalls[OOH_HC_PING], 1);
	ck_assert_uint_eq(stats->hypercalls[OOH_HC_SYNC], 2);
	ck_assert_uint_ge(stats->bad_hypercalls, 12);
	ck_assert(!vm->ooh->logging); /* off again once no session is active */
	l0_vm_destroy(vm);
}
END_TEST

static struct l0_vm *run_many(uint64_t log_bytes, uint64_t pages)
{
	struct l0_vm *vm = l0t_vm(false, -1);

	memcpy(l0_gpa_to_host(&vm->mem, PARAM, 8), &log_bytes, 8);
	memcpy(l0_gpa_to_host(&vm->mem, PARAM + 8, 8), &pages, 8);
	l0t_load_long(vm, "lm-ooh-many");
	ck_assert_int_eq(l0t_run(vm, 30000), 0);
	ck_assert_int_eq(result(vm, 0), 1);
	ck_assert_int_eq(result(vm, 1), 0);
	ck_assert_int_eq(result(vm, 2), 0);
	ck_assert_int_eq(result(vm, 3), 0);
	return vm;
}

START_TEST(small_log_overflows_counted_never_silent)
{
	struct l0_vm *vm = run_many(4096, 200); /* 128 entries for 200+ pages */
	struct ooh_log_header *h = header(vm, LOG1);

	ck_assert_uint_eq(h->size, 128);
	ck_assert_uint_eq(h->producer, 128);
	ck_assert_uint_ge(h->overflow, 200 - 128);
	ck_assert(h->flags & OOH_LOG_F_OVERFLOW);
	ck_assert_uint_eq(h->producer + h->overflow, vm->ooh->stats.entries_delivered +
			  vm->ooh->stats.entries_overflowed);
	l0_vm_destroy(vm);
}
END_TEST

START_TEST(ring_full_exits_lose_nothing)
{
	uint64_t duplicates = 0;
	struct l0_vm *vm;

	setenv("OOH_L0_DIRTY_RING_ENTRIES", "256", 1);
	vm = run_many(64 << 10, 250);
	unsetenv("OOH_L0_DIRTY_RING_ENTRIES");
	ck_assert_uint_eq(vm->ooh->ring_entries, 256);
	ck_assert_uint_eq(header(vm, LOG1)->overflow, 0);
	/*
	 * Every page at least once. On kvm-amd the page whose write filled the
	 * ring is logged again: the exit comes before the store retires, the
	 * harvest's reset write-protects that page again, and the retried store
	 * dirties it anew. So one duplicate per ring-full exit at most.
	 */
	for (uint64_t i = 0; i < 250; i++) {
		int n = count_in_log(vm, LOG1, 0x100000 + i * 4096, 0);

		ck_assert_msg(n >= 1, "page %llu missed", (unsigned long long)i);
		duplicates += (uint64_t)n - 1;
	}
	ck_assert_uint_le(duplicates, atomic_load(&vm->ooh->ring_full_exits));
	/* kvm_pvm (this machine) may not exit at the soft limit; real KVM must */
	if (!vm->on_kvm_pvm)
		ck_assert_uint_gt(atomic_load(&vm->ooh->ring_full_exits), 0);
	l0_vm_destroy(vm);
}
END_TEST

START_TEST(consumer_garbage_reads_as_full)
{
	/* A guest that writes nonsense into consumer gets overflow, not a wild write. */
	struct l0_ooh_session s = { .open = true, .active = true, .mode = OOH_MODE_SPML,
				     .log_gpa = LOG1, .log_bytes = 4096, .size = 128 };
	struct l0_vm *vm = l0t_vm(false, -1);
	struct ooh_log_header *h = header(vm, LOG1);
	uint64_t seen[L0_MAX_VCPUS] = { 0 };

	vm->ooh->session[1] = s;
	h->consumer = 1ull << 60;
	vm->ooh->gfns = calloc(1, sizeof(*vm->ooh->gfns));
	vm->ooh->cap_gfns = 1;
	vm->ooh->gfns[0].gfn = 0x123;
	vm->ooh->nr_gfns = 1;
	l0_ooh_deliver(vm->ooh, seen);
	ck_assert_uint_eq(h->producer, 0);
	ck_assert_uint_eq(h->overflow, 1);
	h->consumer = 0;
	l0_ooh_deliver(vm->ooh, seen);
	ck_assert_uint_eq(h->producer, 1);
	ck_assert_uint_eq(h->seq, 2);
	l0_vm_destroy(vm);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-ooh-pml");
	TCase *tc = tcase_create("pml");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, hypercalls_spml_epml_and_malformed);
	tcase_add_test(tc, small_log_overflows_counted_never_silent);
	tcase_add_test(tc, ring_full_exits_lose_nothing);
	tcase_add_test(tc, consumer_garbage_reads_as_full);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
