/* SPDX-License-Identifier: MIT */
/*
 * A liveness-verified Boehm GC workload (header-only: used by the unit test
 * and by ooh-gc-bench --verify).
 *
 * NSLOT singly linked lists of GC-allocated nodes hang off one GC-allocated
 * slot array whose only root is a static pointer.  The mutator keeps
 * replacing nodes in the middle of lists: a new node is stored into an old
 * node (exactly the store a generational/incremental collector misses when
 * it misses a dirty page), and allocates same-sized garbage between
 * mutations so that wrongly freed nodes get reused quickly.
 *
 * Liveness is checked two independent ways:
 *  - every node carries a finalizer: finalizing a node the model says is
 *    still live is a collector error (caught at the moment it happens);
 *  - every list is walked and compared with a model kept in malloc() memory
 *    (never scanned by the GC): ids, canaries derived from id and address,
 *    and payload words must all match.
 */
#ifndef OOH_GC_WORKLOAD_H
#define OOH_GC_WORKLOAD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gc/gc.h>

#define WL_MAGIC 0x6f6f682d67632121ull
#define WL_NSLOT 256
#define WL_LEN 64

struct wl_node {
	uint64_t canary; /* WL_MAGIC ^ id ^ address */
	uint64_t id;
	struct wl_node *next;
	uint64_t payload[5];
};

struct wl_state {
	uint64_t next_id;
	uint64_t max_ids;
	uint8_t *live;            /* by id: 1 while the model holds the node */
	uint64_t *model;          /* [slot][pos] expected id */
	uint64_t finalized_live;  /* collector errors seen by finalizers */
	uint64_t finalized;       /* all finalizations */
	uint64_t walk_errors;     /* mismatches found by walking */
	uint64_t mutations;
	uint64_t rng;
};

static struct wl_state *wl_cur;
static struct wl_node **volatile wl_slots; /* the only root */

static uint64_t wl_rand(struct wl_state *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static void wl_finalizer(void *obj, void *cd)
{
	struct wl_node *n = obj;
	(void)cd;
	wl_cur->finalized++;
	if (n->id < wl_cur->max_ids && wl_cur->live[n->id])
		wl_cur->finalized_live++;
}

static struct wl_node *wl_new_node(struct wl_state *s)
{
	struct wl_node *n = GC_MALLOC(sizeof(*n));
	if (!n)
		abort();
	if (s->next_id >= s->max_ids)
		abort();
	n->id = s->next_id++;
	n->canary = WL_MAGIC ^ n->id ^ (uint64_t)(uintptr_t)n;
	for (int k = 0; k < 5; k++)
		n->payload[k] = n->id * 0x9e3779b97f4a7c15ull + (uint64_t)k;
	s->live[n->id] = 1;
	GC_REGISTER_FINALIZER_NO_ORDER(n, wl_finalizer, NULL, NULL, NULL);
	return n;
}

static int wl_init(struct wl_state *s, uint64_t max_ids, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->max_ids = max_ids;
	s->live = calloc(max_ids, 1);
	s->model = calloc((size_t)WL_NSLOT * WL_LEN, sizeof(uint64_t));
	if (!s->live || !s->model)
		return -1;
	s->rng = seed | 1;
	wl_cur = s;
	wl_slots = GC_MALLOC(WL_NSLOT * sizeof(struct wl_node *));
	for (int i = 0; i < WL_NSLOT; i++) {
		struct wl_node *head = NULL;
		for (int j = WL_LEN - 1; j >= 0; j--) {
			struct wl_node *n = wl_new_node(s);
			n->next = head;
			head = n;
			s->model[i * WL_LEN + j] = n->id;
		}
		wl_slots[i] = head;
	}
	return 0;
}

static void wl_free(struct wl_state *s)
{
	free(s->live);
	free(s->model);
	s->live = NULL;
	s->model = NULL;
}

/* Check every list against the model; returns the number of mismatches. */
static uint64_t wl_walk(struct wl_state *s)
{
	uint64_t bad = 0;
	for (int i = 0; i < WL_NSLOT; i++) {
		struct wl_node *n = wl_slots[i];
		for (int j = 0; j < WL_LEN; j++) {
			uint64_t want = s->model[i * WL_LEN + j];
			if (!n) {
				bad++;
				break;
			}
			int ok = n->id == want && n->canary == (WL_MAGIC ^ want ^ (uint64_t)(uintptr_t)n);
			for (int k = 0; k < 5 && ok; k++)
				ok = n->payload[k] == want * 0x9e3779b97f4a7c15ull + (uint64_t)k;
			if (!ok) {
				bad++;
				break; /* the rest of this list is not trustworthy */
			}
			n = n->next;
		}
	}
	s->walk_errors += bad;
	return bad;
}

/*
 * One mutation step: replace the node at a random position of a random list
 * with a fresh one (stored into its predecessor, an old object), then make
 * garbage of the same size.
 */
static void wl_mutate(struct wl_state *s, int garbage)
{
	int i = (int)(wl_rand(s) % WL_NSLOT), j = (int)(wl_rand(s) % WL_LEN);
	struct wl_node *n = wl_new_node(s), *prev = NULL, *cur = wl_slots[i];

	for (int k = 0; k <= j && cur; k++) {
		/* never follow a pointer out of a node that is not intact */
		if (cur->canary != (WL_MAGIC ^ cur->id ^ (uint64_t)(uintptr_t)cur))
			return; /* corrupted list: the walk reports it */
		if (k == j)
			break;
		prev = cur;
		cur = cur->next;
	}
	if (!cur)
		return;
	n->next = cur->next;
	if (prev)
		prev->next = n;
	else
		wl_slots[i] = n;
	s->live[cur->id] = 0;
	s->model[i * WL_LEN + j] = n->id;
	cur->next = NULL;
	for (int g = 0; g < garbage; g++) {
		uint64_t *junk = GC_MALLOC(sizeof(struct wl_node));
		if (!junk)
			abort();
		for (size_t k = 0; k < sizeof(struct wl_node) / 8; k++)
			junk[k] = 0xdeadbeefcafef00dull ^ k;
	}
	s->mutations++;
}

/*
 * The whole run: rounds x steps mutations, a walk after every round.
 * Returns the number of errors (finalized live nodes + walk mismatches).
 */
static uint64_t wl_run(struct wl_state *s, int rounds, int steps, int garbage)
{
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < steps; k++)
			wl_mutate(s, garbage);
		GC_invoke_finalizers();
		wl_walk(s);
	}
	GC_gcollect();
	GC_invoke_finalizers();
	wl_walk(s);
	return s->finalized_live + s->walk_errors;
}

#endif
