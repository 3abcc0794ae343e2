// SPDX-License-Identifier: MIT
/* Guest RAM: sizes, the split around the 32-bit hole, bounds checks. No KVM. */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "exit-codes.h"

#include <stdio.h>

START_TEST(parse_size)
{
	ck_assert_uint_eq(l0_parse_size("512M"), 512ull << 20);
	ck_assert_uint_eq(l0_parse_size("2G"), 2ull << 30);
	ck_assert_uint_eq(l0_parse_size("2GiB"), 2ull << 30);
	ck_assert_uint_eq(l0_parse_size("64k"), 64ull << 10);
	ck_assert_uint_eq(l0_parse_size("4096"), 4096);
	ck_assert_uint_eq(l0_parse_size(""), 0);
	ck_assert_uint_eq(l0_parse_size("-1M"), 0);
	ck_assert_uint_eq(l0_parse_size("12X"), 0);
	ck_assert_uint_eq(l0_parse_size("99999999999999999999"), 0);
	ck_assert_uint_eq(l0_parse_size("17179869184G"), 0); /* overflows 64 bits */
}
END_TEST

START_TEST(small_guest_is_one_region)
{
	struct l0_memory mem;

	ck_assert_int_eq(l0_memory_init(&mem, 16ull << 20, false, -1), 0);
	ck_assert_int_eq(mem.nr_regions, 1);
	ck_assert_uint_eq((uintptr_t)mem.host % (2ull << 20), 0); /* THP-mappable by KVM */
	ck_assert_uint_eq(l0_memory_low_end(&mem), 16ull << 20);
	ck_assert_ptr_eq(l0_gpa_to_host(&mem, 0, 16ull << 20), mem.host);
	ck_assert_ptr_null(l0_gpa_to_host(&mem, 1, 16ull << 20));
	ck_assert_ptr_null(l0_gpa_to_host(&mem, 16ull << 20, 1));
	ck_assert_ptr_nonnull(l0_gpa_to_host(&mem, (16ull << 20) - 1, 1));
	ck_assert_ptr_null(l0_gpa_to_host(&mem, UINT64_MAX, 2));     /* wraps */
	ck_assert_ptr_null(l0_gpa_to_host(&mem, 4096, UINT64_MAX));  /* wraps */
	l0_memory_free(&mem);
}
END_TEST

START_TEST(big_guest_skips_the_hole)
{
	struct l0_memory mem;
	uint64_t size = 4ull << 30;

	ck_assert_int_eq(l0_memory_init(&mem, size, false, -1), 0);
	ck_assert_int_eq(mem.nr_regions, 2);
	ck_assert_uint_eq(mem.region[0].size, L0_MMIO_HOLE_START);
	ck_assert_uint_eq(mem.region[1].gpa, L0_MMIO_HOLE_END);
	ck_assert_uint_eq(mem.region[1].size, size - L0_MMIO_HOLE_START);
	ck_assert_ptr_null(l0_gpa_to_host(&mem, L0_MMIO_HOLE_START, 1));
	ck_assert_ptr_eq(l0_gpa_to_host(&mem, L0_MMIO_HOLE_END, 1), mem.host + L0_MMIO_HOLE_START);
	/* a range may not straddle the hole */
	ck_assert_ptr_null(l0_gpa_to_host(&mem, L0_MMIO_HOLE_START - 8, 16));
	l0_memory_free(&mem);
}
END_TEST

START_TEST(bad_sizes)
{
	struct l0_memory mem;

	ck_assert_int_eq(l0_memory_init(&mem, 0, false, -1), L0_EXIT_USAGE);
	ck_assert_int_eq(l0_memory_init(&mem, 4097, false, -1), L0_EXIT_USAGE);
	ck_assert_int_eq(l0_memory_init(&mem, 3ull << 20, true, -1), L0_EXIT_USAGE); /* not 2 MiB */
	ck_assert_int_eq(l0_memory_init(&mem, 4ull << 20, false, 100000), L0_EXIT_HOST_MEMORY);
}
END_TEST

START_TEST(hugepages_fail_cleanly)
{
	struct l0_memory mem;
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
	long pool = 0;

	if (f) {
		if (fscanf(f, "%ld", &pool) != 1)
			pool = 0;
		fclose(f);
	}
	if (pool >= 2) {
		ck_assert_int_eq(l0_memory_init(&mem, 4ull << 20, true, -1), 0);
		l0_memory_free(&mem);
	}
	/* more than the pool holds: an error now, not SIGBUS at first touch */
	ck_assert_int_eq(l0_memory_init(&mem, (uint64_t)(pool + 1) * (2ull << 20), true, -1),
			 L0_EXIT_HOST_MEMORY);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-memory");
	TCase *tc = tcase_create("memory");

	tcase_add_test(tc, parse_size);
	tcase_add_test(tc, small_guest_is_one_region);
	tcase_add_test(tc, big_guest_skips_the_hole);
	tcase_add_test(tc, bad_sizes);
	tcase_add_test(tc, hugepages_fail_cleanly);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
