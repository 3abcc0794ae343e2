// SPDX-License-Identifier: MIT
/*
 * Virtual SPP: 128-byte sub-page write protection below the guest kernel.
 *
 * Each protected GFN lives in a read-only KVM memory slot (runs of adjacent
 * protected GFNs share one); the rest of RAM stays in writable slots. KVM
 * emulates a guest write to a read-only slot and exits with KVM_EXIT_MMIO
 * (GPA, length, data). A write wholly in permitted sub-pages is performed
 * here, into guest RAM, exactly; a write touching any refused byte is
 * dropped whole, written into the vCPU's violation record and announced to
 * that vCPU (an NMI) before it runs again.
 *
 * Slot changes happen with every other vCPU stopped at the OoH gate, right
 * after a harvest of the dirty rings (dirty-ring.c), so no ring entry ever
 * names a slot that has changed: entries are translated through the live
 * layout (l0_ooh_slot_gfn). Writes l0 performs are not seen by KVM's dirty
 * log; they are queued here and added to the next harvest.
 */
#include "ooh.h"
#include "../exit-codes.h"
#include "../probes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096ull
#define SLOT_RESERVE 8u /* ids KVM has that we leave alone */

int l0_ooh_spp_init(struct l0_ooh *ooh)
{
	struct l0_vm *vm = ooh->vm;
	struct l0_ooh_spp *spp = &ooh->spp;
	const char *env = getenv("OOH_L0_SPP_MAX_SLOTS");
	int n = l0_ooh_ioctl(ooh, vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_NR_MEMSLOTS);

	spp->readonly_ok = l0_ooh_ioctl(ooh, vm->vm_fd, KVM_CHECK_EXTENSION,
					 (void *)(uintptr_t)KVM_CAP_READONLY_MEM) > 0;
	if (n <= 0)
		n = 32;
	spp->max_slots = (uint32_t)n > SLOT_RESERVE + (uint32_t)vm->mem.nr_regions ?
			 (uint32_t)n - SLOT_RESERVE : (uint32_t)n;
	if (env && *env) {
		unsigned long m = strtoul(env, NULL, 0);

		if (m >= (unsigned long)vm->mem.nr_regions && m < spp->max_slots)
			spp->max_slots = (uint32_t)m; /* tests: a small budget */
	}
	if (spp->max_slots < (uint32_t)vm->mem.nr_regions)
		spp->max_slots = (uint32_t)vm->mem.nr_regions;
	spp->slot = calloc(spp->max_slots, sizeof(*spp->slot));
	if (!spp->slot)
		return -1;
	/* vm.c registered region i as slot i */
	for (int i = 0; i < vm->mem.nr_regions; i++)
		spp->slot[i] = (struct l0_ooh_slot){ .used = true, .gpa = vm->mem.region[i].gpa,
			.npages = vm->mem.region[i].size / PAGE, .host = vm->mem.region[i].host };
	spp->nr_slots = (uint32_t)vm->mem.nr_regions;
	return 0;
}

void l0_ooh_spp_destroy(struct l0_ooh *ooh)
{
	free(ooh->spp.slot);
	free(ooh->spp.page);
	memset(&ooh->spp, 0, sizeof(ooh->spp));
}

bool l0_ooh_slot_gfn(struct l0_ooh *ooh, uint32_t slot, uint64_t offset, uint64_t *gfn)
{
	const struct l0_ooh_spp *spp = &ooh->spp;

	if (slot >= spp->max_slots || !spp->slot[slot].used || spp->slot[slot].ro ||
	    offset >= spp->slot[slot].npages)
		return false;
	*gfn = spp->slot[slot].gpa / PAGE + offset;
	return true;
}

static int set_slot(struct l0_ooh *ooh, uint32_t id, const struct l0_ooh_slot *s, bool remove)
{
	struct kvm_userspace_memory_region region = {
		.slot = id,
		.flags = remove ? 0 : s->ro ? KVM_MEM_READONLY :
			 ooh->logging ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = s->gpa,
		.memory_size = remove ? 0 : s->npages * PAGE,
		.userspace_addr = (uintptr_t)s->host,
	};

	if (l0_ooh_ioctl(ooh, ooh->vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		fprintf(stderr, "ooh-l0: memory slot %u [%#llx, +%llu pages) %s: %s\n", id,
			(unsigned long long)s->gpa, (unsigned long long)s->npages,
			remove ? "delete" : s->ro ? "read-only" : "writable", strerror(errno));
		return -1;
	}
	return 0;
}

int l0_ooh_slots_set_logging(struct l0_ooh *ooh, bool on)
{
	struct l0_ooh_spp *spp = &ooh->spp;
	bool was = ooh->logging;

	ooh->logging = on; /* set_slot reads it */
	for (uint32_t id = 0; id < spp->max_slots; id++) {
		if (!spp->slot[id].used || spp->slot[id].ro)
			continue;
		if (set_slot(ooh, id, &spp->slot[id], false) != 0) {
			ooh->logging = was;
			return -OOH_E_BUSY;
		}
	}
	ooh->logging = was; /* the caller records the new state */
	return 0;
}

/* Binary search: index of gfn, or -(insertion point) - 1. */
static long find_page(const struct l0_ooh_spp *spp, uint64_t gfn)
{
	size_t lo = 0, hi = spp->nr_pages;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (spp->page[mid].gfn == gfn)
			return (long)mid;
		if (spp->page[mid].gfn < gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

bool l0_ooh_spp_protected_in(struct l0_ooh *ooh, uint64_t gpa, uint64_t len)
{
	const struct l0_ooh_spp *spp = &ooh->spp;
	long i;

	if (!spp->nr_pages || len == 0 || gpa + len < gpa)
		return false;
	i = find_page(spp, gpa / PAGE);
	if (i >= 0)
		return true;
	i = -i - 1; /* first protected gfn above gpa's */
	return (size_t)i < spp->nr_pages && spp->page[i].gfn * PAGE < gpa + len;
}

/*
 * The layout the protected set asks for: per RAM region, alternating
 * writable and read-only runs. Returns the number of slots, or -1 if more
 * than max (out is then incomplete).
 */
static long layout(struct l0_ooh *ooh, const struct l0_ooh_spp_page *pages, size_t nr,
		   struct l0_ooh_slot *out, size_t max)
{
	const struct l0_memory *mem = &ooh->vm->mem;
	size_t n = 0, p = 0;

	for (int r = 0; r < mem->nr_regions; r++) {
		uint64_t first = mem->region[r].gpa / PAGE;
		uint64_t end = first + mem->region[r].size / PAGE;
		uint64_t cur = first;

		while (cur < end) {
			uint64_t next;
			bool ro;

			while (p < nr && pages[p].gfn < cur)
				p++;
			ro = p < nr && pages[p].gfn == cur;
			if (ro) {
				next = cur;
				while (p < nr && pages[p].gfn == next && next < end) {
					p++;
					next++;
				}
			} else {
				next = p < nr && pages[p].gfn < end ? pages[p].gfn : end;
			}
			if (n == max)
				return -1;
			out[n++] = (struct l0_ooh_slot){ .used = true, .ro = ro, .gpa = cur * PAGE,
				.npages = next - cur,
				.host = mem->region[r].host + (cur - first) * PAGE };
			cur = next;
		}
	}
	return (long)n;
}

static bool same_slot(const struct l0_ooh_slot *a, const struct l0_ooh_slot *b)
{
	return a->used && b->used && a->ro == b->ro && a->gpa == b->gpa && a->npages == b->npages;
}

/*
 * Makes KVM's slots match the new protected set (world stopped, rings just
 * harvested). Slots that stay identical keep their ids; the others are
 * deleted first, then the new ones created in free ids.
 */
static const struct l0_ooh_slot *sort_base;

static int cmp_id_gpa(const void *a, const void *b)
{
	uint64_t x = sort_base[*(const uint32_t *)a].gpa, y = sort_base[*(const uint32_t *)b].gpa;

	return x < y ? -1 : x > y;
}

static int apply_layout(struct l0_ooh *ooh, const struct l0_ooh_slot *want, size_t nr_want)
{
	struct l0_ooh_spp *spp = &ooh->spp;
	bool *keep = calloc(nr_want ? nr_want : 1, sizeof(*keep));
	uint32_t *ids = malloc((spp->nr_slots ? spp->nr_slots : 1) * sizeof(*ids));
	uint32_t nr_ids = 0, free_id = 0;
	size_t w = 0;
	int err = 0;

	if (!keep || !ids) {
		free(keep);
		free(ids);
		return -OOH_E_NOSPC;
	}
	for (uint32_t id = 0; id < spp->max_slots; id++)
		if (spp->slot[id].used)
			ids[nr_ids++] = id;
	sort_base = spp->slot; /* under ooh->lock */
	qsort(ids, nr_ids, sizeof(*ids), cmp_id_gpa);
	/* both sorted by gpa, and neither has overlapping slots: one merge pass */
	for (uint32_t k = 0; k < nr_ids; k++) {
		struct l0_ooh_slot *cur = &spp->slot[ids[k]];

		while (w < nr_want && want[w].gpa < cur->gpa)
			w++;
		if (w < nr_want && same_slot(cur, &want[w])) {
			keep[w++] = true;
			continue;
		}
		if (set_slot(ooh, ids[k], cur, true) != 0)
			err = -1;
		cur->used = false;
		spp->nr_slots--;
	}
	for (w = 0; w < nr_want; w++) {
		if (keep[w])
			continue;
		while (free_id < spp->max_slots && spp->slot[free_id].used)
			free_id++;
		if (free_id == spp->max_slots) {
			err = -1;
			break;
		}
		if (set_slot(ooh, free_id, &want[w], false) != 0) {
			err = -1;
			continue;
		}
		spp->slot[free_id] = want[w];
		spp->nr_slots++;
	}
	free(keep);
	free(ids);
	ooh->stats.spp_slots = spp->nr_slots;
	if (err)
		l0_vm_request_stop(ooh->vm, L0_STOP_INTERNAL, L0_EXIT_INTERNAL,
				   "SPP: KVM refused a memory slot change (guest RAM layout lost)");
	return err ? -OOH_E_NOSPC : 0;
}

/*
 * Replaces the protected set by pages[0..nr) (sorted, owned by the caller
 * until success): checks the slot budget, then harvests, stops the world,
 * re-lays the slots and resumes.
 */
static int commit(struct l0_ooh *ooh, struct l0_vcpu *self, struct l0_ooh_spp_page *pages,
		  size_t nr, size_t cap)
{
	struct l0_ooh_spp *spp = &ooh->spp;
	struct l0_ooh_slot *want = calloc(spp->max_slots, sizeof(*want));
	long n;
	int err;

	if (!want)
		return -OOH_E_NOSPC;
	if (nr == spp->nr_pages) { /* only vectors changed: no slot work */
		bool same = true;

		for (size_t i = 0; i < nr && same; i++)
			same = pages[i].gfn == spp->page[i].gfn;
		if (same) {
			free(want);
			if (spp->page != pages)
				free(spp->page);
			spp->page = pages;
			spp->cap_pages = cap;
			return 0;
		}
	}
	n = layout(ooh, pages, nr, want, spp->max_slots);
	if (n < 0) {
		free(want);
		return -OOH_E_NOSPC;
	}
	if (ooh->has_ring)
		l0_ooh_harvest_hold(ooh, self); /* no ring entry may outlive its slot */
	else
		l0_ooh_world_stop(ooh, self);
	err = apply_layout(ooh, want, (size_t)n);
	l0_ooh_world_resume(ooh);
	free(want);
	if (spp->page != pages)
		free(spp->page);
	spp->page = pages;
	spp->nr_pages = nr;
	spp->cap_pages = cap;
	ooh->stats.spp_pages = nr;
	return err;
}

static int cmp_entry_gpa(const void *a, const void *b)
{
	const struct ooh_spp_entry *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Copies and validates a guest batch; sorted by gpa on success. */
static int read_batch(struct l0_ooh *ooh, uint64_t gpa, uint64_t count, bool set,
		      struct ooh_spp_entry **out)
{
	const struct l0_memory *mem = &ooh->vm->mem;
	struct ooh_spp_entry *e;
	const void *src;

	if (count == 0 || count > OOH_SPP_MAX_BATCH || (gpa & 7))
		return -OOH_E_INVAL;
	src = l0_gpa_to_host(mem, gpa, count * sizeof(*e));
	if (!src)
		return -OOH_E_FAULT;
	e = malloc(count * sizeof(*e));
	if (!e)
		return -OOH_E_NOSPC;
	memcpy(e, src, count * sizeof(*e)); /* once: the guest may race on it */
	for (uint64_t i = 0; i < count; i++) {
		if ((e[i].gpa & (PAGE - 1)) || e[i].reserved || (!set && e[i].mask)) {
			free(e);
			return -OOH_E_INVAL;
		}
		if (!l0_gpa_to_host(mem, e[i].gpa, PAGE)) {
			free(e);
			return -OOH_E_FAULT;
		}
		if (set && l0_ooh_overlaps_structs(ooh, e[i].gpa, PAGE, NULL)) {
			free(e);
			return -OOH_E_BUSY;
		}
	}
	qsort(e, count, sizeof(*e), cmp_entry_gpa);
	for (uint64_t i = 1; i < count; i++) {
		if (e[i].gpa == e[i - 1].gpa) {
			free(e);
			return -OOH_E_INVAL; /* the same page twice */
		}
	}
	*out = e;
	return 0;
}

/*
 * Merge of the current set and a sorted batch: set (the vector; MASK_ALL
 * keeps the page protected, every byte writable) or clear (remove). Counts the batch pages that were protected.
 */
static int merge(struct l0_ooh *ooh, const struct ooh_spp_entry *e, size_t count, bool set,
		 struct l0_ooh_spp_page **out, size_t *nr_out, size_t *was)
{
	const struct l0_ooh_spp *spp = &ooh->spp;
	size_t cap = spp->nr_pages + count, n = 0, i = 0, j = 0;
	struct l0_ooh_spp_page *p = malloc((cap ? cap : 1) * sizeof(*p));

	if (!p)
		return -OOH_E_NOSPC;
	*was = 0;
	while (i < spp->nr_pages || j < count) {
		uint64_t gi = i < spp->nr_pages ? spp->page[i].gfn : UINT64_MAX;
		uint64_t gj = j < count ? e[j].gpa / PAGE : UINT64_MAX;

		if (gi < gj) {
			p[n++] = spp->page[i++];
			continue;
		}
		if (gi == gj) {
			(*was)++;
			i++;
		}
		if (set)
			p[n++] = (struct l0_ooh_spp_page){ gj, e[j].mask };
		j++;
	}
	*out = p;
	*nr_out = n;
	(void)cap;
	return 0;
}

int l0_ooh_spp_set(struct l0_ooh *ooh, struct l0_vcpu *self, uint64_t gpa, uint64_t count)
{
	struct ooh_spp_entry *e;
	struct l0_ooh_spp_page *pages;
	size_t nr, was;
	int err;

	if (!ooh->spp.readonly_ok)
		return -OOH_E_NOSYS;
	err = read_batch(ooh, gpa, count, true, &e);
	if (err)
		return err;
	err = merge(ooh, e, (size_t)count, true, &pages, &nr, &was);
	free(e);
	if (err)
		return err;
	err = commit(ooh, self, pages, nr, nr);
	if (err) {
		if (ooh->spp.page != pages)
			free(pages);
		return err;
	}
	return (int)count;
}

int l0_ooh_spp_clear(struct l0_ooh *ooh, struct l0_vcpu *self, uint64_t gpa, uint64_t count,
		     uint64_t flags)
{
	struct ooh_spp_entry *e;
	struct l0_ooh_spp_page *pages;
	size_t nr, was;
	int err;

	if (!ooh->spp.readonly_ok)
		return -OOH_E_NOSYS;
	if (flags == OOH_SPP_CLEAR_ALL) {
		if (gpa || count)
			return -OOH_E_INVAL;
		was = ooh->spp.nr_pages;
		if (!was)
			return 0;
		pages = malloc(sizeof(*pages));
		if (!pages)
			return -OOH_E_NOSPC;
		err = commit(ooh, self, pages, 0, 0);
		if (err && ooh->spp.page != pages)
			free(pages);
		return err ? err : (int)was;
	}
	if (flags)
		return -OOH_E_INVAL;
	err = read_batch(ooh, gpa, count, false, &e);
	if (err)
		return err;
	err = merge(ooh, e, (size_t)count, false, &pages, &nr, &was);
	free(e);
	if (err)
		return err;
	if (was == 0) { /* nothing to change: no slot work */
		free(pages);
		return 0;
	}
	err = commit(ooh, self, pages, nr, nr);
	if (err) {
		if (ooh->spp.page != pages)
			free(pages);
		return err;
	}
	return (int)was;
}

int l0_ooh_spp_register(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t gpa, uint64_t notify)
{
	struct l0_ooh_vcpu *v = &ooh->vcpu[vcpu->id];
	const uint64_t len = sizeof(struct ooh_spp_violation);
	struct ooh_spp_violation *rec;

	if (!ooh->spp.readonly_ok)
		return -OOH_E_NOSYS;
	if (notify != OOH_SPP_NOTIFY_NONE && notify != OOH_SPP_NOTIFY_NMI &&
	    notify != OOH_SPP_NOTIFY_BR)
		return -OOH_E_INVAL;
	if (gpa == 0) {
		if (notify)
			return -OOH_E_INVAL;
		v->spp_record = 0;
		v->spp_notify = 0;
		return 0;
	}
	if (gpa & (len - 1))
		return -OOH_E_INVAL;
	rec = l0_gpa_to_host(&ooh->vm->mem, gpa, len);
	if (!rec)
		return -OOH_E_FAULT;
	if (l0_ooh_overlaps(ooh, gpa, len, &v->spp_record))
		return -OOH_E_BUSY;
	v->spp_record = gpa;
	v->spp_notify = (uint32_t)notify;
	memset(rec, 0, len);
	rec->vcpu = (uint32_t)vcpu->id;
	rec->seq = v->spp_seq;
	rec->ack = v->spp_seq;
	return 0;
}

/*
 * Queues #BR (vector 5) on this vCPU, delivered when it runs again, with
 * the address of the instruction after the refused write (not a soft
 * exception like #OF or #BP, which KVM re-derives from an instruction at
 * RIP). False when an event is already being delivered (the caller falls
 * back to an NMI).
 */
static bool inject_br(struct l0_vcpu *vcpu)
{
	struct kvm_vcpu_events ev;

	if (l0_ooh_ioctl(vcpu->vm->ooh, vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return false;
	if (ev.exception.injected || ev.exception.pending || ev.interrupt.injected ||
	    ev.nmi.injected)
		return false;
	ev.exception.injected = 1;
	ev.exception.nr = 5;
	ev.exception.has_error_code = 0;
	ev.exception.error_code = 0;
	ev.flags = 0; /* leave NMI-pending, SIPI and SMM state alone */
	return l0_ooh_ioctl(vcpu->vm->ooh, vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) == 0;
}

/* The refused write, told to the vCPU that made it, before it runs again. */
static void report(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t gpa, uint64_t write_gpa,
		   uint32_t len, uint32_t flags)
{
	struct l0_ooh_vcpu *v = &ooh->vcpu[vcpu->id];
	struct ooh_spp_violation *rec;

	L0_PROBE_SPP_REFUSE(vcpu->id, write_gpa, len);
	v->spp_seq++;
	if (flags & OOH_SPP_V_EMULATION)
		ooh->stats.spp_emulation_failures++;
	else
		ooh->stats.spp_violations++;
	if (!v->spp_record)
		return; /* nobody listens on this vCPU: the write is still refused */
	rec = l0_gpa_to_host(&ooh->vm->mem, v->spp_record, sizeof(*rec));
	if (!rec)
		return;
	if (__atomic_load_n(&rec->ack, __ATOMIC_ACQUIRE) != v->spp_seq - 1)
		v->spp_lost++;
	rec->gpa = gpa;
	rec->write_gpa = write_gpa;
	rec->len = len;
	rec->vcpu = (uint32_t)vcpu->id;
	rec->flags = flags;
	rec->lost = v->spp_lost;
	__atomic_store_n(&rec->seq, v->spp_seq, __ATOMIC_RELEASE);
	if (v->spp_notify == OOH_SPP_NOTIFY_BR && inject_br(vcpu)) {
		ooh->stats.notifications++;
		return;
	}
	if (v->spp_notify != OOH_SPP_NOTIFY_NONE) { /* NMI, or #BR not possible now */
		if (l0_ooh_ioctl(ooh, vcpu->fd, KVM_NMI, NULL) < 0)
			fprintf(stderr, "ooh-l0: vCPU %d: KVM_NMI: %s\n", vcpu->id, strerror(errno));
		else
			ooh->stats.notifications++;
	}
}

/* First refused byte of [gpa, gpa+len) within one page, or UINT64_MAX. */
static uint64_t first_refused(const struct l0_ooh_spp *spp, uint64_t gpa, uint32_t len)
{
	long i = find_page(spp, gpa / PAGE);

	if (i < 0)
		return UINT64_MAX;
	for (uint32_t b = 0; b < len; b++) {
		uint32_t sub = (uint32_t)((gpa + b) & (PAGE - 1)) >> OOH_SPP_SUBPAGE_SHIFT;

		if (!(spp->page[i].mask & (1u << sub)))
			return gpa + b;
	}
	return UINT64_MAX;
}

static void store(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	/* naturally aligned stores stay single-copy atomic for the other vCPUs */
	if (len == 8 && !((uintptr_t)dst & 7)) {
		uint64_t v;

		memcpy(&v, src, 8);
		__atomic_store_n((uint64_t *)dst, v, __ATOMIC_RELEASE);
	} else if (len == 4 && !((uintptr_t)dst & 3)) {
		uint32_t v;

		memcpy(&v, src, 4);
		__atomic_store_n((uint32_t *)dst, v, __ATOMIC_RELEASE);
	} else if (len == 2 && !((uintptr_t)dst & 1)) {
		uint16_t v;

		memcpy(&v, src, 2);
		__atomic_store_n((uint16_t *)dst, v, __ATOMIC_RELEASE);
	} else {
		memcpy(dst, src, len);
	}
}

#define MAX_PIECES 16

struct piece {
	uint64_t gpa;
	uint32_t len;
	uint8_t data[8];
	uint8_t *host;
};

static bool take_piece(struct l0_vcpu *vcpu, struct piece *p)
{
	struct kvm_run *run = vcpu->run;

	if (run->exit_reason != KVM_EXIT_MMIO || !run->mmio.is_write || run->mmio.len == 0 ||
	    run->mmio.len > 8)
		return false;
	p->host = l0_gpa_to_host(&vcpu->vm->mem, run->mmio.phys_addr, run->mmio.len);
	if (!p->host)
		return false;
	p->gpa = run->mmio.phys_addr;
	p->len = run->mmio.len;
	memcpy(p->data, run->mmio.data, p->len);
	return true;
}

/*
 * KVM hands a store to l0 in pieces of at most 8 bytes, and splits it where
 * it crosses a page: a 16-byte SSE store, or a store from one protected
 * page into the next, comes as several KVM_EXIT_MMIO in a row without the
 * guest running in between. Judging each piece alone would let the first
 * pieces land when a later one is refused; hardware refuses the whole
 * write. So after a piece that may have a successor (8 bytes, or ending at
 * a page end), l0 lets KVM finish it with immediate_exit set: KVM either
 * exits with the next piece (same instruction: no guest code ran) or
 * returns EINTR (the instruction is complete). Another exit (a device's
 * MMIO continuing the instruction) is left in kvm_run for the caller.
 */
static int gather(struct l0_vcpu *vcpu, struct piece *pieces, int *n)
{
	struct kvm_run *run = vcpu->run;

	while (*n < MAX_PIECES) {
		const struct piece *last = &pieces[*n - 1];
		int r, err;

		if (last->len != 8 && (last->gpa + last->len) % PAGE)
			return 1;
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		r = l0_ooh_ioctl(vcpu->vm->ooh, vcpu->fd, KVM_RUN, NULL);
		err = errno;
		/* a kick meanwhile is not lost: kickers set their flag first,
		 * and the vCPU loop looks at the flags before KVM_RUN */
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (r < 0)
			return err == EINTR || err == EAGAIN ? 1 : -1;
		atomic_fetch_add(&vcpu->nr_exits, 1);
		if (!take_piece(vcpu, &pieces[*n]))
			return 2; /* not ours: the caller dispatches it */
		(*n)++;
	}
	return 1;
}

/* 1: handled; 2: handled, and kvm_run holds a new exit to dispatch; 0: not ours. */
int l0_ooh_spp_mmio(struct l0_vcpu *vcpu)
{
	struct l0_ooh *ooh = vcpu->vm->ooh;
	struct kvm_run *run = vcpu->run;
	struct piece pieces[MAX_PIECES];
	uint64_t bad = UINT64_MAX;
	uint32_t total = 0;
	int n = 1, more;

	if (!ooh || run->mmio.len == 0 || run->mmio.len > 8 ||
	    !l0_gpa_to_host(&vcpu->vm->mem, run->mmio.phys_addr, run->mmio.len))
		return 0; /* not RAM: a device's */
	if (!run->mmio.is_write) { /* read-only slots read natively; just in case */
		memcpy(run->mmio.data, l0_gpa_to_host(&vcpu->vm->mem, run->mmio.phys_addr,
						      run->mmio.len), run->mmio.len);
		return 1;
	}
	take_piece(vcpu, &pieces[0]);
	more = gather(vcpu, pieces, &n);
	l0_ooh_lock(ooh, vcpu);
	for (int i = 0; i < n && bad == UINT64_MAX; i++) {
		const struct piece *p = &pieces[i];

		/* a piece never crosses a page (KVM splits there); check anyway */
		for (uint64_t a = p->gpa; a < p->gpa + p->len && bad == UINT64_MAX;) {
			uint64_t next = (a / PAGE + 1) * PAGE;
			uint32_t part = (uint32_t)((next < p->gpa + p->len ? next : p->gpa + p->len) - a);

			bad = first_refused(&ooh->spp, a, part);
			a += part;
		}
	}
	for (int i = 0; i < n; i++)
		total += pieces[i].len;
	if (bad == UINT64_MAX) {
		for (int i = 0; i < n; i++) {
			const struct piece *p = &pieces[i];

			store(p->host, p->data, p->len);
			l0_ooh_note_written(ooh, p->gpa / PAGE, vcpu->id);
			if ((p->gpa + p->len - 1) / PAGE != p->gpa / PAGE)
				l0_ooh_note_written(ooh, (p->gpa + p->len - 1) / PAGE, vcpu->id);
		}
		ooh->stats.spp_writes++;
		L0_PROBE_SPP_PERMIT(vcpu->id, pieces[0].gpa, total);
	} else {
		report(ooh, vcpu, bad, pieces[0].gpa, total, 0);
	}
	l0_ooh_unlock(ooh);
	if (more < 0)
		l0_vm_request_stop(vcpu->vm, L0_STOP_INTERNAL, L0_EXIT_INTERNAL,
				   "vCPU %d: KVM_RUN completing an SPP write: %s", vcpu->id,
				   strerror(errno));
	return more == 2 ? 2 : 1;
}

/*
 * KVM could not emulate an instruction. KVM's emulation-failure exit
 * carries the exit information of the fault (on AMD, exit_info_2 of the
 * nested page fault is the GPA); if one of its words names a protected
 * page, the failure is a refused write: reported, and the vCPU goes on
 * (KVM has queued #UD for it). Anything else is not ours.
 */
bool l0_ooh_spp_internal_error(struct l0_vcpu *vcpu)
{
	struct l0_ooh *ooh = vcpu->vm->ooh;
	struct kvm_run *run = vcpu->run;
	bool ours = false;
	uint32_t n;

	if (!ooh || run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION)
		return false;
	n = run->internal.ndata < 16 ? run->internal.ndata : 16;
	l0_ooh_lock(ooh, vcpu);
	for (uint32_t i = 0; i < n && !ours && ooh->spp.nr_pages; i++) {
		uint64_t v = run->internal.data[i];

		if (l0_gpa_to_host(&ooh->vm->mem, v, 1) && find_page(&ooh->spp, v / PAGE) >= 0) {
			report(ooh, vcpu, v, v, 0, OOH_SPP_V_EMULATION);
			ours = true;
		}
	}
	l0_ooh_unlock(ooh);
	return ours;
}
