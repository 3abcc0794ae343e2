/* SPDX-License-Identifier: MIT */
/*
 * Several writer threads on the same protected pages: while one thread's
 * permitted write is let through, no other thread's write to a protected
 * sub-page may land, and no permitted write may be lost.  Each writer owns
 * bytes in writable sub-pages and stamps them, checking its own stamp right
 * after each store; writers and a hammer thread keep trying the protected
 * sub-pages; every refusal must come with the exact address.  At the end
 * the protected sub-pages still hold their original bytes.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test-spp-util.h"

#define NT 4
#define ITER 400

static char *pages;
static atomic_int stop;
static atomic_ulong denied_tries, denied_caught, bad;

struct writer {
	int id;
	int npages;
};

static void *writer(void *arg)
{
	struct writer *w = arg;
	unsigned long tries = 0, caught = 0;

	for (int i = 1; i <= ITER; i++) {
		char *pg = pages + (size_t)(i % w->npages) * PG;
		/* Own bytes: writable sub-page 2*id, and 2*id + 8. */
		volatile char *own = pg + 2 * w->id * SP + (i % 16) * 8;
		volatile char *own2 = pg + (2 * w->id + 8) * SP + 127;
		if (ts_write8(own, (char)i) || ts_write8(own2, (char)(i + 1))) {
			atomic_fetch_add(&bad, 1); /* a permitted write refused */
			continue;
		}
		if (*own != (char)i || *own2 != (char)(i + 1))
			atomic_fetch_add(&bad, 1); /* lost */
		if (i % 3 == 0) {
			/* Protected sub-page 2*id + 1, varying offset. */
			volatile char *no = pg + (2 * w->id + 1) * SP + (i % SP);
			tries++;
			if (ts_write8(no, (char)0xee)) {
				if (ts_last.code == OOH_SEGV_SPPERR && ts_last.addr == (uintptr_t)no)
					caught++;
				else
					atomic_fetch_add(&bad, 1);
			}
		}
	}
	atomic_fetch_add(&denied_tries, tries);
	atomic_fetch_add(&denied_caught, caught);
	return NULL;
}

/* Keeps writing into protected sub-page 31 of every page. */
static void *hammer(void *arg)
{
	int npages = *(int *)arg;
	unsigned long tries = 0, caught = 0;

	for (unsigned i = 0; !atomic_load(&stop); i++) {
		volatile char *no = pages + (size_t)(i % npages) * PG + 31 * SP + (i % SP);
		tries++;
		if (ts_write8(no, (char)0xdd)) {
			if (ts_last.code == OOH_SEGV_SPPERR && ts_last.addr == (uintptr_t)no)
				caught++;
			else
				atomic_fetch_add(&bad, 1);
		}
	}
	atomic_fetch_add(&denied_tries, tries);
	atomic_fetch_add(&denied_caught, caught);
	return NULL;
}

static void run(int v, int npages)
{
	pthread_t th[NT], hm;
	struct writer w[NT];
	struct ooh_spp_stats st0, st1;
	uint32_t even = 0;
	ooh_spp *s;

	for (int i = 0; i < 32; i += 2)
		even |= 1u << i;
	pages = ts_map((size_t)npages * PG);
	memset(pages, 0, (size_t)npages * PG);
	ts_install_catcher();
	s = ts_open(v);
	ck_assert_int_eq(ooh_spp_protect(s, pages, (size_t)npages * PG, even), 0);
	ooh_spp_stats(&st0);
	ck_assert_int_eq(pthread_create(&hm, NULL, hammer, &npages), 0);
	for (int i = 0; i < NT; i++) {
		w[i] = (struct writer){ .id = i, .npages = npages };
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer, &w[i]), 0);
	}
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(hm, NULL);
	ooh_spp_stats(&st1);

	unsigned long nbad = atomic_load(&bad), tries = atomic_load(&denied_tries);
	unsigned long caught = atomic_load(&denied_caught);
	ck_assert_msg(nbad == 0, "%lu permitted writes refused or lost, or refusals misreported", nbad);
	ck_assert_uint_gt(tries, NT * ITER / 3);
	ck_assert_msg(caught == tries, "%lu of %lu protected writes caught", caught, tries);
	for (int p = 0; p < npages; p++)
		for (size_t i = 0; i < PG; i++)
			if ((i / SP) % 2)
				ck_assert_msg(pages[p * PG + i] == 0, "protected byte %zu of page %d written",
					      i, p);
	/* The last stamps are there. */
	for (int t = 0; t < NT; t++) {
		char *pg = pages + (size_t)(ITER % npages) * PG;
		ck_assert_int_eq(pg[2 * t * SP + (ITER % 16) * 8], (char)ITER);
		ck_assert_int_eq(pg[(2 * t + 8) * SP + 127], (char)(ITER + 1));
	}
	if (ts_backends[v] == OOH_SPP_BACKEND_MPROTECT) {
		fprintf(stderr, "threads(%d pages, %s): %lu permitted, %lu violations, %lu parked windows, %lu threads passed over\n",
			npages, st1.pkeys ? "pkeys" : "parking",
			(unsigned long)(st1.permitted - st0.permitted),
			(unsigned long)(st1.violations - st0.violations),
			(unsigned long)(st1.parks - st0.parks),
			(unsigned long)(st1.unparkable - st0.unparkable));
		ck_assert_uint_ge(st1.permitted - st0.permitted, 2 * NT * ITER);
		ck_assert_uint_eq(st1.pkeys, !ts_nopkeys[v] && ts_cpu_has_pkeys());
		if (st1.pkeys)
			ck_assert_uint_eq(st1.parks - st0.parks, 0); /* nobody stopped */
		else
			ck_assert_uint_gt(st1.parks - st0.parks, 0);
		/* Threads starting or exiting (glibc blocks every signal then) may be
		 * passed over, as often as a park falls in that window: a count the
		 * scheduler sets, so printed above, not asserted (it was 8 against
		 * a bound of 5 on a loaded machine); the protected bytes, which
		 * is what passing over must not cost, are checked above. */
	}
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(pages, (size_t)npages * PG);
}

START_TEST(same_page)
{
	run(_i, 1);
}
END_TEST

START_TEST(several_pages)
{
	run(_i, 3);
}
END_TEST

/* A thread that blocks every signal (sigwait style) cannot be parked: the
 * window still completes (after ~ms), and the thread is counted (parking
 * mechanism; with protection keys nobody is parked). */
static atomic_int blocking;

static void *blocker(void *arg)
{
	sigset_t all;
	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	atomic_store(&blocking, 1);
	while (!atomic_load(&stop))
		usleep(1000);
	return NULL;
}

START_TEST(thread_blocking_signals_does_not_hang)
{
	pthread_t t;
	ooh_spp *s;
	struct ooh_spp_stats a, b;
	char *m = ts_map(PG);

	ts_install_catcher();
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(3, 3)), 0);
	atomic_store(&blocking, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, blocker, NULL), 0);
	/* until it blocks signals: a loaded machine may run it late, and a
	 * thread that has not blocked yet is simply parked */
	while (!atomic_load(&blocking))
		usleep(1000);
	usleep(20000);
	ooh_spp_stats(&a);
	ts_expect_lands(&m[0], 1);
	ts_expect_lands(&m[1], 2);
	ts_expect_violation(&m[3 * SP], 3);
	ooh_spp_stats(&b);
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	if (ts_backends[_i] == OOH_SPP_BACKEND_MPROTECT && !b.pkeys)
		ck_assert_uint_ge(b.unparkable - a.unparkable, 1);
	else if (ts_backends[_i] == OOH_SPP_BACKEND_MPROTECT)
		ck_assert_uint_eq(b.unparkable - a.unparkable, 0); /* pkeys: nobody to park */
	ck_assert_int_eq(ooh_spp_close(s), 0);
}
END_TEST

/* Vectors changed (ooh_spp_protect) while threads write: sub-page 0 is
 * writable and sub-page 31 protected in both vectors, so writes there must
 * always land / always be refused; no deadlock between windows and calls. */
static ooh_spp *tog_spp;
static char *tog_page;

static void *tog_writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 1; i <= 300; i++) {
		volatile char *own = tog_page + id * 16 + (i % 16);
		if (ts_write8(own, (char)i) || *own != (char)i)
			atomic_fetch_add(&bad, 1);
		volatile char *no = tog_page + 31 * SP + (i % SP);
		if (ts_write8(no, 1) != 1 || ts_last.addr != (uintptr_t)no || *no != 0)
			atomic_fetch_add(&bad, 1);
		/* Sub-pages 1 and 2 change: either outcome, but no crash. */
		(void)ts_write8(tog_page + SP + (i % (2 * SP)), 2);
	}
	return NULL;
}

START_TEST(vectors_change_while_writing)
{
	uint32_t a = ts_guard(31, 31) & ts_guard(1, 1), b = ts_guard(31, 31) & ts_guard(2, 2);
	pthread_t th[3];

	tog_page = ts_map(PG);
	memset(tog_page, 0, PG);
	ts_install_catcher();
	tog_spp = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(tog_spp, tog_page, PG, a), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, tog_writer, (void *)(intptr_t)i), 0);
	for (int k = 0; k < 300; k++)
		ck_assert_int_eq(ooh_spp_protect(tog_spp, tog_page, PG, k % 2 ? a : b), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	unsigned long nbad = atomic_load(&bad);
	ck_assert_msg(nbad == 0, "%lu writes to the stable sub-pages went wrong", nbad);
	for (size_t i = 31 * SP; i < PG; i++)
		ck_assert_int_eq(tog_page[i], 0);
	ck_assert_int_eq(ooh_spp_protect(tog_spp, tog_page, PG, a), 0);
	ts_expect_violation(&tog_page[SP + 3], 5);
	ts_expect_lands(&tog_page[2 * SP + 3], 5);
	ck_assert_int_eq(ooh_spp_close(tog_spp), 0);
}
END_TEST

/* A thread that existed before the domain was opened reads and writes
 * like the others (protection keys: it never had the key's rights). */
static atomic_int go;
static char *early_page;
static atomic_int early_result = -1;

static void *early(void *arg)
{
	int sum = 0;
	(void)arg;
	while (!atomic_load(&go))
		usleep(1000);
	for (int i = 0; i < 256; i++)
		sum += early_page[i];
	if (sum != 256 || ts_write8(&early_page[7], 5) || early_page[7] != 5) {
		atomic_store(&early_result, 1);
		return NULL;
	}
	if (ts_write8(&early_page[200], 5) != 1 || ts_last.code != OOH_SEGV_SPPERR ||
	    ts_last.addr != (uintptr_t)&early_page[200] || early_page[200] != 1) {
		atomic_store(&early_result, 2);
		return NULL;
	}
	atomic_store(&early_result, 0);
	return NULL;
}

START_TEST(thread_older_than_domain)
{
	pthread_t t;
	ooh_spp *s;

	early_page = ts_map(PG);
	memset(early_page, 1, PG);
	ts_install_catcher();
	ck_assert_int_eq(pthread_create(&t, NULL, early, NULL), 0);
	usleep(10000);
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, early_page, PG, ts_guard(1, 1)), 0);
	atomic_store(&go, 1);
	pthread_join(t, NULL);
	ck_assert_int_eq(atomic_load(&early_result), 0);
	ck_assert_int_eq(ooh_spp_close(s), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-spp-threads");
	TCase *tc = tcase_create("spp-threads");

	ts_find_backends();
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, same_page, 0, ts_nr_backends);
	tcase_add_loop_test(tc, several_pages, 0, ts_nr_backends);
	tcase_add_loop_test(tc, thread_blocking_signals_does_not_hang, 0, ts_nr_backends);
	tcase_add_loop_test(tc, thread_older_than_domain, 0, ts_nr_backends);
	tcase_add_loop_test(tc, vectors_change_while_writing, 0, ts_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
