// SPDX-License-Identifier: GPL-2.0
/*
 * Per-user budgets: /dev/ooh is mode 0666, and ooh-l0 offers a VM only
 * OOH_MAX_SESSIONS sessions and a bounded number of SPP memory slots, so
 * one user opening them all would deny OoH to every other user of the
 * guest. Each user (real uid, as RLIMIT_NPROC and io_uring count users)
 * may hold at most max_user_sessions tracking sessions and
 * max_user_spp_pages protected pages. Every use is counted, but callers
 * with CAP_SYS_ADMIN are never refused; and the other callers together
 * hold at most all but reserved_sessions of l0's sessions, so that however
 * many users fill their budgets, root can still track.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uidgid.h>

#include <ooh/hv-abi.h>

#include "ooh.h"

/* A quarter of l0's 64 sessions: at least four users fit. */
static unsigned int max_user_sessions = 16;
module_param(max_user_sessions, uint, 0644);
MODULE_PARM_DESC(max_user_sessions,
		 "tracking sessions per user (real uid); CAP_SYS_ADMIN is exempt");

/*
 * 16 MiB: l0 has ~32K memory slots and an isolated protected page costs
 * two, so a user protecting scattered pages takes at most a quarter.
 */
static unsigned int max_user_spp_pages = 4096;
module_param(max_user_spp_pages, uint, 0644);
MODULE_PARM_DESC(max_user_spp_pages,
		 "SPP-protected pages per user (real uid); CAP_SYS_ADMIN is exempt");

/* Sessions of l0 (OOH_MAX_SESSIONS per VM) that only CAP_SYS_ADMIN may take. */
static unsigned int reserved_sessions = 8;
module_param(reserved_sessions, uint, 0644);
MODULE_PARM_DESC(reserved_sessions,
		 "of the hypervisor's 64 sessions, those only CAP_SYS_ADMIN may take");

/*
 * l0 protects about 16K scattered pages per VM (KVM's ~32K memory slots, two
 * per isolated page; runs cost less). Callers without CAP_SYS_ADMIN hold
 * together at most all but reserved_spp_pages of them.
 */
#define OOH_SPP_NOMINAL_PAGES	16384u
static unsigned int reserved_spp_pages = 4096;
module_param(reserved_spp_pages, uint, 0644);
MODULE_PARM_DESC(reserved_spp_pages,
		 "of the hypervisor's ~16K scattered SPP pages, those only CAP_SYS_ADMIN may take");

struct ooh_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int refs;
	unsigned int sessions;
	unsigned long spp_pages;
};

static DEFINE_SPINLOCK(ooh_users_lock);	/* the table and every counter */
static unsigned int ooh_users_sessions;	/* held by callers not exempt */
static unsigned long ooh_users_spp_pages; /* protected by files not root's */
static DEFINE_HASHTABLE(ooh_users, 6);

static struct ooh_user *ooh_user_find(kuid_t uid)
{
	struct ooh_user *u;

	hash_for_each_possible(ooh_users, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/* The caller's user (real uid), referenced; NULL when memory is short. */
struct ooh_user *ooh_user_get(void)
{
	kuid_t uid = current_uid();
	struct ooh_user *u, *fresh;

	spin_lock(&ooh_users_lock);
	u = ooh_user_find(uid);
	if (u)
		u->refs++;
	spin_unlock(&ooh_users_lock);
	if (u)
		return u;
	/* shared by every process of the user: nobody's memcg in particular */
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	if (!fresh)
		return NULL;
	fresh->uid = uid;
	fresh->refs = 1;
	spin_lock(&ooh_users_lock);
	u = ooh_user_find(uid);
	if (u) {
		u->refs++;
	} else {
		hash_add(ooh_users, &fresh->node, __kuid_val(uid));
		u = fresh;
		fresh = NULL;
	}
	spin_unlock(&ooh_users_lock);
	kfree(fresh);
	return u;
}

void ooh_user_put(struct ooh_user *u)
{
	bool last;

	if (!u)
		return;
	spin_lock(&ooh_users_lock);
	last = !--u->refs;
	if (last) {
		WARN_ON(u->sessions || u->spp_pages);
		hash_del(&u->node);
	}
	spin_unlock(&ooh_users_lock);
	if (last)
		kfree(u);
}

/* Whether the current task may go past the per-user budgets. */
bool ooh_user_exempt(void)
{
	return capable(CAP_SYS_ADMIN);
}

/*
 * One more session for u: -EDQUOT past max_user_sessions, or when only the
 * reserved_sessions are left.
 */
int ooh_user_charge_session(struct ooh_user *u, bool exempt)
{
	unsigned int limit = READ_ONCE(max_user_sessions);
	unsigned int reserved = min(READ_ONCE(reserved_sessions),
				    OOH_MAX_SESSIONS);
	bool over_user = false, over_all = false;

	spin_lock(&ooh_users_lock);
	if (!exempt) {
		over_user = u->sessions >= limit;
		over_all = ooh_users_sessions >= OOH_MAX_SESSIONS - reserved;
	}
	if (!over_user && !over_all) {
		u->sessions++;
		if (!exempt)
			ooh_users_sessions++;
	}
	spin_unlock(&ooh_users_lock);
	if (over_user)
		pr_warn_ratelimited("uid %u: per-user limit of %u sessions reached (parameter max_user_sessions)\n",
				    from_kuid(&init_user_ns, u->uid), limit);
	else if (over_all)
		pr_warn_ratelimited("uid %u: only the %u sessions reserved for CAP_SYS_ADMIN are left (parameter reserved_sessions)\n",
				    from_kuid(&init_user_ns, u->uid), reserved);
	return over_user || over_all ? -EDQUOT : 0;
}

/* exempt: as when it was charged */
void ooh_user_uncharge_session(struct ooh_user *u, bool exempt)
{
	spin_lock(&ooh_users_lock);
	if (!WARN_ON(!u->sessions || (!exempt && !ooh_users_sessions))) {
		u->sessions--;
		if (!exempt)
			ooh_users_sessions--;
	}
	spin_unlock(&ooh_users_lock);
}

/*
 * Whether n more protected pages fit in u's budget (charge false: only
 * ask), or takes them (charge true); -EDQUOT past max_user_spp_pages.
 * May be called with spinlocks held (it warns without sleeping).
 */
int ooh_user_charge_pages(struct ooh_user *u, unsigned long n, bool exempt,
			  bool root_file, bool charge)
{
	unsigned int limit = READ_ONCE(max_user_spp_pages);
	unsigned int reserved = min(READ_ONCE(reserved_spp_pages),
				    OOH_SPP_NOMINAL_PAGES);
	bool over_user = false, over_all = false;

	spin_lock(&ooh_users_lock);
	if (!exempt) {
		over_user = u->spp_pages + n > limit;
		over_all = !root_file && ooh_users_spp_pages + n >
			   OOH_SPP_NOMINAL_PAGES - reserved;
	}
	if (!over_user && !over_all && charge) {
		u->spp_pages += n;
		if (!root_file)
			ooh_users_spp_pages += n;
	}
	spin_unlock(&ooh_users_lock);
	if (over_user)
		pr_warn_ratelimited("uid %u: per-user limit of %u SPP-protected pages reached (parameter max_user_spp_pages)\n",
				    from_kuid(&init_user_ns, u->uid), limit);
	else if (over_all)
		pr_warn_ratelimited("uid %u: only the %u SPP pages reserved for CAP_SYS_ADMIN are left (parameter reserved_spp_pages)\n",
				    from_kuid(&init_user_ns, u->uid), reserved);
	return over_user || over_all ? -EDQUOT : 0;
}

/* root_file: as when they were charged */
void ooh_user_uncharge_pages(struct ooh_user *u, unsigned long n,
			     bool root_file)
{
	spin_lock(&ooh_users_lock);
	if (!WARN_ON(u->spp_pages < n ||
		     (!root_file && ooh_users_spp_pages < n))) {
		u->spp_pages -= n;
		if (!root_file)
			ooh_users_spp_pages -= n;
	}
	spin_unlock(&ooh_users_lock);
}
