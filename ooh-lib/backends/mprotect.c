/* SPDX-License-Identifier: MIT */
/*
 * mprotect backend (calling process only): tracked ranges are made
 * read-only; the first write to a page raises SIGSEGV, whose handler makes
 * that one page writable again.  The kernel's own VMA list is the record:
 * at collect, every writable stretch of a tracked range is dirty (it was
 * unprotected by a fault, or mapped anew after munmap/mmap), and re-arming
 * makes it read-only again.  No bitmap, no lock shared with the handler:
 * a fault racing with a collect leaves its page writable, so the page is
 * reported by the next collect.
 *
 * vm.max_map_count: each isolated dirty page splits a VMA in up to three.
 * When mprotect() fails for lack of VMAs, the handler makes the whole range
 * writable (so the program keeps running) and raises the overflow flag:
 * that interval reports OOH_RESULT_OVERFLOW, never a silent "clean".
 *
 * Memory that changes without a store (issue #16) leaves the VMA read-only,
 * so the VMA list alone would call it clean.  Each arm therefore also
 * snapshots, per tracked page, its /proc/self/pagemap entry and the layout
 * (which file or anonymous memory backs each address), and each collect
 * compares (see "The page check" below): a page that held data of its own
 * and was dropped (MADV_DONTNEED, MADV_FREE discarded, munmap) or replaced
 * (mmap over it, memory moved in by mremap) is reported.
 *
 * Limits: kernel writes into a tracked page (read(2) into it) fail with
 * EFAULT instead of faulting; without CAP_SYS_ADMIN (frame numbers hidden)
 * see "flags mode" below.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"
#include "pagecheck.h"

#define MAX_TRACKERS 64

/* All the handler reads is here (not in the tracker, which core frees). */
struct mp_priv {
	struct ooh_region *ranges; /* the tracker's, copied */
	size_t nr_ranges;
	int *prot;                 /* per range: protection when writable */
	atomic_bool armed;
	atomic_bool overflow;
	struct mp_priv *retired_next;
	/* The page check's state (used under the tracker's lock only). */
	struct pagecheck pc;
	int pagemap_fd;            /* /proc/self/pagemap */
	struct vma *layout;        /* the ranges' VMAs at the last arm */
	ssize_t nlayout;
	struct vma *reprotected;   /* flags mode: the same, right after re-protecting */
	ssize_t nreprotected;
	bool have_reprotected;
	uint64_t outside_ro;       /* flags mode: signature of outside_readonly() at the last arm */
};

static _Atomic(struct mp_priv *) slots[MAX_TRACKERS];
static atomic_int handlers_running;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static int installed;
static struct sigaction previous;
/*
 * Closed trackers that a handler might still be reading.  A handler can
 * stay inside on_segv for good as far as close is concerned: a garbage
 * collector stops the world with signals, and a thread it suspends in the
 * middle of our handler resumes only after the collection, in which the
 * collector closes trackers (waiting for the handler there deadlocked
 * libooh-gc with Boehm's threads).  So close never waits: it retires, and
 * retired ones are freed once no handler runs.  Under install_lock.
 */
static struct mp_priv *retired;

static void free_priv(struct mp_priv *p)
{
	free(p->ranges);
	free(p->prot);
	free(p);
}

/* Free the retired trackers if no handler runs now.  Under install_lock. */
static void free_retired(void)
{
	if (atomic_load(&handlers_running))
		return;
	while (retired) {
		struct mp_priv *next = retired->retired_next;
		free_priv(retired);
		retired = next;
	}
}

/* p is in no slot any more: free it once no handler can hold it. */
static void retire(struct mp_priv *p)
{
	pthread_mutex_lock(&install_lock);
	p->retired_next = retired;
	retired = p;
	free_retired();
	pthread_mutex_unlock(&install_lock);
}

static bool write_fault(const siginfo_t *si, void *ctx)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ctx;
	return si->si_code == SEGV_ACCERR && (uc->uc_mcontext.gregs[REG_ERR] & 2);
#else
	(void)ctx;
	return si->si_code == SEGV_ACCERR;
#endif
}

/* Make the faulting page writable if it is ours.  Async-signal-safe. */
static bool handle(uint64_t addr)
{
	for (int i = 0; i < MAX_TRACKERS; i++) {
		struct mp_priv *p = atomic_load(&slots[i]);
		if (!p || !atomic_load(&p->armed))
			continue;
		for (size_t k = 0; k < p->nr_ranges; k++) {
			const struct ooh_region *r = &p->ranges[k];
			if (addr < r->start || addr >= r->end)
				continue;
			uint64_t page = addr & OOH_PAGE_MASK;
			if (mprotect((void *)page, OOH_PAGE_SIZE, p->prot[k]) == 0)
				return true;
			/* Out of VMAs (ENOMEM): give the program the whole range
			 * and say that precision is lost for this interval. */
			atomic_store(&p->overflow, true);
			if (mprotect((void *)r->start, r->end - r->start, p->prot[k]) == 0)
				return true;
			return false;
		}
	}
	return false;
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	int saved_errno = errno;
	bool ours = false;

	atomic_fetch_add(&handlers_running, 1);
	if (write_fault(si, ctx))
		ours = handle((uint64_t)(uintptr_t)si->si_addr);
	atomic_fetch_sub(&handlers_running, 1);
	errno = saved_errno;
	if (ours)
		return;
	/* Not ours: behave as if we were not here. */
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, ctx);
	} else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
	} else {
		/* Default action: re-install it; the faulting access repeats. */
		sigaction(SIGSEGV, &previous, NULL);
	}
}

static int install(void)
{
	int err = 0;

	pthread_mutex_lock(&install_lock);
	free_retired(); /* left by a close that met a running handler */
	if (installed++ == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, &previous) < 0) {
			err = -errno;
			installed--;
		}
	}
	pthread_mutex_unlock(&install_lock);
	return err;
}

static void uninstall(void)
{
	pthread_mutex_lock(&install_lock);
	if (--installed == 0)
		sigaction(SIGSEGV, &previous, NULL);
	pthread_mutex_unlock(&install_lock);
}

static int probe(char *reason, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	if (pg != (long)OOH_PAGE_SIZE) {
		set_reason(reason, len, "page size is %ld, not 4096", pg);
		return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * ---- The page check ----
 *
 * src/pagecheck.c: per tracked page that holds data, its /proc/self/pagemap
 * entry at the last arm ("pfn mode" with frame numbers, else "flags mode").
 * And the layout at the last arm: what backs each address (nothing, a file
 * at an offset, anonymous memory), compared address by address.
 *
 * OOH_MPROTECT_CHECK=off|flags|pfn overrides the choice (off: no check, a
 * silent miss on every drop; only for measuring what the check costs).
 */
/* Same backing at addr in VMAs a and b (either may be NULL: unmapped)? */
static bool same_backing(const struct vma *a, const struct vma *b, uint64_t addr)
{
	if (!a || !b)
		return !a && !b;
	if (a->anon != b->anon || a->shared != b->shared || a->dev != b->dev || a->ino != b->ino)
		return false;
	/* anonymous: /proc/PID/maps shows offset 0, nothing to compare */
	return a->anon || a->offset + (addr - a->start) == b->offset + (addr - b->start);
}

/* Report the parts of the ranges whose backing differs between layouts o and v. */
static int backing_changes(const struct ooh_tracker *t, const struct vma *o, ssize_t no,
			   const struct vma *v, ssize_t nv, struct region_list *out)
{
	ssize_t i = 0, j = 0;

	for (size_t k = 0; k < t->nr_ranges; k++) {
		for (uint64_t pos = t->ranges[k].start, end = t->ranges[k].end; pos < end;) {
			while (i < no && o[i].end <= pos)
				i++;
			while (j < nv && v[j].end <= pos)
				j++;
			const struct vma *a = i < no && o[i].start <= pos ? &o[i] : NULL;
			const struct vma *b = j < nv && v[j].start <= pos ? &v[j] : NULL;
			uint64_t next = end;
			uint64_t an = a ? a->end : i < no ? o[i].start : end;
			uint64_t bn = b ? b->end : j < nv ? v[j].start : end;
			next = an < next ? an : next;
			next = bn < next ? bn : next;
			if (!same_backing(a, b, pos) && region_list_add(out, pos, next))
				return -ENOMEM;
			pos = next;
		}
	}
	return 0;
}

/* Does v[0..n) have a VMA whose part in range r is exactly [s, e)? */
static bool has_extent(const struct vma *v, ssize_t n, const struct ooh_region *r, uint64_t s, uint64_t e)
{
	ssize_t lo = 0, hi = n;
	while (lo < hi) { /* the first VMA ending after s */
		ssize_t mid = lo + (hi - lo) / 2;
		if (v[mid].end <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && (v[lo].start > r->start ? v[lo].start : r->start) == s &&
	       (v[lo].end < r->end ? v[lo].end : r->end) == e;
}

/* Report every VMA extent (clipped to the ranges) of a that b lacks. */
static int extents_lacking(const struct ooh_tracker *t, const struct vma *a, ssize_t na, const struct vma *b,
			   ssize_t nb, struct region_list *out)
{
	for (ssize_t i = 0; i < na; i++)
		for (size_t k = 0; k < t->nr_ranges; k++) {
			const struct ooh_region *r = &t->ranges[k];
			uint64_t s = a[i].start > r->start ? a[i].start : r->start;
			uint64_t e = a[i].end < r->end ? a[i].end : r->end;
			if (s < e && !has_extent(b, nb, r, s, e) && region_list_add(out, s, e))
				return -ENOMEM;
		}
	return 0;
}

/*
 * Flags mode's stand-in for frames against anonymous memory moved within
 * the ranges (the maps show no offset for it), at re-arming collects.
 * Right after re-protecting, the kernel has merged the pages the handler
 * opened back into their VMAs, so the layout is the one of the last arm,
 * unless memory was mapped or moved in: moved anonymous memory never
 * merges with its new neighbours (its page offsets do not follow on).
 * Every VMA that is not exactly as at the last arm is reported whole, and
 * so is every VMA of the last arm that is gone.  Memory moved onto exactly
 * the extent of a whole VMA leaves that VMA's boundaries unchanged, so
 * when anything moved (the layout differs at all), the interval cannot be
 * known page by page: *unsure is set (OOH_RESULT_OVERFLOW).  Still not
 * seen: read-only memory moved in from outside the ranges onto exactly
 * a whole VMA of them.
 */
static int relayout(const struct ooh_tracker *t, const struct vma *o, ssize_t no, const struct vma *v,
		    ssize_t nv, struct region_list *out, bool *unsure)
{
	struct region_list moved = { 0 };
	int err = extents_lacking(t, v, nv, o, no, &moved);
	err = err ? err : extents_lacking(t, o, no, v, nv, &moved);
	if (moved.n)
		*unsure = true;
	for (size_t i = 0; i < moved.n && !err; i++)
		err = region_list_add(out, moved.v[i].start, moved.v[i].end);
	region_list_free(&moved);
	return err;
}

/*
 * Flags mode: read-only anonymous memory moved in from outside the ranges
 * onto exactly a whole VMA of them changes nothing the ranges' maps or
 * unprivileged pagemap show, but its source VMA outside goes or shrinks.
 * A hash of the extents of the readable, non-writable anonymous VMAs
 * outside the ranges (rare: most memory is writable, PROT_NONE or a
 * file's) tells that one may have moved.  Moved writable memory shows as
 * a writable stretch, a file's as another backing, PROT_NONE cannot be
 * read.  0 if the maps cannot be read (then every interval is unsure).
 */
static uint64_t outside_readonly(const struct ooh_tracker *t)
{
	struct vma *v;
	ssize_t n = read_maps(t->pid, NULL, 0, &v);
	uint64_t h = 1469598103934665603ull;

	if (n < 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (v[i].anon && v[i].read && !v[i].write && !v[i].shared &&
		    !ranges_intersect(t->ranges, t->nr_ranges, v[i].start, v[i].end))
			h = (h ^ v[i].start ^ (v[i].end << 1)) * 1099511628211ull;
	free(v);
	return h;
}

/*
 * Compare with the last arm (reporting into out, when out) and, with
 * rearm, take this moment as the new arm: v is the layout read before
 * re-protecting, consumed.
 */
static int check(struct ooh_tracker *t, struct vma *v, ssize_t nv, bool rearm, struct region_list *out,
		 bool *unsure)
{
	struct mp_priv *p = t->priv;
	int err = 0;

	if (p->pc.mode == PAGECHECK_OFF) {
		free(v);
		return 0;
	}
	if (out) {
		struct region_list changed = { 0 };
		err = backing_changes(t, p->layout, p->nlayout, v, nv, &changed);
		/* flags mode cannot see memory moved onto exactly a whole VMA:
		 * when anything was mapped or unmapped, it may have been */
		if (p->pc.mode == PAGECHECK_FLAGS && changed.n)
			*unsure = true;
		for (size_t i = 0; i < changed.n && !err; i++)
			err = region_list_add(out, changed.v[i].start, changed.v[i].end);
		region_list_free(&changed);
	}
	if (p->pc.mode == PAGECHECK_FLAGS) {
		uint64_t ro = outside_readonly(t);
		if (out && (!ro || ro != p->outside_ro))
			*unsure = true;
		if (rearm)
			p->outside_ro = ro;
	}
	if (!err && rearm) {
		free(p->layout);
		p->layout = v;
		p->nlayout = nv;
		v = NULL;
		if (p->pc.mode == PAGECHECK_FLAGS) { /* after re-protecting: see relayout() */
			struct vma *after;
			ssize_t n = read_maps(t->pid, t->ranges, t->nr_ranges, &after);
			if (n < 0) {
				err = (int)n;
			} else {
				if (out && p->have_reprotected)
					err = relayout(t, p->reprotected, p->nreprotected, after, n, out, unsure);
				free(p->reprotected);
				p->reprotected = after;
				p->nreprotected = n;
				p->have_reprotected = true;
			}
		}
	}
	free(v);
	/* Every page of the ranges, unmapped ones too: a drop or an munmap
	 * of a page that held data is reported (as it was before sharing). */
	pagecheck_begin(&p->pc);
	for (size_t k = 0; k < t->nr_ranges && !err; k++)
		err = pagecheck_feed_range(&p->pc, p->pagemap_fd, t->ranges[k].start, t->ranges[k].end,
					   rearm, out);
	pagecheck_end(&p->pc, rearm && !err);
	return err;
}

/* Set up the check: mode, pagemap.  Before the first arm. */
static int check_open(struct ooh_tracker *t, struct mp_priv *p)
{
	int err = pagecheck_init(&p->pc, t->pid, getenv("OOH_MPROTECT_CHECK"));

	p->pagemap_fd = -1;
	if (err || p->pc.mode == PAGECHECK_OFF)
		return err;
	p->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	return p->pagemap_fd < 0 ? -errno : 0;
}

static void check_close(struct mp_priv *p)
{
	if (p->pagemap_fd >= 0)
		close(p->pagemap_fd);
	p->pagemap_fd = -1;
	pagecheck_free(&p->pc);
	free(p->layout);
	free(p->reprotected);
	p->layout = p->reprotected = NULL;
}

static int mp_open(struct ooh_tracker *t)
{
	struct mp_priv *p;
	struct vma *v;
	ssize_t n;
	int err = 0;

	if (!t->self || t->whole)
		return -EINVAL; /* signals only reach our own threads; see header */
	n = read_maps(t->pid, t->ranges, t->nr_ranges, &v);
	if (n < 0)
		return (int)n;
	p = calloc(1, sizeof(*p));
	if (p) {
		p->pagemap_fd = -1;
		p->prot = calloc(t->nr_ranges, sizeof(*p->prot));
		p->ranges = malloc(t->nr_ranges * sizeof(*p->ranges));
	}
	if (!p || !p->prot || !p->ranges) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(p->ranges, t->ranges, t->nr_ranges * sizeof(*p->ranges));
	p->nr_ranges = t->nr_ranges;
	err = check_open(t, p);
	/* Each range must be mapped, writable, with one exec setting. */
	for (size_t k = 0; k < t->nr_ranges && !err; k++) {
		uint64_t pos = t->ranges[k].start;
		int prot = -1;
		for (ssize_t i = 0; i < n && pos < t->ranges[k].end; i++) {
			if (v[i].end <= pos || v[i].start > pos)
				continue;
			int vp = PROT_READ | PROT_WRITE | (v[i].exec ? PROT_EXEC : 0);
			if (!v[i].write || (prot >= 0 && prot != vp))
				err = -EINVAL;
			prot = vp;
			pos = v[i].end;
		}
		if (!err && pos < t->ranges[k].end)
			err = -EFAULT;
		p->prot[k] = prot;
	}
	for (int i = 0; !err && i < MAX_TRACKERS; i++) {
		struct mp_priv *none = NULL;
		if (atomic_compare_exchange_strong(&slots[i], &none, p))
			break;
		if (i == MAX_TRACKERS - 1)
			err = -EBUSY;
	}
	if (!err)
		err = install();
	if (!err)
		t->priv = p;
out:
	free(v);
	if (err && p) {
		check_close(p);
		for (int i = 0; i < MAX_TRACKERS; i++) {
			struct mp_priv *me = p;
			atomic_compare_exchange_strong(&slots[i], &me, NULL);
		}
		retire(p); /* it may have been in a slot: a handler may hold it */
	}
	return err;
}

static void mp_close(struct ooh_tracker *t)
{
	struct mp_priv *p = t->priv;

	for (int i = 0; i < MAX_TRACKERS; i++) {
		struct mp_priv *me = p;
		atomic_compare_exchange_strong(&slots[i], &me, NULL);
	}
	/*
	 * A handler that starts from now on cannot find p (the slot is
	 * cleared first, both seq_cst); one that is running may hold it.
	 */
	check_close(p); /* the handler never reads the check's state */
	retire(p);
	uninstall();
	t->priv = NULL;
}

/* Apply prot (minus write unless writable) to the mapped parts of range k;
 * with out, first record the parts that are writable now. */
static int sweep(struct ooh_tracker *t, const struct vma *v, ssize_t n, size_t k,
		 bool protect, bool writable, struct region_list *out)
{
	struct mp_priv *p = t->priv;
	const struct ooh_region *r = &t->ranges[k];
	int prot = writable ? p->prot[k] : p->prot[k] & ~PROT_WRITE;
	int err = 0;

	for (ssize_t i = 0; i < n && !err; i++) {
		uint64_t s = v[i].start > r->start ? v[i].start : r->start;
		uint64_t e = v[i].end < r->end ? v[i].end : r->end;
		if (s >= e)
			continue;
		if (out && v[i].write)
			err = region_list_add(out, s, e);
		if (protect && (!out || v[i].write) &&
		    mprotect((void *)(uintptr_t)s, e - s, prot) < 0 && errno != ENOMEM)
			err = -errno;
	}
	return err;
}

static int mp_start(struct ooh_tracker *t)
{
	struct mp_priv *p = t->priv;
	struct vma *v;
	ssize_t n = read_maps(t->pid, t->ranges, t->nr_ranges, &v);
	int err = 0;

	if (n < 0)
		return (int)n;
	atomic_store(&p->armed, true);
	atomic_store(&p->overflow, false);
	for (size_t k = 0; k < t->nr_ranges && !err; k++)
		err = sweep(t, v, n, k, true, false, NULL);
	if (err) {
		free(v);
		return err;
	}
	bool unsure = false; /* nothing is reported at an arm */
	return check(t, v, n, true, NULL, &unsure);
}

static int mp_stop(struct ooh_tracker *t)
{
	struct mp_priv *p = t->priv;
	struct vma *v;
	ssize_t n = read_maps(t->pid, t->ranges, t->nr_ranges, &v);
	int err = 0;

	if (n < 0)
		return (int)n;
	for (size_t k = 0; k < t->nr_ranges && !err; k++)
		err = sweep(t, v, n, k, true, true, NULL);
	atomic_store(&p->armed, false);
	free(v);
	return err;
}

static int mp_snapshot(struct ooh_tracker *t, bool rearm, struct region_list *out, uint32_t *rflags)
{
	struct mp_priv *p = t->priv;
	bool overflow = rearm ? atomic_exchange(&p->overflow, false) : atomic_load(&p->overflow);
	struct vma *v;
	ssize_t n = read_maps(t->pid, t->ranges, t->nr_ranges, &v);
	int err = 0;

	if (n < 0)
		return (int)n;
	for (size_t k = 0; k < t->nr_ranges && !err; k++)
		err = sweep(t, v, n, k, rearm, false, out);
	/* After the sweep: a page dropped once its VMA was re-protected is
	 * seen here or at the next collect. */
	if (!err)
		err = check(t, v, n, rearm, out, &overflow);
	else
		free(v);
	if (overflow)
		*rflags |= OOH_RESULT_OVERFLOW;
	return err;
}

const struct backend_ops ooh_backend_mprotect = {
	.id = OOH_BACKEND_MPROTECT,
	.name = "mprotect",
	.caps = OOH_CAP_SELF | OOH_CAP_ATOMIC_REARM | OOH_CAP_PAGE_EXACT | OOH_CAP_MAPPING_CHANGES,
	.probe = probe,
	.open = mp_open,
	.close = mp_close,
	.start = mp_start,
	.stop = mp_stop,
	.snapshot = mp_snapshot,
};
