/* SPDX-License-Identifier: MIT */
/*
 * libooh-gc: Boehm GC in incremental/generational mode fed by libooh keeps
 * every live object (liveness-verified workload, see gc_workload.h), in
 * generational mode and with marking forced to be incremental; a feeder
 * that drops the dirty pages is caught by the same checks (so the checks
 * can fail); the LD_PRELOAD path works on an unmodified program.  Every
 * case runs in libooh-gc's modes: Boehm's soft-dirty VDB answered from
 * libooh, Boehm's manual VDB (the default) tracking Boehm's heap only (the
 * default) and tracking libgc's own memory too (OOH_GC_HEAP_ONLY=0).
 *
 * Each test runs in its own process (Check forks), where the collector is
 * initialised for the first time.
 */
#define GC_THREADS /* before gc.h: threads are registered with the collector */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "ooh.h"
#include "ooh_gc.h"
#include "gc_workload.h"
#include "ooh_check.h"

#define ROUNDS 30
#define STEPS 4000
#define GARBAGE 4

/* _i 0: libooh-gc's soft-dirty emulation (the default), Boehm's heap
 * tracked, garbage pages left unprotected (the defaults); 1: Boehm's manual
 * VDB, the same; 2: manual VDB, every page libgc maps tracked (its own
 * memory too: OOH_GC_HEAP_ONLY=0) and protected again at every collection
 * (OOH_GC_HOT=0). */
static void set_vdb(int i)
{
	setenv("OOH_GC_VDB", i ? "manual" : "soft", 1);
	setenv("OOH_GC_HEAP_ONLY", i == 2 ? "0" : "1", 1);
	setenv("OOH_GC_HOT", i == 2 ? "0" : "1", 1);
}

static uint64_t run_workload(struct wl_state *s)
{
	ck_assert_int_eq(wl_init(s, WL_NSLOT * WL_LEN + (uint64_t)ROUNDS * STEPS + 16, 12345), 0);
	uint64_t errors = wl_run(s, ROUNDS, STEPS, GARBAGE);
	wl_free(s);
	return errors;
}

START_TEST(generational_keeps_live_objects)
{
	set_vdb(_i);
	struct wl_state s;
	struct ooh_gc_stats st;

	ck_assert_int_eq(ooh_gc_enable(), 0);
	GC_INIT();
	ck_assert(GC_is_incremental_mode());
	uint64_t errors = run_workload(&s);
	ooh_gc_get_stats(&st);
	printf("gc: %lu collections, %llu feeds, %llu pages fed, %llu rebuilds, backend %s, "
	       "%llu finalized, errors %llu\n",
	       (unsigned long)GC_get_gc_no(), (unsigned long long)st.feeds,
	       (unsigned long long)st.pages_fed, (unsigned long long)st.rebuilds,
	       ooh_backend_name((enum ooh_backend)st.backend), (unsigned long long)s.finalized,
	       (unsigned long long)errors);
	ck_assert_uint_eq(errors, 0);
	ck_assert_uint_ge(GC_get_gc_no(), 10);
	ck_assert_uint_ge(st.feeds, 10);
	ck_assert_uint_gt(st.pages_fed, 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_int_eq(st.soft_vdb, _i == 0);
	/* heap only: libgc's own memory (block headers, mark stack) untracked,
	 * and every heap page was found where the heap grew (here live and dead
	 * nodes share blocks: few pages hold only garbage, to be left
	 * unprotected; auto_backend_is_best_here sees that) */
	printf("gc: %llu KiB tracked, %llu KiB of libgc's own untracked, %llu pages kept unprotected\n",
	       (unsigned long long)st.tracked_bytes / 1024, (unsigned long long)st.untracked_bytes / 1024,
	       (unsigned long long)st.pages_kept_hot);
	if (_i == 2) {
		ck_assert_uint_eq(st.untracked_bytes, 0);
		ck_assert_uint_eq(st.pages_kept_hot, 0);
	} else {
		ck_assert_uint_gt(st.untracked_bytes, 0);
	}
	ck_assert_uint_eq(st.untracked_heap, 0);
	/* garbage really was collected (the test would be vacuous otherwise) */
	ck_assert_uint_gt(s.finalized, (uint64_t)ROUNDS * STEPS / 2);
}
END_TEST

START_TEST(incremental_marking_keeps_live_objects)
{
	set_vdb(_i);
	struct wl_state s;
	struct ooh_gc_stats st;

	ck_assert_int_eq(ooh_gc_enable(), 0);
	GC_INIT();
	GC_set_time_limit(0); /* abandon stopped marking at once: mark between mutations */
	GC_set_full_freq(2);  /* mix full and partial collections */
	uint64_t errors = run_workload(&s);
	ooh_gc_get_stats(&st);
	ck_assert_uint_eq(errors, 0);
	ck_assert_uint_ge(st.feeds, 10);
	ck_assert_uint_gt(s.finalized, (uint64_t)ROUNDS * STEPS / 2);
}
END_TEST

/*
 * Heap pages the classification misses (OOH_GC_TEST_MISS: the inner blocks
 * of free blocks, which have no header yet) are found at the first
 * collection after Boehm puts a header there - while classifying after a
 * growth, or by the check that no untracked page libgc mapped has one -
 * and tracked and reported then: nothing is lost.
 */
START_TEST(missed_heap_pages_are_caught)
{
	set_vdb(_i);
	setenv("OOH_GC_TEST_MISS", "1", 1);
	struct wl_state s;
	struct ooh_gc_stats st;

	ck_assert_int_eq(ooh_gc_enable(), 0);
	GC_INIT();
	/* one big free block, carved up as the workload allocates */
	ck_assert(GC_expand_hp(64 << 20));
	uint64_t errors = run_workload(&s);
	ooh_gc_get_stats(&st);
	printf("gc: missed heap pages found later: %llu runs (%llu feeds without growth), errors %llu\n",
	       (unsigned long long)st.heap_found_late, (unsigned long long)st.untracked_heap,
	       (unsigned long long)errors);
	ck_assert_uint_eq(errors, 0);
	ck_assert_uint_gt(st.heap_found_late, 0);
	ck_assert_uint_gt(s.finalized, (uint64_t)ROUNDS * STEPS / 2);
}
END_TEST

START_TEST(auto_backend_is_best_here)
{
	set_vdb(_i);
	struct ooh_backend_info info;
	struct ooh_gc_stats st;

	ck_assert_int_eq(ooh_gc_enable(), 0);
	GC_INIT();
	for (int i = 0; i < 200000; i++)
		(void)GC_MALLOC(64);
	GC_gcollect();
	ooh_gc_get_stats(&st);
	ck_assert_int_eq(st.enabled, 1);
	ck_assert_uint_gt(st.tracked_bytes, 0);
	ooh_probe(OOH_BACKEND_PAGEMAP, &info);
	if (info.status == 0)
		ck_assert_int_eq(st.backend, OOH_BACKEND_PAGEMAP);
	/* garbage only: its pages stay unprotected for the allocator (pagemap:
	 * ooh_mark_dirty() stops watching) */
	if (st.backend == OOH_BACKEND_PAGEMAP)
		ck_assert_uint_gt(st.pages_kept_hot, 0);
}
END_TEST

/*
 * Three threads mutate their own slot arrays at once (the world is stopped
 * by signals for each collection): every slot must still hold the node the
 * thread stored last, with the fresh node hung below an old one intact.
 */
#define MT_THREADS 3
#define MT_SLOTS 4096
struct mt_node {
	uint64_t canary, id;
	struct mt_node *next;
	uint64_t pad[5];
};
static struct mt_node **volatile mt_roots[MT_THREADS];
static uint64_t mt_bad[MT_THREADS];

static void *mt_worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t x = 88172645463325252ull + (uint64_t)t, id = 1;
	struct mt_node **slots = GC_MALLOC(MT_SLOTS * sizeof(*slots));
	uint64_t *model = calloc(MT_SLOTS, sizeof(*model));
	if (!slots || !model)
		abort();
	mt_roots[t] = slots;
	for (int i = 0; i < MT_SLOTS; i++) {
		struct mt_node *a = GC_MALLOC(sizeof(*a));
		a->id = id++;
		a->canary = a->id ^ (uintptr_t)a;
		slots[i] = a;
		model[i] = a->id;
	}
	for (long k = 0; k < 200000; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int i = (int)(x % MT_SLOTS), j = (int)((x >> 20) % MT_SLOTS);
		struct mt_node *a = GC_MALLOC(sizeof(*a));
		a->id = id++;
		a->canary = a->id ^ (uintptr_t)a;
		a->next = NULL;
		slots[i] = a; /* store into the old slot array */
		model[i] = a->id;
		struct mt_node *b = GC_MALLOC(sizeof(*b));
		b->id = 0;
		b->canary = (uintptr_t)b;
		slots[j]->next = b; /* a fresh node below an old one */
		for (int g = 0; g < 3; g++) {
			uint64_t *junk = GC_MALLOC(sizeof(struct mt_node));
			for (int w = 0; w < 8; w++)
				junk[w] = 0xdeadbeefull;
		}
	}
	for (int i = 0; i < MT_SLOTS; i++) {
		struct mt_node *a = slots[i];
		if (a->id != model[i] || a->canary != (a->id ^ (uintptr_t)a) ||
		    (a->next && a->next->canary != (uintptr_t)a->next))
			mt_bad[t]++;
	}
	free(model);
	return NULL;
}

static uint64_t mt_run(void)
{
	pthread_t th[MT_THREADS];
	uint64_t bad = 0;
	GC_allow_register_threads();
	for (int t = 0; t < MT_THREADS; t++)
		if (GC_pthread_create(&th[t], NULL, mt_worker, (void *)(intptr_t)t))
			abort();
	for (int t = 0; t < MT_THREADS; t++)
		GC_pthread_join(th[t], NULL);
	for (int t = 0; t < MT_THREADS; t++)
		bad += mt_bad[t];
	return bad;
}

/* Threads allocating and checking their lists; returns libooh-gc's stats. */
static struct ooh_gc_stats threads_keep_live(void)
{
	struct ooh_gc_stats st;
	ck_assert_int_eq(ooh_gc_enable(), 0);
	GC_INIT();
	uint64_t bad = mt_run();
	ooh_gc_get_stats(&st);
	printf("threads: %lu collections, %llu pages fed, %llu bad slots\n", (unsigned long)GC_get_gc_no(),
	       (unsigned long long)st.pages_fed, (unsigned long long)bad);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_ge(st.feeds, 10);
	return st;
}

START_TEST(threads_keep_live_objects)
{
	set_vdb(_i);
	threads_keep_live();
}
END_TEST

/*
 * The same on libooh's mprotect backend, where a write to a tracked page is
 * a SIGSEGV: Boehm's marker threads block every signal but its own (they
 * died on their first mark byte: libooh-gc keeps SIGSEGV unblocked in
 * threads libgc starts), and Boehm suspends threads with signals, also in
 * the middle of libooh's SIGSEGV handler (closing a tracker then waited for
 * that handler forever: now it does not).
 */
START_TEST(threads_on_mprotect_backend)
{
	set_vdb(_i);
	setenv("OOH_GC_BACKEND", "mprotect", 1);
	ck_assert_int_eq(threads_keep_live().backend, OOH_BACKEND_MPROTECT);
}
END_TEST

START_TEST(threads_dropped_pages_are_caught)
{
	set_vdb(_i);
	setenv("OOH_GC_TEST_DROP", "1", 1);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(20); /* a collector fed wrong may also loop forever */
		if (ooh_gc_enable())
			_exit(3);
		GC_INIT();
		_exit(mt_run() ? 1 : 0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* 1: wrong slots; a signal: crashed or hung (SIGALRM) on lost objects */
	ck_assert_msg((WIFEXITED(status) && WEXITSTATUS(status) == 1) || WIFSIGNALED(status),
		      "broken feeder not detected with threads (status %#x)", status);
}
END_TEST

/* Negative control: the same checks catch a feeder that misses pages. */
START_TEST(dropped_dirty_pages_are_caught)
{
	set_vdb(_i);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct wl_state s;
		setenv("OOH_GC_TEST_DROP", "1", 1);
		if (ooh_gc_enable())
			_exit(3);
		GC_INIT();
		if (wl_init(&s, WL_NSLOT * WL_LEN + (uint64_t)ROUNDS * STEPS + 16, 12345))
			_exit(3);
		uint64_t errors = wl_run(&s, ROUNDS, STEPS, GARBAGE);
		_exit(errors ? 1 : 0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* 1: errors reported; killed by a signal: the lost objects crashed it */
	ck_assert_msg((WIFEXITED(status) && WEXITSTATUS(status) == 1) || WIFSIGNALED(status),
		      "broken feeder not detected (status %#x)", status);
}
END_TEST

START_TEST(refuses_after_gc_init_and_bad_backend)
{
	set_vdb(_i);
	setenv("OOH_GC_BACKEND", "nonsense", 1);
	ck_assert_int_eq(ooh_gc_enable(), -EINVAL);
	unsetenv("OOH_GC_BACKEND");
	setenv("OOH_GC_VDB", "nonsense", 1);
	ck_assert_int_eq(ooh_gc_enable(), -EINVAL);
	set_vdb(_i);
	GC_INIT();
	ck_assert_int_eq(ooh_gc_enable(), -EBUSY);
	ck_assert(!GC_is_incremental_mode());
}
END_TEST

/* An unmodified -lgc program (ooh-gc-bench args...) under LD_PRELOAD. */
static int run_bench(char *out, size_t cap, const char *const *args)
{
	int fd[2];
	pid_t pid;
	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		setenv("LD_PRELOAD", OOH_BINDIR "/../lib/libooh-gc.so", 1);
		setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
		execv(OOH_BINDIR "/ooh-gc-bench", (char *const *)args);
		_exit(127);
	}
	close(fd[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(fd[0], out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(fd[0]);
	int status;
	waitpid(pid, &status, 0);
	return status;
}

static int run_preloaded(const char *drop, char *out, size_t cap)
{
	const char *const args[] = { "ooh-gc-bench", "--verify", NULL };

	if (drop)
		setenv("OOH_GC_TEST_DROP", drop, 1);
	int status = run_bench(out, cap, args);
	unsetenv("OOH_GC_TEST_DROP");
	return status;
}

START_TEST(ld_preload_unmodified_program)
{
	set_vdb(_i);
	char out[4096];
	int status = run_preloaded(NULL, out, sizeof(out));
	printf("%s", out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	ck_assert_ptr_nonnull(strstr(out, "verify: ok"));
	ck_assert_ptr_nonnull(strstr(out, "libooh-gc: on"));
	status = run_preloaded("1", out, sizeof(out));
	ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
		      "preloaded broken feeder not detected");
}
END_TEST

/*
 * ooh-gc-bench's kv workload (a hash map of records and values, a few
 * percent of them replaced, a young record stored into an old entry each
 * time), small here: every entry, record, edge and value checked at the
 * end, with libooh-gc preloaded; the benchmark's own comparison once, as
 * JSON, on GCBench.
 */
START_TEST(bench_kv_workload_and_json)
{
	set_vdb(_i);
	setenv("OOH_GC_BENCH_KV_KEYS", "131072", 1);
	char out[65536];
	const char *const kv[] = { "ooh-gc-bench", "--mode", "ooh", "--workload", "kv", NULL };
	int status = run_bench(out, sizeof(out), kv);
	printf("%s", out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "kv: status %#x", status);
	ck_assert_ptr_nonnull(strstr(out, "check=131072"));
	if (_i != 1)
		return;
	const char *const json[] = { "ooh-gc-bench", "--runs", "1", "--workload", "gcbench", "--json", NULL };
	status = run_bench(out, sizeof(out), json);
	printf("%s", out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "json: status %#x", status);
	ck_assert_ptr_nonnull(strstr(out, "{\"workload\":\"gcbench\",\"mode\":\"ooh-soft\""));
	ck_assert_ptr_nonnull(strstr(out, "\"gc_cpu_ratio\":"));
	ck_assert_ptr_nonnull(strstr(out, "\"longest_pause\":{"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("examples-gc");
	TCase *tc = tcase_create("gc");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, generational_keeps_live_objects, 0, 3);
	tcase_add_loop_test(tc, incremental_marking_keeps_live_objects, 0, 3);
	tcase_add_loop_test(tc, missed_heap_pages_are_caught, 0, 2);
	tcase_add_loop_test(tc, auto_backend_is_best_here, 0, 2);
	tcase_add_loop_test(tc, dropped_dirty_pages_are_caught, 0, 3);
	tcase_add_loop_test(tc, threads_keep_live_objects, 0, 3);
	tcase_add_loop_test(tc, threads_on_mprotect_backend, 0, 3);
	tcase_add_loop_test(tc, threads_dropped_pages_are_caught, 0, 3);
	tcase_add_loop_test(tc, refuses_after_gc_init_and_bad_backend, 0, 2);
	tcase_add_loop_test(tc, ld_preload_unmodified_program, 0, 3);
	tcase_add_loop_test(tc, bench_kv_workload_and_json, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ooh_check_main(suite());
}
