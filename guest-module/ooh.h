/* SPDX-License-Identifier: GPL-2.0 */
/* Internal declarations of ooh.ko (not an ABI: see include/ooh/). */
#ifndef OOH_MODULE_H
#define OOH_MODULE_H

#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/types.h>

struct ooh_hc_req;

/* What the hypervisor below offers, found once at load time. */
struct ooh_hv {
	bool present;
	u32 cpuid_base;
	u32 abi_version;
	u32 features;
	u16 hc_port;		/* 0: no hypercalls */
	u32 notify_gsi;
	u32 max_log_bytes;
};

extern struct ooh_hv ooh_hv;

void ooh_discover(struct ooh_hv *hv);

/* ooh_hv.c: hypercalls and the per-vCPU shadow control pages */
int ooh_hv_init(void);
void ooh_hv_exit(void);
int ooh_hc(u32 op, u32 session, u64 a0, u64 a1, u64 a2, u64 a3, u64 *out1);
void ooh_shadow_sched_in(u32 id, int cpu);
void ooh_shadow_sched_out(u32 id, int cpu);

/* ooh_session.c */
struct file;
int ooh_session_open(struct file *file);
int ooh_session_release(struct file *file);
long ooh_session_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
int ooh_session_init(void);
void ooh_session_exit(void);
void ooh_sessions_drain(void);

/* ooh_mapchg.c: pages that change without a store (unmap, drop, remap) */
struct mm_struct;
struct ooh_mapchg;
typedef int (*ooh_mapchg_sink)(void *priv, unsigned long va,
			       unsigned long pages);
int ooh_mapchg_open(struct ooh_mapchg **out, struct mm_struct *mm);
void ooh_mapchg_close(struct ooh_mapchg *m);
int ooh_mapchg_arm(struct ooh_mapchg *m, bool on);
int ooh_mapchg_harvest(struct ooh_mapchg *m, unsigned long lo,
		       unsigned long hi, ooh_mapchg_sink sink, void *priv);

/* ooh_budget.c: per-user budgets (real uid) */
struct ooh_user;
struct ooh_user *ooh_user_get(void);
void ooh_user_put(struct ooh_user *u);
bool ooh_user_exempt(void);
int ooh_user_charge_session(struct ooh_user *u, bool exempt);
void ooh_user_uncharge_session(struct ooh_user *u, bool exempt);
int ooh_user_charge_pages(struct ooh_user *u, unsigned long n, bool exempt,
			  bool root_file, bool charge);
void ooh_user_uncharge_pages(struct ooh_user *u, unsigned long n,
			     bool root_file);

/* ooh_notify.c: the log-full interrupt */
void ooh_notify_init(void);
void ooh_notify_exit(void);
struct ooh_spp_ctx;
struct ooh_spp_ctx **ooh_session_spp(struct file *file);

/* ooh_spp.c: sub-page protection (virtual SPP) */
int ooh_spp_init(void);
void ooh_spp_exit(void);
long ooh_spp_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
void ooh_spp_file_release(struct file *file);
bool ooh_spp_mask_of(unsigned long va, u32 *mask);
void ooh_spp_report_va(unsigned long va);
bool ooh_spp_bound_trap(void);

/* ooh_spp_emul.c: VEX stores KVM cannot emulate, done by the guest */
int ooh_spp_emul_init(void);
void ooh_spp_emul_exit(void);

/*
 * A PTE page of a pmd the caller checked, mapped for reading. From 6.5
 * (Kbuild defines OOH_PTE_MAP_RCU) pte_offset_map() is __pte_offset_map(),
 * which modules cannot link; this does the same on x86-64 (no HIGHPTE):
 * the PTE page is held by RCU (a page table khugepaged retracts is freed
 * after a grace period) and the pmd read once and checked again. NULL when
 * the pmd no longer points to a PTE page. ooh_pte_unmap() ends it.
 */
static inline pte_t *ooh_pte_map(pmd_t *pmd, unsigned long addr)
{
#ifdef OOH_PTE_MAP_RCU
	pmd_t v;

	rcu_read_lock();
	v = pmdp_get_lockless(pmd);
	if (pmd_none(v) || !pmd_present(v) || pmd_leaf(v) || pmd_bad(v)) {
		rcu_read_unlock();
		return NULL;
	}
	return pte_offset_kernel(&v, addr);
#else
	return pte_offset_map(pmd, addr);
#endif
}

static inline void ooh_pte_unmap(pte_t *pte)
{
#ifdef OOH_PTE_MAP_RCU
	rcu_read_unlock();
#else
	pte_unmap(pte);
#endif
}

#endif /* OOH_MODULE_H */
