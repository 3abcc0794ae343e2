// SPDX-License-Identifier: MIT
/*
 * Per-vCPU shadow control pages: a few VMCS fields under their SDM
 * encodings (and ours), with VMREAD/VMWRITE bitmaps l0 decides. Fields
 * whose VMWRITE bit is set are l0's: it keeps them in vcpu->field[] and
 * rewrites them into the page at every harvest, so a guest store to them
 * has no effect. EPML_ENABLE and EPML_SEEN are the guest's: the module
 * flips them on context switches with plain stores, no exit.
 */
#include "ooh.h"

#include <string.h>

static const uint32_t encodings[OOH_SHADOW_NR_FIELDS] = {
	[OOH_SHADOW_PML_ADDRESS] = OOH_VMCS_PML_ADDRESS,
	[OOH_SHADOW_PML_INDEX] = OOH_VMCS_PML_INDEX,
	[OOH_SHADOW_GUEST_PML_ADDRESS] = OOH_VMCS_GUEST_PML_ADDRESS,
	[OOH_SHADOW_EPML_ENABLE] = OOH_VMCS_EPML_ENABLE,
	[OOH_SHADOW_EPML_SEEN] = OOH_VMCS_EPML_SEEN,
};

#define VMREAD_TRAPS  0ull
#define VMWRITE_TRAPS ((1ull << OOH_SHADOW_PML_ADDRESS) | (1ull << OOH_SHADOW_PML_INDEX) | \
		       (1ull << OOH_SHADOW_GUEST_PML_ADDRESS))

struct ooh_shadow_page *l0_ooh_shadow_page(struct l0_ooh *ooh, int vcpu)
{
	uint64_t gpa = ooh->vcpu[vcpu].shadow_gpa;

	return gpa ? l0_gpa_to_host(&ooh->vm->mem, gpa, 4096) : NULL;
}

static int slot_of(uint64_t enc)
{
	for (int i = 0; i < OOH_SHADOW_NR_FIELDS; i++)
		if (encodings[i] == enc)
			return i;
	return -1;
}

void l0_ooh_shadow_refresh(struct l0_ooh *ooh, int vcpu)
{
	struct ooh_shadow_page *p = l0_ooh_shadow_page(ooh, vcpu);
	struct l0_ooh_vcpu *v = &ooh->vcpu[vcpu];

	if (!p)
		return;
	p->magic = OOH_SHADOW_MAGIC;
	p->vcpu = (uint32_t)vcpu;
	p->nr_fields = OOH_SHADOW_NR_FIELDS;
	p->vmread_bitmap = VMREAD_TRAPS;
	p->vmwrite_bitmap = VMWRITE_TRAPS;
	v->field[OOH_SHADOW_PML_INDEX] = v->harvested;
	for (int i = 0; i < OOH_SHADOW_NR_FIELDS; i++) {
		p->field[i].encoding = encodings[i];
		if (VMWRITE_TRAPS & (1ull << i))
			p->field[i].value = v->field[i];
	}
}

uint64_t l0_ooh_shadow_take_seen(struct l0_ooh *ooh, int vcpu)
{
	struct ooh_shadow_page *p = l0_ooh_shadow_page(ooh, vcpu);
	uint64_t enable;

	if (!p)
		return 0;
	enable = __atomic_load_n(&p->field[OOH_SHADOW_EPML_ENABLE].value, __ATOMIC_ACQUIRE);
	/* A context still running stays "seen" for the next interval. */
	return __atomic_exchange_n(&p->field[OOH_SHADOW_EPML_SEEN].value, enable,
				   __ATOMIC_ACQ_REL) | enable;
}

int l0_ooh_shadow_register(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t gpa)
{
	struct l0_ooh_vcpu *v = &ooh->vcpu[vcpu->id];
	struct ooh_shadow_page *p;

	if (gpa == 0) {
		v->shadow_gpa = 0;
		return 0;
	}
	if ((gpa & 4095) || !l0_gpa_to_host(&ooh->vm->mem, gpa, 4096))
		return -OOH_E_FAULT;
	if (l0_ooh_overlaps(ooh, gpa, 4096, v))
		return -OOH_E_BUSY;
	v->shadow_gpa = gpa;
	p = l0_ooh_shadow_page(ooh, vcpu->id);
	memset(p, 0, sizeof(*p));
	l0_ooh_shadow_refresh(ooh, vcpu->id);
	return 0;
}

static bool is_log_of_mode(struct l0_ooh *ooh, uint64_t gpa, uint32_t mode)
{
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++)
		if (ooh->session[id].open && ooh->session[id].mode == mode &&
		    ooh->session[id].log_gpa == gpa)
			return true;
	return false;
}

/* The trapped path: l0 validates the value before it lands in the page. */
int l0_ooh_vmwrite(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t enc, uint64_t value)
{
	int slot = slot_of(enc);
	struct ooh_shadow_page *p = l0_ooh_shadow_page(ooh, vcpu->id);

	if (slot < 0)
		return -OOH_E_INVAL;
	if (!p)
		return -OOH_E_NOENT;
	switch (slot) {
	case OOH_SHADOW_PML_INDEX:
		return -OOH_E_PERM; /* l0's counter */
	case OOH_SHADOW_PML_ADDRESS:
	case OOH_SHADOW_GUEST_PML_ADDRESS:
		if (value && !is_log_of_mode(ooh, value, slot == OOH_SHADOW_PML_ADDRESS ?
					     OOH_MODE_SPML : OOH_MODE_EPML))
			return -OOH_E_INVAL;
		break;
	case OOH_SHADOW_EPML_ENABLE:
	case OOH_SHADOW_EPML_SEEN:
		__atomic_store_n(&p->field[slot].value, value, __ATOMIC_RELEASE);
		return 0;
	}
	ooh->vcpu[vcpu->id].field[slot] = value;
	l0_ooh_shadow_refresh(ooh, vcpu->id);
	return 0;
}

int l0_ooh_vmread(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t enc, uint64_t *value)
{
	int slot = slot_of(enc);
	struct ooh_shadow_page *p = l0_ooh_shadow_page(ooh, vcpu->id);

	if (slot < 0)
		return -OOH_E_INVAL;
	if (!p)
		return -OOH_E_NOENT;
	if (VMWRITE_TRAPS & (1ull << slot)) {
		if (slot == OOH_SHADOW_PML_INDEX)
			ooh->vcpu[vcpu->id].field[slot] = ooh->vcpu[vcpu->id].harvested;
		*value = ooh->vcpu[vcpu->id].field[slot];
	} else {
		*value = __atomic_load_n(&p->field[slot].value, __ATOMIC_ACQUIRE);
	}
	return 0;
}
