/* SPDX-License-Identifier: MIT */
/*
 * Mapping changes inside a tracked range: munmap + mmap again (the new
 * zero-filled pages differ from what was there), mremap moving pages
 * within the range, mremap growing in place, MADV_DONTNEED.  Ground truth
 * is the page hash: every page whose content differs must be reported.
 * Backends without OOH_CAP_MAPPING_CHANGES are only held to pages that
 * were written after the change.
 */
#include "ooh_test_util.h"

#define PAGES 512

struct fixture {
	enum ooh_backend b;
	char *m;
	ooh_tracker *t;
	uint64_t before[PAGES];
	int mapping_caps;
};

static void setup(struct fixture *f, int idx)
{
	f->b = tu_backends[idx];
	/* Reserve PAGES, keep the upper quarter unmapped for growth. */
	f->m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	munmap(f->m + 3 * PAGES / 4 * PG, PAGES / 4 * PG);
	for (size_t i = 0; i < 3 * PAGES / 4; i++)
		memset(f->m + i * PG, (int)(i % 250) + 1, 64);
	f->t = f->b == OOH_BACKEND_MPROTECT ? tu_open_range(f->b, 0, f->m, 3 * PAGES / 4 * PG)
					    : tu_open_range(f->b, 0, f->m, PAGES * PG);
	f->mapping_caps = ooh_tracker_caps(f->t) & OOH_CAP_MAPPING_CHANGES;
	tu_hash_all(f->m, 3 * PAGES / 4, f->before);
}

static void check(struct fixture *f, size_t pages, const char *what)
{
	struct tu_pages got;
	tu_collect(f->t, OOH_COLLECT_REARM, 100, &got);
	tu_check_truth(f->m, pages, f->before, &got, what);
	tu_free(&got);
	/* And once more: nothing left over, tracking still armed. */
	tu_hash_all(f->m, pages, f->before);
	f->m[3 * PG] ^= 1;
	tu_collect(f->t, OOH_COLLECT_REARM, 100, &got);
	ck_assert_msg(tu_contains(&got, (uint64_t)(uintptr_t)(f->m + 3 * PG)), "%s: tracking lost", what);
	tu_free(&got);
}

static void teardown(struct fixture *f)
{
	ck_assert_int_eq(ooh_close(f->t), 0);
	munmap(f->m, PAGES * PG);
}

START_TEST(munmap_then_mmap_again)
{
	struct fixture f;
	setup(&f, _i);
	char *hole = f.m + 64 * PG;
	ck_assert_int_eq(munmap(hole, 32 * PG), 0);
	char *again = mmap(hole, 32 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ck_assert_ptr_eq(again, hole);
	again[5 * PG] = 42; /* one written, 31 simply zero now */
	if (!f.mapping_caps) /* only the written page is promised */
		tu_hash_all(f.m, 3 * PAGES / 4, f.before), f.before[64 + 5] ^= 1;
	check(&f, 3 * PAGES / 4, "munmap+mmap");
	/* The new mapping must be tracked like the old one. */
	tu_hash_all(f.m, 3 * PAGES / 4, f.before);
	again[9 * PG] = 1;
	struct tu_pages got;
	tu_collect(f.t, OOH_COLLECT_REARM, 100, &got);
	ck_assert(tu_contains(&got, (uint64_t)(uintptr_t)(again + 9 * PG)));
	tu_check_truth(f.m, 3 * PAGES / 4, f.before, &got, "re-mmapped");
	tu_free(&got);
	teardown(&f);
}
END_TEST

START_TEST(mremap_move_within_range)
{
	struct fixture f;
	setup(&f, _i);
	/* Move 16 pages from 100 to 300 (replacing what was there). */
	char *to = mremap(f.m + 100 * PG, 16 * PG, 16 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, f.m + 300 * PG);
	ck_assert_ptr_eq(to, f.m + 300 * PG);
	char *back = mmap(f.m + 100 * PG, 16 * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ck_assert_ptr_eq(back, f.m + 100 * PG);
	to[2 * PG] = 5;
	if (!f.mapping_caps) {
		tu_hash_all(f.m, 3 * PAGES / 4, f.before);
		f.before[302] ^= 1;
	}
	check(&f, 3 * PAGES / 4, "mremap move");
	teardown(&f);
}
END_TEST

START_TEST(mremap_grow_in_place)
{
	struct fixture f;
	setup(&f, _i);
	if (f.b == OOH_BACKEND_MPROTECT) {
		/* Its ranges are fixed at open: growth lands outside them. */
		teardown(&f);
		return;
	}
	char *m = mremap(f.m, 3 * PAGES / 4 * PG, PAGES * PG, 0);
	ck_assert_ptr_eq(m, f.m);
	uint64_t *before = calloc(PAGES, sizeof(*before));
	memcpy(before, f.before, sizeof(f.before[0]) * 3 * PAGES / 4);
	tu_hash_all(f.m + 3 * PAGES / 4 * PG, PAGES / 4, before + 3 * PAGES / 4);
	for (size_t i = 3 * PAGES / 4; i < PAGES; i += 3)
		f.m[i * PG] = 1;
	f.m[10 * PG] = 77;
	struct tu_pages got;
	tu_collect(f.t, OOH_COLLECT_REARM, 100, &got);
	tu_check_truth(f.m, PAGES, before, &got, "mremap grow");
	tu_free(&got);
	free(before);
	teardown(&f);
}
END_TEST

START_TEST(madv_dontneed)
{
	struct fixture f;
	setup(&f, _i);
	if (f.b == OOH_BACKEND_MPROTECT || !f.mapping_caps || f.b == OOH_BACKEND_PAGEMAP) {
		/* Documented limit: only the uffd backend sees a zap (REMOVE
		 * event); others report the page once written again. */
		ck_assert_int_eq(madvise(f.m + 20 * PG, 4 * PG, MADV_DONTNEED), 0);
		tu_hash_all(f.m, 3 * PAGES / 4, f.before);
		f.m[21 * PG] = 3;
		check(&f, 3 * PAGES / 4, "dontneed-then-write");
		teardown(&f);
		return;
	}
	ck_assert_int_eq(madvise(f.m + 20 * PG, 4 * PG, MADV_DONTNEED), 0);
	check(&f, 3 * PAGES / 4, "dontneed");
	/* Written again after the zap: still tracked. */
	tu_hash_all(f.m, 3 * PAGES / 4, f.before);
	f.m[22 * PG] = 9;
	check(&f, 3 * PAGES / 4, "dontneed-rewrite");
	teardown(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-mappings");
	TCase *tc = tcase_create("mappings");

	tu_find_backends(tu_all);
	tcase_add_loop_test(tc, munmap_then_mmap_again, 0, tu_nr_backends);
	tcase_add_loop_test(tc, mremap_move_within_range, 0, tu_nr_backends);
	tcase_add_loop_test(tc, mremap_grow_in_place, 0, tu_nr_backends);
	tcase_add_loop_test(tc, madv_dontneed, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
