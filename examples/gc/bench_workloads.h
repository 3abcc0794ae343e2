/* SPDX-License-Identifier: MIT */
/*
 * ooh-gc-bench's workloads (header-only, for gc-bench.c).  Each has an
 * untimed setup, a timed run and an untimed check, which returns a result
 * that the bench compares with *expected (a collector that frees a live
 * object makes it wrong, or crashes the run).
 *
 *  gcbench  Ellis/Kovac/Boehm's GCBench in C: temporary binary trees of
 *           growing depth built top-down and bottom-up beside a long-lived
 *           tree (mutated a little between temporary trees) and a
 *           pointer-free array.
 *  alloc    8 M small objects of 2-33 words churning a 64 Ki-slot live set,
 *           each new object pointing to a live one (allocation-heavy).
 *  kv       a long-lived key-value store, as a server holds one: a hash map
 *           of 1 Mi entries (x scale), each with a record (a version, two
 *           edges to other entries) and a pointer-free value of 64-447
 *           bytes, about 350 MiB in all, built untimed; then 1.5 M requests
 *           (x scale; OOH_GC_BENCH_KV_KEYS=N: N keys, 1.5 N requests), skewed towards some keys (key = N u^3: 10 % of the
 *           keys get 46 % of the requests): 90 % read a record and check
 *           its version, 10 % replace it (a young record stored into an old
 *           entry), each allocating short-lived temporaries (a 512-byte
 *           buffer, three small linked objects).  Between two collections a
 *           few percent of the store's pages are written.  At the end every
 *           entry, record, edge and value is checked against a model kept
 *           in malloc() memory.
 */
#ifndef OOH_GC_BENCH_WORKLOADS_H
#define OOH_GC_BENCH_WORKLOADS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gc/gc.h>

static uint64_t bw_rng = 88172645463325252ull;

static uint64_t bw_rand(void)
{
	bw_rng ^= bw_rng << 13;
	bw_rng ^= bw_rng >> 7;
	bw_rng ^= bw_rng << 17;
	return bw_rng;
}

/* ---- GCBench ---- */
struct gnode {
	struct gnode *l, *r;
	long i, j;
};

static int tree_size(int d)
{
	return (1 << (d + 1)) - 1;
}

static struct gnode *gnew(struct gnode *l, struct gnode *r)
{
	struct gnode *n = GC_MALLOC(sizeof(*n));
	if (!n)
		abort();
	n->l = l;
	n->r = r;
	return n;
}

static void populate(int d, struct gnode *n)
{
	if (d <= 0)
		return;
	d--;
	n->l = gnew(NULL, NULL);
	n->r = gnew(NULL, NULL);
	populate(d, n->l);
	populate(d, n->r);
}

static struct gnode *make_tree(int d)
{
	return d <= 0 ? gnew(NULL, NULL) : gnew(make_tree(d - 1), make_tree(d - 1));
}

static struct gnode *volatile long_lived;
static double *volatile long_array;

static void gcbench_setup(int scale)
{
	(void)scale;
}

static long gcbench_check, gcbench_expected;

static void gcbench_run(int scale)
{
	const int stretch = 16 + (scale > 2 ? 2 : scale - 1), long_depth = 16, min_d = 4,
		  max_d = 14 + (scale > 2 ? 2 : scale - 1);
	(void)make_tree(stretch);
	long_lived = gnew(NULL, NULL);
	populate(long_depth, long_lived);
	long_array = GC_MALLOC_ATOMIC(500000 * sizeof(double));
	for (int i = 0; i < 500000; i++)
		long_array[i] = 1.0 / (i + 1);
	for (int rep = 0; rep < (scale > 2 ? scale - 1 : 1); rep++)
		for (int d = min_d; d <= max_d; d += 2) {
			int iters = 2 * tree_size(stretch) / tree_size(d);
			for (int i = 0; i < iters; i++) {
				struct gnode *t = gnew(NULL, NULL);
				populate(d, t);
				t = make_tree(d);
				gcbench_check += t->l != NULL && t->r != NULL;
				gcbench_expected++;
				/* mutate the long-lived structure a little */
				struct gnode *p = long_lived;
				for (int k = 0; k < 10 && p->l; k++)
					p = (i >> k) & 1 ? p->r : p->l;
				p->i = i;
			}
		}
	if (!long_lived || long_array[1000] != 1.0 / 1001)
		abort();
}

static long gcbench_done(long *expected)
{
	*expected = gcbench_expected;
	return gcbench_check;
}

/* ---- alloc: a 64 Ki-slot live set churned by small objects ---- */
#define ALLOC_SLOTS 65536
static void **volatile live_set;

static void alloc_setup(int scale)
{
	(void)scale;
}

static void alloc_run(int scale)
{
	long n = 8000000L * scale;

	live_set = GC_MALLOC(ALLOC_SLOTS * sizeof(void *));
	for (long i = 0; i < n; i++) {
		uint64_t r = bw_rand();
		size_t words = 2 + (r >> 59); /* 2..33 words */
		void **o = GC_MALLOC(words * sizeof(void *));
		if (!o)
			abort();
		o[0] = live_set[(r >> 20) % ALLOC_SLOTS]; /* points to another live object */
		o[1] = (void *)(uintptr_t)i;
		live_set[(r >> 3) % ALLOC_SLOTS] = o;
	}
}

static long alloc_done(long *expected)
{
	long sum = 0;

	for (long i = 0; i < ALLOC_SLOTS; i++)
		sum += live_set[i] != NULL;
	*expected = ALLOC_SLOTS;
	return sum;
}

/* ---- kv: a long-lived key-value store serving requests ---- */
struct kv_rec;
struct kv_entry {
	struct kv_entry *next; /* hash chain */
	uint64_t key;
	struct kv_rec *rec;
};

struct kv_rec {
	uint64_t key, version;
	struct kv_entry *peer[2]; /* edges of the object graph: older entries */
	unsigned char *val;       /* pointer-free */
	uint64_t len, sum;
};

static struct kv_entry **volatile kv_table; /* the only root */
static uint64_t kv_keys, kv_bits;
static uint32_t *kv_version; /* the model: malloc() memory, never scanned */
static uint64_t kv_errors;

static uint64_t kv_bucket(uint64_t key)
{
	return (key * 0x9e3779b97f4a7c15ull) >> (64 - kv_bits);
}

static struct kv_entry *kv_find(uint64_t key)
{
	struct kv_entry *e = kv_table[kv_bucket(key)];
	while (e && e->key != key)
		e = e->next;
	return e;
}

/* A key, skewed: N u^3 for u uniform in [0, 1). */
static uint64_t kv_skewed(void)
{
	double u = (double)(bw_rand() >> 11) / 9007199254740992.0;
	uint64_t k = (uint64_t)((double)kv_keys * u * u * u);
	return k < kv_keys ? k : kv_keys - 1;
}

static uint64_t kv_byte(uint64_t key, uint64_t version, uint64_t i)
{
	return (key * 31 + version * 17 + i) & 0xff;
}

static struct kv_rec *kv_new_rec(uint64_t key, uint64_t version, uint64_t older)
{
	struct kv_rec *r = GC_MALLOC(sizeof(*r));
	if (!r)
		abort();
	r->key = key;
	r->version = version;
	r->len = 64 + bw_rand() % 384;
	r->val = GC_MALLOC_ATOMIC(r->len);
	if (!r->val)
		abort();
	r->sum = 0;
	for (uint64_t i = 0; i < r->len; i++) {
		r->val[i] = (unsigned char)kv_byte(key, version, i);
		r->sum += r->val[i];
	}
	for (int k = 0; k < 2 && older; k++)
		r->peer[k] = kv_find(bw_rand() % older);
	return r;
}

static void kv_setup(int scale)
{
	const char *keys = getenv("OOH_GC_BENCH_KV_KEYS"); /* (tests: a small store) */

	kv_keys = keys && atoll(keys) > 0 ? (uint64_t)atoll(keys) : (1ull << 20) * (uint64_t)scale;
	for (kv_bits = 1; (1ull << kv_bits) < kv_keys; kv_bits++)
		;
	kv_version = calloc(kv_keys, sizeof(*kv_version));
	kv_table = GC_MALLOC((1ull << kv_bits) * sizeof(struct kv_entry *));
	if (!kv_version || !kv_table)
		abort();
	for (uint64_t k = 0; k < kv_keys; k++) {
		struct kv_entry *e = GC_MALLOC(sizeof(*e));
		if (!e)
			abort();
		e->key = k;
		e->rec = kv_new_rec(k, 0, k);
		e->next = kv_table[kv_bucket(k)];
		kv_table[kv_bucket(k)] = e;
	}
	GC_gcollect(); /* every mode starts the timed requests from the same heap */
}

/* One request: read or replace a record; temporaries become garbage. */
static void kv_request(void)
{
	uint64_t key = kv_skewed();
	struct kv_entry *e = kv_find(key);
	unsigned char *buf = GC_MALLOC_ATOMIC(512);
	void **tmp = NULL;

	if (!e || !buf)
		abort();
	memset(buf, (int)(key & 0xff), 64);
	for (int i = 0; i < 3; i++) {
		void **t = GC_MALLOC(6 * sizeof(void *));
		if (!t)
			abort();
		t[0] = tmp;
		t[1] = buf;
		t[2] = e;
		tmp = t;
	}
	if (bw_rand() % 10 == 0)
		e->rec = kv_new_rec(key, ++kv_version[key], kv_keys);
	else if (e->rec->key != key || e->rec->version != kv_version[key])
		kv_errors++;
}

/* Every entry, record, edge and value as the model says: how many are. */
static long kv_check(void)
{
	long good = 0;

	for (uint64_t k = 0; k < kv_keys; k++) {
		struct kv_entry *e = kv_find(k);
		struct kv_rec *r = e ? e->rec : NULL;
		int ok = r && r->key == k && r->version == kv_version[k];
		uint64_t sum = 0;
		for (uint64_t i = 0; ok && i < r->len; i++) {
			ok = r->val[i] == kv_byte(k, r->version, i);
			sum += r->val[i];
		}
		for (int p = 0; ok && p < 2; p++)
			ok = !r->peer[p] || (r->peer[p]->key < kv_keys && kv_find(r->peer[p]->key) == r->peer[p]);
		good += ok && sum == r->sum;
	}
	return good;
}

static void kv_run(int scale)
{
	long n = kv_keys == (1ull << 20) * (uint64_t)scale ? 1500000L * scale : (long)kv_keys * 3 / 2;

	for (long i = 0; i < n; i++)
		kv_request();
}

static long kv_done(long *expected)
{
	*expected = (long)kv_keys;
	return kv_errors ? -1 : kv_check();
}

struct bench_workload {
	const char *name;
	void (*setup)(int scale);          /* untimed */
	void (*run)(int scale);            /* timed */
	long (*done)(long *expected);      /* untimed: the result to check */
};

static const struct bench_workload bench_workloads[] = {
	{ "gcbench", gcbench_setup, gcbench_run, gcbench_done },
	{ "alloc", alloc_setup, alloc_run, alloc_done },
	{ "kv", kv_setup, kv_run, kv_done },
};
#define BENCH_WORKLOADS (sizeof(bench_workloads) / sizeof(bench_workloads[0]))

#endif
