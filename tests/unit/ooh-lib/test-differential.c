/* SPDX-License-Identifier: MIT */
/*
 * Differential test against ground truth, every usable backend: hash every
 * page, write a random (seeded) set of pages, collect; each page whose
 * content changed must be reported.  False positives are counted and
 * printed; backends that promise page exactness must have none.
 * OOH_TEST_SEED overrides the seed; the seed is printed for replay.
 */
#include "ooh_test_util.h"

#define PAGES 2048
#define ROUNDS 40

START_TEST(random_rounds)
{
	enum ooh_backend b = tu_backends[_i];
	uint64_t seed = tu_seed() + (uint64_t)b, s = seed;
	char *base = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	uint64_t *before = calloc(PAGES, sizeof(*before));
	unsigned char *written = calloc(PAGES, 1);
	size_t fp_total = 0, changed_total = 0, unwritten_total = 0;

	/* Some pages populated before tracking starts, the rest never touched. */
	for (size_t i = 0; i < PAGES; i += 3)
		base[i * PG] = (char)i;
	ooh_tracker *t = tu_open_range(b, 0, base, PAGES * PG);
	int exact = ooh_tracker_caps(t) & OOH_CAP_PAGE_EXACT;

	for (int round = 0; round < ROUNDS; round++) {
		tu_hash_all(base, PAGES, before);
		memset(written, 0, PAGES);
		size_t writes = tu_rand(&s) % (round % 5 == 0 ? PAGES : PAGES / 16 + 1);
		for (size_t w = 0; w < writes; w++) {
			size_t pg = tu_rand(&s) % PAGES, off = tu_rand(&s) % PG;
			written[pg] = 1;
			/* Occasionally rewrite the same byte: content unchanged. */
			base[pg * PG + off] = (tu_rand(&s) & 7) ? (char)tu_rand(&s) : base[pg * PG + off];
		}
		for (size_t r = 0; r < 64; r++) /* reads must not count as writes */
			(void)*(volatile char *)(base + (tu_rand(&s) % PAGES) * PG);
		for (size_t i = 0; i < PAGES; i++)
			changed_total += tu_hash_page(base + i * PG) != before[i];

		struct tu_pages peek, got;
		size_t cap = 1 + tu_rand(&s) % 3000;
		tu_collect(t, 0, cap, &peek); /* read only: same pages again below */
		tu_check_truth(base, PAGES, before, &peek, "peek");
		tu_collect(t, OOH_COLLECT_REARM, cap, &got);
		size_t fp = tu_check_truth(base, PAGES, before, &got, ooh_backend_name(b));
		for (size_t i = 0; i < peek.n; i++)
			ck_assert_msg(tu_contains(&got, peek.v[i]), "peeked page not in the re-arming collect");
		fp_total += fp;
		/* A rewrite of the same byte is a write: "exact" means reported
		 * pages are exactly the written ones. */
		size_t unwritten = 0;
		for (size_t i = 0; i < got.n; i++) {
			size_t pg = (got.v[i] - (uint64_t)(uintptr_t)base) / PG;
			unwritten += got.v[i] >= (uint64_t)(uintptr_t)base && pg < PAGES && !written[pg];
		}
		unwritten_total += unwritten;
		if (exact)
			ck_assert_msg(unwritten == 0, "%s promises page-exact reports but gave %zu unwritten pages",
				      ooh_backend_name(b), unwritten);
		tu_free(&peek);
		tu_free(&got);
	}
	/* Nothing written since the last re-arm: nothing to report. */
	struct tu_pages quiet;
	tu_collect(t, OOH_COLLECT_REARM, 512, &quiet);
	if (exact)
		ck_assert_uint_eq(quiet.n, 0);
	tu_free(&quiet);
	fprintf(stderr, "%s: seed %#llx, %d rounds, %zu changed pages, %zu false positives "
		"(%zu of them never written)\n", ooh_backend_name(b), (unsigned long long)seed, ROUNDS,
		changed_total, fp_total, unwritten_total);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(base, PAGES * PG);
	free(before);
	free(written);
}
END_TEST

/* A page written right after a re-arming collect belongs to the next one. */
START_TEST(write_after_rearm_is_next_interval)
{
	enum ooh_backend b = tu_backends[_i];
	char *base = tu_map(64 * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	ooh_tracker *t = tu_open_range(b, 0, base, 64 * PG);
	struct tu_pages got;

	for (int i = 0; i < 20; i++) {
		base[(i % 64) * PG] = (char)(i + 1);
		tu_collect(t, OOH_COLLECT_REARM, 8, &got);
		ck_assert_msg(tu_contains(&got, (uint64_t)(uintptr_t)(base + (i % 64) * PG)),
			      "round %d: write not reported", i);
		tu_free(&got);
	}
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(base, 64 * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-differential");
	TCase *tc = tcase_create("differential");

	tu_find_backends(tu_all);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, random_rounds, 0, tu_nr_backends);
	tcase_add_loop_test(tc, write_after_rearm_is_next_interval, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
