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
 * Limits: kernel writes into a tracked page (read(2) into it) fail with
 * EFAULT instead of faulting; memory moved into a range by mremap keeps
 * its read-only protection and is reported only once written.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

#define MAX_TRACKERS 64

/* All the handler reads is here (not in the tracker, which core frees). */
struct mp_priv {
	struct ooh_region *ranges; /* the tracker's, copied */
	size_t nr_ranges;
	int *prot;                 /* per range: protection when writable */
	atomic_bool armed;
	atomic_bool overflow;
	struct mp_priv *retired_next;
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
		p->prot = calloc(t->nr_ranges, sizeof(*p->prot));
		p->ranges = malloc(t->nr_ranges * sizeof(*p->ranges));
	}
	if (!p || !p->prot || !p->ranges) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(p->ranges, t->ranges, t->nr_ranges * sizeof(*p->ranges));
	p->nr_ranges = t->nr_ranges;
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
	free(v);
	return err;
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
	free(v);
	if (overflow)
		*rflags |= OOH_RESULT_OVERFLOW;
	return err;
}

const struct backend_ops ooh_backend_mprotect = {
	.id = OOH_BACKEND_MPROTECT,
	.name = "mprotect",
	.caps = OOH_CAP_SELF | OOH_CAP_ATOMIC_REARM | OOH_CAP_PAGE_EXACT,
	.probe = probe,
	.open = mp_open,
	.close = mp_close,
	.start = mp_start,
	.stop = mp_stop,
	.snapshot = mp_snapshot,
};
