// SPDX-License-Identifier: MIT
/*
 * Sessions and delivery into their guest logs. SPML sessions get every
 * harvested GFN; EPML sessions get guest-linear addresses: l0 takes the
 * GFNs logged by vCPUs on which the session's context ran since the last
 * harvest (EPML_SEEN in the shadow page) and finds where the session's
 * page tables map them. Every guest-physical address l0 dereferences,
 * page-table entries included, is checked to lie in guest RAM.
 */
#include "ooh.h"
#include "../probes.h"

#include <stdlib.h>
#include <string.h>

#define PTE_P      0x1ull
#define PTE_PS     0x80ull
#define PTE_ADDR   0x000ffffffffff000ull
#define PTE_ADDR_1G 0x000fffffc0000000ull
#define PTE_ADDR_2M 0x000fffffffe00000ull

struct l0_ooh_session *l0_ooh_session_get(struct l0_ooh *ooh, uint32_t id)
{
	if (id == 0 || id > OOH_MAX_SESSIONS || !ooh->session[id].open)
		return NULL;
	return &ooh->session[id];
}

static struct ooh_log_header *log_header(struct l0_ooh *ooh, const struct l0_ooh_session *s)
{
	return l0_gpa_to_host(&ooh->vm->mem, s->log_gpa, s->log_bytes);
}

/* l0's copies of the header fields it owns overwrite whatever the guest wrote. */
static void publish(struct l0_ooh *ooh, uint32_t id, const struct l0_ooh_session *s)
{
	struct ooh_log_header *h = log_header(ooh, s);
	uint32_t flags = (s->active ? OOH_LOG_F_ACTIVE : 0) | (s->overflow ? OOH_LOG_F_OVERFLOW : 0);

	h->size = s->size;
	h->session = id;
	h->mode = s->mode;
	h->seq = s->seq;
	h->overflow = s->overflow;
	__atomic_store_n(&h->flags, flags, __ATOMIC_RELEASE);
	__atomic_store_n(&h->producer, s->producer, __ATOMIC_RELEASE);
}

static uint32_t pow2_floor(uint64_t n)
{
	uint32_t p = 1;

	while ((uint64_t)p * 2 <= n && p < (1u << 30))
		p *= 2;
	return p;
}

static int open_session(struct l0_ooh *ooh, uint32_t mode, uint64_t log_gpa,
			uint64_t log_bytes, uint64_t root)
{
	struct l0_ooh_session *s;
	uint32_t id;

	if (!ooh->has_ring)
		return -OOH_E_NOSYS;
	if (mode != OOH_MODE_SPML && mode != OOH_MODE_EPML)
		return -OOH_E_INVAL;
	if (log_bytes < OOH_LOG_MIN_BYTES || log_bytes > OOH_LOG_MAX_BYTES ||
	    (log_bytes & (log_bytes - 1)) || (log_gpa & 4095) || log_gpa + log_bytes < log_gpa)
		return -OOH_E_INVAL;
	if (!l0_gpa_to_host(&ooh->vm->mem, log_gpa, log_bytes))
		return -OOH_E_FAULT;
	if (mode == OOH_MODE_EPML && ((root & 4095) || !l0_gpa_to_host(&ooh->vm->mem, root, 4096)))
		return -OOH_E_FAULT;
	if (mode == OOH_MODE_SPML && root)
		return -OOH_E_INVAL;
	if (l0_ooh_overlaps(ooh, log_gpa, log_bytes, NULL))
		return -OOH_E_BUSY;
	for (id = 1; id <= OOH_MAX_SESSIONS; id++)
		if (!ooh->session[id].open)
			break;
	if (id > OOH_MAX_SESSIONS)
		return -OOH_E_NOSPC;
	s = &ooh->session[id];
	*s = (struct l0_ooh_session){ .open = true, .mode = mode, .log_gpa = log_gpa,
		.log_bytes = log_bytes, .root = root,
		.size = pow2_floor(OOH_LOG_ENTRIES(log_bytes)) };
	memset(log_header(ooh, s), 0, sizeof(struct ooh_log_header));
	publish(ooh, id, s);
	return (int)id;
}

/* The probe sees every outcome, refusals included. */
int l0_ooh_session_open(struct l0_ooh *ooh, uint32_t mode, uint64_t log_gpa,
			uint64_t log_bytes, uint64_t root)
{
	int result = open_session(ooh, mode, log_gpa, log_bytes, root);

	L0_PROBE_SESSION_OPEN(result, mode);
	return result;
}

/*
 * Dirty logging is on while some session is active, or while the host's
 * view (host.c, control socket dirty-start) is on.
 */
static bool any_active(struct l0_ooh *ooh)
{
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++)
		if (ooh->session[id].active)
			return true;
	return false;
}

int l0_ooh_session_start(struct l0_ooh *ooh, struct l0_vcpu *self, uint32_t id)
{
	struct l0_ooh_session *s = l0_ooh_session_get(ooh, id);
	int err;

	if (!s)
		return -OOH_E_NOENT;
	if (s->active)
		return -OOH_E_BUSY;
	/* What was dirtied before START goes to the sessions already active. */
	l0_ooh_harvest(ooh, self);
	err = l0_ooh_set_logging(ooh, true);
	if (err)
		return err;
	s->active = true;
	publish(ooh, id, s);
	return 0;
}

int l0_ooh_session_stop(struct l0_ooh *ooh, struct l0_vcpu *self, uint32_t id)
{
	struct l0_ooh_session *s = l0_ooh_session_get(ooh, id);

	if (!s)
		return -OOH_E_NOENT;
	if (!s->active)
		return 0;
	l0_ooh_harvest(ooh, self);
	s->active = false;
	publish(ooh, id, s);
	if (!any_active(ooh) && !ooh->host.on)
		l0_ooh_set_logging(ooh, false);
	return 0;
}

static int close_session(struct l0_ooh *ooh, struct l0_vcpu *self, uint32_t id)
{
	struct l0_ooh_session *s = l0_ooh_session_get(ooh, id);

	if (!s)
		return -OOH_E_NOENT;
	if (s->active) {
		s->active = false;
		if (!any_active(ooh)) {
			l0_ooh_harvest(ooh, self);
			if (!ooh->host.on)
				l0_ooh_set_logging(ooh, false);
		}
	}
	/* Its context bit must not stay set in any vCPU's shadow page. */
	for (int i = 0; i < ooh->vm->nr_vcpus; i++) {
		struct ooh_shadow_page *p = l0_ooh_shadow_page(ooh, i);

		if (p) {
			__atomic_fetch_and(&p->field[OOH_SHADOW_EPML_ENABLE].value, ~(1ull << (id - 1)),
					   __ATOMIC_SEQ_CST);
			__atomic_fetch_and(&p->field[OOH_SHADOW_EPML_SEEN].value, ~(1ull << (id - 1)),
					   __ATOMIC_SEQ_CST);
		}
	}
	memset(s, 0, sizeof(*s));
	return 0;
}

int l0_ooh_session_close(struct l0_ooh *ooh, struct l0_vcpu *self, uint32_t id)
{
	int result = close_session(ooh, self, id);

	L0_PROBE_SESSION_CLOSE(id, result);
	return result;
}

int l0_ooh_session_set_root(struct l0_ooh *ooh, uint32_t id, uint64_t root)
{
	struct l0_ooh_session *s = l0_ooh_session_get(ooh, id);

	if (!s)
		return -OOH_E_NOENT;
	if (s->mode != OOH_MODE_EPML)
		return -OOH_E_INVAL;
	if ((root & 4095) || !l0_gpa_to_host(&ooh->vm->mem, root, 4096))
		return -OOH_E_FAULT;
	s->root = root;
	return 0;
}

/* One entry into the session's ring, or counted as overflow. */
static void log_push(struct l0_ooh *ooh, struct l0_ooh_session *s, struct ooh_log_header *h,
		     uint64_t addr, bool *notify)
{
	uint64_t consumer = __atomic_load_n(&h->consumer, __ATOMIC_ACQUIRE);
	uint64_t used = s->producer - consumer;
	struct ooh_log_entry *e;

	/* A consumer ahead of the producer or too far behind reads as "full". */
	if (consumer > s->producer || used >= s->size) {
		if (!s->overflow)
			*notify = true;
		s->overflow++;
		ooh->stats.entries_overflowed++;
		return;
	}
	e = (struct ooh_log_entry *)((uint8_t *)h + sizeof(*h)) + (s->producer & (s->size - 1));
	e->addr = addr;
	e->seq = s->seq;
	s->producer++;
	ooh->stats.entries_delivered++;
}

/*
 * EPML candidate set: open addressing over GFN + 1 (0 = empty).
 *
 * Candidates are *all* GFNs of the harvest when the session's context ran
 * on any vCPU since the previous one, none otherwise. Taking only the GFNs
 * logged by the vCPUs it ran on would miss writes: the host logs a page
 * once per interval, so if another context (a tracker hashing a shared
 * page, the kernel zero-filling it on first touch) dirtied it first, the
 * target's later write in the same interval leaves no entry of its own.
 */
static int set_build(struct l0_ooh *ooh, const uint64_t *seen, uint32_t id)
{
	size_t n = ooh->nr_gfns, cap = 64;
	uint64_t ran = 0;

	for (int i = 0; i < ooh->vm->nr_vcpus; i++)
		ran |= seen[i];
	if (!((ran >> (id - 1)) & 1) || n == 0)
		return 0;
	while (cap < n * 2)
		cap *= 2;
	if (cap > ooh->set_cap) {
		uint64_t *set = realloc(ooh->set, cap * sizeof(*set));

		if (!set)
			return -1;
		ooh->set = set;
		ooh->set_cap = cap;
	}
	memset(ooh->set, 0, cap * sizeof(*ooh->set));
	for (size_t i = 0; i < ooh->nr_gfns; i++) {
		uint64_t key = ooh->gfns[i].gfn + 1;
		size_t h;

		for (h = (key * 0x9e3779b97f4a7c15ull) & (cap - 1); ooh->set[h] && ooh->set[h] != key;
		     h = (h + 1) & (cap - 1))
			;
		ooh->set[h] = key;
	}
	return (int)cap;
}

static bool set_has(const struct l0_ooh *ooh, size_t cap, uint64_t gfn)
{
	uint64_t key = gfn + 1;

	for (size_t h = (key * 0x9e3779b97f4a7c15ull) & (cap - 1); ooh->set[h]; h = (h + 1) & (cap - 1))
		if (ooh->set[h] == key)
			return true;
	return false;
}

struct walk {
	struct l0_ooh *ooh;
	struct l0_ooh_session *s;
	struct ooh_log_header *h;
	size_t cap;
	uint64_t budget;
	bool *notify;
	bool exhausted;
};

static void leaf(struct walk *w, uint64_t va, uint64_t pa, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++)
		if (set_has(w->ooh, w->cap, pa / 4096 + i))
			log_push(w->ooh, w->s, w->h, va + i * 4096, w->notify);
}

/* Level 4 = PML4 .. 1 = PT; only the user half (PML4 slots 0..255). */
static void walk_table(struct walk *w, uint64_t table, int level, uint64_t va_base)
{
	const uint64_t *pte = l0_gpa_to_host(&w->ooh->vm->mem, table, 4096);
	unsigned int n = level == 4 ? 256 : 512;
	int shift = 12 + 9 * (level - 1);

	if (!pte)
		return; /* not RAM: the guest's problem, nothing mapped there for us */
	for (unsigned int i = 0; i < n && !w->exhausted; i++) {
		uint64_t e = __atomic_load_n(&pte[i], __ATOMIC_RELAXED);
		uint64_t va = va_base | ((uint64_t)i << shift);

		if (w->budget == 0) {
			w->exhausted = true;
			return;
		}
		w->budget--;
		w->ooh->stats.epml_walk_ptes++;
		if (!(e & PTE_P))
			continue;
		if (level == 1)
			leaf(w, va, e & PTE_ADDR, 1);
		else if (level == 3 && (e & PTE_PS))
			leaf(w, va, e & PTE_ADDR_1G, 512 * 512);
		else if (level == 2 && (e & PTE_PS))
			leaf(w, va, e & PTE_ADDR_2M, 512);
		else if (level > 1)
			walk_table(w, e & PTE_ADDR, level - 1, va);
	}
}

static void deliver_epml(struct l0_ooh *ooh, uint32_t id, struct l0_ooh_session *s,
			 struct ooh_log_header *h, const uint64_t *seen, bool *notify)
{
	int cap = set_build(ooh, seen, id);
	struct walk w = { ooh, s, h, 0, L0_OOH_WALK_BUDGET, notify, false };

	if (cap == 0)
		return;
	if (cap < 0) {
		s->overflow++; /* no memory to translate: conservative */
		*notify = true;
		return;
	}
	w.cap = (size_t)cap;
	walk_table(&w, s->root, 4, 0);
	if (w.exhausted) {
		s->overflow++; /* page tables too big (or cyclic): conservative */
		*notify = true;
	}
}

static void notify_guest(struct l0_ooh *ooh)
{
	struct kvm_irq_level irq = { .irq = ooh->gsi, .level = 1 };

	if (!ooh->gsi)
		return;
	ooh->stats.notifications++;
	l0_ooh_ioctl(ooh, ooh->vm->vm_fd, KVM_IRQ_LINE, &irq);
	irq.level = 0;
	l0_ooh_ioctl(ooh, ooh->vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The host may log a page more than once per harvest (KVM pushes an entry
 * per emulated write): SPML sessions get each GFN once per harvest.
 */
static size_t unique_gfns(struct l0_ooh *ooh, bool *lost)
{
	size_t n = 0;

	if (ooh->nr_gfns == 0)
		return 0;
	if (ooh->nr_gfns > ooh->cap_unique) {
		uint64_t *u = realloc(ooh->unique, ooh->nr_gfns * sizeof(*u));

		if (!u) {
			*lost = true;
			return 0;
		}
		ooh->unique = u;
		ooh->cap_unique = ooh->nr_gfns;
	}
	for (size_t i = 0; i < ooh->nr_gfns; i++)
		ooh->unique[i] = ooh->gfns[i].gfn;
	qsort(ooh->unique, ooh->nr_gfns, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < ooh->nr_gfns; i++)
		if (n == 0 || ooh->unique[n - 1] != ooh->unique[i])
			ooh->unique[n++] = ooh->unique[i];
	return n;
}

void l0_ooh_deliver(struct l0_ooh *ooh, const uint64_t *seen)
{
	bool notify = false, lost = false;
	size_t nr_unique = unique_gfns(ooh, &lost);

	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++) {
		struct l0_ooh_session *s = &ooh->session[id];
		struct ooh_log_header *h;
		uint64_t before;

		if (!s->active)
			continue;
		h = log_header(ooh, s);
		before = s->overflow;
		s->seq++;
		if (lost && s->mode == OOH_MODE_SPML)
			s->overflow++; /* no memory to sort: conservative */
		if (s->mode == OOH_MODE_SPML) {
			for (size_t i = 0; i < nr_unique; i++)
				log_push(ooh, s, h, ooh->unique[i] * 4096, &notify);
		} else {
			deliver_epml(ooh, id, s, h, seen, &notify);
		}
		if (s->overflow != before)
			notify = true;
		/* half full: time for the guest to drain, before it overflows */
		if (s->producer - __atomic_load_n(&h->consumer, __ATOMIC_ACQUIRE) >= s->size / 2)
			notify = true;
		publish(ooh, id, s);
	}
	if (notify)
		notify_guest(ooh);
}
