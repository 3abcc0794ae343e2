// SPDX-License-Identifier: MIT
/*
 * The host's view of the guest ("dom0 role"): which guest pages the whole
 * VM dirtied between two `dirty` queries on the control socket. It rides
 * on the same dirty-ring harvests as the guest's sessions: every harvest
 * marks its GFNs in a VM-wide bitmap; a query harvests once more, counts
 * and clears it. Nothing the guest does can see or change this state.
 */
#include "ooh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t max_gfn(const struct l0_vm *vm)
{
	uint64_t end = 0;

	for (int i = 0; i < vm->mem.nr_regions; i++) {
		uint64_t e = (vm->mem.region[i].gpa + vm->mem.region[i].size) / 4096;

		if (e > end)
			end = e;
	}
	return end;
}

/* Called by every harvest, ooh->lock held. */
void l0_ooh_host_note(struct l0_ooh *ooh)
{
	if (!ooh->host.on)
		return;
	for (size_t i = 0; i < ooh->nr_gfns; i++) {
		uint64_t gfn = ooh->gfns[i].gfn;

		if (gfn < ooh->host.nr_gfns)
			ooh->host.bits[gfn / 64] |= 1ull << (gfn % 64);
	}
}

int l0_ooh_host_start(struct l0_ooh *ooh)
{
	uint64_t gfns = max_gfn(ooh->vm);
	uint64_t *bits;
	int err;

	if (!ooh->has_ring)
		return -ENOTSUP;
	bits = calloc((gfns + 63) / 64, sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	l0_ooh_lock(ooh, NULL);
	err = l0_ooh_set_logging(ooh, true);
	if (err == 0) {
		/* Drain what was logged before: the first interval starts now. */
		l0_ooh_harvest(ooh, NULL);
		free(ooh->host.bits);
		ooh->host.bits = bits;
		ooh->host.nr_gfns = gfns;
		ooh->host.on = true;
		bits = NULL;
	}
	l0_ooh_unlock(ooh);
	free(bits);
	return err ? -EBUSY : 0;
}

int l0_ooh_host_sample(struct l0_ooh *ooh, uint64_t *dirty)
{
	uint64_t count = 0;

	l0_ooh_lock(ooh, NULL);
	if (!ooh->host.on) {
		l0_ooh_unlock(ooh);
		return -ENOENT;
	}
	l0_ooh_harvest(ooh, NULL);
	for (uint64_t w = 0; w < (ooh->host.nr_gfns + 63) / 64; w++) {
		count += (uint64_t)__builtin_popcountll(ooh->host.bits[w]);
		ooh->host.bits[w] = 0;
	}
	l0_ooh_unlock(ooh);
	*dirty = count;
	return 0;
}

/*
 * Only the host's bitmap goes; dirty logging goes off at the next stop of
 * the last active guest session (session.c), never under one.
 */
void l0_ooh_host_stop(struct l0_ooh *ooh)
{
	l0_ooh_lock(ooh, NULL);
	ooh->host.on = false;
	free(ooh->host.bits);
	ooh->host.bits = NULL;
	ooh->host.nr_gfns = 0;
	l0_ooh_unlock(ooh);
}
