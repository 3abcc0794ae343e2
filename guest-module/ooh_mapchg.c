// SPDX-License-Identifier: GPL-2.0
/*
 * Mapping changes of a tracked process: content that changes without a
 * store, which no PML log can see.
 *
 * Going: an MMU notifier on the target's mm. An unmap (munmap, mremap away,
 * MAP_FIXED over a mapping) or a clear (MADV_DONTNEED, MADV_FREE and its
 * discard, reclaim, THP split) of a range records, before the page tables
 * change, the addresses that had a page there (present, swapped or being
 * migrated): O(mapped pages) at O(populated page tables). Reclaim and
 * splits keep the content: reported anyway (false positives are allowed).
 *
 * Coming: at each collect the VMA layout is compared with the previous
 * one. Where an address is now backed by something else (mremap into a
 * hole, a file mapped over anonymous memory), the present pages of the new
 * backing are reported, or every page when either side is a file (its
 * pages need not be in the page tables to be seen). Pages merely faulted
 * in are reported when written, by the log.
 *
 * A record is taken before its pages go: a collect running between an
 * invalidation's start and end reports it and keeps it for the next
 * interval too, so the page is reported after it changed as well.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/pgtable.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include "ooh.h"

/* A run of pages [start, start + pages * PAGE_SIZE). */
struct ooh_run {
	unsigned long start;
	unsigned long pages;
};

#define OOH_RUNS_PER_CHUNK \
	((PAGE_SIZE - sizeof(struct list_head) - sizeof(unsigned int)) / \
	 sizeof(struct ooh_run))

struct ooh_run_chunk {
	struct list_head node;
	unsigned int nr;
	struct ooh_run runs[OOH_RUNS_PER_CHUNK];
};

/* Beyond this many recorded chunks (16 MiB), the interval overflows. */
#define OOH_MAX_CHUNKS		4096
#define OOH_MAX_INFLIGHT	16

/* What backs an address: its file (or none) and the file page at address 0. */
struct ooh_vma_id {
	unsigned long start, end;
	unsigned long ino;	/* 0: anonymous */
	dev_t dev;
	u32 gen;
	unsigned long pgoff0;	/* vm_pgoff - (vm_start >> PAGE_SHIFT) */
};

struct ooh_mapchg {
	struct mmu_notifier mn;
	struct mm_struct *mm;
	bool armed;			/* record while the session is started */
	spinlock_t lock;		/* the rest, taken in notifier context */
	struct list_head chunks;
	unsigned int nr_chunks;
	bool lost;			/* a record could not be kept */
	/* invalidations between their start and end */
	struct {
		const struct mmu_notifier_range *range;
		unsigned long start, end;
	} inflight[OOH_MAX_INFLIGHT];
	unsigned int nr_inflight;
	unsigned int untracked_inflight; /* did not fit: keep everything */
	/* the layout at the last collect (session lock) */
	struct ooh_vma_id *ids;
	size_t nr_ids;
	/* the tracker's: records are made in whichever task unmaps */
	struct mem_cgroup *memcg;
};

/*
 * A walk's runs are buffered on the stack, then recorded (notifier) or
 * handed to the collect's sink (layout changes).
 */
#define OOH_RUNBUF	16

struct ooh_runbuf {
	struct ooh_mapchg *m;
	ooh_mapchg_sink sink;		/* NULL: record in m */
	void *priv;
	int err;			/* the sink's first error */
	unsigned int nr;
	struct ooh_run runs[OOH_RUNBUF];
};

static void ooh_record(struct ooh_mapchg *m, const struct ooh_run *runs,
		       unsigned int nr)
{
	struct ooh_run_chunk *c;
	unsigned int i = 0;

	while (i < nr) {
		spin_lock(&m->lock);
		c = list_empty(&m->chunks) ? NULL :
		    list_last_entry(&m->chunks, struct ooh_run_chunk, node);
		while (c && c->nr < OOH_RUNS_PER_CHUNK && i < nr)
			c->runs[c->nr++] = runs[i++];
		spin_unlock(&m->lock);
		if (i == nr)
			break;
		/* may run where sleeping is not allowed (the OOM reaper) */
		c = NULL;
		if (READ_ONCE(m->nr_chunks) < OOH_MAX_CHUNKS) {
			struct mem_cgroup *old = set_active_memcg(m->memcg);

			c = kmalloc(sizeof(*c), GFP_NOWAIT | __GFP_NOWARN |
				    __GFP_ACCOUNT);
			set_active_memcg(old);
		}
		spin_lock(&m->lock);
		if (c) {
			c->nr = 0;
			list_add_tail(&c->node, &m->chunks);
			m->nr_chunks++;
		} else {
			m->lost = true;
		}
		spin_unlock(&m->lock);
		if (!c)
			break;
	}
}

static void ooh_runbuf_flush(struct ooh_runbuf *rb)
{
	unsigned int i;

	if (!rb->sink)
		ooh_record(rb->m, rb->runs, rb->nr);
	for (i = 0; rb->sink && i < rb->nr && !rb->err; i++)
		rb->err = rb->sink(rb->priv, rb->runs[i].start,
				   rb->runs[i].pages);
	rb->nr = 0;
}

static void ooh_runbuf_add(struct ooh_runbuf *rb, unsigned long start,
			   unsigned long end)
{
	struct ooh_run *last = rb->nr ? &rb->runs[rb->nr - 1] : NULL;

	if (last && last->start + last->pages * PAGE_SIZE == start) {
		last->pages += (end - start) >> PAGE_SHIFT;
		return;
	}
	if (rb->nr == OOH_RUNBUF)
		ooh_runbuf_flush(rb);
	rb->runs[rb->nr++] = (struct ooh_run){ start,
					       (end - start) >> PAGE_SHIFT };
}

/*
 * The addresses in [addr, end) that have a page (present, swap or migration
 * entry), read without the page-table lock: the caller holds the mmap lock
 * or the rmap lock that keeps these page tables from being freed, and an
 * entry that changes under us changes through an invalidation of its own.
 */
static void ooh_walk_pte(struct ooh_runbuf *rb, pmd_t *pmd, unsigned long addr,
			 unsigned long end)
{
	pte_t *start = ooh_pte_map(pmd, addr), *pte = start;

	if (!start)
		return;
	for (; addr < end; addr += PAGE_SIZE, pte++)
		if (!pte_none(ptep_get(pte)))
			ooh_runbuf_add(rb, addr, addr + PAGE_SIZE);
	ooh_pte_unmap(start);
}

static void ooh_walk_pmd(struct ooh_runbuf *rb, pud_t *pud, unsigned long addr,
			 unsigned long end)
{
	pmd_t *pmd = pmd_offset(pud, addr), v;
	unsigned long next;

	for (; addr < end; addr = next, pmd++) {
		next = pmd_addr_end(addr, end);
		v = READ_ONCE(*pmd);
		if (pmd_none(v))
			continue;
		if (pmd_leaf(v) || !pmd_present(v))
			ooh_runbuf_add(rb, addr, next); /* THP, or its migration */
		else if (!pmd_bad(v))
			ooh_walk_pte(rb, pmd, addr, next);
	}
}

static void ooh_walk_pud(struct ooh_runbuf *rb, p4d_t *p4d, unsigned long addr,
			 unsigned long end)
{
	pud_t *pud = pud_offset(p4d, addr), v;
	unsigned long next;

	for (; addr < end; addr = next, pud++) {
		next = pud_addr_end(addr, end);
		v = READ_ONCE(*pud);
		if (pud_none(v))
			continue;
		if (pud_leaf(v))
			ooh_runbuf_add(rb, addr, next);
		else if (!pud_bad(v))
			ooh_walk_pmd(rb, pud, addr, next);
	}
}

static void ooh_walk(struct ooh_runbuf *rb, unsigned long addr,
		     unsigned long end)
{
	pgd_t *pgd = pgd_offset(rb->m->mm, addr);
	unsigned long next, p4d_next;
	p4d_t *p4d;

	for (; addr < end; addr = next, pgd++) {
		next = pgd_addr_end(addr, end);
		if (pgd_none(*pgd) || pgd_bad(*pgd))
			continue;
		p4d = p4d_offset(pgd, addr);
		for (; addr < next; addr = p4d_next, p4d++) {
			p4d_next = p4d_addr_end(addr, next);
			if (!p4d_none(*p4d) && !p4d_bad(*p4d))
				ooh_walk_pud(rb, p4d, addr, p4d_next);
		}
	}
}

/* Only these change what the process reads; the others only protect. */
static bool ooh_mapchg_event(const struct mmu_notifier_range *range)
{
	return range->event == MMU_NOTIFY_UNMAP ||
	       range->event == MMU_NOTIFY_CLEAR;
}

static int ooh_mapchg_start(struct mmu_notifier *mn,
			    const struct mmu_notifier_range *range)
{
	struct ooh_mapchg *m = container_of(mn, struct ooh_mapchg, mn);
	struct ooh_runbuf rb = { .m = m };

	if (!ooh_mapchg_event(range))
		return 0;
	spin_lock(&m->lock);
	if (m->nr_inflight < OOH_MAX_INFLIGHT)
		m->inflight[m->nr_inflight++] = (typeof(m->inflight[0])){
			range, range->start, range->end };
	else
		m->untracked_inflight++;
	spin_unlock(&m->lock);
	if (!READ_ONCE(m->armed))
		return 0;
	ooh_walk(&rb, range->start, range->end);
	ooh_runbuf_flush(&rb);
	return 0;
}

static void ooh_mapchg_end(struct mmu_notifier *mn,
			   const struct mmu_notifier_range *range)
{
	struct ooh_mapchg *m = container_of(mn, struct ooh_mapchg, mn);
	unsigned int i;

	if (!ooh_mapchg_event(range))
		return;
	spin_lock(&m->lock);
	for (i = 0; i < m->nr_inflight; i++)
		if (m->inflight[i].range == range)
			break;
	if (i < m->nr_inflight)
		m->inflight[i] = m->inflight[--m->nr_inflight];
	else if (m->untracked_inflight)
		m->untracked_inflight--;
	spin_unlock(&m->lock);
}

static const struct mmu_notifier_ops ooh_mapchg_ops = {
	.invalidate_range_start = ooh_mapchg_start,
	.invalidate_range_end = ooh_mapchg_end,
};

int ooh_mapchg_open(struct ooh_mapchg **out, struct mm_struct *mm)
{
	struct ooh_mapchg *m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	int ret;

	if (!m)
		return -ENOMEM;
	m->memcg = get_mem_cgroup_from_mm(current->mm);
	spin_lock_init(&m->lock);
	INIT_LIST_HEAD(&m->chunks);
	m->mm = mm;
	m->mn.ops = &ooh_mapchg_ops;
	ret = mmu_notifier_register(&m->mn, mm);
	if (ret) {
		mem_cgroup_put(m->memcg);
		kfree(m);
		return ret;
	}
	*out = m;
	return 0;
}

static void ooh_chunks_free(struct list_head *chunks)
{
	struct ooh_run_chunk *c, *tmp;

	list_for_each_entry_safe(c, tmp, chunks, node)
		kfree(c);
	INIT_LIST_HEAD(chunks);
}

void ooh_mapchg_close(struct ooh_mapchg *m)
{
	if (!m)
		return;
	/* the mm is still ours (mmgrab'ed by the session) */
	mmu_notifier_unregister(&m->mn, m->mm);
	ooh_chunks_free(&m->chunks);
	kvfree(m->ids);
	mem_cgroup_put(m->memcg);
	kfree(m);
}

static void ooh_vma_id_of(struct vm_area_struct *vma, struct ooh_vma_id *id)
{
	struct inode *inode = vma->vm_file ? file_inode(vma->vm_file) : NULL;

	*id = (struct ooh_vma_id){
		.start = vma->vm_start,
		.end = vma->vm_end,
		.ino = inode ? inode->i_ino : 0,
		.dev = inode ? inode->i_sb->s_dev : 0,
		.gen = inode ? inode->i_generation : 0,
		.pgoff0 = vma->vm_pgoff - (vma->vm_start >> PAGE_SHIFT),
	};
}

static bool ooh_vma_id_same(const struct ooh_vma_id *a,
			    const struct ooh_vma_id *b)
{
	return a->ino == b->ino && a->dev == b->dev && a->gen == b->gen &&
	       a->pgoff0 == b->pgoff0;
}

/* The current layout (mmap lock held); NULL when memory is short. */
static struct ooh_vma_id *ooh_layout(struct mm_struct *mm, size_t *nr)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *vma;
	struct ooh_vma_id *ids;
	size_t n = 0, cap = mm->map_count + 1;

	ids = kvmalloc_array(cap, sizeof(*ids), GFP_KERNEL_ACCOUNT);
	if (!ids)
		return NULL;
	for_each_vma(vmi, vma) {
		if (n == cap)
			break;	/* cannot happen under the mmap lock */
		ooh_vma_id_of(vma, &ids[n++]);
	}
	*nr = n;
	return ids;
}

/* Begins recording: nothing before this counts (START). */
int ooh_mapchg_arm(struct ooh_mapchg *m, bool on)
{
	struct ooh_vma_id *ids = NULL;
	LIST_HEAD(old);
	size_t nr = 0;

	if (on) {
		if (!mmget_not_zero(m->mm))
			return -ESRCH;
		mmap_read_lock(m->mm);
		ids = ooh_layout(m->mm, &nr);
		mmap_read_unlock(m->mm);
		mmput(m->mm);
		if (!ids)
			return -ENOMEM;
	}
	spin_lock(&m->lock);
	list_splice_init(&m->chunks, &old);
	m->nr_chunks = 0;
	m->lost = false;
	WRITE_ONCE(m->armed, on);
	spin_unlock(&m->lock);
	ooh_chunks_free(&old);
	kvfree(m->ids);
	m->ids = ids;
	m->nr_ids = nr;
	return 0;
}

static bool ooh_run_inflight(struct ooh_mapchg *m, const struct ooh_run *r)
{
	unsigned long end = r->start + r->pages * PAGE_SIZE;
	unsigned int i;

	if (m->untracked_inflight)
		return true;
	for (i = 0; i < m->nr_inflight; i++)
		if (r->start < m->inflight[i].end && end > m->inflight[i].start)
			return true;
	return false;
}

/*
 * Hands the recorded runs to sink(). Runs that an invalidation still in
 * progress may have recorded stay for the next interval (their pages may
 * change only after this collect). Returns true if records were lost.
 */
static bool ooh_mapchg_take_runs(struct ooh_mapchg *m, ooh_mapchg_sink sink,
				 void *priv, int *err)
{
	struct ooh_run_chunk *c, *tmp, *dst;
	LIST_HEAD(taken);
	unsigned int i, k = 0;
	bool lost;

	spin_lock(&m->lock);
	list_splice_init(&m->chunks, &taken);
	m->nr_chunks = 0;
	lost = m->lost;
	m->lost = false;
	spin_unlock(&m->lock);
	list_for_each_entry(c, &taken, node)
		for (i = 0; i < c->nr && !*err; i++)
			*err = sink(priv, c->runs[i].start, c->runs[i].pages);

	spin_lock(&m->lock);
	if (!m->nr_inflight && !m->untracked_inflight)
		goto out;
	/* compact what may still change into the first chunks (k <= i) */
	dst = list_first_entry_or_null(&taken, struct ooh_run_chunk, node);
	list_for_each_entry(c, &taken, node)
		for (i = 0; i < c->nr; i++) {
			if (!ooh_run_inflight(m, &c->runs[i]))
				continue;
			if (k == OOH_RUNS_PER_CHUNK) {
				dst->nr = k;
				dst = list_next_entry(dst, node);
				k = 0;
			}
			dst->runs[k++] = c->runs[i];
		}
	if (dst)
		dst->nr = k;
	list_for_each_entry_safe(c, tmp, &taken, node) {
		if (c->nr) {
			list_move_tail(&c->node, &m->chunks);
			m->nr_chunks++;
		}
		if (c == dst)
			break;
	}
	m->lost |= lost;
out:
	spin_unlock(&m->lock);
	ooh_chunks_free(&taken);
	return lost;
}

/* [a, b) is backed anew: report what it shows (mmap lock held). */
static int ooh_report_new(struct ooh_mapchg *m, unsigned long a,
			  unsigned long b, bool file, ooh_mapchg_sink sink,
			  void *priv)
{
	struct ooh_runbuf rb = { .m = m, .sink = sink, .priv = priv };

	if (file)
		return sink(priv, a, (b - a) >> PAGE_SHIFT);
	ooh_walk(&rb, a, b);
	ooh_runbuf_flush(&rb);
	return rb.err;
}

/*
 * The interval's mapping changes within [lo, hi), handed to sink() as runs
 * of pages (mmap lock held, session lock held). Returns 0, -EOVERFLOW if
 * records were lost (answer conservatively), or sink()'s error.
 */
int ooh_mapchg_harvest(struct ooh_mapchg *m, unsigned long lo,
		       unsigned long hi,
		       ooh_mapchg_sink sink, void *priv)
{
	struct ooh_vma_id *ids, *old = m->ids;
	size_t nr, i, o = 0;
	bool lost;
	int err = 0;

	lost = ooh_mapchg_take_runs(m, sink, priv, &err);
	if (err)
		return err;
	ids = ooh_layout(m->mm, &nr);
	if (!ids)
		return -EOVERFLOW; /* cannot compare layouts: be conservative */
	for (i = 0; i < nr && !err; i++) {
		unsigned long pos = max(ids[i].start, lo);
		unsigned long end = min(ids[i].end, hi);

		while (pos < end && !err) {
			unsigned long seg;
			bool changed, file = ids[i].ino;

			while (o < m->nr_ids && old[o].end <= pos)
				o++;
			if (o == m->nr_ids || old[o].start > pos) {
				/* nothing was mapped here */
				seg = o == m->nr_ids ? end :
				      min(end, old[o].start);
				changed = true;
			} else {
				seg = min(end, old[o].end);
				changed = !ooh_vma_id_same(&old[o], &ids[i]);
				file |= old[o].ino != 0;
			}
			if (changed)
				err = ooh_report_new(m, pos, seg, file, sink,
						     priv);
			pos = seg;
		}
	}
	kvfree(m->ids);
	m->ids = ids;
	m->nr_ids = nr;
	if (err)
		return err;
	return lost ? -EOVERFLOW : 0;
}
