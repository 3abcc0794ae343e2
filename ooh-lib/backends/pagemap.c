/* SPDX-License-Identifier: MIT */
/*
 * pagemap backend: userfaultfd asynchronous write-protect (the kernel
 * resolves write faults itself and clears the pte's uffd-wp bit) read and
 * re-armed in one PAGEMAP_SCAN ioctl with PM_SCAN_WP_MATCHING.  Linux >= 6.7.
 *
 * Mapping changes: a VMA created, moved (mremap) or re-created (munmap +
 * mmap) inside a tracked range is not registered with our userfaultfd, and
 * PM_SCAN_WP_MATCHING silently skips such VMAs.  Every snapshot therefore
 * first asks the kernel for VMAs lacking PAGE_IS_WPALLOWED (a VMA-level
 * test, nearly free when there are none), registers them and reports
 * their whole extent: their content may differ from what was there before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"
#include "uffd_common.h"

/* Private anonymous VMAs at least this big are treated as sparse. */
#define BIG_ANON_VMA (4ull << 30)

struct pagemap_priv {
	int uffd;
	int pagemap_fd;
	struct region_list skipped;   /* unregistrable and not writable: ignore */
	struct region_list untracked; /* unregistrable but writable: always dirty */
	struct region_list anon;      /* big private anonymous VMAs, as last seen */
	struct region_list known;     /* all VMAs, as last seen */
	struct region_list data;      /* in anon: the runs holding data at the last arm */
	struct region_list data_next; /* the same, being built by a re-arming pass */
	struct region_list scan;      /* scratch */
	bool refresh;                 /* VMA layout changed: re-read maps */
	size_t vec_hint;              /* grows to the largest scan seen */
};

/* tests/fuzz/libooh-pagemap-scan compiles this file with a fake kernel here. */
#ifndef OOH_PAGEMAP_SCAN_IOCTL
#define OOH_PAGEMAP_SCAN_IOCTL(fd, a) ioctl(fd, PAGEMAP_SCAN, a)
#endif

static long scan(int fd, struct pm_scan_arg *a)
{
	long r;
	do
		r = OOH_PAGEMAP_SCAN_IOCTL(fd, a);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/*
 * Scan [start, end) for pages matching mask (inverted by inv), appending
 * runs to out; with wp, matched pages are write-protected in the same walk.
 */
static int scan_range(int fd, uint64_t start, uint64_t end, uint64_t mask, uint64_t inv,
		      uint64_t anyof, uint64_t ret, bool wp, struct region_list *out, size_t hint)
{
	uint64_t pos = start;

	while (pos < end) {
		if (out->cap - out->n < 64 && region_list_reserve(out, out->n + (hint > 64 ? hint : 64)))
			return -ENOMEM;
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = wp ? PM_SCAN_WP_MATCHING : 0,
			.start = pos,
			.end = end,
			.vec = (uint64_t)(uintptr_t)(out->v + out->n),
			.vec_len = out->cap - out->n,
			.category_inverted = inv,
			.category_mask = mask,
			.category_anyof_mask = anyof,
			.return_mask = ret,
		};
		long got = scan(fd, &a);
		if (got < 0)
			return (int)got;
		size_t first = out->n;
		out->n += (size_t)got;
		if (a.walk_end >= end || a.walk_end == 0)
			break;
		/*
		 * Without max_pages the walk stops early only when the output
		 * vector is full.  Observed on 6.18: with more than 512 result
		 * regions walk_end can come back below end although the whole
		 * range was scanned and re-protected; resuming from it returned
		 * pages twice.  So: not full means done.  Full means resume, but
		 * never below the end of the last region returned (normalize()
		 * would still drop a duplicate).
		 */
		if ((size_t)got + 1 < a.vec_len)
			break;
		uint64_t next = a.walk_end;
		if (out->n > first && out->v[out->n - 1].end > next)
			next = out->v[out->n - 1].end;
		if (next <= pos)
			return -EIO; /* no progress: refuse to loop or to guess */
		pos = next;
		if (region_list_reserve(out, out->cap * 2))
			return -ENOMEM;
	}
	return 0;
}

static int probe(char *reason, size_t len)
{
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	int pm = -1, err;
	char *mem = MAP_FAILED;

	if (uffd < 0) {
		err = -errno;
		set_reason(reason, len, "userfaultfd() failed: %s", strerror(errno));
		return err;
	}
	err = uffd_api(uffd, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, NULL);
	if (err) {
		set_reason(reason, len, "userfaultfd lacks WP_ASYNC/WP_UNPOPULATED (Linux >= 6.7 needed): %s",
			   strerror(-err));
		err = -EOPNOTSUPP;
		goto out;
	}
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	mem = mmap(NULL, 4 * OOH_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pm < 0 || mem == MAP_FAILED) {
		err = -errno;
		set_reason(reason, len, "cannot set up probe: %s", strerror(errno));
		goto out;
	}
	uint64_t s = (uintptr_t)mem, e = s + 4 * OOH_PAGE_SIZE;
	memset(mem, 1, 4 * OOH_PAGE_SIZE);
	err = uffd_register(uffd, s, e, UFFDIO_REGISTER_MODE_WP);
	if (err) {
		set_reason(reason, len, "UFFDIO_REGISTER(WP) failed: %s", strerror(-err));
		goto out;
	}
	struct region_list l = { 0 };
	err = scan_range(pm, s, e, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN, true, &l, 0);
	if (err == -ENOTTY || err == -EINVAL) {
		set_reason(reason, len, "PAGEMAP_SCAN ioctl not supported by this kernel (Linux >= 6.7 needed)");
		err = -EOPNOTSUPP;
	} else if (!err) {
		l.n = 0;
		mem[2 * OOH_PAGE_SIZE] = 2;
		err = scan_range(pm, s, e, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN, true, &l, 0);
		if (!err && (l.n != 1 || l.v[0].start != s + 2 * OOH_PAGE_SIZE ||
			     l.v[0].end != s + 3 * OOH_PAGE_SIZE)) {
			set_reason(reason, len, "self-test failed: a written page was not reported exactly");
			err = -EOPNOTSUPP;
		} else if (err) {
			set_reason(reason, len, "PAGEMAP_SCAN failed: %s", strerror(-err));
		}
	} else {
		set_reason(reason, len, "PAGEMAP_SCAN failed: %s", strerror(-err));
	}
	region_list_free(&l);
out:
	if (mem != MAP_FAILED)
		munmap(mem, 4 * OOH_PAGE_SIZE);
	if (pm >= 0)
		close(pm);
	close(uffd);
	return err;
}

static int pm_open(struct ooh_tracker *t)
{
	struct pagemap_priv *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->uffd = p->pagemap_fd = -1;
	p->pagemap_fd = open_proc(t->pid, "pagemap", O_RDONLY);
	if (p->pagemap_fd < 0) {
		err = p->pagemap_fd == -ENOENT ? -ESRCH : p->pagemap_fd;
		goto fail;
	}
	p->uffd = uffd_create(t->pid, t->self);
	if (p->uffd < 0) {
		err = p->uffd;
		goto fail;
	}
	err = uffd_api(p->uffd, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, NULL);
	if (err)
		goto fail;
	t->priv = p;
	return 0;
fail:
	if (p->uffd >= 0)
		close(p->uffd);
	if (p->pagemap_fd >= 0)
		close(p->pagemap_fd);
	free(p);
	return err;
}

static void pm_close(struct ooh_tracker *t)
{
	struct pagemap_priv *p = t->priv;

	close(p->uffd); /* drops every registration */
	close(p->pagemap_fd);
	region_list_free(&p->skipped);
	region_list_free(&p->untracked);
	region_list_free(&p->anon);
	region_list_free(&p->known);
	region_list_free(&p->data);
	region_list_free(&p->data_next);
	region_list_free(&p->scan);
	free(p);
	t->priv = NULL;
}

static int register_ranges(struct ooh_tracker *t, struct region_list *newly)
{
	struct pagemap_priv *p = t->priv;

	struct vma *v;
	ssize_t n;

	p->skipped.n = p->untracked.n = p->anon.n = p->known.n = 0;
	for (size_t i = 0; i < t->nr_ranges; i++) {
		int err = uffd_register_vmas(p->uffd, t->pid, t->ranges[i].start, t->ranges[i].end,
					     UFFDIO_REGISTER_MODE_WP, 0, &p->skipped, &p->untracked, newly);
		if (err)
			return err;
	}
	n = read_maps(t->pid, t->ranges, t->nr_ranges, &v);
	if (n < 0)
		return (int)n;
	for (ssize_t i = 0; i < n; i++)
		if ((v[i].anon && !v[i].shared && v[i].end - v[i].start >= BIG_ANON_VMA &&
		     region_list_add(&p->anon, v[i].start, v[i].end)) ||
		    region_list_add(&p->known, v[i].start, v[i].end)) {
			free(v);
			return -ENOMEM;
		}
	free(v);
	p->refresh = false;
	return 0;
}

/* Is [s, e) entirely inside one run of l? */
static bool covered(const struct region_list *l, uint64_t s, uint64_t e)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].start <= s && e <= l->v[i].end)
			return true;
	return false;
}

/* Scan a stretch outside the big anonymous VMAs; output outside every
 * known VMA means the layout changed (e.g. an anonymous VMA grew). */
static int scan_gap(struct pagemap_priv *p, uint64_t s, uint64_t e, bool wp, struct region_list *out)
{
	size_t before = out->n;
	int err = scan_range(p->pagemap_fd, s, e, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN, wp, out, p->vec_hint);
	for (size_t i = before; i < out->n && !p->refresh; i++)
		p->refresh = !covered(&p->known, out->v[i].start, out->v[i].end);
	return err;
}

/* Append [s, e) to l, merged with its last run when they touch. */
static int append_run(struct region_list *l, uint64_t s, uint64_t e)
{
	if (l->n && l->v[l->n - 1].end == s) {
		l->v[l->n - 1].end = e;
		return 0;
	}
	return region_list_add(l, s, e);
}

/* Report the parts of old's runs within [s, e) that runs of now (sorted,
 * within [s, e)) do not cover. */
static int report_gone(const struct region_list *old, uint64_t s, uint64_t e,
		       const struct region_list *now, struct region_list *out)
{
	size_t lo = 0, hi = old->n, j = 0;

	while (lo < hi) { /* the first run ending after s */
		size_t mid = lo + (hi - lo) / 2;
		if (old->v[mid].end <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < old->n && old->v[i].start < e; i++) {
		uint64_t pos = old->v[i].start > s ? old->v[i].start : s;
		uint64_t end = old->v[i].end < e ? old->v[i].end : e;
		while (pos < end) {
			while (j < now->n && now->v[j].end <= pos)
				j++;
			if (j < now->n && now->v[j].start <= pos) {
				pos = now->v[j].end; /* still holds data */
				continue;
			}
			uint64_t stop = j < now->n && now->v[j].start < end ? now->v[j].start : end;
			int err = region_list_add(out, pos, stop);
			if (err)
				return err;
			pos = stop;
		}
	}
	return 0;
}

/*
 * A big anonymous VMA's part [s, e): one walk returns every run holding
 * data, flagged when written (those are reported and, with wp,
 * re-protected: the kernel protects only the written ones it matches).
 * A page dropped (MADV_DONTNEED, MADV_FREE discarded: not written, and
 * an empty pte is not asked for here) is found as a run that held data
 * at the last arm and does not now.  The runs are taken in the same walk
 * that re-arms, so no drop can fall between the two.
 */
static int scan_anon(struct pagemap_priv *p, uint64_t s, uint64_t e, bool wp, struct region_list *out)
{
	struct region_list *now = &p->scan;

	now->n = 0;
	int err = scan_range(p->pagemap_fd, s, e, PAGE_IS_PFNZERO, PAGE_IS_PFNZERO,
			     PAGE_IS_PRESENT | PAGE_IS_SWAPPED, PAGE_IS_WRITTEN, wp, now, p->vec_hint);
	for (size_t i = 0; i < now->n && !err; i++) {
		now->v[i].start = now->v[i].start > s ? now->v[i].start : s;
		now->v[i].end = now->v[i].end < e ? now->v[i].end : e;
		if (now->v[i].flags & PAGE_IS_WRITTEN)
			err = region_list_add(out, now->v[i].start, now->v[i].end);
		if (!err && wp)
			err = append_run(&p->data_next, now->v[i].start, now->v[i].end);
	}
	return err ? err : report_gone(&p->data, s, e, now, out);
}

/*
 * Scan (and with wp re-protect) the written pages of [start, end).
 *
 * Inside a registered VMA the kernel counts an empty pte as "written" and,
 * with WP_MATCHING, fills it with a uffd-wp marker: a one-time page-table
 * walk over every hole.  Harmless for ordinary mappings (and then reads of
 * untouched memory stay unreported), but on a sparse reservation (an ASan
 * shadow, a JVM heap: terabytes) it never ends.  So in big private
 * anonymous VMAs, where an empty pte holds no data, we ask only for the
 * pages holding data: present or swapped, and not the shared zero page a
 * read maps (writing it faults in a fresh, unprotected page); see
 * scan_anon().  Everywhere else the plain "written" query is used: the
 * kernel has a fast path for exactly that one (about twice as fast as any
 * other mask).
 */
static int scan_written(struct pagemap_priv *p, uint64_t start, uint64_t end, bool wp,
			struct region_list *out)
{
	uint64_t pos = start;
	int err = 0;

	for (size_t i = 0; i < p->anon.n && pos < end && !err; i++) {
		uint64_t s = p->anon.v[i].start, e = p->anon.v[i].end;
		if (e <= pos || s >= end)
			continue;
		if (s > pos)
			err = scan_gap(p, pos, s, wp, out);
		if (s < pos)
			s = pos;
		if (e > end)
			e = end;
		if (!err)
			err = scan_anon(p, s, e, wp, out);
		pos = e;
	}
	if (!err && pos < end)
		err = scan_gap(p, pos, end, wp, out);
	return err;
}

/* The runs just recorded by a re-arming pass become the last arm's. */
static void arm_data(struct pagemap_priv *p)
{
	struct region_list l = p->data;
	p->data = p->data_next;
	p->data_next = l;
	p->data_next.n = 0;
}

static int pm_start(struct ooh_tracker *t)
{
	struct pagemap_priv *p = t->priv;
	struct region_list scratch = { 0 };
	int err = register_ranges(t, NULL);

	p->data.n = p->data_next.n = 0;

	/* Re-arm: write-protect every written page (no output needed). */
	for (size_t i = 0; !err && i < t->nr_ranges; i++) {
		err = scan_written(p, t->ranges[i].start, t->ranges[i].end, true, &scratch);
		scratch.n = 0;
	}
	region_list_free(&scratch);
	if (!err)
		arm_data(p);
	return err;
}

static int pm_stop(struct ooh_tracker *t)
{
	struct pagemap_priv *p = t->priv;
	struct vma *v;
	ssize_t n = read_maps(t->pid, t->ranges, t->nr_ranges, &v);

	if (n < 0)
		return (int)n;
	for (ssize_t i = 0; i < n; i++)
		for (size_t k = 0; k < t->nr_ranges; k++) {
			uint64_t s = v[i].start > t->ranges[k].start ? v[i].start : t->ranges[k].start;
			uint64_t e = v[i].end < t->ranges[k].end ? v[i].end : t->ranges[k].end;
			if (s < e)
				uffd_unregister(p->uffd, s, e); /* clears the uffd-wp bits */
		}
	free(v);
	return 0;
}

static int pm_snapshot(struct ooh_tracker *t, bool rearm, struct region_list *out, uint32_t *rflags)
{
	struct pagemap_priv *p = t->priv;
	struct region_list fresh = { 0 };
	int err = 0;

	(void)rflags;
	p->data_next.n = 0;
	/* 1. VMAs in our ranges that are not registered (new or moved): their
	 * whole extent is reported, their content may have been replaced. */
	for (size_t i = 0; !err && i < t->nr_ranges; i++)
		err = scan_range(p->pagemap_fd, t->ranges[i].start, t->ranges[i].end, PAGE_IS_WPALLOWED,
				 PAGE_IS_WPALLOWED, 0, PAGE_IS_WPALLOWED, false, &fresh, 0);
	bool relearn = p->refresh;
	for (size_t i = 0; !err && i < fresh.n; i++)
		if (!covered(&p->skipped, fresh.v[i].start, fresh.v[i].end))
			relearn = true;
	if (!err && relearn)
		err = register_ranges(t, NULL);
	for (size_t i = 0; !err && i < fresh.n; i++)
		if (!covered(&p->skipped, fresh.v[i].start, fresh.v[i].end))
			err = region_list_add(out, fresh.v[i].start, fresh.v[i].end);
	region_list_free(&fresh);
	for (size_t i = 0; !err && i < p->untracked.n; i++)
		err = region_list_add(out, p->untracked.v[i].start, p->untracked.v[i].end);
	if (err)
		return err;

	/* 2. Written pages, write-protected again in the same walk; pages
	 * marked dirty that stay marked (OOH_COLLECT_KEEP_MARKED) are left
	 * alone: unprotected, and reported by the core. */
	size_t before = out->n;
	const struct region_list *keep =
		rearm && (t->collect_flags & OOH_COLLECT_KEEP_MARKED) ? &t->forced : NULL;
	size_t k = 0;
	for (size_t i = 0; !err && i < t->nr_ranges; i++) {
		uint64_t pos = t->ranges[i].start, end = t->ranges[i].end;
		while (!err && keep && k < keep->n && keep->v[k].start < end) {
			if (keep->v[k].end <= pos) {
				k++;
				continue;
			}
			if (keep->v[k].start > pos)
				err = scan_written(p, pos, keep->v[k].start, rearm, out);
			pos = keep->v[k].end;
			if (pos >= end)
				break;
			k++;
		}
		if (!err && pos < end)
			err = scan_written(p, pos, end, rearm, out);
	}
	if (out->n - before > p->vec_hint)
		p->vec_hint = out->n - before;
	if (!err && rearm)
		arm_data(p);
	if (err == -ENOENT || err == -ESRCH)
		err = -ESRCH;
	return err;
}

/* ooh_mark_dirty(): lift the write protection of the runs.  The pages then
 * read as written (no uffd-wp bit) and write at full speed; core reports
 * them at the next collect anyway, whose re-arm protects them again. */
static int pm_unwatch(struct ooh_tracker *t, const struct region_list *l)
{
	struct pagemap_priv *p = t->priv;

	for (size_t i = 0; i < l->n; i++) {
		int err = uffd_wp(p->uffd, l->v[i].start, l->v[i].end, false);
		/* Not registered (a hole, an unregistrable VMA): nothing to lift. */
		if (err && err != -ENOENT && err != -EINVAL)
			return err == -ESRCH ? -ESRCH : err;
	}
	return 0;
}

const struct backend_ops ooh_backend_pagemap = {
	.id = OOH_BACKEND_PAGEMAP,
	.name = "pagemap",
	/* Page-exact also on THPs: a write to a uffd-wp async huge pmd splits it. */
	.caps = OOH_CAP_SELF | OOH_CAP_REMOTE | OOH_CAP_WHOLE | OOH_CAP_ATOMIC_REARM |
		OOH_CAP_PAGE_EXACT | OOH_CAP_MAPPING_CHANGES | OOH_CAP_MARK_UNWATCHES,
	.probe = probe,
	.open = pm_open,
	.close = pm_close,
	.start = pm_start,
	.stop = pm_stop,
	.snapshot = pm_snapshot,
	.unwatch = pm_unwatch,
};
