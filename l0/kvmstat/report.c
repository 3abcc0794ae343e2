// SPDX-License-Identifier: MIT
/*
 * Snapshots of the BPF maps and their printing. The kernel side only ever
 * adds; a report is the difference between two snapshots, so an event that
 * lands while the maps are read counts in the next report, never nowhere.
 */
#include "report.h"
#include "names.h"
#include "ooh-kvmstat.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const size_t key_sizes[NR_TABLES] = {
	[T_EXITS] = sizeof(struct kvmstat_exit_key),
	[T_VCPUS] = sizeof(struct kvmstat_vcpu_key),
	[T_UEXITS] = sizeof(struct kvmstat_uexit_key),
	[T_OPS] = sizeof(struct kvmstat_op_key),
	[T_SESSIONS] = sizeof(struct kvmstat_session_key),
	[T_VIOLATIONS] = sizeof(struct kvmstat_violation_key),
};

static const size_t val_sizes[NR_TABLES] = {
	[T_EXITS] = sizeof(struct kvmstat_lat),
	[T_VCPUS] = sizeof(struct kvmstat_vcpu_val),
	[T_UEXITS] = sizeof(uint64_t),
	[T_OPS] = sizeof(struct kvmstat_op_val),
	[T_SESSIONS] = sizeof(struct kvmstat_session_val),
	[T_VIOLATIONS] = sizeof(uint64_t),
};

static size_t sort_key_size;

static int cmp_entry(const void *a, const void *b)
{
	return memcmp(a, b, sort_key_size);
}

static bool all_zero(const uint64_t *v, size_t words)
{
	for (size_t w = 0; w < words; w++)
		if (v[w])
			return false;
	return true;
}

/*
 * entries (n of them, each a key then its value) into t: sorted by key,
 * the values of equal keys summed.
 */
static int table_build(struct table *t, unsigned char *entries, size_t n, size_t key_size,
		       size_t val_size)
{
	size_t entry = key_size + val_size, m = 0;

	if (val_size > 64 * sizeof(uint64_t))
		return -EINVAL;
	sort_key_size = key_size;
	if (n)	/* entries is NULL for an empty map */
		qsort(entries, n, entry, cmp_entry);
	t->key_size = key_size;
	t->words = val_size / sizeof(uint64_t);
	t->keys = malloc(n * key_size + 1);
	t->vals = malloc(n * val_size + 1);
	if (!t->keys || !t->vals)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = entries + i * entry;
		uint64_t v[64];

		memcpy(v, e + key_size, val_size);
		if (m && !memcmp(t->keys + (m - 1) * key_size, e, key_size)) {
			for (size_t w = 0; w < t->words; w++)
				t->vals[(m - 1) * t->words + w] += v[w];
			continue;
		}
		memcpy(t->keys + m * key_size, e, key_size);
		memcpy(t->vals + m * t->words, v, val_size);
		m++;
	}
	t->n = m;
	return 0;
}

/* A growing array of entries (key then value). */
struct entries {
	unsigned char *buf;
	size_t n, cap, size;
};

static unsigned char *entries_add(struct entries *e)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		unsigned char *bigger = realloc(e->buf, cap * e->size);

		if (!bigger)
			return NULL;
		e->buf = bigger;
		e->cap = cap;
	}
	return e->buf + e->n++ * e->size;
}

/* Reads a whole map into t. */
static int table_read(struct table *t, int fd, size_t key_size, size_t val_size)
{
	struct entries e = { .size = key_size + val_size };
	unsigned char key[64], next[64], *kv;
	void *prev = NULL;
	int err;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		kv = entries_add(&e);
		if (!kv) {
			free(e.buf);
			return -ENOMEM;
		}
		memcpy(kv, next, key_size);
		if (bpf_map_lookup_elem(fd, next, kv + key_size) != 0)
			e.n--;	/* deleted meanwhile */
		memcpy(key, next, key_size);
		prev = key;
	}
	err = table_build(t, e.buf, e.n, key_size, val_size);
	free(e.buf);
	return err;
}

/* t's rows, then room for more: the start of a rebuild with added rows. */
static int entries_of(struct entries *e, const struct table *t)
{
	size_t val_size = t->words * sizeof(uint64_t);

	*e = (struct entries){ .size = t->key_size + val_size };
	for (size_t i = 0; i < t->n; i++) {
		unsigned char *kv = entries_add(e);

		if (!kv)
			return -ENOMEM;
		memcpy(kv, t->keys + i * t->key_size, t->key_size);
		memcpy(kv + t->key_size, t->vals + i * t->words, val_size);
	}
	return 0;
}

static int table_rebuild(struct table *t, struct entries *e)
{
	struct table old = *t;
	int err = table_build(t, e->buf, e->n, old.key_size, old.words * sizeof(uint64_t));

	free(old.keys);
	free(old.vals);
	free(e->buf);
	return err;
}

static int add_row(struct entries *e, const void *key, size_t key_size, const void *val,
		   size_t val_size)
{
	unsigned char *kv = entries_add(e);

	if (!kv)
		return -ENOMEM;
	memcpy(kv, key, key_size);
	memcpy(kv + key_size, val, val_size);
	return 0;
}

/* One thread's counters as rows of the vcpus, uexits and exits tables. */
static int thread_rows(struct entries *vc, struct entries *ux, struct entries *ex,
		       const struct kvmstat_thread *th)
{
	struct kvmstat_vcpu_key vk = { th->tgid, th->vcpu, 0, 0 };
	uint64_t n[KVMSTAT_NR_VCPU_COUNTERS];
	int err = 0;

	memcpy(n, th->n, sizeof(n));
	if (!all_zero(n, KVMSTAT_NR_VCPU_COUNTERS))
		err = add_row(vc, &vk, sizeof(vk), n, sizeof(n));
	for (__u32 r = 0; r < KVMSTAT_NR_UEXITS && !err; r++) {
		struct kvmstat_uexit_key k = { th->tgid, th->vcpu, r, 0 };

		if (th->uexits[r])
			err = add_row(ux, &k, sizeof(k), &th->uexits[r], sizeof(__u64));
	}
	for (int slot = 0; slot < KVMSTAT_NR_REASON_SLOTS && !err; slot++) {
		struct kvmstat_exit_key k = { th->tgid, th->vcpu, th->isa,
					      kvmstat_slot_reason(th->isa, slot), 0, 0 };
		struct kvmstat_lat l = { .count = th->exits[slot], .ns = th->exit_ns[slot] };

		if (l.count)
			err = add_row(ex, &k, sizeof(k), &l, sizeof(l));
	}
	return err;
}

/*
 * The counters vCPU threads keep themselves (struct kvmstat_thread, at the
 * start of each value of the map threads), added to the vcpus, uexits and
 * exits tables.
 */
static int fold_threads(struct snapshot *s, int fd, size_t value_size)
{
	static const int folded[] = { T_VCPUS, T_UEXITS, T_EXITS };
	struct entries e[3] = { { 0 } };
	__u32 key, next, *prev = NULL;
	unsigned char *value = malloc(value_size);
	int err = -ENOMEM;

	if (!value || value_size < sizeof(struct kvmstat_thread)) {
		free(value);
		return value ? -EINVAL : -ENOMEM;
	}
	for (int i = 0; i < 3; i++)
		if (entries_of(&e[i], &s->t[folded[i]]))
			goto out;
	err = 0;
	while (!err && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, value) == 0)
			err = thread_rows(&e[0], &e[1], &e[2], (const void *)value);
	}
	for (int i = 0; i < 3 && !err; i++) {
		err = table_rebuild(&s->t[folded[i]], &e[i]);
		e[i].buf = NULL;
	}
out:
	for (int i = 0; i < 3; i++)
		free(e[i].buf);
	free(value);
	return err;
}

/*
 * ooh.ko fires a session's start event after its EPML hooks are in place,
 * so the first switch-in comes before the start that labels the session:
 * those counts are under the session's id and target without labels
 * (mode 0), and join the one labelled row they match here. (l0 reuses ids:
 * a row that matches two stays apart, as does a session that started
 * before ooh-kvmstat did.)
 */
static void join_unlabelled_sessions(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct kvmstat_session_key *k = (void *)(t->keys + i * t->key_size);
		size_t match = SIZE_MAX, matches = 0;

		if (k->mode)
			continue;
		for (size_t j = 0; j < t->n; j++) {
			struct kvmstat_session_key *l = (void *)(t->keys + j * t->key_size);

			if (l->mode && l->session == k->session && (!k->target || l->target == k->target)) {
				match = j;
				matches++;
			}
		}
		if (matches != 1)
			continue;
		for (size_t w = 0; w < t->words; w++) {
			t->vals[match * t->words + w] += t->vals[i * t->words + w];
			t->vals[i * t->words + w] = 0;
		}
	}
}

int snapshot_read(struct snapshot *s, const int fds[NR_TABLES], int threads_fd,
		  size_t thread_size)
{
	int err = 0;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < NR_TABLES && !err; i++)
		err = table_read(&s->t[i], fds[i], key_sizes[i], val_sizes[i]);
	if (!err && threads_fd >= 0)
		err = fold_threads(s, threads_fd, thread_size);
	if (err) {
		snapshot_free(s);
		return err;
	}
	join_unlabelled_sessions(&s->t[T_SESSIONS]);
	return 0;
}

void snapshot_free(struct snapshot *s)
{
	for (int i = 0; i < NR_TABLES; i++) {
		free(s->t[i].keys);
		free(s->t[i].vals);
	}
	memset(s, 0, sizeof(*s));
}

static const uint64_t *find(const struct table *t, const unsigned char *key)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(t->keys + mid * t->key_size, key, t->key_size);

		if (c == 0)
			return t->vals + mid * t->words;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int snapshot_diff(struct snapshot *out, const struct snapshot *cur, const struct snapshot *prev)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < NR_TABLES; i++) {
		const struct table *c = &cur->t[i], *p = prev ? &prev->t[i] : NULL;
		struct table *o = &out->t[i];

		*o = (struct table){ c->key_size, c->words, 0, malloc(c->n * c->key_size + 1),
				     malloc(c->n * c->words * sizeof(uint64_t) + 1) };
		if (!o->keys || !o->vals) {
			snapshot_free(out);
			return -ENOMEM;
		}
		for (size_t e = 0; e < c->n; e++) {
			const unsigned char *key = c->keys + e * c->key_size;
			const uint64_t *was = p ? find(p, key) : NULL;
			uint64_t *v = o->vals + o->n * o->words;

			for (size_t w = 0; w < c->words; w++)
				v[w] = c->vals[e * c->words + w] - (was ? was[w] : 0);
			if (all_zero(v, o->words))
				continue;
			memcpy(o->keys + o->n * o->key_size, key, c->key_size);
			o->n++;
		}
	}
	return 0;
}

bool snapshot_empty(const struct snapshot *s)
{
	for (int i = 0; i < NR_TABLES; i++)
		if (s->t[i].n)
			return false;
	return true;
}

#define EACH(d, ti, type, k, v)                                                     \
	for (size_t _i = 0; _i < (d)->t[ti].n; _i++)                                    \
		for (const type *k = (const void *)((d)->t[ti].keys + _i * (d)->t[ti].key_size), \
			    *_once = k; _once; _once = NULL)                                \
			for (const uint64_t *v = (d)->t[ti].vals + _i * (d)->t[ti].words; v; v = NULL)

static const char *const vcpu_counter_names[KVMSTAT_NR_VCPU_COUNTERS] = {
	[KVMSTAT_ENTRIES] = "entries",
	[KVMSTAT_EXITS] = "exits",
	[KVMSTAT_USERSPACE_EXITS] = "userspace_exits",
	[KVMSTAT_PIO] = "pio",
	[KVMSTAT_MMIO] = "mmio",
	[KVMSTAT_PAGE_FAULTS] = "page_faults",
	[KVMSTAT_RING_PUSHES] = "dirty_ring_pushes",
	[KVMSTAT_RING_RESETS] = "dirty_ring_resets",
	[KVMSTAT_RING_FULL] = "dirty_ring_full_exits",
};

/* The counters of struct kvmstat_op_val, in order, then the l0 latency. */
static const char *const op_field_names[] = {
	"calls", "exits", "user_exits", "kicks", "errors", "ring_entries",
};

#define OP_FIELDS (sizeof(op_field_names) / sizeof(op_field_names[0]))
#define OP_L0 OP_FIELDS	/* index of struct kvmstat_lat l0 in the value */

static const char *const session_counter_names[KVMSTAT_NR_SESSION_COUNTERS] = {
	[KVMSTAT_S_STARTS] = "starts",
	[KVMSTAT_S_COLLECTS] = "collects",
	[KVMSTAT_S_COLLECT_ERRORS] = "collect_errors",
	[KVMSTAT_S_PAGES] = "pages",
	[KVMSTAT_S_OVERFLOWS] = "overflows",
	[KVMSTAT_S_HYPERCALLS] = "hypercalls",
	[KVMSTAT_S_SWITCH_IN] = "switches_in",
	[KVMSTAT_S_SWITCH_OUT] = "switches_out",
};

static const char *mode_label(uint32_t mode)
{
	return mode == 1 ? "spml" : mode == 2 ? "epml" : mode == 0x100 ? "spp" : "unknown";
}

static const char *action_label(uint32_t action)
{
	static const char *const names[] = { "signal", "emulated", "foreign", "stale" };

	return action < 4 ? names[action] : "unknown";
}

/* name, or the number in buf when there is none. */
static const char *named(const char *name, bool hex, uint32_t n, char *buf, size_t len)
{
	if (name)
		return name;
	snprintf(buf, len, hex ? "0x%x" : "%u", n);
	return buf;
}

static const char *exit_label(uint32_t isa, uint32_t reason, char *buf, size_t len)
{
	return named(kvmstat_exit_name(isa, reason), true, reason, buf, len);
}

static const char *uexit_label(uint32_t reason, char *buf, size_t len)
{
	return named(kvmstat_uexit_name(reason), false, reason, buf, len);
}

static const char *op_label(uint32_t op, char *buf, size_t len)
{
	return named(kvmstat_op_name(op), false, op, buf, len);
}

/* The exit reason an op's exits carry: "-" when none (kicks, harvests). */
static const char *op_reason_label(const struct snapshot *d, uint32_t tgid, uint32_t reason,
				   char *buf, size_t len)
{
	if (reason == ~0u)
		return "-";
	/* the ISA of the VM: any exit of it says */
	EACH(d, T_EXITS, struct kvmstat_exit_key, k, v) {
		(void)v;
		if (k->tgid == tgid)
			return exit_label(k->isa, reason, buf, len);
	}
	return exit_label(KVMSTAT_ISA_SVM, reason, buf, len);
}

static double avg_us(uint64_t ns, uint64_t n)
{
	return n ? (double)ns / (double)n / 1000.0 : 0.0;
}

static void print_hist(FILE *f, const __u64 *hist)
{
	uint64_t max = 0;
	int lo = -1, hi = -1;

	for (int s = 0; s < KVMSTAT_HIST_SLOTS; s++) {
		if (!hist[s])
			continue;
		if (lo < 0)
			lo = s;
		hi = s;
		if (hist[s] > max)
			max = hist[s];
	}
	for (int s = lo; s >= 0 && s <= hi; s++) {
		int bar = (int)(hist[s] * 40 / max);

		fprintf(f, "        %10llu -> %-10llu ns : %-10llu |%.*s%*s|\n",
			s ? 1ull << s : 0ull, (1ull << (s + 1)) - 1, (unsigned long long)hist[s],
			bar, "****************************************", 40 - bar, "");
	}
}

/* --guest: ooh.ko's sessions and refused writes. */
static void table_guest(FILE *f, const struct snapshot *d)
{
	if (d->t[T_SESSIONS].n)
		fprintf(f, "%-8s %-7s %-8s %-8s %6s %8s %6s %10s %9s %10s %10s %10s\n", "SESSION",
			"MODE", "TRACKER", "TARGET", "STARTS", "COLLECTS", "ERRORS", "PAGES",
			"OVERFLOWS", "HYPERCALLS", "SWITCH_IN", "SWITCH_OUT");
	EACH(d, T_SESSIONS, struct kvmstat_session_key, k, v)
		fprintf(f, "%-8u %-7s %-8d %-8d %6llu %8llu %6llu %10llu %9llu %10llu %10llu %10llu\n",
			k->session, mode_label(k->mode), k->tracker, k->target,
			(unsigned long long)v[KVMSTAT_S_STARTS], (unsigned long long)v[KVMSTAT_S_COLLECTS],
			(unsigned long long)v[KVMSTAT_S_COLLECT_ERRORS],
			(unsigned long long)v[KVMSTAT_S_PAGES], (unsigned long long)v[KVMSTAT_S_OVERFLOWS],
			(unsigned long long)v[KVMSTAT_S_HYPERCALLS],
			(unsigned long long)v[KVMSTAT_S_SWITCH_IN],
			(unsigned long long)v[KVMSTAT_S_SWITCH_OUT]);
	if (d->t[T_VIOLATIONS].n)
		fprintf(f, "\n%-8s %-10s %10s\n", "PID", "SPP REFUSED", "WRITES");
	EACH(d, T_VIOLATIONS, struct kvmstat_violation_key, k, v)
		fprintf(f, "%-8d %-10s %10llu\n", k->pid, action_label(k->action),
			(unsigned long long)v[0]);
}

static void json_guest(FILE *f, const struct snapshot *d)
{
	const char *sep = "";

	fprintf(f, ",\"sessions\":[");
	EACH(d, T_SESSIONS, struct kvmstat_session_key, k, v) {
		fprintf(f, "%s{\"session\":%u,\"mode\":\"%s\",\"tracker\":%d,\"target\":%d", sep,
			k->session, mode_label(k->mode), k->tracker, k->target);
		for (int c = 0; c < KVMSTAT_NR_SESSION_COUNTERS; c++)
			fprintf(f, ",\"%s\":%llu", session_counter_names[c], (unsigned long long)v[c]);
		fprintf(f, "}");
		sep = ",";
	}
	fprintf(f, "],\"spp_violations\":[");
	sep = "";
	EACH(d, T_VIOLATIONS, struct kvmstat_violation_key, k, v) {
		fprintf(f, "%s{\"pid\":%d,\"action\":\"%s\",\"count\":%llu}", sep, k->pid,
			action_label(k->action), (unsigned long long)v[0]);
		sep = ",";
	}
	fprintf(f, "]");
}

static void print_table(FILE *f, const struct snapshot *d, const struct report_opts *o,
			unsigned seq, double seconds)
{
	char b1[32], b2[32];

	fprintf(f, "-- report %u, %.2f s --\n", seq, seconds);
	if (snapshot_empty(d)) {
		fprintf(f, "nothing counted\n");
		return;
	}
	table_guest(f, d);
	if (!d->t[T_VCPUS].n)
		return;
	fprintf(f, "%-8s %-4s %-3s %10s %10s %10s %8s %8s %8s %10s %8s\n", "PID", "VCPU", "WIN",
		"ENTRIES", "EXITS", "USER_EXITS", "PIO", "MMIO", "PF", "RING_PUSH", "RING_FULL");
	EACH(d, T_VCPUS, struct kvmstat_vcpu_key, k, v)
		fprintf(f, "%-8u %-4u %-3u %10llu %10llu %10llu %8llu %8llu %8llu %10llu %8llu\n",
			k->tgid, k->vcpu, k->window, (unsigned long long)v[KVMSTAT_ENTRIES],
			(unsigned long long)v[KVMSTAT_EXITS],
			(unsigned long long)v[KVMSTAT_USERSPACE_EXITS],
			(unsigned long long)v[KVMSTAT_PIO], (unsigned long long)v[KVMSTAT_MMIO],
			(unsigned long long)v[KVMSTAT_PAGE_FAULTS],
			(unsigned long long)v[KVMSTAT_RING_PUSHES],
			(unsigned long long)v[KVMSTAT_RING_FULL]);
	fprintf(f, "\n%-8s %-4s %-3s %-4s %-24s %10s %10s %12s\n", "PID", "VCPU", "WIN", "ISA",
		"EXIT REASON", "EXITS", "PER SEC", "AVG_US");
	EACH(d, T_EXITS, struct kvmstat_exit_key, k, v) {
		const struct kvmstat_lat *l = (const void *)v;

		fprintf(f, "%-8u %-4u %-3u %-4s %-24s %10llu %10.0f %12.2f\n", k->tgid, k->vcpu,
			k->window, kvmstat_isa_name(k->isa), exit_label(k->isa, k->reason, b1, sizeof(b1)),
			(unsigned long long)l->count, seconds > 0 ? (double)l->count / seconds : 0.0,
			avg_us(l->ns, l->count));
		if (o->hist)
			print_hist(f, l->hist);
	}
	fprintf(f, "\n%-8s %-4s %-3s %-24s %10s\n", "PID", "VCPU", "WIN", "KVM_RUN RETURN", "COUNT");
	EACH(d, T_UEXITS, struct kvmstat_uexit_key, k, v)
		fprintf(f, "%-8u %-4u %-3u %-24s %10llu\n", k->tgid, k->vcpu, k->window,
			uexit_label(k->reason, b1, sizeof(b1)), (unsigned long long)v[0]);
	if (!d->t[T_OPS].n)
		return;
	fprintf(f, "\n%-8s %-3s %-16s %-14s %8s %8s %10s %7s %7s %10s %10s\n", "PID", "WIN",
		"OOH OP", "EXIT REASON", "CALLS", "EXITS", "USER_EXITS", "KICKS", "ERRORS",
		"RING", "L0_AVG_US");
	EACH(d, T_OPS, struct kvmstat_op_key, k, v) {
		const struct kvmstat_lat *l0 = (const void *)(v + OP_L0);

		fprintf(f, "%-8u %-3u %-16s %-14s %8llu %8llu %10llu %7llu %7llu %10llu %10.2f\n",
			k->tgid, k->window, op_label(k->op, b1, sizeof(b1)),
			op_reason_label(d, k->tgid, k->reason, b2, sizeof(b2)),
			(unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
			(unsigned long long)v[3], (unsigned long long)v[4], (unsigned long long)v[5],
			avg_us(l0->ns, l0->count));
		if (o->hist && l0->count)
			print_hist(f, l0->hist);
	}
}

static void json_hist(FILE *f, const __u64 *hist)
{
	fprintf(f, ",\"hist_log2_ns\":[");
	for (int s = 0; s < KVMSTAT_HIST_SLOTS; s++)
		fprintf(f, "%s%llu", s ? "," : "", (unsigned long long)hist[s]);
	fprintf(f, "]");
}

static void print_json(FILE *f, const struct snapshot *d, const struct report_opts *o,
		       unsigned seq, double seconds)
{
	char b1[32], b2[32];
	const char *sep = "";

	fprintf(f, "{\"report\":%u,\"seconds\":%.6f,\"vcpus\":[", seq, seconds);
	EACH(d, T_VCPUS, struct kvmstat_vcpu_key, k, v) {
		fprintf(f, "%s{\"pid\":%u,\"vcpu\":%u,\"window\":%u", sep, k->tgid, k->vcpu, k->window);
		for (int c = 0; c < KVMSTAT_NR_VCPU_COUNTERS; c++)
			fprintf(f, ",\"%s\":%llu", vcpu_counter_names[c], (unsigned long long)v[c]);
		fprintf(f, "}");
		sep = ",";
	}
	fprintf(f, "],\"exits\":[");
	sep = "";
	EACH(d, T_EXITS, struct kvmstat_exit_key, k, v) {
		const struct kvmstat_lat *l = (const void *)v;

		fprintf(f, "%s{\"pid\":%u,\"vcpu\":%u,\"window\":%u,\"isa\":\"%s\",\"reason\":\"%s\","
			"\"code\":%u,\"count\":%llu,\"ns\":%llu", sep, k->tgid, k->vcpu, k->window,
			kvmstat_isa_name(k->isa), exit_label(k->isa, k->reason, b1, sizeof(b1)),
			k->reason, (unsigned long long)l->count, (unsigned long long)l->ns);
		if (o->hist)
			json_hist(f, l->hist);
		fprintf(f, "}");
		sep = ",";
	}
	fprintf(f, "],\"userspace_exits\":[");
	sep = "";
	EACH(d, T_UEXITS, struct kvmstat_uexit_key, k, v) {
		fprintf(f, "%s{\"pid\":%u,\"vcpu\":%u,\"window\":%u,\"reason\":\"%s\",\"code\":%u,"
			"\"count\":%llu}", sep, k->tgid, k->vcpu, k->window,
			uexit_label(k->reason, b1, sizeof(b1)), k->reason, (unsigned long long)v[0]);
		sep = ",";
	}
	fprintf(f, "],\"ops\":[");
	sep = "";
	EACH(d, T_OPS, struct kvmstat_op_key, k, v) {
		const struct kvmstat_lat *l0 = (const void *)(v + OP_L0);

		fprintf(f, "%s{\"pid\":%u,\"window\":%u,\"op\":\"%s\",\"exit_reason\":\"%s\"", sep,
			k->tgid, k->window, op_label(k->op, b1, sizeof(b1)),
			op_reason_label(d, k->tgid, k->reason, b2, sizeof(b2)));
		for (size_t c = 0; c < OP_FIELDS; c++)
			fprintf(f, ",\"%s\":%llu", op_field_names[c], (unsigned long long)v[c]);
		fprintf(f, ",\"l0_ns\":%llu", (unsigned long long)l0->ns);
		if (o->hist)
			json_hist(f, l0->hist);
		fprintf(f, "}");
		sep = ",";
	}
	fprintf(f, "]");
	json_guest(f, d);
	fprintf(f, "}\n");
}

/*
 * OpenMetrics text (Prometheus): totals, each counter family once with its
 * TYPE and HELP, labels for what the table has in columns.
 */
static void om_family(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# TYPE ooh_kvmstat_%s counter\n# HELP ooh_kvmstat_%s %s\n", name, name, help);
}

void report_openmetrics(FILE *f, const struct snapshot *d)
{
	char b1[32], b2[32];

	om_family(f, "vcpu_events", "KVM's events on a vCPU, by kind (entries, exits, KVM_RUN returns, pio, mmio, page faults, dirty ring).");
	EACH(d, T_VCPUS, struct kvmstat_vcpu_key, k, v)
		for (int c = 0; c < KVMSTAT_NR_VCPU_COUNTERS; c++)
			fprintf(f, "ooh_kvmstat_vcpu_events_total{pid=\"%u\",vcpu=\"%u\",window=\"%u\",event=\"%s\"} %llu\n",
				k->tgid, k->vcpu, k->window, vcpu_counter_names[c], (unsigned long long)v[c]);
	om_family(f, "exits", "VM exits by reason (kvm_exit).");
	EACH(d, T_EXITS, struct kvmstat_exit_key, k, v)
		fprintf(f, "ooh_kvmstat_exits_total{pid=\"%u\",vcpu=\"%u\",window=\"%u\",isa=\"%s\",reason=\"%s\",code=\"%u\"} %llu\n",
			k->tgid, k->vcpu, k->window, kvmstat_isa_name(k->isa),
			exit_label(k->isa, k->reason, b1, sizeof(b1)), k->reason,
			(unsigned long long)((const struct kvmstat_lat *)v)->count);
	om_family(f, "exit_seconds", "Time from VM exits to the vCPU's next entry, by reason.");
	EACH(d, T_EXITS, struct kvmstat_exit_key, k, v)
		fprintf(f, "ooh_kvmstat_exit_seconds_total{pid=\"%u\",vcpu=\"%u\",window=\"%u\",isa=\"%s\",reason=\"%s\",code=\"%u\"} %.9f\n",
			k->tgid, k->vcpu, k->window, kvmstat_isa_name(k->isa),
			exit_label(k->isa, k->reason, b1, sizeof(b1)), k->reason,
			((const struct kvmstat_lat *)v)->ns / 1e9);
	om_family(f, "userspace_exits", "KVM_RUN returns to the VMM, by struct kvm_run exit reason.");
	EACH(d, T_UEXITS, struct kvmstat_uexit_key, k, v)
		fprintf(f, "ooh_kvmstat_userspace_exits_total{pid=\"%u\",vcpu=\"%u\",window=\"%u\",reason=\"%s\",code=\"%u\"} %llu\n",
			k->tgid, k->vcpu, k->window, uexit_label(k->reason, b1, sizeof(b1)), k->reason,
			(unsigned long long)v[0]);
	for (size_t c = 0; c <= OP_FIELDS; c++) {
		char family[48];

		snprintf(family, sizeof(family), "op_%s", c < OP_FIELDS ? op_field_names[c] : "l0_seconds");
		om_family(f, family, c < OP_FIELDS ? "Per OoH operation (ooh-kvmstat(8), OUTPUT)." :
			  "Time from the KVM_RUN return of an OoH operation to the vCPU's next entry.");
		EACH(d, T_OPS, struct kvmstat_op_key, k, v) {
			fprintf(f, "ooh_kvmstat_%s_total{pid=\"%u\",window=\"%u\",op=\"%s\",exit_reason=\"%s\"} ",
				family, k->tgid, k->window, op_label(k->op, b1, sizeof(b1)),
				op_reason_label(d, k->tgid, k->reason, b2, sizeof(b2)));
			if (c < OP_FIELDS)
				fprintf(f, "%llu\n", (unsigned long long)v[c]);
			else
				fprintf(f, "%.9f\n", ((const struct kvmstat_lat *)(v + OP_L0))->ns / 1e9);
		}
	}
	om_family(f, "session_events", "ooh.ko's sessions, from its tracepoints (--guest).");
	EACH(d, T_SESSIONS, struct kvmstat_session_key, k, v)
		for (int c = 0; c < KVMSTAT_NR_SESSION_COUNTERS; c++)
			fprintf(f, "ooh_kvmstat_session_events_total{session=\"%u\",mode=\"%s\",tracker=\"%d\",target=\"%d\",event=\"%s\"} %llu\n",
				k->session, mode_label(k->mode), k->tracker, k->target,
				session_counter_names[c], (unsigned long long)v[c]);
	om_family(f, "spp_violations", "Refused sub-page writes, from ooh.ko's tracepoint (--guest).");
	EACH(d, T_VIOLATIONS, struct kvmstat_violation_key, k, v)
		fprintf(f, "ooh_kvmstat_spp_violations_total{pid=\"%d\",action=\"%s\"} %llu\n",
			k->pid, action_label(k->action), (unsigned long long)v[0]);
	fprintf(f, "# EOF\n");
}

/* Long CSV: one value per row, every label in its own column. */
static void print_csv(FILE *f, const struct snapshot *d, unsigned seq, double seconds)
{
	char b1[32], b2[32];

	if (seq == 1)
		fprintf(f, "report,seconds,pid,vcpu,window,kind,label,exit_reason,metric,value\n");
#define ROW(pid, vcpu, win, kind, label, reason, metric, value)                                \
	fprintf(f, "%u,%.6f,%u,%s,%u,%s,%s,%s,%s,%llu\n", seq, seconds, pid, vcpu, win, kind, label, \
		reason, metric, (unsigned long long)(value))
	EACH(d, T_VCPUS, struct kvmstat_vcpu_key, k, v) {
		snprintf(b1, sizeof(b1), "%u", k->vcpu);
		for (int c = 0; c < KVMSTAT_NR_VCPU_COUNTERS; c++)
			ROW(k->tgid, b1, k->window, "vcpu", vcpu_counter_names[c], "", "count", v[c]);
	}
	EACH(d, T_EXITS, struct kvmstat_exit_key, k, v) {
		const struct kvmstat_lat *l = (const void *)v;
		const char *r = exit_label(k->isa, k->reason, b2, sizeof(b2));

		snprintf(b1, sizeof(b1), "%u", k->vcpu);
		ROW(k->tgid, b1, k->window, "exit", kvmstat_isa_name(k->isa), r, "count", l->count);
		ROW(k->tgid, b1, k->window, "exit", kvmstat_isa_name(k->isa), r, "ns", l->ns);
	}
	EACH(d, T_UEXITS, struct kvmstat_uexit_key, k, v) {
		snprintf(b1, sizeof(b1), "%u", k->vcpu);
		ROW(k->tgid, b1, k->window, "userspace_exit", uexit_label(k->reason, b2, sizeof(b2)),
		    "", "count", v[0]);
	}
	EACH(d, T_OPS, struct kvmstat_op_key, k, v) {
		char b3[32];
		const char *op = op_label(k->op, b3, sizeof(b3));
		const char *r = op_reason_label(d, k->tgid, k->reason, b2, sizeof(b2));
		const struct kvmstat_lat *l0 = (const void *)(v + OP_L0);

		for (size_t c = 0; c < OP_FIELDS; c++)
			ROW(k->tgid, "", k->window, "op", op, r, op_field_names[c], v[c]);
		ROW(k->tgid, "", k->window, "op", op, r, "l0_ns", l0->ns);
	}
	/* --guest: pid is the target (the writer), label the session (the action) */
	EACH(d, T_SESSIONS, struct kvmstat_session_key, k, v) {
		snprintf(b2, sizeof(b2), "%u", k->session);
		for (int c = 0; c < KVMSTAT_NR_SESSION_COUNTERS; c++)
			ROW((unsigned)k->target, "", 0u, "session", b2, mode_label(k->mode),
			    session_counter_names[c], v[c]);
	}
	EACH(d, T_VIOLATIONS, struct kvmstat_violation_key, k, v)
		ROW((unsigned)k->pid, "", 0u, "spp_violation", action_label(k->action), "", "count", v[0]);
#undef ROW
}

void report_print(FILE *f, const struct snapshot *d, const struct report_opts *o,
		  unsigned seq, double seconds)
{
	switch (o->format) {
	case FORMAT_JSON:
		print_json(f, d, o, seq, seconds);
		break;
	case FORMAT_CSV:
		print_csv(f, d, seq, seconds);
		break;
	default:
		print_table(f, d, o, seq, seconds);
	}
	fflush(f);
}
