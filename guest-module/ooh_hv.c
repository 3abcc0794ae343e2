// SPDX-License-Identifier: GPL-2.0
/*
 * Hypercalls to ooh-l0 and the per-vCPU shadow control pages.
 *
 * A hypercall is a 32-bit OUT of (request block GPA >> 6) to the port the
 * CPUID leaves announce; the block is this CPU's, so preemption stays off
 * from filling it to reading the result. The shadow page of each CPU is
 * registered on that CPU; context-switch hooks write its EPML fields with
 * plain (locked) stores: no exit.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/cpumask.h>
#include <linux/io.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <ooh/hv-abi.h>

#include "ooh.h"

static DEFINE_PER_CPU(struct ooh_hc_req *, ooh_req);
static DEFINE_PER_CPU(struct ooh_shadow_page *, ooh_shadow);

static int ooh_hc_on_this_cpu(struct ooh_hc_req *req, u32 op, u32 session,
			      u64 a0, u64 a1, u64 a2, u64 a3, u64 *out1)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
	req->session = session;
	req->result = -OOH_E_NOSYS;
	req->arg[0] = a0;
	req->arg[1] = a1;
	req->arg[2] = a2;
	req->arg[3] = a3;
	outl((u32)(virt_to_phys(req) >> OOH_HC_ALIGN_SHIFT), ooh_hv.hc_port);
	if (out1)
		*out1 = READ_ONCE(req->arg[1]);
	return READ_ONCE(req->result);
}

int ooh_hc(u32 op, u32 session, u64 a0, u64 a1, u64 a2, u64 a3, u64 *out1)
{
	int cpu, ret;

	if (!ooh_hv.hc_port)
		return -ENODEV;
	cpu = get_cpu();
	ret = ooh_hc_on_this_cpu(per_cpu(ooh_req, cpu), op, session, a0, a1, a2,
				 a3, out1);
	put_cpu();
	return ret;
}

static void ooh_shadow_register_here(void *unused)
{
	int cpu = smp_processor_id();
	struct ooh_shadow_page *page = per_cpu(ooh_shadow, cpu);
	int ret;

	ret = ooh_hc_on_this_cpu(per_cpu(ooh_req, cpu), OOH_HC_SHADOW_REGISTER,
				 0, page ? virt_to_phys(page) : 0, 0, 0, 0,
				 NULL);
	if (ret)
		pr_warn("cpu %d: shadow page registration: %d\n", cpu, ret);
}

static u64 *ooh_shadow_field(int cpu, int slot)
{
	struct ooh_shadow_page *page = per_cpu(ooh_shadow, cpu);

	return page ? &page->field[slot].value : NULL;
}

/* Context-switch hooks (preempt notifiers): plain stores, no exit. */
void ooh_shadow_sched_in(u32 id, int cpu)
{
	u64 *enable = ooh_shadow_field(cpu, OOH_SHADOW_EPML_ENABLE);
	u64 *seen = ooh_shadow_field(cpu, OOH_SHADOW_EPML_SEEN);

	if (!enable || !id)
		return;
	set_bit(id - 1, (unsigned long *)seen);
	set_bit(id - 1, (unsigned long *)enable);
}

void ooh_shadow_sched_out(u32 id, int cpu)
{
	u64 *enable = ooh_shadow_field(cpu, OOH_SHADOW_EPML_ENABLE);

	if (!enable || !id)
		return;
	clear_bit(id - 1, (unsigned long *)enable);
}

static void ooh_hv_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		kfree(per_cpu(ooh_req, cpu));
		per_cpu(ooh_req, cpu) = NULL;
		free_page((unsigned long)per_cpu(ooh_shadow, cpu));
		per_cpu(ooh_shadow, cpu) = NULL;
	}
}

int ooh_hv_init(void)
{
	int cpu;

	if (!ooh_hv.hc_port)
		return 0;
	for_each_possible_cpu(cpu) {
		struct ooh_hc_req *req = kzalloc(64, GFP_KERNEL);

		per_cpu(ooh_req, cpu) = req;
		if (!req || (virt_to_phys(req) & 63)) {
			ooh_hv_free();
			return -ENOMEM;
		}
		if (ooh_hv.features & OOH_FEAT_SHADOW) {
			per_cpu(ooh_shadow, cpu) =
				(void *)get_zeroed_page(GFP_KERNEL);
			if (!per_cpu(ooh_shadow, cpu)) {
				ooh_hv_free();
				return -ENOMEM;
			}
		}
	}
	if (ooh_hv.features & OOH_FEAT_SHADOW)
		on_each_cpu(ooh_shadow_register_here, NULL, 1);
	return 0;
}

static void ooh_shadow_unregister_here(void *unused)
{
	int cpu = smp_processor_id();

	ooh_hc_on_this_cpu(per_cpu(ooh_req, cpu), OOH_HC_SHADOW_REGISTER, 0, 0,
			   0, 0, 0, NULL);
}

void ooh_hv_exit(void)
{
	if (!ooh_hv.hc_port)
		return;
	/* l0 must stop using the pages before they go back to the allocator */
	if (ooh_hv.features & OOH_FEAT_SHADOW)
		on_each_cpu(ooh_shadow_unregister_here, NULL, 1);
	ooh_hv_free();
}
