/* SPDX-License-Identifier: MIT */
/*
 * Mapping changes racing with faulting writes (every backend, self): one
 * thread keeps mapping fresh pages over part of the tracked range (for
 * userfaultfd an UNMAP event, which holds that thread, and makes every
 * write-protect fail with EAGAIN, until the tracker reads it), another
 * keeps writing protected pages, the main thread collects meanwhile.  The
 * uffd backend once spun on that EAGAIN inside its fault handler, the only
 * reader of the event: writer and mapper waited forever.  Here both must
 * finish, and tracking must still be exact afterwards.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "ooh_test_util.h"

#define PAGES 256
#define REMAP_PAGES 16
#define ROUNDS 1000

struct race {
	char *m;
	atomic_int done;
};

static void *remapper(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < ROUNDS; i++) {
		void *p = mmap(r->m, REMAP_PAGES * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED)
			break;
		r->m[(i % REMAP_PAGES) * PG] = (char)i;
	}
	atomic_fetch_add(&r->done, 1);
	return NULL;
}

static void *writer(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < ROUNDS; i++)
		for (size_t pg = 4 * REMAP_PAGES; pg < PAGES; pg++)
			r->m[pg * PG + i % 64] = (char)(i + 1);
	atomic_fetch_add(&r->done, 1);
	return NULL;
}

START_TEST(remap_while_writes_fault)
{
	enum ooh_backend b = tu_backends[_i];
	struct race r = { .m = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS) };
	pthread_t tm, tw;
	uint64_t before[PAGES];
	struct tu_pages got;

	memset(r.m, 1, PAGES * PG);
	ooh_tracker *t = tu_open_range(b, 0, r.m, PAGES * PG);
	ck_assert_int_eq(pthread_create(&tm, NULL, remapper, &r), 0);
	ck_assert_int_eq(pthread_create(&tw, NULL, writer, &r), 0);
	while (atomic_load(&r.done) < 2) {
		tu_collect(t, OOH_COLLECT_REARM, 64, &got);
		tu_free(&got);
	}
	pthread_join(tm, NULL);
	pthread_join(tw, NULL);
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	tu_free(&got);
	/* still armed and exact */
	tu_hash_all(r.m, PAGES, before);
	for (size_t pg = 0; pg < PAGES; pg += 5)
		r.m[pg * PG + 7] ^= 0x55;
	tu_collect(t, OOH_COLLECT_REARM, 64, &got);
	tu_check_truth(r.m, PAGES, before, &got, "after the race");
	tu_free(&got);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(r.m, PAGES * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-events");
	TCase *tc = tcase_create("events");

	tu_find_backends(tu_all);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, remap_while_writes_fault, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
