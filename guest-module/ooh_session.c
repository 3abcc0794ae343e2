// SPDX-License-Identifier: GPL-2.0
/*
 * Tracker sessions: one per open file of /dev/ooh, bound to one target
 * process. The hypervisor fills the session's log (guest-physical frames in
 * SPML mode, the target's linear addresses in EPML mode); COLLECT harvests,
 * drains the log, maps frames back to the target's virtual addresses and
 * copies out a sorted, de-duplicated list.
 *
 * SPML reverse map, O(dirty pages): for each logged frame, its folio's
 * anon_vma or address_space and index give one candidate address per target
 * VMA with that anon_vma (through its anon_vma chain) or that file; the
 * candidate is kept only if the target's page table maps that frame there.
 * Frames of the kernel, page tables and other processes find no VMA or fail
 * the check and are dropped.
 *
 * Pages whose content changes without a store (unmapped, dropped, moved
 * in) come from ooh_mapchg.c and join the interval's answer.
 *
 * EPML: each target thread carries a preempt notifier (registered from the
 * thread itself through task_work; for a stopped or traced thread, by the
 * tracker while the thread cannot run) that sets/clears the session's bit
 * in this vCPU's shadow control page on sched-in/out: a plain store, no
 * exit.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/pid.h>
#include <linux/preempt.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "ooh.h"
#include "ooh_trace.h"

#define OOH_DEFAULT_LOG_BYTES	(1u << 20)
/*
 * The largest order the page allocator hands out: MAX_ORDER - 1 before 6.4,
 * MAX_ORDER (inclusive from then) in 6.4-6.7, MAX_PAGE_ORDER from 6.8
 * (Kbuild defines OOH_MAX_ORDER_INCLUSIVE from 6.4).
 */
#if defined(MAX_PAGE_ORDER)
#define OOH_TOP_ORDER		MAX_PAGE_ORDER
#elif defined(OOH_MAX_ORDER_INCLUSIVE)
#define OOH_TOP_ORDER		MAX_ORDER
#else
#define OOH_TOP_ORDER		(MAX_ORDER - 1)
#endif
#define OOH_MAX_MODULE_LOG	(PAGE_SIZE << OOH_TOP_ORDER)

enum { CTX_QUEUED, CTX_LIVE, CTX_CANCELLED, CTX_GONE };

/* One per target thread in EPML mode. */
struct ooh_ctx {
	struct preempt_notifier pn;
	struct callback_head reg_work;
	struct callback_head unreg_work;
	struct task_struct *task;
	u32 id;				/* hv session id; 0: hooks do nothing */
	u32 hv_id;			/* the id, kept to clear our bit at the end */
	atomic_t state;
	atomic64_t sched_in;
	atomic64_t sched_out;
	struct list_head node;
};

struct ooh_session {
	struct mutex lock;
	bool open;
	bool started;
	u32 mode;
	u32 id;				/* hv session id */
	struct pid *pid;
	struct mm_struct *mm;		/* mmgrab'ed */
	struct page *log_pages;
	unsigned int log_order;
	struct ooh_log_header *log;
	u64 log_bytes;
	u64 last_overflow;
	bool late;			/* a thread was tracked late: be conservative */
	bool queued_at_start;		/* a thread's hook was pending when the interval began */
	struct list_head ctxs;
	/* EPML: threads born while started, hooked by the fork probe */
	struct list_head epml_node;	/* in ooh_epml_sessions, under ooh_epml_lock */
	struct list_head born;		/* under ooh_epml_lock */
	bool born_lost;			/* under ooh_epml_lock */
	/* results of the current interval, copied out in pieces */
	u64 *pending;
	size_t nr_pending, cap_pending, next_out;
	bool pending_valid, pending_overflow;
	u64 pending_seq;
	/* log entries drained early (log-full interrupt), not yet collected */
	u64 *staged;
	size_t nr_staged, cap_staged;
	struct list_head node;		/* in ooh_sessions */
	struct ooh_session_stats stats;
	struct ooh_spp_ctx *spp;	/* ooh_spp.c: sub-page protection */
	struct ooh_mapchg *mapchg;	/* ooh_mapchg.c: unmaps, drops, remaps */
	struct ooh_user *user;		/* charged one session while open */
	bool user_exempt;		/* CAP_SYS_ADMIN when charged */
	/* the opener's, for what is allocated outside its ioctls */
	struct mem_cgroup *memcg;
};

/*
 * Every open session, for the drain the log-full interrupt schedules
 * (ooh_sessions_drain). Lock order: ooh_sessions_lock, then a session's.
 */
static DEFINE_MUTEX(ooh_sessions_lock);
static LIST_HEAD(ooh_sessions);

static struct preempt_ops ooh_preempt_ops;
static atomic_t ooh_leaked_ctxs = ATOMIC_INIT(0);
static DEFINE_SPINLOCK(ooh_epml_lock);
static LIST_HEAD(ooh_epml_sessions);
static struct tracepoint *ooh_tp_fork;

/* ---- EPML context tracking ---- */

static void ooh_ctx_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct ooh_ctx *ctx = container_of(pn, struct ooh_ctx, pn);
	u32 id = READ_ONCE(ctx->id);

	if (!id)
		return;
	ooh_shadow_sched_in(id, cpu);
	atomic64_inc(&ctx->sched_in);
	trace_ooh_epml_switch(id, cpu, true);
}

static void ooh_ctx_sched_out(struct preempt_notifier *pn,
			      struct task_struct *next)
{
	struct ooh_ctx *ctx = container_of(pn, struct ooh_ctx, pn);
	u32 id = READ_ONCE(ctx->id);

	if (id) {
		int cpu = smp_processor_id();

		ooh_shadow_sched_out(id, cpu);
		atomic64_inc(&ctx->sched_out);
		trace_ooh_epml_switch(id, cpu, false);
	}
	/* The task's last switch: its notifier list is never walked again. */
	if (READ_ONCE(current->__state) == TASK_DEAD)
		atomic_cmpxchg(&ctx->state, CTX_LIVE, CTX_GONE);
}

static struct preempt_ops ooh_preempt_ops = {
	.sched_in = ooh_ctx_sched_in,
	.sched_out = ooh_ctx_sched_out,
};

/*
 * sched_process_fork probe: a thread born in a started EPML target gets its
 * notifier before it first runs (the child is not woken yet, so nobody
 * walks its notifier list: adding to it is what it would do itself).
 */
static void ooh_fork_probe(void *data, struct task_struct *parent,
			   struct task_struct *child)
{
	struct ooh_session *s;
	struct mem_cgroup *old;
	unsigned long flags;

	if (!child->mm || (child->flags & PF_KTHREAD) ||
	    list_empty_careful(&ooh_epml_sessions))
		return;
	spin_lock_irqsave(&ooh_epml_lock, flags);
	list_for_each_entry(s, &ooh_epml_sessions, epml_node) {
		struct ooh_ctx *ctx;

		if (s->mm != child->mm)
			continue; /* fork of a process: the child is not tracked */
		old = set_active_memcg(s->memcg);
		ctx = kzalloc(sizeof(*ctx), GFP_ATOMIC | __GFP_NOWARN |
			      __GFP_ACCOUNT);
		set_active_memcg(old);
		if (!ctx) {
			s->born_lost = true;
			continue;
		}
		preempt_notifier_init(&ctx->pn, &ooh_preempt_ops);
		get_task_struct(child);
		ctx->task = child;
		ctx->id = s->id;
		ctx->hv_id = s->id;
		atomic_set(&ctx->state, CTX_LIVE);
		hlist_add_head(&ctx->pn.link, &child->preempt_notifiers);
		list_add_tail(&ctx->node, &s->born);
	}
	spin_unlock_irqrestore(&ooh_epml_lock, flags);
}

/* Moves the probe's contexts to the session's list (session lock held). */
static void ooh_epml_adopt(struct ooh_session *s)
{
	unsigned long flags;

	spin_lock_irqsave(&ooh_epml_lock, flags);
	list_splice_tail_init(&s->born, &s->ctxs);
	if (s->born_lost)
		s->late = true;
	s->born_lost = false;
	spin_unlock_irqrestore(&ooh_epml_lock, flags);
}

static void ooh_epml_publish(struct ooh_session *s, bool on)
{
	unsigned long flags;

	spin_lock_irqsave(&ooh_epml_lock, flags);
	if (on)
		list_add_tail(&s->epml_node, &ooh_epml_sessions);
	else if (!list_empty(&s->epml_node))
		list_del_init(&s->epml_node);
	spin_unlock_irqrestore(&ooh_epml_lock, flags);
	if (!on)
		ooh_epml_adopt(s);
}

static bool ooh_switched_out(struct task_struct *t)
{
#ifdef CONFIG_SMP
	/* pairs with finish_task()'s release: its switch-out is over */
	return !smp_load_acquire(&t->on_cpu);
#else
	return true; /* we run, so it does not */
#endif
}

/*
 * A stopped or traced thread (SIGSTOP, a group stop, any ptrace stop) runs
 * no task_work until it is continued, and once continued the kernel may
 * write its memory before the work runs: get_signal() runs task_work only
 * on entry, so a handled signal pending at SIGCONT has its frame written
 * first; rseq's fields; the rest of a system call after a ptrace stop. So
 * such a thread gets its notifier from us, as the fork probe gives one to
 * a child not yet woken: only the task's own context switches walk its
 * list, and only the task itself changes it. Under its siglock, a thread
 * whose jobctl says stopped or traced, off its run queue (on_rq 0) and off
 * every CPU (on_cpu 0: its last switch-out, notifiers included, is done)
 * runs nothing until woken, and every wake-up of a stopped or traced task
 * holds that siglock (SIGCONT, SIGKILL, ptrace resume, attach, detach,
 * interrupt and listen, the freezer's thaw): nothing walks or changes the
 * list meanwhile, and the wake-up's switch-in fires our sched_in before
 * the thread runs anything, kernel code included. (The freezer uses the
 * same test: on_rq and task_curr.) Adds (or removes) ctx's notifier and
 * returns true, or returns false: the thread is not quiescent so.
 */
static bool ooh_ctx_hook_stopped(struct ooh_ctx *ctx, bool add)
{
	struct task_struct *t = ctx->task;
	struct sighand_struct *sighand;
	unsigned long flags;
	bool done = false;

	/* lock_task_sighand(), whose __lock_task_sighand is not exported */
	rcu_read_lock();
	for (;;) {
		sighand = rcu_dereference(t->sighand);
		if (!sighand)
			break;
		spin_lock_irqsave(&sighand->siglock, flags);
		if (sighand == rcu_access_pointer(t->sighand))
			break;
		spin_unlock_irqrestore(&sighand->siglock, flags);
	}
	rcu_read_unlock();
	if (!sighand)
		return false; /* exiting */
	if (task_is_stopped_or_traced(t) &&
	    (READ_ONCE(t->__state) & (__TASK_STOPPED | __TASK_TRACED |
				      TASK_FROZEN)) &&
	    !READ_ONCE(t->on_rq)) {
		/* dequeued first, switched out after: read in that order */
		smp_rmb();
		if (ooh_switched_out(t)) {
			if (add)
				hlist_add_head(&ctx->pn.link,
					       &t->preempt_notifiers);
			else
				hlist_del(&ctx->pn.link);
			done = true;
		}
	}
	spin_unlock_irqrestore(&sighand->siglock, flags);
	return done;
}

/* A stopped thread on its way to the CPU's switch-out: let it finish. */
static bool ooh_ctx_hook_stopped_wait(struct ooh_ctx *ctx, bool add)
{
	int tries;

	for (tries = 0; tries < 20; tries++) {
		if (ooh_ctx_hook_stopped(ctx, add))
			return true;
		if (!task_is_stopped_or_traced(ctx->task))
			return false;
		usleep_range(50, 100);
	}
	return false;
}

/* Runs in the target thread (task_work), or directly for current. */
static void ooh_ctx_register(struct ooh_ctx *ctx)
{
	if (atomic_read(&ctx->state) != CTX_QUEUED ||
	    (current->flags & PF_EXITING)) {
		atomic_set(&ctx->state, CTX_GONE);
		return;
	}
	/* as KVM does: no context switch while the list changes */
	preempt_disable();
	preempt_notifier_register(&ctx->pn);
	if (atomic_cmpxchg(&ctx->state, CTX_QUEUED, CTX_LIVE) != CTX_QUEUED) {
		preempt_notifier_unregister(&ctx->pn);
		atomic_set(&ctx->state, CTX_GONE);
		preempt_enable();
		return;
	}
	/* We are running now: that is a sched-in. */
	ooh_ctx_sched_in(&ctx->pn, smp_processor_id());
	preempt_enable();
}

static void ooh_ctx_reg_work(struct callback_head *head)
{
	ooh_ctx_register(container_of(head, struct ooh_ctx, reg_work));
}

static void ooh_ctx_unreg_work(struct callback_head *head)
{
	struct ooh_ctx *ctx = container_of(head, struct ooh_ctx, unreg_work);

	preempt_disable();
	preempt_notifier_unregister(&ctx->pn);
	ooh_shadow_sched_out(ctx->hv_id, smp_processor_id());
	preempt_enable();
	atomic_set(&ctx->state, CTX_GONE);
}

/* Some thread's hook is still waiting for that thread to run. */
static bool ooh_ctx_any_queued(struct ooh_session *s)
{
	struct ooh_ctx *ctx;

	list_for_each_entry(ctx, &s->ctxs, node)
		if (atomic_read(&ctx->state) == CTX_QUEUED)
			return true;
	return false;
}

static bool ooh_ctx_tracked(struct ooh_session *s, struct task_struct *t)
{
	struct ooh_ctx *ctx;

	list_for_each_entry(ctx, &s->ctxs, node)
		if (ctx->task == t)
			return true;
	return false;
}

/*
 * Gives every thread of the target a context (session lock held). Returns
 * how many were added; those registered from task_work may lag: wait
 * for them so the interval starts with every thread tracked. A stopped
 * thread is hooked here at once (ooh_ctx_hook_stopped): nothing to wait for.
 */
static int ooh_epml_attach(struct ooh_session *s, bool wait)
{
	struct task_struct *leader, *t, **tasks;
	int nr = 0, max = 0, added = 0, i, spins;

	ooh_epml_adopt(s);
	leader = get_pid_task(s->pid, PIDTYPE_PID);
	if (!leader)
		return -ESRCH;
	rcu_read_lock();
	for_each_thread(leader, t)
		max++;
	rcu_read_unlock();
	tasks = kcalloc(max + 16, sizeof(*tasks), GFP_KERNEL_ACCOUNT);
	if (!tasks) {
		put_task_struct(leader);
		return -ENOMEM;
	}
	rcu_read_lock();
	for_each_thread(leader, t) {
		if (nr == max + 16)
			break;
		if (t->flags & PF_EXITING)
			continue;
		get_task_struct(t);
		tasks[nr++] = t;
	}
	rcu_read_unlock();
	put_task_struct(leader);

	for (i = 0; i < nr; i++) {
		struct ooh_ctx *ctx;

		if (ooh_ctx_tracked(s, tasks[i])) {
			put_task_struct(tasks[i]);
			continue;
		}
		ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
		if (!ctx) {
			put_task_struct(tasks[i]);
			s->late = true;
			continue;
		}
		preempt_notifier_init(&ctx->pn, &ooh_preempt_ops);
		ctx->task = tasks[i];
		ctx->id = s->id;
		ctx->hv_id = s->id;
		atomic_set(&ctx->state, CTX_QUEUED);
		list_add_tail(&ctx->node, &s->ctxs);
		added++;
		if (tasks[i] == current) {
			ooh_ctx_register(ctx);
			continue;
		}
		/* stopped: hooked now, not when continued (no wait, no miss) */
		atomic_set(&ctx->state, CTX_LIVE);
		if (ooh_ctx_hook_stopped_wait(ctx, true))
			continue;
		atomic_set(&ctx->state, CTX_QUEUED);
		init_task_work(&ctx->reg_work, ooh_ctx_reg_work);
		if (task_work_add(tasks[i], &ctx->reg_work, TWA_SIGNAL))
			atomic_set(&ctx->state, CTX_GONE); /* exiting */
	}
	kfree(tasks);
	if (!wait)
		return added;
	/* Registration runs when each thread next leaves the kernel. */
	for (spins = 0; spins < 2000; spins++) {
		struct ooh_ctx *ctx;
		bool pending = false;

		list_for_each_entry(ctx, &s->ctxs, node)
			pending |= atomic_read(&ctx->state) == CTX_QUEUED;
		if (!pending)
			break;
		usleep_range(1000, 2000);
	}
	return added;
}

/* Stops and frees every context (session lock held). */
static void ooh_epml_detach(struct ooh_session *s)
{
	struct ooh_ctx *ctx, *tmp;
	bool died = false;
	int spins, cpu;

	ooh_epml_publish(s, false);
	list_for_each_entry(ctx, &s->ctxs, node) {
		WRITE_ONCE(ctx->id, 0);
		if (atomic_cmpxchg(&ctx->state, CTX_QUEUED, CTX_CANCELLED) ==
		    CTX_QUEUED)
			continue;
		if (atomic_read(&ctx->state) != CTX_LIVE)
			continue;
		if (ctx->task == current) {
			preempt_disable();
			preempt_notifier_unregister(&ctx->pn);
			ooh_shadow_sched_out(ctx->hv_id, smp_processor_id());
			preempt_enable();
			atomic_set(&ctx->state, CTX_GONE);
			continue;
		}
		/* stopped: out of its list now, as it went in */
		if (ooh_ctx_hook_stopped_wait(ctx, false)) {
			atomic_set(&ctx->state, CTX_GONE);
			continue;
		}
		init_task_work(&ctx->unreg_work, ooh_ctx_unreg_work);
		/* fails once the task is exiting: its last switch ends it */
		if (task_work_add(ctx->task, &ctx->unreg_work, TWA_SIGNAL))
			died = true;
	}
	for (spins = 0; spins < 1000; spins++) {
		bool busy = false;

		list_for_each_entry(ctx, &s->ctxs, node)
			busy |= atomic_read(&ctx->state) != CTX_GONE &&
				atomic_read(&ctx->state) != CTX_CANCELLED;
		if (!busy)
			break;
		usleep_range(1000, 2000);
	}
	/*
	 * A thread that just died may still be stepping past our notifier in
	 * its last context switch (a preempt-off section: an RCU reader).
	 */
	if (died || !list_empty(&s->ctxs))
		synchronize_rcu();
	/*
	 * A thread that switched out as its id went 0 (one that stopped then,
	 * say) left its bit on, and a switch-in that read the id before may
	 * have set it: past the grace period nothing sets it any more.
	 */
	for_each_possible_cpu(cpu)
		ooh_shadow_sched_out(s->id, cpu);
	list_for_each_entry_safe(ctx, tmp, &s->ctxs, node) {
		int state = atomic_read(&ctx->state);

		s->stats.sched_in += atomic64_read(&ctx->sched_in);
		s->stats.sched_out += atomic64_read(&ctx->sched_out);
		list_del(&ctx->node);
		if (state == CTX_GONE) {
			put_task_struct(ctx->task);
			kfree(ctx);
			continue;
		}
		/*
		 * Still queued or registered in a thread that never ran again
		 * (stopped, and busy when we looked): its hooks and its queued
		 * work do nothing (id 0, cancelled), but they are our code, so
		 * keep the module loaded and the memory alive.
		 */
		__module_get(THIS_MODULE);
		atomic_inc(&ooh_leaked_ctxs);
	}
}

/* ---- permissions ---- */

/*
 * May the caller track task?  The kernel's own answer, not a copy of its
 * rules: opening the target's /proc/PID/mem asks ptrace_may_access() with
 * every security module's hook (Yama's ptrace_scope, SELinux, ...).  That
 * open checks the file-system ids (PTRACE_MODE_ATTACH_FSCREDS); ptrace(2)
 * attach checks the real ones, so the open runs with fsuid/fsgid set to
 * the caller's real ids, and past the file's mode (CAP_DAC_OVERRIDE: the
 * mode only mirrors the ptrace rule, without CAP_SYS_PTRACE): a tracker
 * may track exactly what it could ptrace (ptrace_may_access itself is not
 * exported).  A pid reused between the
 * lookup and the open can only name a process the caller could ptrace,
 * and then the task it looked up is gone: its session sees no mm.
 */
static bool ooh_may_track(struct task_struct *task)
{
	const struct cred *saved;
	struct cred *real;
	char path[32];
	struct file *f;

	real = prepare_creds();
	if (!real)
		return false;
	real->fsuid = real->uid;
	real->fsgid = real->gid;
	cap_raise(real->cap_effective, CAP_DAC_OVERRIDE);
	saved = override_creds(real);
	snprintf(path, sizeof(path), "/proc/%d/mem", task_tgid_vnr(task));
	f = filp_open(path, O_RDONLY, 0);
	revert_creds(saved);
	put_cred(real);
	if (IS_ERR(f))
		return false;
	filp_close(f, NULL);
	return true;
}

/* ---- results ---- */

static int ooh_pending_add(struct ooh_session *s, u64 va)
{
	if (s->nr_pending == s->cap_pending) {
		size_t cap = s->cap_pending ? s->cap_pending * 2 : 1024;
		u64 *n = kvmalloc_array(cap, sizeof(*n), GFP_KERNEL_ACCOUNT);

		if (!n)
			return -ENOMEM;
		if (s->nr_pending)
			memcpy(n, s->pending, s->nr_pending * sizeof(*n));
		kvfree(s->pending);
		s->pending = n;
		s->cap_pending = cap;
	}
	s->pending[s->nr_pending++] = va;
	return 0;
}

static int ooh_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* The target's page table maps pfn at va (mmap lock held). */
static bool ooh_maps_pfn(struct mm_struct *mm, unsigned long va,
			 unsigned long pfn)
{
	pgd_t *pgd = pgd_offset(mm, va);
	p4d_t *p4d;
	pud_t *pud, pudv;
	pmd_t *pmd, pmdv;
	pte_t *pte, ptev;

	if (pgd_none(*pgd) || pgd_bad(*pgd))
		return false;
	p4d = p4d_offset(pgd, va);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		return false;
	pud = pud_offset(p4d, va);
	pudv = READ_ONCE(*pud);
	if (pud_none(pudv))
		return false;
	if (pud_leaf(pudv))
		return pud_pfn(pudv) + ((va & ~PUD_MASK) >> PAGE_SHIFT) == pfn;
	if (pud_bad(pudv))
		return false;
	pmd = pmd_offset(pud, va);
	pmdv = READ_ONCE(*pmd);
	if (pmd_none(pmdv))
		return false;
	if (pmd_leaf(pmdv))
		return pmd_pfn(pmdv) + ((va & ~PMD_MASK) >> PAGE_SHIFT) == pfn;
	if (pmd_bad(pmdv))
		return false;
	pte = ooh_pte_map(pmd, va);
	if (!pte)
		return false;
	ptev = READ_ONCE(*pte);
	ooh_pte_unmap(pte);
	return pte_present(ptev) && pte_pfn(ptev) == pfn;
}

struct ooh_vma_key {
	const void *key;		/* anon_vma or address_space */
	struct vm_area_struct *vma;
};

struct ooh_rmap {
	struct ooh_vma_key *keys;
	size_t nr, cap;
};

static int ooh_cmp_key(const void *a, const void *b)
{
	const struct ooh_vma_key *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static int ooh_rmap_add(struct ooh_rmap *r, const void *key,
			struct vm_area_struct *vma)
{
	if (r->nr == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct ooh_vma_key *n = kvmalloc_array(cap, sizeof(*n),
						       GFP_KERNEL_ACCOUNT);

		if (!n)
			return -ENOMEM;
		if (r->nr)
			memcpy(n, r->keys, r->nr * sizeof(*n));
		kvfree(r->keys);
		r->keys = n;
		r->cap = cap;
	}
	r->keys[r->nr++] = (struct ooh_vma_key){ key, vma };
	return 0;
}

/* The per-collect VMA index, O(VMAs): anon_vma / mapping -> VMAs. */
static int ooh_rmap_build(struct ooh_rmap *r, struct mm_struct *mm)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *vma;
	int err = 0;

	for_each_vma(vmi, vma) {
		struct anon_vma_chain *avc;

		if (vma->vm_file && vma->vm_file->f_mapping)
			err = ooh_rmap_add(r, vma->vm_file->f_mapping, vma);
		list_for_each_entry(avc, &vma->anon_vma_chain, same_vma)
			if (!err)
				err = ooh_rmap_add(r, avc->anon_vma, vma);
		if (err)
			return err;
	}
	if (r->nr)
		sort(r->keys, r->nr, sizeof(*r->keys), ooh_cmp_key, NULL);
	return 0;
}

/* Adds the target addresses mapping gpa; returns how many. */
static int ooh_rmap_one(struct ooh_session *s, struct ooh_rmap *r, u64 gpa)
{
	unsigned long pfn = gpa >> PAGE_SHIFT, mapping;
	struct folio *folio;
	struct page *page;
	const void *key;
	pgoff_t index;
	size_t lo = 0, hi = r->nr;
	int found = 0;

	page = pfn_to_online_page(pfn);
	if (!page)
		return 0;
	folio = page_folio(page);
	if (!folio_try_get(folio))
		return 0;
	if (folio != page_folio(page))
		goto out;
	mapping = (unsigned long)READ_ONCE(folio->mapping);
	if ((mapping & PAGE_MAPPING_FLAGS) == PAGE_MAPPING_ANON)
		key = (const void *)(mapping & ~PAGE_MAPPING_FLAGS);
	else if (mapping && !(mapping & PAGE_MAPPING_FLAGS))
		key = (const void *)mapping;
	else
		goto out; /* kernel memory, KSM, movable driver pages */
	index = folio->index + (pfn - folio_pfn(folio));
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->keys[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < r->nr && r->keys[lo].key == key; lo++) {
		struct vm_area_struct *vma = r->keys[lo].vma;
		unsigned long va;

		if (index < vma->vm_pgoff ||
		    index - vma->vm_pgoff >= vma_pages(vma))
			continue;
		va = vma->vm_start + ((index - vma->vm_pgoff) << PAGE_SHIFT);
		if (ooh_maps_pfn(s->mm, va, pfn) && !ooh_pending_add(s, va))
			found++;
	}
out:
	folio_put(folio);
	return found;
}

/* Every page of every writable mapping: the answer after an overflow. */
static int ooh_add_everything(struct ooh_session *s)
{
	VMA_ITERATOR(vmi, s->mm, 0);
	struct vm_area_struct *vma;
	unsigned long va;

	for_each_vma(vmi, vma) {
		if (!(vma->vm_flags & VM_WRITE))
			continue;
		for (va = vma->vm_start; va < vma->vm_end; va += PAGE_SIZE)
			if (ooh_pending_add(s, va))
				return -ENOMEM;
	}
	return 0;
}

/*
 * At most this many entries wait in a session's staging: beyond, the log is
 * left to fill, and l0 reports the overflow (a conservative answer).
 */
#define OOH_MAX_STAGED	(1u << 20)

/*
 * Moves what l0 logged so far into the session's staging, so that the log
 * has room again before the next collect (lock held). Entries are kept raw
 * (GPAs or GVAs) and resolved at collect time, like those still in the log.
 */
static void ooh_log_drain(struct ooh_session *s)
{
	struct ooh_log_header *h = s->log;
	struct ooh_log_entry *e = (struct ooh_log_entry *)(h + 1);
	u64 cons = READ_ONCE(h->consumer);
	/* pairs with l0's release store of producer after the entries */
	u64 prod = smp_load_acquire(&h->producer);
	size_t need;
	u64 i;

	if (prod - cons > h->size)
		cons = prod - h->size; /* cannot happen unless l0 misbehaves */
	if (prod == cons)
		return;
	need = s->nr_staged + (size_t)(prod - cons);
	if (need > OOH_MAX_STAGED)
		return;
	if (need > s->cap_staged) {
		size_t cap = max_t(size_t, need, s->cap_staged * 2);
		u64 *n = kvmalloc_array(cap, sizeof(*n), GFP_KERNEL_ACCOUNT);

		if (!n)
			return; /* the log stays full: l0 counts the overflow */
		if (s->nr_staged)
			memcpy(n, s->staged, s->nr_staged * sizeof(*n));
		kvfree(s->staged);
		s->staged = n;
		s->cap_staged = cap;
	}
	for (i = cons; i < prod; i++)
		s->staged[s->nr_staged++] = READ_ONCE(e[i & (h->size - 1)].addr);
	/* entries read before l0 may reuse their slots */
	smp_store_release(&h->consumer, prod);
}

/* Called from the log-full interrupt's work: drain every started session. */
void ooh_sessions_drain(void)
{
	struct ooh_session *s;
	size_t before;

	mutex_lock(&ooh_sessions_lock);
	list_for_each_entry(s, &ooh_sessions, node) {
		/* a session busy in an ioctl drains itself when it collects */
		if (!mutex_trylock(&s->lock))
			continue;
		if (s->open && s->started) {
			/* a worker: the staging is the opener's memory */
			struct mem_cgroup *old = set_active_memcg(s->memcg);

			before = s->nr_staged;
			ooh_log_drain(s);
			set_active_memcg(old);
			if (s->nr_staged != before)
				s->stats.drains++;
		}
		mutex_unlock(&s->lock);
	}
	mutex_unlock(&ooh_sessions_lock);
}

/* One logged address into the interval's answer (mmap lock held). */
static void ooh_take(struct ooh_session *s, struct ooh_rmap *r, u64 addr)
{
	s->stats.log_entries++;
	if (s->mode == OOH_MODE_SPML) {
		if (!ooh_rmap_one(s, r, addr))
			s->stats.dropped++;
	} else if (vma_lookup(s->mm, addr)) {
		ooh_pending_add(s, addr);
	} else {
		s->stats.dropped++;
	}
}

struct ooh_mapchg_dest {
	struct ooh_session *s;
	unsigned long lo, hi;
	struct vm_area_struct *vma;	/* the last one looked up */
};

/* A run of pages whose mapping changed: those still mapped count. */
static int ooh_mapchg_add(void *priv, unsigned long va, unsigned long pages)
{
	struct ooh_mapchg_dest *d = priv;
	unsigned long end = va + pages * PAGE_SIZE;

	va = max(va, d->lo);
	end = min(end, d->hi);
	while (va < end) {
		if (!d->vma || va < d->vma->vm_start || va >= d->vma->vm_end)
			d->vma = find_vma(d->s->mm, va);
		if (!d->vma || d->vma->vm_start >= end)
			break;
		if (va < d->vma->vm_start) {
			va = d->vma->vm_start;
			continue;
		}
		if (ooh_pending_add(d->s, va))
			return -ENOMEM;
		d->s->stats.mapping_changes++;
		va += PAGE_SIZE;
	}
	return 0;
}

/*
 * Harvest (unless !sync: what earlier harvests delivered is enough), drain
 * the log and build the interval's answer (lock held).
 */
static int ooh_build_interval(struct ooh_session *s, u64 start, u64 end,
			      bool sync)
{
	struct ooh_log_header *h = s->log;
	struct ooh_log_entry *e = (struct ooh_log_entry *)(h + 1);
	struct ooh_rmap r = { 0 };
	u64 cons, prod, overflow, i;
	size_t n, out;
	int ret = 0;

	if (s->started && sync) {
		ret = ooh_hc(OOH_HC_SYNC, 0, 0, 0, 0, 0, NULL);
		s->stats.hypercalls++;
		if (ret)
			return ret == -ENODEV ? -ENODEV : -EIO;
	}
	if (!mmget_not_zero(s->mm))
		return -ESRCH; /* the target is gone */
	mmap_read_lock(s->mm);
	if (s->mode == OOH_MODE_EPML) {
		bool queued;

		if (s->started && ooh_epml_attach(s, false) > 0)
			s->late = true; /* threads born during the interval */
		/* a thread whose hook was not in place for the whole interval */
		queued = ooh_ctx_any_queued(s);
		if (queued || s->queued_at_start)
			s->late = true;
		s->queued_at_start = queued;
	} else {
		ret = ooh_rmap_build(&r, s->mm);
		if (ret)
			goto unlock;
	}
	s->nr_pending = 0;
	s->next_out = 0;
	cons = READ_ONCE(h->consumer);
	/* pairs with l0's release store of producer after the entries */
	prod = smp_load_acquire(&h->producer);
	overflow = READ_ONCE(h->overflow);
	if (prod - cons > h->size)
		cons = prod - h->size; /* cannot happen unless l0 misbehaves */
	for (n = 0; n < s->nr_staged; n++)
		ooh_take(s, &r, s->staged[n]);
	s->nr_staged = 0;
	for (i = cons; i < prod; i++)
		ooh_take(s, &r, READ_ONCE(e[i & (h->size - 1)].addr));
	/* entries read before l0 may reuse their slots */
	smp_store_release(&h->consumer, prod);
	if (s->started) {
		struct ooh_mapchg_dest d = { s, start, end ? end : ULONG_MAX };

		/* records lost, or no memory to report them: be conservative */
		if (ooh_mapchg_harvest(s->mapchg, start, d.hi, ooh_mapchg_add,
				       &d))
			s->late = true;
	}
	s->pending_overflow = overflow != s->last_overflow || s->late;
	s->last_overflow = overflow;
	s->late = false;
	if (s->pending_overflow) {
		s->stats.overflows++;
		ret = ooh_add_everything(s);
	}
unlock:
	mmap_read_unlock(s->mm);
	mmput(s->mm);
	kvfree(r.keys);
	if (ret)
		return ret;
	if (s->nr_pending)
		sort(s->pending, s->nr_pending, sizeof(u64), ooh_cmp_u64, NULL);
	for (n = 0, out = 0; n < s->nr_pending; n++) {
		u64 va = s->pending[n];

		if (va < start || (end && va >= end))
			continue;
		if (out && s->pending[out - 1] == va)
			continue;
		s->pending[out++] = va;
	}
	s->nr_pending = out;
	s->pending_valid = true;
	s->pending_seq = READ_ONCE(h->seq);
	s->stats.collects++;
	return 0;
}

/* One COLLECT on an open session: one ooh_collect event, failed or not. */
static long ooh_collect(struct ooh_session *s, void __user *arg)
{
	u64 hypercalls = s->stats.hypercalls, n = 0, total = 0, seq = 0;
	u32 flags = OOH_COLLECT_F_CONTINUE;
	struct ooh_collect c;
	int ret = 0;

	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	if ((c.flags & ~(OOH_COLLECT_F_CONTINUE | OOH_COLLECT_F_NO_SYNC)) ||
	    c.reserved ||
	    (c.end && c.end <= c.start))
		return -EINVAL;
	if (!s->open)
		return -ENOTCONN;
	if (!(c.flags & OOH_COLLECT_F_CONTINUE) || !s->pending_valid) {
		flags = 0;
		ret = ooh_build_interval(s, c.start, c.end,
					 !(c.flags & OOH_COLLECT_F_NO_SYNC));
		if (ret)
			goto out;
	}
	n = min_t(u64, c.count, s->nr_pending - s->next_out);
	if (n && copy_to_user(u64_to_user_ptr(c.buf), s->pending + s->next_out,
			      n * sizeof(u64))) {
		n = 0;
		ret = -EFAULT;
		goto out;
	}
	s->next_out += n;
	s->stats.reported += n;
	total = s->nr_pending;
	seq = s->pending_seq;
	c.count = n;
	c.total = total;
	c.seq = seq;
	c.flags = s->pending_overflow ? OOH_COLLECT_F_OVERFLOW : 0;
	if (s->next_out < s->nr_pending)
		c.flags |= OOH_COLLECT_F_MORE;
	else
		s->pending_valid = false;
	flags |= c.flags;
	if (copy_to_user(arg, &c, sizeof(c)))
		ret = -EFAULT;
out:
	trace_ooh_collect(s->id, ret, n, total, seq, flags,
			  (u32)(s->stats.hypercalls - hypercalls));
	return ret;
}

/* ---- session life ---- */

static long ooh_open_session(struct ooh_session *s, void __user *arg)
{
	struct ooh_open_session o;
	struct task_struct *task;
	struct mm_struct *mm;
	u64 bytes, root = 0;
	u32 feat;
	int id, ret;

	if (copy_from_user(&o, arg, sizeof(o)))
		return -EFAULT;
	if (o.flags)
		return -EINVAL;
	feat = o.mode == OOH_MODE_SPML ? OOH_FEAT_SPML :
	       o.mode == OOH_MODE_EPML ? OOH_FEAT_EPML : 0;
	if (!feat)
		return -EINVAL;
	if (!(ooh_hv.features & feat))
		return -EOPNOTSUPP;
	/* l0 walks 4-level tables for EPML (l0 refuses a 5-level guest too) */
	if (o.mode == OOH_MODE_EPML && pgtable_l5_enabled())
		return -EOPNOTSUPP;
	bytes = o.log_bytes ? o.log_bytes : OOH_DEFAULT_LOG_BYTES;
	if (bytes < OOH_LOG_MIN_BYTES || (bytes & (bytes - 1)) ||
	    bytes > OOH_MAX_MODULE_LOG ||
	    (ooh_hv.max_log_bytes && bytes > ooh_hv.max_log_bytes))
		return -EINVAL;
	if (s->open)
		return -EBUSY;
	if (o.pid <= 0)
		return -ESRCH;

	rcu_read_lock();
	task = pid_task(find_vpid(o.pid), PIDTYPE_PID);
	if (task)
		task = task->group_leader;
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	if (!task)
		return -ESRCH;
	if (!ooh_may_track(task)) {
		put_task_struct(task);
		return -EPERM;
	}
	s->user = ooh_user_get();
	s->user_exempt = ooh_user_exempt();
	ret = s->user ? ooh_user_charge_session(s->user, s->user_exempt) :
	      -ENOMEM;
	if (ret) {
		ooh_user_put(s->user);
		s->user = NULL;
		put_task_struct(task);
		return ret;
	}
	mm = get_task_mm(task);
	if (!mm) {
		put_task_struct(task);
		ret = -ESRCH;
		goto uncharge;
	}
	/* registered while the mm still has users, as the notifier needs */
	ret = ooh_mapchg_open(&s->mapchg, mm);
	if (ret) {
		mmput(mm);
		put_task_struct(task);
		goto uncharge;
	}
	s->pid = get_task_pid(task, PIDTYPE_PID);
	put_task_struct(task);
	mmgrab(mm);
	mmput(mm);
	s->mm = mm;
	s->log_order = get_order(bytes);
	s->log_pages = alloc_pages(GFP_KERNEL_ACCOUNT | __GFP_ZERO,
				   s->log_order);
	if (!s->log_pages)
		goto nomem;
	s->log = page_address(s->log_pages);
	s->log_bytes = bytes;
	if (o.mode == OOH_MODE_EPML)
		root = __pa(mm->pgd);
	id = ooh_hc(OOH_HC_SESSION_OPEN, 0, o.mode, page_to_phys(s->log_pages),
		    bytes, root, NULL);
	s->stats.hypercalls++;
	if (id <= 0) {
		__free_pages(s->log_pages, s->log_order);
		s->log_pages = NULL;
		s->log = NULL;
		ooh_mapchg_close(s->mapchg);
		s->mapchg = NULL;
		mmdrop(s->mm);
		put_pid(s->pid);
		s->mm = NULL;
		s->pid = NULL;
		ret = id == -OOH_E_NOSPC ? -ENOSPC : -EIO;
		goto uncharge;
	}
	s->id = id;
	s->mode = o.mode;
	s->open = true;
	return 0;
nomem:
	ooh_mapchg_close(s->mapchg);
	s->mapchg = NULL;
	mmdrop(s->mm);
	put_pid(s->pid);
	s->mm = NULL;
	s->pid = NULL;
	ret = -ENOMEM;
uncharge:
	ooh_user_uncharge_session(s->user, s->user_exempt);
	ooh_user_put(s->user);
	s->user = NULL;
	return ret;
}

static long ooh_start(struct ooh_session *s)
{
	int ret;

	if (!s->open)
		return -ENOTCONN;
	if (s->started)
		return -EBUSY;
	/* before l0 starts: a change in between is reported, not lost */
	ret = ooh_mapchg_arm(s->mapchg, true);
	if (ret)
		return ret;
	if (s->mode == OOH_MODE_EPML) {
		ooh_epml_publish(s, true);
		ret = ooh_epml_attach(s, true);
		if (ret < 0) {
			ooh_epml_detach(s);
			ooh_mapchg_arm(s->mapchg, false);
			return ret;
		}
	}
	ret = ooh_hc(OOH_HC_START, s->id, 0, 0, 0, 0, NULL);
	s->stats.hypercalls++;
	if (ret) {
		if (s->mode == OOH_MODE_EPML)
			ooh_epml_detach(s);
		ooh_mapchg_arm(s->mapchg, false);
		return -EIO;
	}
	/* Nothing before START counts. */
	smp_store_release(&s->log->consumer, READ_ONCE(s->log->producer));
	s->nr_staged = 0;
	s->last_overflow = READ_ONCE(s->log->overflow);
	s->pending_valid = false;
	s->late = false;
	s->queued_at_start = s->mode == OOH_MODE_EPML && ooh_ctx_any_queued(s);
	s->started = true;
	trace_ooh_session_start(s->id, s->mode, s->pid, s->log_bytes);
	return 0;
}

static long ooh_stop(struct ooh_session *s)
{
	int ret;

	if (!s->open)
		return -ENOTCONN;
	if (!s->started)
		return 0;
	ret = ooh_hc(OOH_HC_STOP, s->id, 0, 0, 0, 0, NULL);
	s->stats.hypercalls++;
	if (s->mode == OOH_MODE_EPML)
		ooh_epml_detach(s);
	ooh_mapchg_arm(s->mapchg, false);
	s->started = false;
	return ret ? -EIO : 0;
}

static long ooh_stats(struct ooh_session *s, void __user *arg)
{
	struct ooh_session_stats st = s->stats;
	struct ooh_hv_stats *hv;
	struct ooh_ctx *ctx;
	int i;

	ooh_epml_adopt(s);
	list_for_each_entry(ctx, &s->ctxs, node) {
		st.sched_in += atomic64_read(&ctx->sched_in);
		st.sched_out += atomic64_read(&ctx->sched_out);
	}
	hv = kzalloc(sizeof(*hv), GFP_KERNEL);
	if (!hv)
		return -ENOMEM;
	if (ooh_hv.hc_port &&
	    ooh_hc(OOH_HC_STATS, 0, virt_to_phys(hv), sizeof(*hv), 0, 0,
		   NULL) == 0) {
		for (i = 0; i < OOH_HC_NR_OPS; i++)
			st.hv_hypercalls += hv->hypercalls[i];
		st.hv_vcpu_exits = hv->vcpu_exits;
		st.hv_kick_exits = hv->kick_exits;
		st.hv_overflowed = hv->entries_overflowed;
	}
	kfree(hv);
	return copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
}

struct ooh_spp_ctx **ooh_session_spp(struct file *file)
{
	struct ooh_session *s = file->private_data;

	return &s->spp;
}

int ooh_session_open(struct file *file)
{
	struct ooh_session *s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);

	if (!s)
		return -ENOMEM;
	mutex_init(&s->lock);
	s->memcg = get_mem_cgroup_from_mm(current->mm);
	INIT_LIST_HEAD(&s->ctxs);
	INIT_LIST_HEAD(&s->born);
	INIT_LIST_HEAD(&s->epml_node);
	file->private_data = s;
	mutex_lock(&ooh_sessions_lock);
	list_add(&s->node, &ooh_sessions);
	mutex_unlock(&ooh_sessions_lock);
	return 0;
}

int ooh_session_release(struct file *file)
{
	struct ooh_session *s = file->private_data;
	int ret = 0;

	mutex_lock(&ooh_sessions_lock);
	list_del(&s->node);
	mutex_unlock(&ooh_sessions_lock);
	mutex_lock(&s->lock);
	if (s->open) {
		ooh_stop(s);
		ret = ooh_hc(OOH_HC_SESSION_CLOSE, s->id, 0, 0, 0, 0, NULL);
		/* Pages l0 may still write never go back to the allocator. */
		if (ret == 0)
			__free_pages(s->log_pages, s->log_order);
		else
			pr_warn("session %u: close failed (%d): log leaked\n",
				s->id, ret);
		ooh_mapchg_close(s->mapchg);
		mmdrop(s->mm);
		put_pid(s->pid);
		ooh_user_uncharge_session(s->user, s->user_exempt);
		ooh_user_put(s->user);
	}
	mutex_unlock(&s->lock);
	mem_cgroup_put(s->memcg);
	kvfree(s->pending);
	kvfree(s->staged);
	kfree(s);
	return 0;
}

long ooh_session_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ooh_session *s = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	mutex_lock(&s->lock);
	switch (cmd) {
	case OOH_IOC_OPEN_SESSION:
		ret = ooh_open_session(s, uarg);
		break;
	case OOH_IOC_START:
		ret = ooh_start(s);
		break;
	case OOH_IOC_STOP:
		ret = ooh_stop(s);
		break;
	case OOH_IOC_COLLECT:
		ret = ooh_collect(s, uarg);
		break;
	case OOH_IOC_STATS:
		ret = ooh_stats(s, uarg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&s->lock);
	return ret;
}

static void ooh_find_tracepoint(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_process_fork"))
		ooh_tp_fork = tp;
}

int ooh_session_init(void)
{
	preempt_notifier_inc();
	for_each_kernel_tracepoint(ooh_find_tracepoint, NULL);
	if (!ooh_tp_fork ||
	    tracepoint_probe_register(ooh_tp_fork, ooh_fork_probe, NULL)) {
		pr_warn("no sched_process_fork probe: EPML threads born while tracking make intervals conservative\n");
		ooh_tp_fork = NULL;
	}
	return 0;
}

void ooh_session_exit(void)
{
	if (ooh_tp_fork) {
		tracepoint_probe_unregister(ooh_tp_fork, ooh_fork_probe, NULL);
		tracepoint_synchronize_unregister();
	}
	preempt_notifier_dec();
	if (atomic_read(&ooh_leaked_ctxs))
		pr_warn("%d contexts of stopped threads leaked\n",
			atomic_read(&ooh_leaked_ctxs));
}
