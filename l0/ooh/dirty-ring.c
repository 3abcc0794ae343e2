// SPDX-License-Identifier: MIT
/*
 * Virtual PML source: the KVM dirty ring. A harvest stops the other
 * vCPUs, takes every DIRTY entry of every vCPU's ring (with the vCPU that
 * logged it), marks them for reset and calls KVM_RESET_DIRTY_RINGS, which
 * write-protects those pages again: a page written again later is logged
 * again. Then it hands the GFNs to the sessions (session.c).
 */
#include "ooh.h"
#include "../probes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push_gfn(struct l0_ooh *ooh, uint64_t gfn, uint32_t vcpu)
{
	if (ooh->nr_gfns == ooh->cap_gfns) {
		size_t cap = ooh->cap_gfns ? ooh->cap_gfns * 2 : 4096;
		struct l0_ooh_gfn *n = realloc(ooh->gfns, cap * sizeof(*n));

		if (!n)
			return -1;
		ooh->gfns = n;
		ooh->cap_gfns = cap;
	}
	ooh->gfns[ooh->nr_gfns++] = (struct l0_ooh_gfn){ gfn, vcpu };
	return 0;
}

/* Entry (slot, offset) from KVM: still checked against our own slots. */
static bool entry_gfn(struct l0_ooh *ooh, const struct kvm_dirty_gfn *e, uint64_t *gfn)
{
	/* SPP re-splits RAM into more slots: translate through the live layout
	 * (every slot change harvests first, so no entry outlives its slot). */
	return l0_ooh_slot_gfn(ooh, e->slot, e->offset, gfn);
}

/* Returns the entries taken off vCPU i's ring (each one KVM will reset). */
static uint32_t collect_ring(struct l0_ooh *ooh, int i, bool *lost)
{
	struct l0_ooh_vcpu *v = &ooh->vcpu[i];
	uint32_t mask = ooh->ring_entries - 1;
	uint32_t n;

	if (!v->ring)
		return 0;
	for (n = 0; n < ooh->ring_entries; n++) {
		struct kvm_dirty_gfn *e = &v->ring[v->next & mask];
		uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
		uint64_t gfn;

		if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
			break;
		if (entry_gfn(ooh, e, &gfn)) {
			if (push_gfn(ooh, gfn, (uint32_t)i) != 0)
				*lost = true;
			v->harvested++;
		}
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		v->next++;
	}
	return n;
}

void l0_ooh_note_written(struct l0_ooh *ooh, uint64_t gfn, int vcpu)
{
	if (!ooh->logging)
		return; /* no session, no host view: nobody to tell */
	if (ooh->written.nr == ooh->written.cap) {
		size_t cap = ooh->written.cap ? ooh->written.cap * 2 : 256;
		struct l0_ooh_gfn *n = cap <= (1u << 20) ? realloc(ooh->written.gfn, cap * sizeof(*n)) : NULL;

		if (!n) {
			ooh->written.lost = true; /* the next harvest overflows: conservative */
			return;
		}
		ooh->written.gfn = n;
		ooh->written.cap = cap;
	}
	if (vcpu < 0)
		ooh->written.by_device = true;
	ooh->written.gfn[ooh->written.nr++] = (struct l0_ooh_gfn){ gfn, vcpu < 0 ? 0 : (uint32_t)vcpu };
}

static bool any_epml_active(struct l0_ooh *ooh)
{
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++)
		if (ooh->session[id].active && ooh->session[id].mode == OOH_MODE_EPML)
			return true;
	return false;
}

/*
 * stop_others: false only for a harvest that makes room in a full ring
 * while no EPML session runs: the rings can be read while their vCPUs run
 * (KVM's protocol), and nothing then needs a snapshot of EPML_SEEN.
 */
static void harvest(struct l0_ooh *ooh, struct l0_vcpu *self, bool stop_others, bool hold)
{
	struct l0_vm *vm = ooh->vm;
	uint64_t seen[L0_MAX_VCPUS];
	uint64_t entries = 0;
	bool lost = false, by_device;

	ooh->stats.harvests++;
	ooh->nr_gfns = 0;
	if (stop_others)
		l0_ooh_world_stop(ooh, self);
	for (int i = 0; i < vm->nr_vcpus; i++)
		entries += collect_ring(ooh, i, &lost);
	/* l0's own writes (SPP-permitted writes, devices' DMA): KVM never saw them */
	for (size_t k = 0; k < ooh->written.nr; k++)
		if (push_gfn(ooh, ooh->written.gfn[k].gfn, ooh->written.gfn[k].vcpu) != 0)
			lost = true;
	lost = lost || ooh->written.lost;
	by_device = ooh->written.by_device;
	ooh->written.nr = 0;
	ooh->written.lost = false;
	ooh->written.by_device = false;
	if (ooh->has_ring && l0_ooh_ioctl(ooh, vm->vm_fd, KVM_RESET_DIRTY_RINGS, NULL) < 0)
		fprintf(stderr, "ooh-l0: KVM_RESET_DIRTY_RINGS: %s\n", strerror(errno));
	/* Rings first, then EPML_SEEN: a context that logged an entry set its bit before. */
	for (int i = 0; i < vm->nr_vcpus; i++) {
		seen[i] = stop_others ? l0_ooh_shadow_take_seen(ooh, i) : 0;
		l0_ooh_shadow_refresh(ooh, i);
	}
	/*
	 * A device wrote pages for no vCPU: a process's page filled by DMA
	 * (an O_DIRECT read) while the process slept. Every EPML session gets
	 * this harvest's pages as candidates, as if its context had run.
	 */
	if (by_device)
		seen[0] = ~0ull;
	if (stop_others && !hold)
		l0_ooh_world_resume(ooh);
	/* ring entries only: l0's own SPP writes above are not KVM's to count */
	L0_PROBE_HARVEST(self ? self->id : -1, entries);
	ooh->stats.gfns_harvested += ooh->nr_gfns;
	l0_ooh_host_note(ooh);
	if (lost) {
		/* out of host memory: every active session overflows (conservative) */
		for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++)
			if (ooh->session[id].active)
				ooh->session[id].overflow++;
	}
	l0_ooh_deliver(ooh, seen);
}

void l0_ooh_harvest(struct l0_ooh *ooh, struct l0_vcpu *self)
{
	harvest(ooh, self, true, false);
}

/* The caller resumes the world (l0_ooh_world_resume) when done. */
void l0_ooh_harvest_hold(struct l0_ooh *ooh, struct l0_vcpu *self)
{
	harvest(ooh, self, true, true);
}

void l0_ooh_harvest_for_room(struct l0_ooh *ooh, struct l0_vcpu *self)
{
	harvest(ooh, self, any_epml_active(ooh), false);
}

/* Dirty logging on the RAM slots is on exactly while some session is active. */
int l0_ooh_set_logging(struct l0_ooh *ooh, bool on)
{
	int err;

	if (!ooh->has_ring || ooh->logging == on)
		return 0;
	err = l0_ooh_slots_set_logging(ooh, on);
	if (err)
		return err;
	ooh->logging = on;
	return 0;
}
