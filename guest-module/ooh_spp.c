// SPDX-License-Identifier: GPL-2.0
/*
 * Sub-page write protection for guest processes over ooh-l0's virtual SPP.
 *
 * OOH_IOC_SPP_PROTECT pins the caller's pages for writing (FOLL_WRITE |
 * FOLL_LONGTERM: a copy-on-write page is copied first, and the frame can
 * neither move nor be swapped while protected), so a guest frame number
 * stays the page's; l0 gets {GPA, vector} batches. Each open file has one
 * context bound to the caller's mm, with an mmu notifier that drops the
 * protection of pages that are unmapped (munmap, mremap) and of everything
 * when the mm goes away. A "clear" (MADV_DONTNEED, truncation, but also
 * attempts that fail on our pin and leave the page mapped: a huge PMD
 * split, khugepaged, migration, KSM) only marks the pages for a re-check
 * outside the notifier, which drops those whose address no longer maps
 * the pinned page.
 *
 * A refused write is reported by l0 in this vCPU's violation record and
 * a #BR exception (vector 5, never raised by 64-bit code) queued on the
 * writing vCPU, taken before the writer's next instruction by a die
 * notifier (ooh_spp_emul.c) in the writer's context; l0 falls back to an
 * NMI when another event is being delivered: the NMI handler takes the
 * record and raises an irq_work on this CPU (taken right after the NMI
 * returns). Either queues a task_work on the current task, which runs on
 * its way back to user mode and sends it
 * SIGSEGV (si_code OOH_SEGV_SPPERR, si_addr the refused byte's address in
 * that process) - force_sig_fault is not exported, so the forcing is done
 * by hand: a blocked or ignored SIGSEGV is unblocked and reset first, as
 * the kernel does for faults.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/irq_work.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/percpu.h>
#include <linux/rbtree.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/nmi.h>
#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "ooh.h"
#include "ooh_trace.h"

#define OOH_SPP_BATCH	(PAGE_SIZE / sizeof(struct ooh_spp_entry))
#define OOH_SPP_RING	16

/*
 * Kernel API differences. 6.5 took the vmas argument off GUP (Kbuild
 * defines OOH_GUP_NO_VMAS from 6.5). From 6.2 FOLL_MIGRATION is private to
 * mm/: GUP with FOLL_NOFAULT then fails on a migration entry instead of
 * waiting it out, so ooh_spp_maps() sees a page being migrated as unmapped.
 */
#ifdef FOLL_MIGRATION
#define OOH_FOLL_MIGRATION	FOLL_MIGRATION
#else
#define OOH_FOLL_MIGRATION	0
#endif

static long ooh_gup_remote(struct mm_struct *mm, unsigned long va,
			   unsigned int flags, struct page **page)
{
#ifdef OOH_GUP_NO_VMAS
	return get_user_pages_remote(mm, va, 1, flags, page, NULL);
#else
	return get_user_pages_remote(mm, va, 1, flags, page, NULL, NULL);
#endif
}

static long ooh_pin_user_pages(unsigned long addr, unsigned long n,
			       unsigned int flags, struct page **pages)
{
#ifdef OOH_GUP_NO_VMAS
	return pin_user_pages(addr, n, flags, pages);
#else
	return pin_user_pages(addr, n, flags, pages, NULL);
#endif
}

struct ooh_spp_ctx {
	struct mmu_notifier mn;
	struct list_head node;		/* in ooh_spp_ctxs */
	struct mm_struct *mm;		/* mmgrab'ed */
	struct rb_root pages;		/* struct ooh_spp_pg by va */
	struct list_head check;		/* pages to re-check, by check_node */
	struct work_struct check_work;	/* ooh_spp_check_fn */
	bool dead;			/* the mm went away */
	/*
	 * Each page in pages is charged once, at PROTECT, to mm->pinned_vm
	 * (RLIMIT_MEMLOCK) and to the user's budget; uncharged when it
	 * leaves pages (released: writable again, its unpin is only batched).
	 */
	struct ooh_user *user;
	bool root;			/* made by CAP_SYS_ADMIN: pages are root's share */
	u64 nr_pages;
	atomic64_t violations;
	atomic64_t foreign;
};

struct ooh_spp_pg {
	struct rb_node va_node;		/* in ctx->pages */
	struct hlist_node gfn_node;	/* in ooh_spp_gfns, or ooh_spp_gone */
	struct list_head gone_node;	/* in ooh_spp_gone_list */
	struct list_head check_node;	/* in ctx->check, or empty */
	struct ooh_spp_ctx *ctx;	/* NULL once released (gone) */
	unsigned long va;
	u64 gfn;
	u32 mask;
	struct page *page;		/* pinned */
};

/* What one PROTECT call may take: found once, outside the locks. */
struct ooh_spp_limits {
	u64 memlock;		/* RLIMIT_MEMLOCK in pages; U64_MAX: CAP_IPC_LOCK */
	bool exempt;		/* CAP_SYS_ADMIN: past the per-user budget */
};

/* One violation taken in NMI context, for the irq_work. */
struct ooh_spp_hit {
	u64 gpa;
	u32 flags;
};

struct ooh_spp_cpu {
	struct ooh_spp_violation *rec;
	u64 seen;
	struct ooh_spp_hit ring[OOH_SPP_RING];
	unsigned int head, tail;	/* head: NMI, tail: irq_work */
	struct irq_work work;
};

struct ooh_spp_twork {
	struct callback_head cb;
	struct hlist_node node;		/* in ooh_spp_tworks, by task */
	struct task_struct *task;
	u64 gpa;			/* the refused byte, or */
	unsigned long va;		/* its address (emulated stores) */
};

static DEFINE_PER_CPU(struct ooh_spp_cpu, ooh_spp_cpu);
static DEFINE_SPINLOCK(ooh_spp_lock);	/* every table below, and the batch */
static DEFINE_HASHTABLE(ooh_spp_gfns, 12);
/*
 * Released pages: writable again at once (vector 0xffffffff, which costs
 * l0 no memory-slot change) but still pinned, and removed from l0's set
 * (SPP_CLEAR: every vCPU stopped, second-level page tables rebuilt) later
 * and in batches, by ooh_spp_flush_work; only then unpinned.
 */
static DEFINE_HASHTABLE(ooh_spp_gone, 10);
static LIST_HEAD(ooh_spp_gone_list);
static unsigned long ooh_spp_nr_gone;
static void ooh_spp_flush_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(ooh_spp_flush_work, ooh_spp_flush_fn);
static LIST_HEAD(ooh_spp_ctxs);
/* At most one report pending per task: the first refused write wins */
static DEFINE_SPINLOCK(ooh_spp_tw_lock);
static DEFINE_HASHTABLE(ooh_spp_tworks, 6);
static struct ooh_spp_entry *ooh_spp_batch;
static atomic64_t ooh_spp_lost;
static struct ooh_spp_pg *ooh_spp_victims[OOH_SPP_BATCH]; /* under the lock */
static DEFINE_MUTEX(ooh_spp_ctx_mutex);	/* context creation */
static bool ooh_spp_on;
static bool ooh_spp_nmi_on;

static struct ooh_spp_pg *ooh_spp_find_va(struct ooh_spp_ctx *ctx,
					  unsigned long va)
{
	struct rb_node *n = ctx->pages.rb_node;

	while (n) {
		struct ooh_spp_pg *pg = rb_entry(n, struct ooh_spp_pg, va_node);

		if (va < pg->va)
			n = n->rb_left;
		else if (va > pg->va)
			n = n->rb_right;
		else
			return pg;
	}
	return NULL;
}

/* The first page at or above va, or NULL. */
static struct ooh_spp_pg *ooh_spp_first_from(struct ooh_spp_ctx *ctx,
					     unsigned long va)
{
	struct rb_node *n = ctx->pages.rb_node;
	struct ooh_spp_pg *best = NULL;

	while (n) {
		struct ooh_spp_pg *pg = rb_entry(n, struct ooh_spp_pg, va_node);

		if (pg->va >= va) {
			best = pg;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	return best;
}

static void ooh_spp_insert(struct ooh_spp_ctx *ctx, struct ooh_spp_pg *pg)
{
	struct rb_node **link = &ctx->pages.rb_node, *parent = NULL;

	while (*link) {
		struct ooh_spp_pg *cur;

		parent = *link;
		cur = rb_entry(parent, struct ooh_spp_pg, va_node);
		link = pg->va < cur->va ? &parent->rb_left : &parent->rb_right;
	}
	rb_link_node(&pg->va_node, parent, link);
	rb_insert_color(&pg->va_node, &ctx->pages);
	INIT_LIST_HEAD(&pg->check_node);
	hash_add(ooh_spp_gfns, &pg->gfn_node, pg->gfn);
	ctx->nr_pages++;
}

static struct ooh_spp_pg *ooh_spp_find_gfn(u64 gfn)
{
	struct ooh_spp_pg *pg;

	hash_for_each_possible(ooh_spp_gfns, pg, gfn_node, gfn)
		if (pg->gfn == gfn)
			return pg;
	return NULL;
}

/*
 * Releases up to a batch of ctx's pages in [start, end), lock held: every
 * byte writable at once, the frame removed from l0's set later (see
 * ooh_spp_gone). Returns how many, or a negative error (nothing done).
 */
static int ooh_spp_drop_some(struct ooh_spp_ctx *ctx, unsigned long start,
			     unsigned long end)
{
	struct ooh_spp_pg *pg = ooh_spp_first_from(ctx, start);
	struct ooh_spp_pg **victims = ooh_spp_victims;
	int n = 0, ret, i;

	for (; pg && pg->va < end && n < OOH_SPP_BATCH;
	     pg = rb_entry_safe(rb_next(&pg->va_node), struct ooh_spp_pg,
				va_node)) {
		ooh_spp_batch[n].gpa = pg->gfn << PAGE_SHIFT;
		ooh_spp_batch[n].mask = OOH_SPP_MASK_ALL;
		ooh_spp_batch[n].reserved = 0;
		victims[n++] = pg;
	}
	if (!n)
		return 0;
	ret = ooh_hc(OOH_HC_SPP_SET, 0, virt_to_phys(ooh_spp_batch), n, 0, 0,
		     NULL);
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++) {
		pg = victims[i];
		rb_erase(&pg->va_node, &ctx->pages);
		list_del_init(&pg->check_node);
		hash_del(&pg->gfn_node);
		ctx->nr_pages--;
		pg->ctx = NULL;
		hash_add(ooh_spp_gone, &pg->gfn_node, pg->gfn);
		list_add_tail(&pg->gone_node, &ooh_spp_gone_list);
		ooh_spp_nr_gone++;
	}
	atomic64_sub(n, &ctx->mm->pinned_vm);
	ooh_user_uncharge_pages(ctx->user, n, ctx->root);
	mod_delayed_work(system_wq, &ooh_spp_flush_work,
			 ooh_spp_nr_gone >= OOH_SPP_BATCH ? 0 : HZ / 2);
	return n;
}

/* Removes released frames from l0's set and unpins them, lock held. */
static void ooh_spp_flush_locked(void)
{
	while (!list_empty(&ooh_spp_gone_list)) {
		struct ooh_spp_pg **victims = ooh_spp_victims, *pg;
		int n = 0, ret, i;

		list_for_each_entry(pg, &ooh_spp_gone_list, gone_node) {
			ooh_spp_batch[n].gpa = pg->gfn << PAGE_SHIFT;
			ooh_spp_batch[n].mask = 0;
			ooh_spp_batch[n].reserved = 0;
			victims[n++] = pg;
			if (n == OOH_SPP_BATCH)
				break;
		}
		ret = ooh_hc(OOH_HC_SPP_CLEAR, 0, virt_to_phys(ooh_spp_batch),
			     n, 0, 0, NULL);
		if (ret < 0) {
			/* never back to the allocator protected: leaked */
			pr_warn_ratelimited("SPP clear refused (%d): %lu pages stay pinned\n",
					    ret, ooh_spp_nr_gone);
			return;
		}
		for (i = 0; i < n; i++) {
			pg = victims[i];
			list_del(&pg->gone_node);
			hash_del(&pg->gfn_node);
			ooh_spp_nr_gone--;
			unpin_user_page(pg->page);
			kfree(pg);
		}
	}
}

static void ooh_spp_flush_fn(struct work_struct *work)
{
	spin_lock(&ooh_spp_lock);
	ooh_spp_flush_locked();
	spin_unlock(&ooh_spp_lock);
}

/* A released frame protected again: it leaves the gone list (one pin less). */
static void ooh_spp_ungone(u64 gfn)
{
	struct ooh_spp_pg *pg;

	hash_for_each_possible(ooh_spp_gone, pg, gfn_node, gfn) {
		if (pg->gfn == gfn) {
			list_del(&pg->gone_node);
			hash_del(&pg->gfn_node);
			ooh_spp_nr_gone--;
			unpin_user_page(pg->page);
			kfree(pg);
			return;
		}
	}
}

/*
 * Unprotects everything of ctx in [start, end), lock held. If the
 * hypervisor refuses (it never should), the pages stay as they are.
 */
static int ooh_spp_drop_range(struct ooh_spp_ctx *ctx, unsigned long start,
			      unsigned long end)
{
	int ret;

	do {
		ret = ooh_spp_drop_some(ctx, start, end);
	} while (ret > 0);
	if (ret < 0)
		pr_warn_ratelimited("SPP release refused (%d)\n", ret);
	return ret;
}

/* Whether va of mm (mmap_lock held) maps page, without faulting anything in. */
static bool ooh_spp_maps(struct mm_struct *mm, unsigned long va,
			 struct page *page)
{
	struct page *now;
	long ret;

	/*
	 * FOLL_MIGRATION waits out a migration entry (a migration that fails
	 * on our pin puts the page back), FOLL_NOFAULT never faults a page in
	 * from this worker (no zero page, no userfaultfd wait), FOLL_FORCE
	 * without FOLL_WRITE looks through PROT_NONE and NUMA hinting entries.
	 * An address that maps nothing now (a zapped anonymous page) fails.
	 */
	ret = ooh_gup_remote(mm, va, FOLL_FORCE | FOLL_NOFAULT |
			     OOH_FOLL_MIGRATION, &now);
	if (ret != 1)
		return false;
	put_page(now);
	return now == page;
}

#define OOH_SPP_CHECK_BATCH	32

/*
 * Work item: the pages a MMU_NOTIFY_CLEAR marked keep their protection
 * while their address still maps the pinned page, and lose it otherwise.
 * Keeping one a little longer is safe: while pinned the frame cannot be
 * reused, and once the address maps another page this process's writes
 * there no longer reach the protected frame.
 */
static void ooh_spp_check_fn(struct work_struct *work)
{
	struct ooh_spp_ctx *ctx = container_of(work, struct ooh_spp_ctx,
					       check_work);
	struct mm_struct *mm = ctx->mm;
	unsigned long va[OOH_SPP_CHECK_BATCH];
	struct page *page[OOH_SPP_CHECK_BATCH];
	bool gone[OOH_SPP_CHECK_BATCH];
	struct ooh_spp_pg *pg;
	int n, i;

	if (!mmget_not_zero(mm))
		return; /* exiting: release drops everything */
	for (;;) {
		n = 0;
		spin_lock(&ooh_spp_lock);
		while (n < OOH_SPP_CHECK_BATCH && !list_empty(&ctx->check)) {
			pg = list_first_entry(&ctx->check, struct ooh_spp_pg,
					      check_node);
			list_del_init(&pg->check_node);
			va[n] = pg->va;
			page[n++] = pg->page;
		}
		spin_unlock(&ooh_spp_lock);
		if (!n)
			break;
		mmap_read_lock(mm);
		for (i = 0; i < n; i++)
			gone[i] = !ooh_spp_maps(mm, va[i], page[i]);
		mmap_read_unlock(mm);
		spin_lock(&ooh_spp_lock);
		for (i = 0; i < n; i++) {
			if (!gone[i])
				continue;
			pg = ooh_spp_find_va(ctx, va[i]);
			/* the same frame still (not released, nor replaced) */
			if (pg && pg->page == page[i])
				ooh_spp_drop_range(ctx, va[i], va[i] + PAGE_SIZE);
		}
		spin_unlock(&ooh_spp_lock);
		cond_resched();
	}
	mmput(mm);
}

static int ooh_spp_invalidate(struct mmu_notifier *mn,
			      const struct mmu_notifier_range *range)
{
	struct ooh_spp_ctx *ctx = container_of(mn, struct ooh_spp_ctx, mn);

	/*
	 * Only where the mapping goes away: fork's write-protection, mprotect,
	 * NUMA hinting and the like leave the (pinned) page where it is; a
	 * clear is for ooh_spp_invalidate_end.
	 */
	if (range->event != MMU_NOTIFY_UNMAP)
		return 0;
	spin_lock(&ooh_spp_lock);
	if (!RB_EMPTY_ROOT(&ctx->pages))
		ooh_spp_drop_range(ctx, range->start, range->end);
	spin_unlock(&ooh_spp_lock);
	return 0;
}

/*
 * A clear is sent for MADV_DONTNEED or truncation, which unmap the page,
 * but also by attempts that fail on our pin and leave the page mapped where
 * it was (a huge PMD split, khugepaged, migration, KSM). So the pages of
 * the range keep their protection and are re-checked by ooh_spp_check_fn,
 * which may sleep. Marked at the end, once the page tables are changed: a
 * re-check then sees the outcome of every clear that marked the page.
 */
static void ooh_spp_invalidate_end(struct mmu_notifier *mn,
				   const struct mmu_notifier_range *range)
{
	struct ooh_spp_ctx *ctx = container_of(mn, struct ooh_spp_ctx, mn);
	struct ooh_spp_pg *pg;
	bool queued = false;

	if (range->event != MMU_NOTIFY_CLEAR)
		return;
	spin_lock(&ooh_spp_lock);
	for (pg = ooh_spp_first_from(ctx, range->start);
	     pg && pg->va < range->end;
	     pg = rb_entry_safe(rb_next(&pg->va_node), struct ooh_spp_pg,
				va_node)) {
		if (list_empty(&pg->check_node))
			list_add_tail(&pg->check_node, &ctx->check);
		queued = true;
	}
	if (queued)
		queue_work(system_unbound_wq, &ctx->check_work);
	spin_unlock(&ooh_spp_lock);
}

static void ooh_spp_mm_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct ooh_spp_ctx *ctx = container_of(mn, struct ooh_spp_ctx, mn);

	spin_lock(&ooh_spp_lock);
	ooh_spp_drop_range(ctx, 0, ULONG_MAX);
	ctx->dead = true;
	spin_unlock(&ooh_spp_lock);
}

static const struct mmu_notifier_ops ooh_spp_mn_ops = {
	.invalidate_range_start = ooh_spp_invalidate,
	.invalidate_range_end = ooh_spp_invalidate_end,
	.release = ooh_spp_mm_release,
};

/* The file's context, created on first use; bound to the caller's mm. */
static int ooh_spp_ctx_get(struct file *file, struct ooh_spp_ctx **out)
{
	struct ooh_spp_ctx **slot = ooh_session_spp(file), *ctx;
	int ret;

	if (!current->mm)
		return -EPERM;
	mutex_lock(&ooh_spp_ctx_mutex);
	ctx = *slot;
	if (ctx) {
		mutex_unlock(&ooh_spp_ctx_mutex);
		if (ctx->mm != current->mm)
			return -EPERM;
		*out = ctx;
		return ctx->dead ? -ESRCH : 0;
	}
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (ctx) {
		ctx->user = ooh_user_get();
		/* its pages are root's share, not the users' (reserved_spp_pages) */
		ctx->root = ooh_user_exempt();
	}
	if (!ctx || !ctx->user) {
		mutex_unlock(&ooh_spp_ctx_mutex);
		kfree(ctx);
		return -ENOMEM;
	}
	ctx->pages = RB_ROOT;
	INIT_LIST_HEAD(&ctx->check);
	INIT_WORK(&ctx->check_work, ooh_spp_check_fn);
	ctx->mn.ops = &ooh_spp_mn_ops;
	ret = mmu_notifier_register(&ctx->mn, current->mm);
	if (ret) {
		mutex_unlock(&ooh_spp_ctx_mutex);
		ooh_user_put(ctx->user);
		kfree(ctx);
		return ret;
	}
	mmgrab(current->mm);
	ctx->mm = current->mm;
	spin_lock(&ooh_spp_lock);
	list_add(&ctx->node, &ooh_spp_ctxs);
	spin_unlock(&ooh_spp_lock);
	WRITE_ONCE(*slot, ctx);
	mutex_unlock(&ooh_spp_ctx_mutex);
	trace_ooh_session_start(0, OOH_TRACE_MODE_SPP, NULL, 0);
	*out = ctx;
	return 0;
}

/*
 * Whether n more protected pages fit ctx's limits (charge false), or takes
 * them (charge true), as the kernel's own long-term pinners do: the mm's
 * pinned_vm against RLIMIT_MEMLOCK (-ENOMEM), then the user's budget
 * (-EDQUOT). Under ooh_spp_lock when charging.
 */
static int ooh_spp_charge(struct ooh_spp_ctx *ctx, unsigned long n,
			  const struct ooh_spp_limits *lim, bool charge)
{
	atomic64_t *pinned = &ctx->mm->pinned_vm;
	int ret;

	if (!n)
		return 0;
	if (!charge) {
		if (atomic64_read(pinned) + n > lim->memlock)
			return -ENOMEM;
		return ooh_user_charge_pages(ctx->user, n, lim->exempt,
					     ctx->root, false);
	}
	if (atomic64_add_return(n, pinned) > lim->memlock) {
		atomic64_sub(n, pinned);
		return -ENOMEM;
	}
	ret = ooh_user_charge_pages(ctx->user, n, lim->exempt, ctx->root,
				    true);
	if (ret)
		atomic64_sub(n, pinned);
	return ret;
}

static void ooh_spp_uncharge(struct ooh_spp_ctx *ctx, unsigned long n)
{
	if (!n)
		return;
	atomic64_sub(n, &ctx->mm->pinned_vm);
	ooh_user_uncharge_pages(ctx->user, n, ctx->root);
}

/* Unprotects [addr, addr + n pages) of ctx. */
static int ooh_spp_release_range(struct ooh_spp_ctx *ctx, unsigned long addr,
				 unsigned long n)
{
	int ret;

	spin_lock(&ooh_spp_lock);
	ret = ooh_spp_drop_range(ctx, addr, addr + n * PAGE_SIZE);
	spin_unlock(&ooh_spp_lock);
	return ret < 0 ? ret : 0;
}

/*
 * Protects n (<= a batch) consecutive pages at addr with masks[] (none of
 * them OOH_SPP_MASK_ALL). Caller holds the mm's mmap_lock for reading, so
 * no munmap can run between the pin and the table update.
 */
static int ooh_spp_protect_run(struct ooh_spp_ctx *ctx, unsigned long addr,
			       unsigned long n, const u32 *masks,
			       const struct ooh_spp_limits *lim)
{
	struct page **pages;
	struct ooh_spp_pg **pgs;
	unsigned long i, fresh = 0;
	long pinned;
	int ret = 0;

	pages = kcalloc(n, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	pgs = kcalloc(n, sizeof(*pgs), GFP_KERNEL_ACCOUNT);
	if (!pages || !pgs) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		pgs[i] = kzalloc(sizeof(*pgs[i]), GFP_KERNEL_ACCOUNT);
		if (!pgs[i]) {
			ret = -ENOMEM;
			goto out;
		}
	}
	pinned = ooh_pin_user_pages(addr, n, FOLL_WRITE | FOLL_LONGTERM, pages);
	if (pinned != n) {
		if (pinned > 0)
			unpin_user_pages(pages, pinned);
		ret = pinned < 0 ? pinned : -EFAULT;
		goto out;
	}
	spin_lock(&ooh_spp_lock);
	if (ctx->dead) {
		ret = -ESRCH;
		goto unlock;
	}
	for (i = 0; i < n; i++) {
		u64 gfn = page_to_pfn(pages[i]);
		struct ooh_spp_pg *other = ooh_spp_find_gfn(gfn);

		if (other && (other->ctx != ctx ||
			      other->va != addr + i * PAGE_SIZE)) {
			ret = -EBUSY; /* the frame is protected elsewhere */
			goto unlock;
		}
		/* a new entry: none at va, or another frame (dropped below) */
		other = ooh_spp_find_va(ctx, addr + i * PAGE_SIZE);
		if (!other || other->gfn != gfn)
			fresh++;
		ooh_spp_batch[i].gpa = gfn << PAGE_SHIFT;
		ooh_spp_batch[i].mask = masks[i];
		ooh_spp_batch[i].reserved = 0;
	}
	ret = ooh_spp_charge(ctx, fresh, lim, true);
	if (ret)
		goto unlock;
	ret = ooh_hc(OOH_HC_SPP_SET, 0, virt_to_phys(ooh_spp_batch), n, 0, 0,
		     NULL);
	if (ret == -ENOSPC && ooh_spp_nr_gone) {
		/* the released frames still hold slots: remove them, retry */
		ooh_spp_flush_locked();
		for (i = 0; i < n; i++) {
			ooh_spp_batch[i].gpa = (u64)page_to_pfn(pages[i]) << PAGE_SHIFT;
			ooh_spp_batch[i].mask = masks[i];
			ooh_spp_batch[i].reserved = 0;
		}
		ret = ooh_hc(OOH_HC_SPP_SET, 0, virt_to_phys(ooh_spp_batch), n,
			     0, 0, NULL);
	}
	if (ret < 0) {
		ooh_spp_uncharge(ctx, fresh);
		goto unlock;
	}
	ret = 0;
	for (i = 0; i < n; i++) {
		unsigned long va = addr + i * PAGE_SIZE;
		struct ooh_spp_pg *pg = ooh_spp_find_va(ctx, va);

		/* a released frame protected again: our new pin replaces its */
		ooh_spp_ungone(page_to_pfn(pages[i]));

		if (pg && pg->gfn == page_to_pfn(pages[i])) {
			pg->mask = masks[i];
			unpin_user_page(pages[i]); /* already pinned once */
			continue;
		}
		if (pg) /* another frame now (a clear not re-checked yet) */
			ooh_spp_drop_range(ctx, va, va + PAGE_SIZE);
		pg = pgs[i];
		pgs[i] = NULL;
		pg->ctx = ctx;
		pg->va = va;
		pg->gfn = page_to_pfn(pages[i]);
		pg->mask = masks[i];
		pg->page = pages[i];
		ooh_spp_insert(ctx, pg);
	}
	spin_unlock(&ooh_spp_lock);
	goto out;
unlock:
	spin_unlock(&ooh_spp_lock);
	unpin_user_pages(pages, n);
out:
	if (pgs)
		for (i = 0; i < n; i++)
			kfree(pgs[i]);
	kfree(pgs);
	kfree(pages);
	return ret;
}

/*
 * Whether the pages the call newly protects fit the limits, before any
 * page changes: a call refused for them changes nothing. (Only another
 * thread's concurrent PROTECT can make a later batch be refused.)
 */
static int ooh_spp_fits(struct ooh_spp_ctx *ctx, unsigned long addr,
			unsigned long n, const u32 *masks,
			const struct ooh_spp_limits *lim)
{
	unsigned long i, fresh = 0;

	spin_lock(&ooh_spp_lock);
	for (i = 0; i < n; i++) {
		if (i && !(i % OOH_SPP_BATCH)) {
			spin_unlock(&ooh_spp_lock);
			cond_resched();
			spin_lock(&ooh_spp_lock);
		}
		if (masks[i] != OOH_SPP_MASK_ALL &&
		    !ooh_spp_find_va(ctx, addr + i * PAGE_SIZE))
			fresh++;
	}
	spin_unlock(&ooh_spp_lock);
	return ooh_spp_charge(ctx, fresh, lim, false);
}

static int ooh_spp_protect(struct ooh_spp_ctx *ctx, unsigned long addr,
			   unsigned long n, const u32 *masks)
{
	struct ooh_spp_limits lim = { .memlock = U64_MAX };
	unsigned long i = 0, run;
	int ret;

	/* as io_uring and RDMA ask: once per call, outside any lock */
	if (!capable(CAP_IPC_LOCK))
		lim.memlock = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	lim.exempt = ooh_user_exempt();
	ret = ooh_spp_fits(ctx, addr, n, masks, &lim);
	while (i < n && !ret) {
		if (masks[i] == OOH_SPP_MASK_ALL) {
			for (run = 1; i + run < n &&
			     masks[i + run] == OOH_SPP_MASK_ALL; run++)
				;
			ret = ooh_spp_release_range(ctx, addr + i * PAGE_SIZE,
						    run);
		} else {
			for (run = 1; i + run < n && run < OOH_SPP_BATCH &&
			     masks[i + run] != OOH_SPP_MASK_ALL; run++)
				;
			mmap_read_lock(ctx->mm);
			ret = ooh_spp_protect_run(ctx, addr + i * PAGE_SIZE, run,
						  masks + i, &lim);
			mmap_read_unlock(ctx->mm);
		}
		i += run;
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	return ret;
}

static long ooh_spp_ioc_range(struct file *file, void __user *uarg,
			      bool release)
{
	struct ooh_spp_range r;
	struct ooh_spp_ctx *ctx;
	u32 *masks = NULL;
	unsigned long i;
	long ret;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (r.flags || !r.nr_pages || r.nr_pages > OOH_SPP_MAX_PAGES ||
	    !PAGE_ALIGNED(r.addr) || r.addr >= TASK_SIZE_MAX ||
	    r.nr_pages > (TASK_SIZE_MAX - r.addr) >> PAGE_SHIFT)
		return -EINVAL;
	ret = ooh_spp_ctx_get(file, &ctx);
	if (ret)
		return ret;
	if (release)
		return ooh_spp_release_range(ctx, r.addr, r.nr_pages);
	masks = kvmalloc_array(r.nr_pages, sizeof(*masks), GFP_KERNEL_ACCOUNT);
	if (!masks)
		return -ENOMEM;
	if (r.masks) {
		if (copy_from_user(masks, u64_to_user_ptr(r.masks),
				   r.nr_pages * sizeof(*masks))) {
			kvfree(masks);
			return -EFAULT;
		}
	} else {
		for (i = 0; i < r.nr_pages; i++)
			masks[i] = r.mask;
	}
	ret = ooh_spp_protect(ctx, r.addr, r.nr_pages, masks);
	kvfree(masks);
	return ret;
}

static long ooh_spp_ioc_get(struct file *file, void __user *uarg)
{
	struct ooh_spp_range r;
	struct ooh_spp_ctx *ctx;
	struct ooh_spp_pg *pg;
	u32 *masks;
	unsigned long i;
	long ret;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (r.flags || !r.masks || !r.nr_pages ||
	    r.nr_pages > OOH_SPP_MAX_PAGES || !PAGE_ALIGNED(r.addr) ||
	    r.addr >= TASK_SIZE_MAX ||
	    r.nr_pages > (TASK_SIZE_MAX - r.addr) >> PAGE_SHIFT)
		return -EINVAL;
	ret = ooh_spp_ctx_get(file, &ctx);
	if (ret)
		return ret;
	flush_work(&ctx->check_work); /* no page awaiting a re-check */
	masks = kvmalloc_array(r.nr_pages, sizeof(*masks), GFP_KERNEL_ACCOUNT);
	if (!masks)
		return -ENOMEM;
	for (i = 0; i < r.nr_pages; i++)
		masks[i] = OOH_SPP_MASK_ALL;
	spin_lock(&ooh_spp_lock);
	for (pg = ooh_spp_first_from(ctx, r.addr);
	     pg && pg->va < r.addr + r.nr_pages * PAGE_SIZE;
	     pg = rb_entry_safe(rb_next(&pg->va_node), struct ooh_spp_pg,
				va_node))
		masks[(pg->va - r.addr) >> PAGE_SHIFT] = pg->mask;
	spin_unlock(&ooh_spp_lock);
	ret = copy_to_user(u64_to_user_ptr(r.masks), masks,
			   r.nr_pages * sizeof(*masks)) ? -EFAULT : 0;
	kvfree(masks);
	return ret;
}

static long ooh_spp_ioc_query(struct file *file, void __user *uarg)
{
	struct ooh_spp_query q;
	struct ooh_spp_ctx *ctx;
	struct ooh_spp_pg *pg;
	long ret;

	if (copy_from_user(&q, uarg, sizeof(q)))
		return -EFAULT;
	if (q.flags || q.addr >= TASK_SIZE_MAX)
		return -EINVAL;
	ret = ooh_spp_ctx_get(file, &ctx);
	if (ret)
		return ret;
	flush_work(&ctx->check_work);
	spin_lock(&ooh_spp_lock);
	pg = ooh_spp_find_va(ctx, q.addr & PAGE_MASK);
	q.mask = pg ? pg->mask : OOH_SPP_MASK_ALL;
	spin_unlock(&ooh_spp_lock);
	return copy_to_user(uarg, &q, sizeof(q)) ? -EFAULT : 0;
}

static long ooh_spp_ioc_stats(struct file *file, void __user *uarg)
{
	struct ooh_spp_ctx *ctx = READ_ONCE(*ooh_session_spp(file));
	struct ooh_spp_dev_stats st = { .lost = atomic64_read(&ooh_spp_lost) };

	if (ctx) {
		flush_work(&ctx->check_work);
		spin_lock(&ooh_spp_lock);
		st.pages = ctx->nr_pages;
		spin_unlock(&ooh_spp_lock);
		st.violations = atomic64_read(&ctx->violations);
		st.foreign = atomic64_read(&ctx->foreign);
	}
	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

long ooh_spp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (!ooh_spp_on)
		return -EOPNOTSUPP;
	switch (cmd) {
	case OOH_IOC_SPP_PROTECT:
		return ooh_spp_ioc_range(file, uarg, false);
	case OOH_IOC_SPP_RELEASE:
		return ooh_spp_ioc_range(file, uarg, true);
	case OOH_IOC_SPP_QUERY:
		return ooh_spp_ioc_query(file, uarg);
	case OOH_IOC_SPP_STATS:
		return ooh_spp_ioc_stats(file, uarg);
	case OOH_IOC_SPP_GET:
		return ooh_spp_ioc_get(file, uarg);
	default:
		return -ENOTTY;
	}
}

/* The file is closed: everything it protected becomes writable again. */
void ooh_spp_file_release(struct file *file)
{
	struct ooh_spp_ctx *ctx = READ_ONCE(*ooh_session_spp(file));

	if (!ctx)
		return;
	spin_lock(&ooh_spp_lock);
	ooh_spp_drop_range(ctx, 0, ULONG_MAX);
	list_del(&ctx->node);
	spin_unlock(&ooh_spp_lock);
	mmu_notifier_unregister(&ctx->mn, ctx->mm);
	/* no notifier queues it any more; it uses ctx and ctx->mm */
	cancel_work_sync(&ctx->check_work);
	mmdrop(ctx->mm);
	if (RB_EMPTY_ROOT(&ctx->pages)) {
		ooh_user_put(ctx->user);
		kfree(ctx);
	} /* else leaked with its pinned pages (and charges): see drop_range */
}

/* Task context, the writer on its way back to user mode. */
static void ooh_spp_signal(struct callback_head *cb)
{
	struct ooh_spp_twork *w = container_of(cb, struct ooh_spp_twork, cb);
	struct kernel_siginfo info;
	struct ooh_spp_ctx *ctx = NULL;
	struct ooh_spp_pg *pg;
	unsigned long va = 0, flags;
	u64 gpa = w->gpa;
	bool emulated = w->va;
	sigset_t set;

	spin_lock_irqsave(&ooh_spp_tw_lock, flags);
	hash_del(&w->node);
	spin_unlock_irqrestore(&ooh_spp_tw_lock, flags);

	spin_lock(&ooh_spp_lock);
	pg = w->va ? NULL : ooh_spp_find_gfn(w->gpa >> PAGE_SHIFT);
	if (pg) {
		ctx = pg->ctx;
		va = pg->va + (w->gpa & ~PAGE_MASK);
	}
	spin_unlock(&ooh_spp_lock);
	if (w->va)
		va = w->va;
	kfree(w);
	if (!ctx && !va) {
		/* unprotected meanwhile: nobody to tell */
		trace_ooh_spp_violation(0, gpa, OOH_TRACE_SPP_STALE);
		return;
	}
	if (ctx && ctx->mm != current->mm) {
		atomic64_inc(&ctx->foreign);
		trace_ooh_spp_violation(va, gpa, OOH_TRACE_SPP_FOREIGN);
		pr_info_ratelimited("%s[%d]: refused write to SPP-protected memory of another process\n",
				    current->comm, task_pid_nr(current));
		return;
	}
	if (ctx)
		atomic64_inc(&ctx->violations);
	clear_siginfo(&info);
	info.si_signo = SIGSEGV;
	info.si_code = OOH_SEGV_SPPERR;
	info.si_addr = (void __user *)va;
	/* force_sig_fault's rule: a blocked or ignored SIGSEGV cannot stop it */
	if (sigismember(&current->blocked, SIGSEGV) ||
	    current->sighand->action[SIGSEGV - 1].sa.sa_handler == SIG_IGN) {
		kernel_sigaction(SIGSEGV, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, SIGSEGV);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
	send_sig_info(SIGSEGV, &info, current);
	trace_ooh_spp_violation(va, gpa, emulated ? OOH_TRACE_SPP_EMULATED :
				OOH_TRACE_SPP_SIGNAL);
}

/* The vector of the page at va of the current process, if protected. */
bool ooh_spp_mask_of(unsigned long va, u32 *mask)
{
	struct ooh_spp_ctx *ctx;
	struct ooh_spp_pg *pg = NULL;
	unsigned long flags;

	spin_lock_irqsave(&ooh_spp_lock, flags);
	list_for_each_entry(ctx, &ooh_spp_ctxs, node) {
		if (ctx->mm != current->mm)
			continue;
		pg = ooh_spp_find_va(ctx, va & PAGE_MASK);
		if (pg) {
			*mask = pg->mask;
			break;
		}
	}
	spin_unlock_irqrestore(&ooh_spp_lock, flags);
	return pg;
}

/*
 * The refused byte (gpa, or va when known) is reported to the current task
 * on its way back to user mode. Task works run last-queued first, so
 * several refused writes before that (a kernel copy refused element by
 * element) would report the last: only the first one is queued.
 */
static void ooh_spp_queue(u64 gpa, unsigned long va)
{
	struct ooh_spp_twork *w;
	unsigned long flags;

	spin_lock_irqsave(&ooh_spp_tw_lock, flags);
	hash_for_each_possible(ooh_spp_tworks, w, node, (unsigned long)current)
		if (w->task == current)
			goto out; /* an earlier one is pending */
	w = kzalloc(sizeof(*w), GFP_ATOMIC);
	if (!w) {
		atomic64_inc(&ooh_spp_lost);
		goto out;
	}
	w->task = current;
	w->gpa = gpa;
	w->va = va;
	init_task_work(&w->cb, ooh_spp_signal);
	hash_add(ooh_spp_tworks, &w->node, (unsigned long)current);
	if (task_work_add(current, &w->cb, TWA_RESUME)) {
		hash_del(&w->node);
		kfree(w);
		atomic64_inc(&ooh_spp_lost);
	}
out:
	spin_unlock_irqrestore(&ooh_spp_tw_lock, flags);
}

/* SIGSEGV for the refused byte at va, on the current task's way out. */
void ooh_spp_report_va(unsigned long va)
{
	ooh_spp_queue(0, va);
}

/* Hard-irq context on the CPU that took the NMI, before the writer resumes. */
static void ooh_spp_irq_work(struct irq_work *work)
{
	struct ooh_spp_cpu *c = container_of(work, struct ooh_spp_cpu, work);

	while (c->tail != READ_ONCE(c->head)) {
		struct ooh_spp_hit hit = c->ring[c->tail % OOH_SPP_RING];

		/* the slot is read before the NMI may reuse it */
		smp_store_release(&c->tail, c->tail + 1);
		if (!current->mm || (current->flags & PF_KTHREAD)) {
			atomic64_inc(&ooh_spp_lost);
			continue;
		}
		ooh_spp_queue(hit.gpa, 0);
	}
}

/*
 * #BR from l0 (the notification this module asks for: 64-bit code never
 * raises it), in the context of the writer, before its next instruction:
 * the report is queued on the current task directly. False if this CPU's
 * record has nothing new (not ours).
 */
bool ooh_spp_bound_trap(void)
{
	struct ooh_spp_cpu *c = this_cpu_ptr(&ooh_spp_cpu);
	struct ooh_spp_violation *rec = c->rec;
	u64 seq, gpa;

	if (!rec)
		return false;
	/* pairs with l0's release store of seq after the other fields */
	seq = smp_load_acquire(&rec->seq);
	if (seq == c->seen)
		return false;
	if (seq - c->seen > 1)
		atomic64_add(seq - c->seen - 1, &ooh_spp_lost);
	c->seen = seq;
	gpa = READ_ONCE(rec->gpa);
	WRITE_ONCE(rec->ack, seq);
	if (current->mm && !(current->flags & PF_KTHREAD))
		ooh_spp_queue(gpa, 0);
	else
		atomic64_inc(&ooh_spp_lost);
	return true;
}

static int ooh_spp_nmi(unsigned int type, struct pt_regs *regs)
{
	struct ooh_spp_cpu *c = this_cpu_ptr(&ooh_spp_cpu);
	struct ooh_spp_violation *rec = c->rec;
	u64 seq;

	if (!rec)
		return NMI_DONE;
	/* pairs with l0's release store of seq after the other fields */
	seq = smp_load_acquire(&rec->seq);
	if (seq == c->seen)
		return NMI_DONE; /* not ours */
	if (seq - c->seen > 1)
		atomic64_add(seq - c->seen - 1, &ooh_spp_lost);
	c->seen = seq;
	if (c->head - READ_ONCE(c->tail) < OOH_SPP_RING) {
		c->ring[c->head % OOH_SPP_RING] = (struct ooh_spp_hit){
			.gpa = READ_ONCE(rec->gpa),
			.flags = READ_ONCE(rec->flags),
		};
		/* the slot is filled before the irq_work sees it */
		smp_store_release(&c->head, c->head + 1);
	} else {
		atomic64_inc(&ooh_spp_lost);
	}
	WRITE_ONCE(rec->ack, seq);
	irq_work_queue(&c->work);
	return NMI_HANDLED;
}

static void ooh_spp_register_here(void *on)
{
	struct ooh_spp_cpu *c = this_cpu_ptr(&ooh_spp_cpu);
	int ret;

	if (on) {
		ret = ooh_hc(OOH_HC_SPP_REGISTER, 0, virt_to_phys(c->rec),
			     OOH_SPP_NOTIFY_BR, 0, 0, NULL);
		if (ret)
			pr_warn("cpu %d: SPP record registration: %d\n",
				smp_processor_id(), ret);
		c->seen = READ_ONCE(c->rec->seq);
	} else {
		ooh_hc(OOH_HC_SPP_REGISTER, 0, 0, 0, 0, 0, NULL);
	}
}

static void ooh_spp_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct ooh_spp_cpu *c = per_cpu_ptr(&ooh_spp_cpu, cpu);

		irq_work_sync(&c->work);
		kfree(c->rec);
		c->rec = NULL;
	}
	free_page((unsigned long)ooh_spp_batch);
	ooh_spp_batch = NULL;
}

int ooh_spp_init(void)
{
	int cpu, ret;

	if (!(ooh_hv.features & OOH_FEAT_SPP) || !ooh_hv.hc_port)
		return 0;
	ooh_spp_batch = (void *)get_zeroed_page(GFP_KERNEL);
	if (!ooh_spp_batch)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct ooh_spp_cpu *c = per_cpu_ptr(&ooh_spp_cpu, cpu);

		init_irq_work(&c->work, ooh_spp_irq_work);
		c->rec = kzalloc(sizeof(*c->rec), GFP_KERNEL);
		if (!c->rec || (virt_to_phys(c->rec) & (sizeof(*c->rec) - 1))) {
			ooh_spp_free();
			return -ENOMEM;
		}
	}
	ret = register_nmi_handler(NMI_LOCAL, ooh_spp_nmi, 0, "ooh_spp");
	if (ret) {
		ooh_spp_free();
		return ret;
	}
	ret = ooh_spp_emul_init();
	if (ret) {
		unregister_nmi_handler(NMI_LOCAL, "ooh_spp");
		ooh_spp_free();
		return ret;
	}
	ooh_spp_nmi_on = true;
	on_each_cpu(ooh_spp_register_here, (void *)1, 1);
	ooh_spp_on = true;
	return 0;
}

void ooh_spp_exit(void)
{
	if (!ooh_spp_nmi_on)
		return;
	/* every file is closed (module refcount): only released frames left */
	cancel_delayed_work_sync(&ooh_spp_flush_work);
	spin_lock(&ooh_spp_lock);
	ooh_spp_flush_locked();
	spin_unlock(&ooh_spp_lock);
	on_each_cpu(ooh_spp_register_here, NULL, 1);
	ooh_spp_emul_exit();
	unregister_nmi_handler(NMI_LOCAL, "ooh_spp");
	ooh_spp_nmi_on = false;
	ooh_spp_on = false;
	ooh_spp_free();
}
