/* SPDX-License-Identifier: MIT */
/*
 * ooh_spp_update: the allocator's call that changes the vectors of pages a
 * domain already protects.  A sub-page it protects refuses writes at the
 * exact byte, one it opens takes them; the vectors read back; refusals
 * (-ENOENT for a page the domain does not protect, -EINVAL, -EBADF) change
 * nothing, checked page by page; release afterwards gives the page back;
 * updates from two threads while a third writes (no permitted write
 * refused or lost, every protected write refused at its address); and no
 * write judged by an old vector lands after the update returned.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test-spp-util.h"

/* Every page of m[0 .. n) has vector want[i] (ooh_spp_query). */
static void expect_masks(ooh_spp *s, char *m, const uint32_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t got = 0;
		ck_assert_int_eq(ooh_spp_query(s, m + i * PG, &got), 0);
		ck_assert_msg(got == want[i], "page %zu: vector %#x, expected %#x", i, got, want[i]);
	}
}

/* A writable sub-page becomes protected: refused at the exact byte. */
START_TEST(writable_to_protected)
{
	ooh_spp *s;
	char *m = ts_map(2 * PG);
	uint32_t masks[2] = { ts_guard(31, 31), ts_guard(0, 0) };
	uint32_t upd[2] = { ts_guard(3, 3) & ts_guard(31, 31), ts_guard(0, 1) };

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 'a', 2 * PG);
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, masks, 2), 0);
	ts_expect_lands(&m[3 * SP + 17], 'b');          /* writable before */
	ts_expect_lands(&m[PG + SP + 5], 'b');
	m[3 * SP + 17] = 'a';
	m[PG + SP + 5] = 'a';
	ck_assert_int_eq(ooh_spp_update(s, m, upd, 2), 0);
	expect_masks(s, m, upd, 2);
	ts_expect_violation(&m[3 * SP + 17], 'X');
	ck_assert_int_eq(ts_last.err, 0);
	ts_expect_violation(&m[3 * SP], 'X');           /* first and last byte */
	ts_expect_violation(&m[4 * SP - 1], 'X');
	ts_expect_violation(&m[PG + SP + 5], 'X');
	ts_expect_violation(&m[31 * SP], 'X');          /* still protected */
	ts_expect_violation(&m[PG], 'X');
	for (size_t i = 0; i < 2 * PG; i++) {
		uint32_t v = upd[i / PG];
		if (!(v & (1u << ((i % PG) / SP))))
			ck_assert_msg(m[i] == 'a', "protected byte %zu written", i);
	}
	ts_expect_lands(&m[2 * SP], 'c');               /* neighbours still writable */
	ts_expect_lands(&m[4 * SP], 'c');
	ts_expect_lands(&m[PG + 2 * SP], 'c');
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, 2 * PG);
}
END_TEST

/* A protected sub-page becomes writable: the write lands. */
START_TEST(protected_to_writable)
{
	ooh_spp *s;
	char *m = ts_map(PG);
	uint32_t v = ts_guard(6, 6);

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(5, 5)), 0);
	ts_expect_violation(&m[5 * SP + 9], 1);
	ck_assert_int_eq(ooh_spp_update(s, m, &v, 1), 0);
	expect_masks(s, m, &v, 1);
	for (size_t i = 5 * SP; i < 6 * SP; i++)
		ts_expect_lands(&m[i], (char)(i + 1));
	ts_expect_violation(&m[6 * SP], 2);
	ts_expect_violation(&m[7 * SP - 1], 2);
	for (size_t i = 6 * SP; i < 7 * SP; i++)
		ck_assert_int_eq(m[i], 0);
	/* And back: an update to a fully protected page. */
	v = 0;
	ck_assert_int_eq(ooh_spp_update(s, m, &v, 1), 0);
	for (size_t i = 0; i < PG; i += 127)
		ts_expect_violation(&m[i], 3);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	ts_expect_lands(&m[6 * SP], 4);
	munmap(m, PG);
}
END_TEST

/* Pages 0..3 as s sees them, page 4 as the other domain does (on the ooh
 * backend a domain's query sees only its own vectors). */
static void expect_all(ooh_spp *s, ooh_spp *other, char *m, const uint32_t *want)
{
	expect_masks(s, m, want, 4);
	expect_masks(other, m + 4 * PG, want + 4, 1);
}

/* -ENOENT: a page never protected, released, or another domain's; a mixed
 * batch changes none of its pages. */
START_TEST(enoent_changes_nothing)
{
	ooh_spp *s, *other;
	char *m = ts_map(5 * PG);
	uint32_t before[5] = { ts_guard(1, 1), OOH_SPP_ALL_WRITABLE, ts_guard(2, 2), ts_guard(3, 3),
			       ts_guard(4, 4) };
	uint32_t upd[5] = { 0, 0, 0, 0, 0 };

	ts_install_catcher();
	s = ts_open(_i);
	other = ts_open(_i);
	memset(m, 0, 5 * PG);
	/* Pages 0, 2, 3: s; page 1: nobody; page 4: the other domain. */
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, before, 4), 0);
	ck_assert_int_eq(ooh_spp_protect(other, m + 4 * PG, PG, before[4]), 0);
	expect_all(s, other, m, before);

	ck_assert_int_eq(ooh_spp_update(s, m, upd, 3), -ENOENT);        /* hole in the middle */
	expect_all(s, other, m, before);
	ck_assert_int_eq(ooh_spp_update(s, m + PG, upd, 1), -ENOENT);   /* the hole alone */
	ck_assert_int_eq(ooh_spp_update(s, m + 2 * PG, upd, 3), -ENOENT); /* other's page last */
	ck_assert_int_eq(ooh_spp_update(other, m + 3 * PG, upd, 2), -ENOENT); /* s's page first */
	expect_all(s, other, m, before);
	/* The refused updates changed nothing where it is enforced either. */
	ts_expect_lands(&m[0], 1);
	ts_expect_violation(&m[SP], 1);
	ts_expect_lands(&m[PG + SP], 1);
	ts_expect_lands(&m[2 * PG + SP], 1);
	ts_expect_violation(&m[2 * PG + 2 * SP], 1);
	ts_expect_violation(&m[4 * PG + 4 * SP], 1);
	ts_expect_lands(&m[4 * PG], 1);

	/* Released pages are not protected any more. */
	ck_assert_int_eq(ooh_spp_release(s, m + 3 * PG, PG), 0);
	before[3] = OOH_SPP_ALL_WRITABLE;
	ck_assert_int_eq(ooh_spp_update(s, m + 2 * PG, upd, 2), -ENOENT);
	expect_all(s, other, m, before);
	/* The other domain's own page is its to update. */
	ck_assert_int_eq(ooh_spp_update(other, m + 4 * PG, upd, 1), 0);
	before[4] = 0;
	expect_all(s, other, m, before);
	ts_expect_violation(&m[4 * PG], 2);
	/* What s does protect is still s's to update. */
	ck_assert_int_eq(ooh_spp_update(s, m + 2 * PG, upd, 1), 0);
	ts_expect_violation(&m[2 * PG], 2);
	ck_assert_int_eq(ooh_spp_close(other), 0);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, 5 * PG);
}
END_TEST

/* -EINVAL for every bad argument, -EBADF for a closed handle; nothing changes. */
START_TEST(einval_and_ebadf)
{
	ooh_spp *s;
	char *m = ts_map(2 * PG);
	uint32_t before[2] = { ts_guard(1, 1), ts_guard(2, 2) };
	uint32_t upd[2] = { 0, OOH_SPP_ALL_WRITABLE };
	uint32_t ok[2] = { 0, 0 };

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, 2 * PG);
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, before, 2), 0);
	ck_assert_int_eq(ooh_spp_update(s, m, upd, 2), -EINVAL);         /* ALL_WRITABLE second */
	ck_assert_int_eq(ooh_spp_update(s, m + PG, upd + 1, 1), -EINVAL);
	ck_assert_int_eq(ooh_spp_update(s, m + 1, ok, 1), -EINVAL);      /* unaligned */
	ck_assert_int_eq(ooh_spp_update(s, m + SP, ok, 1), -EINVAL);     /* sub-page aligned only */
	ck_assert_int_eq(ooh_spp_update(s, m, ok, 0), -EINVAL);
	ck_assert_int_eq(ooh_spp_update(s, m, NULL, 1), -EINVAL);
	ck_assert_int_eq(ooh_spp_update(s, m, ok, (size_t)OOH_SPP_UPDATE_MAX_PAGES + 1), -EINVAL);
	ck_assert_int_eq(ooh_spp_update(s, m, ok, (size_t)1 << 60), -EINVAL);
	ck_assert_int_eq(ooh_spp_update(s, (void *)(uintptr_t)0x7ffffffff000ull, ok, 1), -EINVAL);
	ck_assert_int_eq(ooh_spp_update(s, (void *)-PG, ok, 1), -EINVAL);
	ck_assert_int_eq(ooh_spp_update(NULL, m, ok, 1), -EBADF);
	expect_masks(s, m, before, 2);
	ts_expect_lands(&m[0], 1);
	ts_expect_violation(&m[SP], 1);
	ts_expect_violation(&m[PG + 2 * SP], 1);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	ck_assert_int_eq(ooh_spp_update(s, m, ok, 2), -EBADF);
	/* The close released everything, the refused update protected nothing. */
	for (size_t i = 0; i < 2 * PG; i += 64)
		ts_expect_lands(&m[i], 2);
	munmap(m, 2 * PG);
}
END_TEST

/* Many pages, each its own vector, read back; release after update. */
START_TEST(query_and_release)
{
	enum { N = 64 };
	ooh_spp *s;
	char *m = ts_map(N * PG);
	uint32_t masks[N], upd[N], all[N];

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, N * PG);
	for (int i = 0; i < N; i++) {
		masks[i] = ts_guard((unsigned)i % 32, (unsigned)i % 32);
		upd[i] = ~(0x9e3779b9u * (unsigned)(i + 1)) & ~1u; /* sub-page 0 always protected */
		all[i] = OOH_SPP_ALL_WRITABLE;
	}
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, masks, N), 0);
	ck_assert_int_eq(ooh_spp_update(s, m + PG, upd + 1, N - 2), 0); /* all but the ends */
	for (int i = 1; i < N - 1; i++)
		masks[i] = upd[i];
	expect_masks(s, m, masks, N);
	for (int i = 1; i < N - 1; i++) {
		ts_expect_violation(&m[(size_t)i * PG + 3], 1);
		for (unsigned sp = 1; sp < 32; sp += 5) {
			volatile char *p = &m[(size_t)i * PG + sp * SP + 7];
			if (upd[i] & (1u << sp))
				ts_expect_lands(p, 1);
			else
				ts_expect_violation(p, 1);
		}
	}
	/* Release after update: the pages are ordinary memory again. */
	ck_assert_int_eq(ooh_spp_release(s, m, N * PG), 0);
	expect_masks(s, m, all, N);
	for (size_t i = 0; i < N * PG; i += 61)
		ts_expect_lands(&m[i], 2);
	ck_assert_int_eq(ooh_spp_update(s, m, upd, 1), -ENOENT);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, N * PG);
}
END_TEST

/*
 * Two threads update different pages of one span (flipping sub-pages
 * 16..29 between protected and writable), while a third writes: to
 * sub-pages 0..15, writable in every vector used (every write must land,
 * none be refused), and to sub-page 31, protected in every vector (every
 * write refused at its address).  Counts exact.
 */
#define SPAN 4
#define UPD_ROUNDS 301 /* odd: the last vectors differ from the first */
#define WR_ROUNDS 3000

static char *span;
static ooh_spp *span_spp;
static atomic_int updaters_done;
static atomic_ulong upd_calls, upd_fail;

static uint32_t flip_mask(unsigned round, unsigned page)
{
	uint32_t low = 0xffffu;                      /* 0..15 writable */
	uint32_t mid = ((round * 7u + page) & 1) ? 0x3fff0000u : 0x15550000u & 0x3fff0000u;
	return low | mid | (1u << 30);               /* 31 protected, 30 writable */
}

static void *updater(void *arg)
{
	unsigned first = *(unsigned *)arg;

	for (unsigned r = 1; r <= UPD_ROUNDS; r++) {
		uint32_t v[2] = { flip_mask(r, first), flip_mask(r, first + 1) };
		if (ooh_spp_update(span_spp, span + first * PG, v, 2) != 0)
			atomic_fetch_add(&upd_fail, 1);
		atomic_fetch_add(&upd_calls, 1);
	}
	atomic_fetch_add(&updaters_done, 1);
	return NULL;
}

struct wr_result {
	unsigned long landed, refused_ok, bad, guard_tries;
};

static void *span_writer(void *arg)
{
	struct wr_result *res = arg;

	for (unsigned i = 0; i < WR_ROUNDS || atomic_load(&updaters_done) < 2; i++) {
		unsigned pg = i % SPAN;
		volatile char *own = span + pg * PG + (i % 16) * SP + (i % 120);
		char val = (char)(i * 13 + 1);
		if (ts_write8(own, val) || *own != val)
			res->bad++;
		else
			res->landed++;
		if (i % 4 == 0) {
			volatile char *no = span + pg * PG + 31 * SP + (i % SP);
			res->guard_tries++;
			if (ts_write8(no, 'Z') && ts_last.code == OOH_SEGV_SPPERR &&
			    ts_last.addr == (uintptr_t)no)
				res->refused_ok++;
			else
				res->bad++;
		}
	}
	return NULL;
}

START_TEST(threads_update_while_writing)
{
	pthread_t u[2], w;
	unsigned first[2] = { 0, 2 };
	struct wr_result res = { 0 };
	struct ooh_spp_stats st0, st1;
	uint32_t init[SPAN], final[SPAN];

	span = ts_map(SPAN * PG);
	memset(span, 0, SPAN * PG);
	ts_install_catcher();
	span_spp = ts_open(_i);
	for (unsigned p = 0; p < SPAN; p++)
		init[p] = flip_mask(0, p);
	ck_assert_int_eq(ooh_spp_protect_pages(span_spp, span, init, SPAN), 0);
	ooh_spp_stats(&st0);
	ck_assert_int_eq(pthread_create(&w, NULL, span_writer, &res), 0);
	for (int t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&u[t], NULL, updater, &first[t]), 0);
	for (int t = 0; t < 2; t++)
		pthread_join(u[t], NULL);
	pthread_join(w, NULL);
	ooh_spp_stats(&st1);

	ck_assert_uint_eq(atomic_load(&upd_calls), 2 * UPD_ROUNDS);
	ck_assert_uint_eq(atomic_load(&upd_fail), 0);
	ck_assert_msg(res.bad == 0, "%lu writes refused though permitted, lost, or misreported", res.bad);
	ck_assert_uint_ge(res.landed, WR_ROUNDS);
	ck_assert_uint_ge(res.guard_tries, WR_ROUNDS / 4);
	ck_assert_uint_eq(res.refused_ok, res.guard_tries);
	for (unsigned p = 0; p < SPAN; p++)
		for (size_t i = 31 * SP; i < PG; i++)
			ck_assert_msg(span[p * PG + i] == 0, "guard byte %zu of page %u written", i, p);
	/* The last vectors are in force. */
	for (unsigned p = 0; p < SPAN; p++)
		final[p] = flip_mask(UPD_ROUNDS, p);
	expect_masks(span_spp, span, final, SPAN);
	for (unsigned p = 0; p < SPAN; p++)
		for (unsigned sp = 16; sp < 30; sp++) {
			volatile char *q = &span[p * PG + sp * SP + 1];
			if (final[p] & (1u << sp))
				ts_expect_lands(q, 'q');
			else
				ts_expect_violation(q, 'q');
		}
	if (ts_backends[_i] == OOH_SPP_BACKEND_MPROTECT) {
		/* The writes went through windows: the pages stayed protected. */
		ck_assert_uint_ge(st1.permitted - st0.permitted, res.landed);
		ck_assert_uint_ge(st1.violations - st0.violations, res.refused_ok);
	}
	ck_assert_int_eq(ooh_spp_close(span_spp), 0);
	munmap(span, SPAN * PG);
}
END_TEST

/*
 * A write judged by the old vector never lands after the update returned:
 * a writer keeps storing into sub-page 9 while the main thread protects it,
 * reads it, waits, reads it again (no change allowed), and opens it again.
 */
static atomic_int late_stop;
static atomic_ulong late_landed;

static void *late_writer(void *arg)
{
	char *p = arg;

	for (unsigned i = 1; !atomic_load(&late_stop); i++)
		if (!ts_write8(p, (char)(2 * i + 1)))
			atomic_fetch_add(&late_landed, 1);
	return NULL;
}

START_TEST(no_write_after_update)
{
	enum { ROUNDS = 400 };
	ooh_spp *s;
	char *m = ts_map(PG);
	volatile char *x = m + 9 * SP + 40;
	uint32_t open_v = ts_guard(31, 31), shut_v = ts_guard(9, 9) & ts_guard(31, 31);
	unsigned long late = 0, landed_before;
	pthread_t w;

	memset(m, 0, PG);
	ts_install_catcher();
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, open_v), 0);
	ck_assert_int_eq(pthread_create(&w, NULL, late_writer, (void *)x), 0);
	while (atomic_load(&late_landed) < 10)
		sched_yield();
	for (int r = 0; r < ROUNDS; r++) {
		ck_assert_int_eq(ooh_spp_update(s, m, &shut_v, 1), 0);
		char a = *x;
		for (int k = 0; k < 2000; k++)
			__asm__ volatile("pause");
		sched_yield();
		if (*x != a)
			late++;
		ck_assert_int_eq(ooh_spp_update(s, m, &open_v, 1), 0);
		landed_before = atomic_load(&late_landed);
		while (atomic_load(&late_landed) == landed_before)
			sched_yield(); /* a write lands while open: the race is real */
	}
	atomic_store(&late_stop, 1);
	pthread_join(w, NULL);
	ck_assert_msg(late == 0, "%lu of %d rounds saw a write land after the update returned", late,
		      ROUNDS);
	ck_assert_uint_ge(atomic_load(&late_landed), 10 + ROUNDS);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, PG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-spp-update");
	TCase *tc = tcase_create("spp-update");

	ts_find_backends();
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, writable_to_protected, 0, ts_nr_backends);
	tcase_add_loop_test(tc, protected_to_writable, 0, ts_nr_backends);
	tcase_add_loop_test(tc, enoent_changes_nothing, 0, ts_nr_backends);
	tcase_add_loop_test(tc, einval_and_ebadf, 0, ts_nr_backends);
	tcase_add_loop_test(tc, query_and_release, 0, ts_nr_backends);
	tcase_add_loop_test(tc, threads_update_while_writing, 0, ts_nr_backends);
	tcase_add_loop_test(tc, no_write_after_update, 0, ts_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
