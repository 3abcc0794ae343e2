// SPDX-License-Identifier: MIT
/*
 * The hypercall: a request block in guest memory, named by a 32-bit OUT to
 * OOH_HC_PORT. The block is copied out of guest memory once (the guest may
 * change it meanwhile), every field checked, and only ->result (and the
 * documented output argument) written back.
 */
#include "ooh.h"
#include "../probes.h"
#include "../x86/x86.h"

#include <stddef.h>
#include <string.h>

static uint64_t vcpu_exits(struct l0_vm *vm)
{
	uint64_t n = 0;

	for (int i = 0; i < vm->nr_vcpus; i++)
		n += atomic_load(&vm->vcpu[i].nr_exits);
	return n;
}

void l0_ooh_get_stats(struct l0_ooh *ooh, struct ooh_hv_stats *out)
{
	*out = ooh->stats;
	out->bad_hypercalls = atomic_load(&ooh->bad_hypercalls);
	out->ring_full_exits = atomic_load(&ooh->ring_full_exits);
	out->vcpu_exits = vcpu_exits(ooh->vm);
}

static int op_stats(struct l0_ooh *ooh, const struct ooh_hc_req *req)
{
	struct ooh_hv_stats stats;
	uint64_t len = req->arg[1];
	void *dst;

	if (len == 0 || len > sizeof(stats) || (req->arg[0] & 7))
		return -OOH_E_INVAL;
	dst = l0_gpa_to_host(&ooh->vm->mem, req->arg[0], len);
	if (!dst)
		return -OOH_E_FAULT;
	l0_ooh_get_stats(ooh, &stats);
	memcpy(dst, &stats, len);
	return 0;
}

static int dispatch(struct l0_ooh *ooh, struct l0_vcpu *vcpu, struct ooh_hc_req *req,
		    bool *out_arg1)
{
	bool takes_session = req->op == OOH_HC_SESSION_CLOSE || req->op == OOH_HC_START ||
			     req->op == OOH_HC_STOP || req->op == OOH_HC_SET_ROOT;

	if (req->flags != 0 || (!takes_session && req->session != 0))
		return -OOH_E_INVAL;
	switch (req->op) {
	case OOH_HC_PING:
		return (int)OOH_ABI_VERSION;
	case OOH_HC_SESSION_OPEN:
		/* l0's EPML walk reads 4-level tables: a 5-level guest would get wrong GVAs */
		if (req->arg[0] == OOH_MODE_EPML && l0_x86_vcpu_paging_5level(vcpu))
			return -OOH_E_INVAL;
		return l0_ooh_session_open(ooh, (uint32_t)req->arg[0] == req->arg[0] ?
					   (uint32_t)req->arg[0] : 0, req->arg[1], req->arg[2],
					   req->arg[3]);
	case OOH_HC_SESSION_CLOSE:
		return l0_ooh_session_close(ooh, vcpu, req->session);
	case OOH_HC_START:
		return l0_ooh_session_start(ooh, vcpu, req->session);
	case OOH_HC_STOP:
		return l0_ooh_session_stop(ooh, vcpu, req->session);
	case OOH_HC_SYNC:
		if (!ooh->has_ring)
			return -OOH_E_NOSYS;
		l0_ooh_harvest(ooh, vcpu);
		return 0;
	case OOH_HC_SHADOW_REGISTER:
		return l0_ooh_shadow_register(ooh, vcpu, req->arg[0]);
	case OOH_HC_VMWRITE:
		return l0_ooh_vmwrite(ooh, vcpu, req->arg[0], req->arg[1]);
	case OOH_HC_VMREAD: {
		uint64_t value = 0;
		int err = l0_ooh_vmread(ooh, vcpu, req->arg[0], &value);

		req->arg[1] = value;
		*out_arg1 = true;
		return err;
	}
	case OOH_HC_STATS:
		return op_stats(ooh, req);
	case OOH_HC_SET_ROOT:
		return l0_ooh_session_set_root(ooh, req->session, req->arg[0]);
	case OOH_HC_SPP_SET:
		return l0_ooh_spp_set(ooh, vcpu, req->arg[0], req->arg[1]);
	case OOH_HC_SPP_CLEAR:
		return l0_ooh_spp_clear(ooh, vcpu, req->arg[0], req->arg[1], req->arg[2]);
	case OOH_HC_SPP_REGISTER:
		return l0_ooh_spp_register(ooh, vcpu, req->arg[0], req->arg[1]);
	default:
		return -OOH_E_NOSYS;
	}
}

/* The copied, valid request: dispatched, its answer written back into block. */
static int32_t perform(struct l0_ooh *ooh, struct l0_vcpu *vcpu, struct ooh_hc_req *req,
		       uint8_t *block)
{
	bool out_arg1 = false;
	int32_t result;

	l0_ooh_lock(ooh, vcpu);
	if (req->op < OOH_HC_NR_OPS)
		ooh->stats.hypercalls[req->op]++;
	result = dispatch(ooh, vcpu, req, &out_arg1);
	l0_ooh_unlock(ooh);
	if (result < 0)
		atomic_fetch_add(&ooh->bad_hypercalls, 1);
	if (out_arg1 && result == 0)
		memcpy(block + offsetof(struct ooh_hc_req, arg[1]), &req->arg[1], sizeof(req->arg[1]));
	memcpy(block + offsetof(struct ooh_hc_req, result), &result, sizeof(result));
	return result;
}

/*
 * One probe pair per hypercall, bad block included, so a tracer's counts
 * add up to the OUTs the guest made (ooh-kvmstat compares them with KVM's).
 */
int l0_ooh_hypercall(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t gpa)
{
	uint8_t *block = l0_gpa_to_host(&ooh->vm->mem, gpa, sizeof(struct ooh_hc_req));
	struct ooh_hc_req req = { .op = L0_PROBE_NO_OP };
	int32_t result = -OOH_E_FAULT;

	if (block)
		memcpy(&req, block, sizeof(req));
	else
		atomic_fetch_add(&ooh->bad_hypercalls, 1);
	L0_PROBE_HYPERCALL_ENTRY(vcpu->id, req.op, req.session, gpa);
	if (block)
		result = perform(ooh, vcpu, &req, block); /* changes only req.arg[1] */
	L0_PROBE_HYPERCALL_RETURN(vcpu->id, req.op, req.session, result);
	return result;
}
