/* SPDX-License-Identifier: MIT */
/*
 * Several threads write while the main thread collects with re-arm.
 * Each write is stamped with the interval number read just before and just
 * after it; a write stamped (e, e2) must show up in some collect numbered
 * e .. e2 + 1, i.e. never be lost to a race with the re-arm.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "ooh_test_util.h"

#define PAGES 1024
#define WRITERS 3
#define WRITES 3000
#define MAX_COLLECTS 4096

struct rec { uint32_t page, e1, e2; };

static char *area;
static atomic_uint epoch;
static struct rec recs[WRITERS][WRITES];
static atomic_int finished;
static atomic_bool collecting;

static void *writer(void *arg)
{
	size_t id = (size_t)arg;
	uint64_t s = tu_seed() * (id + 7);
	unsigned seen = atomic_load(&epoch);

	for (size_t i = 0; i < WRITES; i++) {
		uint32_t pg = (uint32_t)(tu_rand(&s) % PAGES);
		recs[id][i].page = pg;
		recs[id][i].e1 = atomic_load(&epoch);
		atomic_fetch_add_explicit((_Atomic char *)&area[pg * PG + id * 8], 1, memory_order_seq_cst);
		recs[id][i].e2 = atomic_load(&epoch);
		/*
		 * Every 16 writes, wait for a collect to end an interval: the
		 * writes then span many intervals whatever the scheduler (or
		 * ASan, or a loaded host) does to either side's speed.
		 */
		if (i % 16 == 15) {
			while (atomic_load(&epoch) == seen && atomic_load(&collecting))
				usleep(50);
			seen = atomic_load(&epoch);
		}
	}
	atomic_fetch_add(&finished, 1);
	return NULL;
}

START_TEST(writers_vs_rearm)
{
	enum ooh_backend b = tu_backends[_i];
	static struct tu_pages sets[MAX_COLLECTS];
	pthread_t th[WRITERS];
	unsigned n = 0;

	area = tu_map(PAGES * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	ooh_tracker *t = tu_open_range(b, 0, area, PAGES * PG);
	atomic_store(&epoch, 0);
	atomic_store(&finished, 0);
	atomic_store(&collecting, true);
	for (size_t i = 0; i < WRITERS; i++)
		pthread_create(&th[i], NULL, writer, (void *)i);
	/* Collect k (k = 0, 1, ...) is the one made while epoch == k. */
	while (atomic_load(&finished) < WRITERS && n < MAX_COLLECTS - 1) {
		usleep(300);
		tu_collect(t, OOH_COLLECT_REARM, 97, &sets[n]);
		atomic_store(&epoch, ++n);
	}
	atomic_store(&collecting, false); /* writers waiting for an interval: go on */
	for (size_t i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	tu_collect(t, OOH_COLLECT_REARM, 4096, &sets[n]);
	n++;

	size_t lost = 0, overflowed = 0;
	for (size_t i = 0; i < WRITERS; i++)
		for (size_t w = 0; w < WRITES; w++) {
			const struct rec *r = &recs[i][w];
			uint64_t a = (uint64_t)(uintptr_t)(area + r->page * PG);
			int found = 0;
			for (unsigned k = r->e1; k <= r->e2 + 1 && k < n && !found; k++)
				found = tu_contains(&sets[k], a) || (sets[k].flags & OOH_RESULT_OVERFLOW);
			if (!found && lost++ < 5)
				fprintf(stderr, "%s: write to page %u stamped (%u,%u) never reported\n",
					ooh_backend_name(b), r->page, r->e1, r->e2);
		}
	for (unsigned k = 0; k < n; k++) {
		overflowed += !!(sets[k].flags & OOH_RESULT_OVERFLOW);
		tu_free(&sets[k]);
	}
	fprintf(stderr, "%s: %u collects, %d writes, %zu overflowed intervals\n", ooh_backend_name(b), n,
		WRITERS * WRITES, overflowed);
	ck_assert_msg(lost == 0, "%s: %zu writes lost", ooh_backend_name(b), lost);
	ck_assert_msg(n > 3, "writers finished before any interval overlapped them");
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(area, PAGES * PG);
}
END_TEST

/* The same handle used from several threads at once. */
static ooh_tracker *shared_t;

static void *collector(void *arg)
{
	(void)arg;
	uint64_t buf[16];
	struct ooh_collect_result res;
	for (int i = 0; i < 200; i++) {
		int err = ooh_collect(shared_t, buf, 16, OOH_COLLECT_REARM, &res);
		if (err)
			return (void *)(intptr_t)err;
	}
	return NULL;
}

START_TEST(handle_shared_by_threads)
{
	enum ooh_backend b = tu_backends[_i];
	pthread_t th[3];
	char *m = tu_map(64 * PG, MAP_PRIVATE | MAP_ANONYMOUS);

	shared_t = tu_open_range(b, 0, m, 64 * PG);
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, collector, NULL);
	for (int i = 0; i < 2000; i++)
		m[(i % 64) * PG] = (char)i;
	for (int i = 0; i < 3; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		ck_assert_int_eq((int)(intptr_t)ret, 0);
	}
	ck_assert_int_eq(ooh_close(shared_t), 0);
	munmap(m, 64 * PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-threads");
	TCase *tc = tcase_create("threads");

	tu_find_backends(tu_all);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, writers_vs_rearm, 0, tu_nr_backends);
	tcase_add_loop_test(tc, handle_shared_by_threads, 0, tu_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
