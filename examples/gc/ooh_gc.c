/* SPDX-License-Identifier: MIT */
/*
 * libooh-gc: feeds Boehm GC's manual virtual-dirty-bit mode from libooh.
 * See ooh_gc.h for the contract.  How it is correct:
 *
 *  - Boehm reads (and clears) its dirty bits only in GC_read_dirty(), which
 *    is called from GC_initiate_gc(), itself called by GC_stopped_mark()
 *    right after it announces GC_EVENT_MARK_START with the world stopped and
 *    the allocation lock held (and once from GC_enable_incremental(), before
 *    our first feed: we then report the whole heap dirty).  With manual VDB,
 *    static roots are always scanned whole (GC_is_vdb_for_static_roots() is
 *    false), and Boehm asks for dirty bits of heap blocks only.
 *  - At each MARK_START we take libooh's set of pages written since the
 *    previous MARK_START (ooh_collect with OOH_COLLECT_REARM: a racing write
 *    lands in this interval or the next, never nowhere) and hand every one
 *    to GC_end_stubborn_change(), which in manual VDB mode is GC_dirty().
 *    That one collect is all the work done with the world stopped.
 *  - The heap is learnt by interposing mmap(): anonymous writable mappings
 *    made by code inside libgc are recorded.  Of those, the pages of
 *    Boehm's heap are tracked (see classify()); libgc's own memory (block
 *    headers, mark stacks), which the collector writes at every collection
 *    and for which Boehm never asks a dirty bit, is not.  Pages that become
 *    heap (the recorded set grew, or Boehm's heap size changed) are tracked
 *    from the next MARK_START on and reported dirty once there (what
 *    happened to them before is unknown).
 *  - Whenever libooh loses precision (OOH_RESULT_OVERFLOW) or fails, every
 *    tracked page is reported dirty.  False positives cost time, never
 *    correctness.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <gc/gc.h>
#include <gc/gc_mark.h>

#include "ooh.h"
#include "ooh_gc.h"

#define PG 4096ULL
#define MAX_REGIONS 1024
#define PAGE_BUF 65536

struct region { uint64_t s, e; };

/* Recorded libgc mappings, sorted, merged (protected by reg_lock). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct region regs[MAX_REGIONS];
static size_t nregs;
static uint64_t reg_gen;          /* bumped whenever the set grows */
static uintptr_t gc_text_lo, gc_text_hi; /* libgc's code, for caller checks */
static uintptr_t gc_data_lo, gc_data_hi; /* libgc's writable segment (never heap) */
static void (*real_dirty)(const void *); /* libgc's GC_end_stubborn_change */
static volatile int absorb;              /* interposed GC_end_stubborn_change active */
static int vdb_soft;                     /* OOH_GC_VDB: 1 soft-dirty (default), 0 manual VDB */
static volatile int recording;

/* Tracker state: touched only with the GC allocation lock held. */
#define MAX_TRK 64
static ooh_tracker *trks[MAX_TRK]; /* disjoint ranges; together: trk_regs */
static size_t ntrk;
static struct region trk_regs[MAX_REGIONS]; /* tracked: Boehm's heap pages */
static size_t trk_nregs;
static uint64_t cls_gen;        /* reg_gen at the last classify() */
static size_t cls_heap;         /* Boehm's heap size (mapped + unmapped) then */
static bool classified;         /* classify() ran since the trackers were reset */
static bool heap_only = true;   /* OOH_GC_HEAP_ONLY=0: track libgc's own memory too */
static uint64_t *pagebuf;
static GC_on_collection_event_proc prev_event;
static int debug, drop;
static pid_t owner_pid;
static enum ooh_backend want_backend = OOH_BACKEND_AUTO;
static struct ooh_gc_stats st = { .backend = -1, .hot_on = 1 };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Where the time goes: every stretch of libooh-gc's work is charged to one
 * phase (enum ooh_gc_phase), in total and in the current world-stopped
 * window; the longest window keeps its breakdown (ooh_gc_stats), so that
 * a long pause can be told apart: Boehm's marking, or our work.
 */
static int cur_phase = -1;
static uint64_t phase_t0, win_t0;
static uint64_t win_ns[OOH_GC_PHASES];

/* Charge the time since the last switch to the running phase; run p
 * (-1: none) from now on. */
static void phase(int p)
{
	uint64_t t = now_ns();

	if (cur_phase >= 0) {
		st.phase_ns[cur_phase] += t - phase_t0;
		win_ns[cur_phase] += t - phase_t0;
	}
	cur_phase = p;
	phase_t0 = t;
}

static void window_open(void)
{
	memset(win_ns, 0, sizeof(win_ns));
	win_t0 = now_ns();
}

static void window_close(void)
{
	uint64_t d = now_ns() - win_t0;

	phase(-1);
	st.pauses++;
	if (d > st.pause_max_ns) {
		st.pause_max_ns = d;
		memcpy(st.pause_max_phase_ns, win_ns, sizeof(win_ns));
	}
}

const char *ooh_gc_phase_name(int p)
{
	static const char *const names[OOH_GC_PHASES] = {
		"collect", "feed", "keep", "grow",
	};
	return p >= 0 && p < OOH_GC_PHASES ? names[p] : NULL;
}

/* First run of r[0..n) that ends after a. */
static size_t first_after(const struct region *r, size_t n, uint64_t a)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r[mid].e <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Add [s, e) to the recorded set; true if the set grew. */
static bool regs_add(uint64_t s, uint64_t e)
{
	size_t i = 0;

	while (i < nregs && regs[i].e < s)
		i++;
	if (i < nregs && regs[i].s <= s && regs[i].e >= e)
		return false; /* already covered */
	if (i < nregs && regs[i].s <= e) {
		/* overlaps or touches run i: widen it, then swallow followers */
		if (s < regs[i].s)
			regs[i].s = s;
		if (e > regs[i].e)
			regs[i].e = e;
		size_t j = i + 1;
		while (j < nregs && regs[j].s <= regs[i].e) {
			if (regs[j].e > regs[i].e)
				regs[i].e = regs[j].e;
			j++;
		}
		memmove(&regs[i + 1], &regs[j], (nregs - j) * sizeof(regs[0]));
		nregs -= j - i - 1;
		return true;
	}
	if (nregs == MAX_REGIONS) {
		/* Full: bridge the smallest gap (tracking a gap is harmless). */
		size_t best = 0;
		for (size_t k = 1; k + 1 < nregs; k++)
			if (regs[k + 1].s - regs[k].e < regs[best + 1].s - regs[best].e)
				best = k;
		regs[best].e = regs[best + 1].e;
		memmove(&regs[best + 1], &regs[best + 2], (nregs - best - 2) * sizeof(regs[0]));
		nregs--;
		if (i > best + 1)
			i--;
		else if (i == best + 1)
			return regs_add(s, e);
	}
	memmove(&regs[i + 1], &regs[i], (nregs - i) * sizeof(regs[0]));
	regs[i].s = s;
	regs[i].e = e;
	nregs++;
	return true;
}

/*
 * The interposed mmap().  libgc gets its heap (and scratch memory) with
 * mmap from its own code; those anonymous writable mappings are recorded.
 * Everything goes straight to the system call, so this costs nothing to
 * other callers and needs no dlsym().
 */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *r = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	uintptr_t ra = (uintptr_t)__builtin_return_address(0);

	if (r != MAP_FAILED && recording && (flags & MAP_ANONYMOUS) && (prot & PROT_WRITE) &&
	    ra >= gc_text_lo && ra < gc_text_hi) {
		uint64_t s = (uint64_t)(uintptr_t)r & ~(PG - 1);
		uint64_t e = ((uint64_t)(uintptr_t)r + len + PG - 1) & ~(PG - 1);
		pthread_mutex_lock(&reg_lock);
		if (regs_add(s, e))
			reg_gen++;
		pthread_mutex_unlock(&reg_lock);
	}
	return r;
}

/*
 * Boehm starts its parallel marker threads with every signal blocked but
 * the two it stops the world with (pthread_sigmask around pthread_create in
 * GC_start_mark_threads_inner).  A marker writes mark bytes into block
 * headers, which come from libgc's own mmap calls like the heap and so are
 * tracked; on the mprotect backend such a write raises SIGSEGV, and a
 * synchronous signal that is blocked kills the process (seen: every
 * multi-threaded run died in a GC-marker thread).  So while libooh-gc is on,
 * a mask set from libgc's code never blocks SIGSEGV: libgc expects none
 * there (its own VDB never protects headers), and a genuine fault still
 * ends the process as before.  sigprocmask is glibc's pthread_sigmask
 * (which also keeps glibc's internal signals unblocked), reached without a
 * dlsym().
 */
int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	uintptr_t ra = (uintptr_t)__builtin_return_address(0);
	sigset_t without_segv;

	if (set && how != SIG_UNBLOCK && recording && ra >= gc_text_lo && ra < gc_text_hi &&
	    sigismember(set, SIGSEGV) == 1) {
		without_segv = *set;
		sigdelset(&without_segv, SIGSEGV);
		set = &without_segv;
	}
	return sigprocmask(how, set, old) ? errno : 0;
}

static int find_gc_text(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uintptr_t probe = (uintptr_t)data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (probe >= lo && probe < hi) {
			gc_text_lo = lo;
			gc_text_hi = hi;
			for (int j = 0; j < info->dlpi_phnum; j++) {
				const ElfW(Phdr) *w = &info->dlpi_phdr[j];
				if (w->p_type == PT_LOAD && (w->p_flags & PF_W)) {
					gc_data_lo = (info->dlpi_addr + w->p_vaddr) & ~(uintptr_t)(PG - 1);
					gc_data_hi = (info->dlpi_addr + w->p_vaddr + w->p_memsz + PG - 1) &
						     ~(uintptr_t)(PG - 1);
				}
			}
			return 1;
		}
	}
	return 0;
}

/* Boehm's own GC_end_stubborn_change (GC_dirty in manual VDB mode). */
static void boehm_dirty(uint64_t a)
{
	if (!real_dirty)
		real_dirty = (void (*)(const void *))dlsym(RTLD_NEXT, "GC_end_stubborn_change");
	real_dirty((const void *)(uintptr_t)a);
}

/* soft mode: the runs dirty in the interval Boehm reads now (sorted, merged
 * before use); everything tracked counts as dirty when soft_all_dirty */
static struct region *drun;
static size_t ndrun, drun_cap;
static bool soft_all_dirty, drun_sorted = true;

/* Hand page a over as dirty for this interval. */
static void mark_dirty(uint64_t a)
{
	if (!vdb_soft) {
		boehm_dirty(a);
		return;
	}
	if (ndrun && drun[ndrun - 1].e == a) {
		drun[ndrun - 1].e = a + PG;
		return;
	}
	if (ndrun == drun_cap) {
		size_t nc = drun_cap ? drun_cap * 2 : 4096;
		struct region *nv = realloc(drun, nc * sizeof(*nv));
		if (!nv) {
			soft_all_dirty = true; /* cannot remember: everything is dirty */
			return;
		}
		drun = nv;
		drun_cap = nc;
	}
	if (ndrun && drun[ndrun - 1].e > a)
		drun_sorted = false;
	drun[ndrun++] = (struct region){ a, a + PG };
}

/* Is a inside the recorded libgc mappings?  (They only ever grow.) */
static __thread uint64_t hit_lo __attribute__((tls_model("initial-exec")));
static __thread uint64_t hit_hi __attribute__((tls_model("initial-exec")));

static bool recorded(uint64_t a)
{
	bool in = false;
	pthread_mutex_lock(&reg_lock);
	size_t lo = 0, hi = nregs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a < regs[mid].s) {
			hi = mid;
		} else if (a >= regs[mid].e) {
			lo = mid + 1;
		} else {
			hit_lo = regs[mid].s;
			hit_hi = regs[mid].e;
			in = true;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return in;
}

/*
 * Interposed GC_end_stubborn_change().  In manual VDB mode libgc calls it
 * itself, through its PLT, on every allocation of an object with pointers
 * (for the thread's free-list head) - an atomic OR into its dirty table per
 * allocation.  Once libooh tracks the heap, such calls are redundant: a
 * write to a recorded mapping is seen by libooh and fed at the next mark
 * start (or the mapping is reported whole after a rebuild or an error), and
 * Boehm never consults dirty bits outside its heap blocks (static roots are
 * scanned whole with manual VDB), e.g. for libgc's own data segment.  Every
 * other call goes to libgc, so a program that calls it itself stays correct.
 */
__attribute__((weak)) void GC_end_stubborn_change(const void *p)
{
	uint64_t a = (uint64_t)(uintptr_t)p;

	if (st.enabled && vdb_soft)
		return; /* Boehm's soft-dirty VDB: GC_end_stubborn_change is a no-op */
	if (absorb && ((a >= gc_data_lo && a < gc_data_hi) || (a >= hit_lo && a < hit_hi) || recorded(a)))
		return;
	boehm_dirty(a); /* never mark_dirty(): any thread, no lock held */
}


static void mark_all_tracked(void)
{
	phase(OOH_GC_PH_FEED);
	for (size_t i = 0; i < trk_nregs; i++)
		st.pages_fed += (trk_regs[i].e - trk_regs[i].s) / PG;
	if (vdb_soft) {
		soft_all_dirty = true;
		return;
	}
	for (size_t i = 0; i < trk_nregs; i++)
		for (uint64_t a = trk_regs[i].s; a < trk_regs[i].e; a += PG)
			mark_dirty(a);
}

/*
 * Hot pages.  Between two collections Boehm's sweeper and allocator (going
 * through the blocks the last collection freed) and the program write
 * many of the same pages again.  Protected again, each costs a write fault
 * (about 1.3 us here) per interval.  Left unprotected (ooh_mark_dirty(),
 * about 0.2 us a page plus 1 us a call), a page is reported at the next
 * collect whether it was written or not, and Boehm then rescans its
 * marked objects: nothing when it has none, up to about 5 us on a page
 * full of them.  Which pages are written again depends on the program and
 * on Boehm's allocation order, so it is measured: at the mark end (world
 * stopped, marks final) each page the mark start fed falls into a class
 * by the share of its objects that are marked (hot_class()); the pages of
 * one fed run in PROBE_EVERY stay protected as probes, and a class is
 * kept while enough of its probe pages are written again in the next
 * interval (class_need: more for the classes dearer to rescan).  Seen on
 * the three workloads, per class, pages written again: GCBench 74-96 %
 * for pages with free objects, 45 % for full ones; alloc 9-36 % below half
 * marked, 73-93 % above; kv 74-97 %, full ones 59 %.  Full pages (every
 * sampled object marked) are never kept: they are written again only by
 * the program's stores and are the dearest to rescan.  The pages kept are
 * unprotected in runs of at least hot_min pages, one call each.
 *
 * While the pages kept are mostly cheap to rescan (classes 0-1), they stay
 * unprotected through the next hot_hold collects (OOH_COLLECT_KEEP_MARKED:
 * no re-protection, no unprotect call, no fault), and are then protected
 * again by a plain re-arm, which drops the ones no longer written; pages
 * of the dearer classes are protected again at every collect.
 *
 * Correctness does not rest on any of this: every page left unprotected is
 * reported at every collect until it is protected again.  Needs a backend
 * on which ooh_mark_dirty() stops watching (OOH_CAP_MARK_UNWATCHES);
 * elsewhere it would only add reports.
 */
static bool hot = true;         /* OOH_GC_HOT=0: never keep */
static unsigned hot_min = 4;    /* OOH_GC_HOT_MIN: shortest run kept (pages) */
static bool can_unwatch;        /* the backend has OOH_CAP_MARK_UNWATCHES */
struct cand {
	uint64_t s, e;          /* pages [s, e) the mark start fed */
	size_t k;               /* of tracker k */
	unsigned cls;           /* a probe's hot_class() */
};
static struct cand *cands;      /* in tracker order, each tracker's ascending */
static size_t ncands, cands_cap;
static bool cands_ok;           /* cands is this collection's, complete */
static struct ooh_range *kept;  /* scratch: one tracker's runs to keep */
static size_t nkept, kept_cap;
#define PROBE_EVERY 8
/* Classes by the share of a page's sampled objects that are marked:
 * none (or free, or pointer-free: nothing to rescan), below 1/4, 1/4-1/2,
 * 1/2-3/4, 3/4 or more; HOT_FULL (all of them) is never kept. */
#define HOT_CLASSES 5
#define HOT_FULL HOT_CLASSES
static bool class_on[HOT_CLASSES] = { true, true, true, true, true };
/* The share of a class's probe pages (in tenths) that must be written
 * again for keeping the class to pay: P x 1.3 us (the fault saved) against
 * 0.2-0.4 us (unprotecting) + (1 - P) x the rescan of a page not written
 * (0 to about 5 us, by the share of marked objects). */
static const unsigned class_need[HOT_CLASSES] = { 4, 6, 7, 8, 9 };
static struct cand *probes;     /* runs left protected to see whether they are written */
static size_t nprobes, probes_cap, probe_at;
static uint64_t probe_pages[HOT_CLASSES], probe_hits[HOT_CLASSES];
/* Runs left unprotected and held so through the next collects
 * (OOH_COLLECT_KEEP_MARKED), in tracker order, each tracker's ascending,
 * until the next plain re-arm, one in hot_hold + 1 collects. */
static struct cand *held;
static size_t nheld, held_cap;
static unsigned hot_hold = 2;   /* OOH_GC_HOT_HOLD */
static unsigned since_refresh;
static bool hold_cheap;         /* the pages kept last are cheap to rescan */

/* Append x to a growable array of n elements (*cap: its room); false
 * without memory. */
static bool grow_push(void **v, size_t *n, size_t *cap, size_t size, const void *x)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4096;
		void *nv = realloc(*v, nc * size);
		if (!nv)
			return false;
		*v = nv;
		*cap = nc;
	}
	memcpy((char *)*v + *n * size, x, size);
	(*n)++;
	return true;
}

/* Note tracker k's reported pages (ascending) as runs, and which of them
 * the probes hold (probes: in the same order, from the last mark end). */
static void hot_note(const uint64_t *pages, uint64_t n, size_t k)
{
	for (uint64_t i = 0; i < n && probe_at < nprobes; i++) {
		struct cand *p = &probes[probe_at];
		while (probe_at < nprobes && (p->k < k || (p->k == k && p->e <= pages[i])))
			p = &probes[++probe_at];
		if (probe_at < nprobes && p->k == k && p->s <= pages[i])
			probe_hits[p->cls]++;
	}
	for (uint64_t i = 0; cands_ok && i < n; i++) {
		struct cand *last = ncands ? &cands[ncands - 1] : NULL;
		if (last && last->k == k && last->e == pages[i]) {
			last->e += PG;
			continue;
		}
		struct cand c = { pages[i], pages[i] + PG, k, 0 };
		if (!grow_push((void **)&cands, &ncands, &cands_cap, sizeof(c), &c))
			cands_ok = false; /* (no memory: keep nothing) */
	}
}

#define BOEHM_PTRFREE_KIND 0 /* PTRFREE in Boehm's gc_priv.h */
#define HOT_SAMPLES 8        /* objects of a page looked at (at most) */

/*
 * The class of the page at a after this collection (see "Hot pages"): 0
 * for a free block, a pointer-free block, a large object that is not
 * marked and a block none of whose objects is marked; else by the share
 * of marked objects among up to 16 of them, spread over the page (Boehm's
 * objects start at the block's first byte and follow each other every
 * size bytes); HOT_FULL for a marked large object or a page whose sampled
 * objects are all marked.  World stopped, allocation lock held.
 */
static unsigned hot_class(uint64_t a)
{
	void *p = (void *)(uintptr_t)a;
	size_t size;
	unsigned n = 0, marked = 0;

	void *base = GC_base(p);
	if (!base)
		return 0; /* a free block, or inside one */
	if (GC_get_kind_and_size(base, &size) == BOEHM_PTRFREE_KIND)
		return 0;
	if (base != p || size > PG / 2)
		return GC_is_marked(base) ? HOT_FULL : 0;
	uint64_t step = size * ((PG / size + HOT_SAMPLES - 1) / HOT_SAMPLES);
	for (uint64_t o = a; o + size <= a + PG; o += step, n++)
		marked += GC_is_marked((void *)(uintptr_t)o) != 0;
	return !marked ? 0 : marked == n ? HOT_FULL : 1 + 4 * marked / n;
}

static int cmp_cand(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;
	return a->k != b->k ? (a->k < b->k ? -1 : 1) : a->s < b->s ? -1 : a->s > b->s;
}

/* held, sorted again and with touching runs of a tracker merged. */
static void held_merge(void)
{
	size_t o = 0;

	qsort(held, nheld, sizeof(*held), cmp_cand);
	for (size_t i = 0; i < nheld; i++) {
		if (o && held[o - 1].k == held[i].k && held[i].s <= held[o - 1].e) {
			if (held[i].e > held[o - 1].e)
				held[o - 1].e = held[i].e;
		} else {
			held[o++] = held[i];
		}
	}
	nheld = o;
}

/* Is tracker k's page a held?  Asked in (k, a) order from *at on, among
 * held[0..n) (sorted). */
static bool is_held(size_t k, uint64_t a, size_t *at, size_t n)
{
	while (*at < n && (held[*at].k < k || (held[*at].k == k && held[*at].e <= a)))
		(*at)++;
	return *at < n && held[*at].k == k && held[*at].s <= a;
}

/* Unprotect tracker k's kept runs (libooh calls the kernel only for the
 * pages it does not hold unprotected yet), and hold them. */
static void keep_runs(size_t k)
{
	if (!nkept)
		return;
	if (ooh_mark_dirty(trks[k], kept, nkept)) {
		st.errors++; /* (they stay protected: nothing lost) */
	} else {
		for (size_t i = 0; i < nkept; i++) {
			struct cand c = { kept[i].start, kept[i].start + kept[i].len, k, 0 };
			st.pages_kept_hot += kept[i].len / PG;
			if (!grow_push((void **)&held, &nheld, &held_cap, sizeof(c), &c))
				since_refresh = hot_hold; /* (not remembered: re-arm next) */
		}
	}
	nkept = 0;
}

/* End tracker k's run of pages to keep at a: kept if long enough. */
static void end_run(uint64_t *run_s, uint64_t a)
{
	if (*run_s && a - *run_s >= hot_min * PG) {
		struct ooh_range r = { *run_s, a - *run_s };
		if (!grow_push((void **)&kept, &nkept, &kept_cap, sizeof(r), &r))
			nkept = 0; /* (no memory: keep fewer) */
	}
	*run_s = 0;
}

/* Page a of tracker k, of class cls, is a probe (consecutive pages of a
 * class make one). */
static void add_probe(uint64_t a, size_t k, unsigned cls)
{
	struct cand *last = nprobes ? &probes[nprobes - 1] : NULL;

	if (last && last->k == k && last->cls == cls && last->e == a) {
		last->e += PG;
	} else {
		struct cand c = { a, a + PG, k, cls };
		if (!grow_push((void **)&probes, &nprobes, &probes_cap, sizeof(c), &c))
			return;
	}
	probe_pages[cls]++;
}

/* After a collect: which classes' probe pages were written?  Then new
 * probes. */
static void probes_judge(bool complete)
{
	st.hot_on = 0;
	for (unsigned c = 0; c < HOT_CLASSES; c++) {
		if (complete && probe_pages[c] >= 32) {
			class_on[c] = probe_hits[c] * 10 >= probe_pages[c] * class_need[c];
			if (debug)
				fprintf(stderr, "ooh-gc: class %u: %llu of %llu probe pages written: keep %d\n",
					c, (unsigned long long)probe_hits[c],
					(unsigned long long)probe_pages[c], class_on[c]);
		}
		st.hot_on |= class_on[c];
		probe_pages[c] = probe_hits[c] = 0;
	}
	nprobes = probe_at = 0;
}

/* GC_EVENT_MARK_END: leave the fed pages of the classes that pay
 * unprotected; the pages of one fed run in PROBE_EVERY stay protected as
 * probes.  Pages held already are kept without a look (they cannot be
 * probes: they are reported whether written or not). */
static void hot_keep(void)
{
	bool ok = cands_ok && hot && can_unwatch && owner_pid == getpid();

	cands_ok = false;
	if (!ok || !ncands)
		return;
	phase(OOH_GC_PH_KEEP);
	size_t k = cands[0].k, h = 0, nheld0 = nheld;
	uint64_t npages[2] = { 0, 0 }; /* pages of classes 0-1, 2-4 to keep */
	nkept = 0;
	for (size_t c = 0; c < ncands; c++) {
		if (cands[c].k != k) {
			keep_runs(k);
			k = cands[c].k;
		}
		bool probe = c % PROBE_EVERY == PROBE_EVERY - 1;
		uint64_t run_s = 0;
		if (!probe && !st.hot_on)
			continue; /* (no class pays: only the probes are looked at) */
		for (uint64_t a = cands[c].s; a < cands[c].e; a += PG) {
			if (is_held(k, a, &h, nheld0)) {
				if (!run_s)
					run_s = a; /* (reported anyway: never a probe) */
				continue;
			}
			unsigned cls = hot_class(a);
			if (cls < HOT_CLASSES && probe)
				add_probe(a, k, cls);
			if (cls >= HOT_CLASSES || probe || !class_on[cls]) {
				end_run(&run_s, a);
				continue;
			}
			if (!run_s)
				run_s = a;
			npages[cls > 1]++;
		}
		end_run(&run_s, cands[c].e);
	}
	keep_runs(k);
	if (nheld != nheld0)
		held_merge();
	hold_cheap = npages[1] * 4 < npages[0] + npages[1];
	if (debug) {
		uint64_t np = 0;
		for (size_t c = 0; c < ncands; c++)
			np += (cands[c].e - cands[c].s) / PG;
		fprintf(stderr, "ooh-gc: mark end: %zu runs, %llu pages fed; kept in all %llu\n", ncands,
			(unsigned long long)np, (unsigned long long)st.pages_kept_hot);
	}
	ncands = 0;
	phase(-1);
}

/* Collect the current interval of every tracker and feed it; false on failure. */
static bool collect_and_feed(void)
{
	struct ooh_collect_result res;
	bool overflow = false;
	int err = 0;

	/* The held pages stay unprotected through this collect, unless it is
	 * time to watch them again (a page held is reported whether written or
	 * not: this drops the ones that are not any more). */
	bool hold = nheld && hold_cheap && since_refresh < hot_hold;
	unsigned flags = OOH_COLLECT_REARM | (hold ? OOH_COLLECT_KEEP_MARKED : 0);

	since_refresh = hold ? since_refresh + 1 : 0;
	if (!hold)
		nheld = 0;
	ncands = 0;
	cands_ok = true;
	/* The world is stopped: every tracker's interval can end at the first
	 * one's collect (on the hypervisor backends, one harvest for all). */
	for (size_t k = 0; k < ntrk && !err; k++) {
		unsigned kflags = flags | (k ? OOH_COLLECT_JOINED : 0);
		do {
			phase(OOH_GC_PH_COLLECT);
			err = ooh_collect(trks[k], pagebuf, PAGE_BUF, kflags, &res);
			if (err)
				break;
			if (res.flags & OOH_RESULT_OVERFLOW)
				overflow = true;
			phase(OOH_GC_PH_FEED);
			if (!drop)
				for (uint64_t i = 0; i < res.count; i++)
					mark_dirty(pagebuf[i]);
			st.pages_fed += res.count;
			hot_note(pagebuf, res.count, k);
		} while (res.flags & OOH_RESULT_MORE);
	}
	cands_ok = cands_ok && !err && !overflow;
	probes_judge(cands_ok);
	if (err) {
		st.errors++;
		if (debug)
			fprintf(stderr, "ooh-gc: collect: %s\n", ooh_strerror(err));
		return false;
	}
	if (overflow) {
		st.overflows++;
		mark_all_tracked();
	}
	return true;
}

static struct ooh_range *trk_ranges[MAX_TRK]; /* what each tracker covers (sorted) */

static void close_all(void)
{
	cands_ok = false; /* (they name trackers by index) */
	ncands = 0;
	nheld = 0;
	probes_judge(false);
	for (size_t k = 0; k < ntrk; k++) {
		ooh_close(trks[k]);
		free(trk_ranges[k]);
		trk_ranges[k] = NULL;
	}
	ntrk = 0;
}

/* Nothing tracked any more: the next feed classifies and reports anew. */
static void untrack_all(void)
{
	close_all();
	trk_nregs = 0;
	classified = false;
}

/* Open one more tracker over r[0..n); 0 or -errno. */
static int open_tracker(const struct region *r, size_t n)
{
	struct ooh_range *ranges;
	int err;

	if (ntrk == MAX_TRK)
		return -ENOSPC;
	if (!n)
		return -ENOENT;
	ranges = calloc(n, sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ranges[i].start = r[i].s;
		ranges[i].len = r[i].e - r[i].s;
	}
	struct ooh_open_opts o = {
		.size = sizeof(o), .backend = want_backend, .flags = OOH_OPEN_START,
		.ranges = ranges, .nr_ranges = n,
	};
	err = ooh_open(&o, &trks[ntrk]);
	if (err) {
		free(ranges);
		return err;
	}
	trk_ranges[ntrk] = ranges;
	st.backend = ooh_tracker_backend(trks[ntrk]);
	can_unwatch = ooh_tracker_caps(trks[ntrk]) > 0 &&
		      (ooh_tracker_caps(trks[ntrk]) & OOH_CAP_MARK_UNWATCHES);
	ntrk++;
	return 0;
}

/*
 * Add [s, e) to the sorted, disjoint runs r[0..*n) (cap entries), merging
 * touching runs; when full, the smallest gap is bridged (tracking a few of
 * libgc's own pages as well costs a little time, never correctness).
 */
static void runs_add(struct region *r, size_t *n, size_t cap, uint64_t s, uint64_t e)
{
	if (*n && r[*n - 1].e == s) {
		r[*n - 1].e = e; /* (callers add in ascending order) */
		return;
	}
	if (*n == cap) {
		size_t best = 0;
		for (size_t k = 1; k + 1 < *n; k++)
			if (r[k + 1].s - r[k].e < r[best + 1].s - r[best].e)
				best = k;
		r[best].e = r[best + 1].e;
		memmove(&r[best + 1], &r[best + 2], (*n - best - 2) * sizeof(*r));
		(*n)--;
	}
	r[(*n)++] = (struct region){ s, e };
}

/* trk_regs |= add[0..n) (both sorted). */
static struct region merged[2 * MAX_REGIONS];
static void track_add(const struct region *add, size_t n)
{
	size_t i = 0, j = 0, m = 0;

	while (i < trk_nregs || j < n) {
		struct region x = j == n || (i < trk_nregs && trk_regs[i].s < add[j].s) ? trk_regs[i++] : add[j++];
		if (m && merged[m - 1].e >= x.s) {
			if (x.e > merged[m - 1].e)
				merged[m - 1].e = x.e;
		} else {
			merged[m++] = x;
		}
	}
	trk_nregs = 0;
	for (size_t k = 0; k < m; k++)
		runs_add(trk_regs, &trk_nregs, MAX_REGIONS, merged[k].s, merged[k].e);
}

/*
 * Which recorded pages are Boehm's heap?  Every heap block has a header
 * (GC_is_heap_ptr) except the inner blocks of a free block, whose first
 * block has one that says that it is free (GC_base is NULL) and how long
 * it is (GC_size); the inner blocks of a large object have one (a
 * forwarding entry).  libgc's own memory (block headers, mark stacks) has
 * none.  What correctness rests on: Boehm asks for dirty bits of blocks
 * with a header only; every page found with one is tracked (and reported
 * dirty once) at the feed that finds it, before GC_read_dirty(); and every
 * feed looks at all untracked pages, for a new header, either while
 * classifying after a growth or in heap_untracked().  Recognising the
 * inner blocks of free blocks only saves the trackers opened, one at a
 * time, as Boehm puts headers there.
 */

/* A page's heap block: is it one, and where does it end (a free block or
 * a large object starting at a: past a; else a + PG)? */
static bool heap_block(uint64_t a, uint64_t *end)
{
	void *p = (void *)(uintptr_t)a;

	*end = a + PG;
	if (!GC_is_heap_ptr(p))
		return false;
	void *base = GC_base(p);
	if (!base || base == p) {
		uint64_t e = a + ((GC_size(p) + PG - 1) & ~(PG - 1));
		if (e > *end)
			*end = e;
	}
	return true;
}

/* The end of the free block that page a (without a header) lies in, found
 * from the block's first page at or after lo; a if none. */
static uint64_t free_block_end(uint64_t a, uint64_t lo)
{
	for (uint64_t b = a; b > lo;) {
		uint64_t end;
		b -= PG;
		if (heap_block(b, &end))
			return end > a ? end : a;
	}
	return a;
}

/* The recorded runs as the last classification saw them: a page found to
 * be heap that was in them already got its header since. */
static struct region seen[MAX_REGIONS];
static size_t nseen;

static bool seen_before(uint64_t a)
{
	size_t i = first_after(seen, nseen, a);
	return i < nseen && seen[i].s <= a;
}

/* OOH_GC_TEST_MISS=1 (tests only): the inner blocks of free blocks are
 * not taken for heap, as if free_block_end() had failed: they are found
 * once Boehm puts a header there, at the next feed. */
static bool test_miss;

/* The heap pages of [a, e) (not tracked, inside the recorded run starting
 * at lo) appended to new_regs as runs. */
static struct region new_regs[MAX_REGIONS];
static size_t nnew;
static void add_heap_pages(uint64_t a, uint64_t e, uint64_t lo)
{
	uint64_t heap_to = !heap_only ? e : test_miss ? a : free_block_end(a, lo);

	while (a < e) {
		uint64_t end = a + PG;
		if (a < heap_to || heap_block(a, &end)) {
			if (test_miss)
				end = a + PG; /* (as if free blocks were not seen) */
			if (end > heap_to)
				heap_to = end;
			uint64_t stop = heap_to < e ? heap_to : e;
			runs_add(new_regs, &nnew, MAX_REGIONS, a, stop);
			if (seen_before(a))
				st.heap_found_late++;
			a = stop;
		} else {
			a += PG;
		}
	}
}

/*
 * Call fn(a, e, lo) on every stretch [a, e) of recorded pages not tracked
 * (lo: where its recorded run starts); stop when it returns true.
 */
static bool each_untracked(bool (*fn)(uint64_t, uint64_t, uint64_t))
{
	bool stop = false;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nregs && !stop; i++) {
		uint64_t a = regs[i].s;
		size_t t = first_after(trk_regs, trk_nregs, a);
		while (a < regs[i].e && !stop) {
			if (t < trk_nregs && trk_regs[t].s <= a) {
				a = trk_regs[t++].e; /* tracked already */
				continue;
			}
			uint64_t e = t < trk_nregs && trk_regs[t].s < regs[i].e ? trk_regs[t].s : regs[i].e;
			stop = fn(a, e, regs[i].s);
			a = e;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return stop;
}

static bool collect_heap_pages(uint64_t a, uint64_t e, uint64_t lo)
{
	add_heap_pages(a, e, lo);
	return false;
}

static bool has_header(uint64_t a, uint64_t e, uint64_t lo)
{
	(void)lo;
	for (; a < e; a += PG)
		if (GC_is_heap_ptr((void *)(uintptr_t)a))
			return true;
	return false;
}

/* Does a recorded page that is not tracked have a heap block header? */
static bool heap_untracked(void)
{
	return heap_only && trk_nregs && each_untracked(has_header);
}

/* Boehm's heap size, whether mapped or returned to the OS: it grows when
 * (and only when) memory is added to the heap. */
static size_t boehm_heap_bytes(void)
{
	return GC_get_heap_size() + GC_get_unmapped_bytes();
}

/*
 * World stopped, allocation lock held.  When libgc mapped more memory or
 * Boehm's heap grew, look for heap pages not tracked yet; else only check
 * that no page libgc mapped and that is not tracked has a heap block
 * header (heap_untracked(): what correctness rests on; it never found one
 * in the tests).  Nothing is known about pages tracked anew: they are
 * reported dirty once, and a new tracker is opened over just them (the
 * others keep their state: no fresh write fault on every heap page after
 * each heap growth).  With MAX_TRK trackers (or when opening one more
 * fails: softdirty allows one per process) every tracker is replaced by one
 * over the whole tracked set, right after its collect, so that no write is
 * lost.
 */
static void classify(void)
{
	pthread_mutex_lock(&reg_lock);
	uint64_t gen = reg_gen;
	pthread_mutex_unlock(&reg_lock);
	bool grew = !classified || gen != cls_gen || boehm_heap_bytes() != cls_heap;

	phase(OOH_GC_PH_GROW);
	if (!grew) {
		if (!heap_untracked())
			return;
		st.untracked_heap++; /* (tracked now; a guide gone wrong, never a miss) */
	}
	cls_heap = boehm_heap_bytes();
	cls_gen = gen;
	nnew = 0;
	if (!classified)
		nseen = 0;
	classified = true;
	each_untracked(collect_heap_pages);
	pthread_mutex_lock(&reg_lock);
	memcpy(seen, regs, nregs * sizeof(regs[0]));
	nseen = nregs;
	pthread_mutex_unlock(&reg_lock);
	if (!nnew)
		return;
	track_add(new_regs, nnew);
	st.rebuilds++;
	phase(OOH_GC_PH_FEED);
	for (size_t i = 0; i < nnew; i++)
		for (uint64_t a = new_regs[i].s; a < new_regs[i].e; a += PG) {
			mark_dirty(a);
			st.pages_fed++;
		}
	phase(OOH_GC_PH_GROW);
	if (open_tracker(new_regs, nnew) == 0)
		return;
	close_all(); /* (every tracker was collected just now) */
	int err = open_tracker(trk_regs, trk_nregs);
	if (err) {
		st.errors++;
		if (debug)
			fprintf(stderr, "ooh-gc: open: %s\n", ooh_strerror(err));
		untrack_all(); /* the next feed reports everything again */
	}
}

/* World stopped, allocation lock held, GC_read_dirty() comes next. */
static void feed(void)
{
	uint64_t t0 = now_ns();
	uint64_t before = st.pages_fed;

	if (owner_pid != getpid()) {
		/* A fork child: the inherited trackers watch the parent's memory
		 * (and closing them would disturb the parent): forget them, and
		 * start over, which reports every page once. */
		owner_pid = getpid();
		for (size_t k = 0; k < ntrk; k++) {
			free(trk_ranges[k]);
			trk_ranges[k] = NULL;
		}
		ntrk = 0;
		trk_nregs = 0;
		classified = false;
		ncands = 0;
		nheld = 0;
		cands_ok = false;
		probes_judge(false);
	}
	if (ntrk && !collect_and_feed()) {
		mark_all_tracked();
		untrack_all(); /* start afresh: classify() reports everything */
	}
	classify();
	phase(-1);
	st.feeds++;
	st.feed_ns += now_ns() - t0;
	st.tracked_bytes = 0;
	for (size_t i = 0; i < trk_nregs; i++)
		st.tracked_bytes += trk_regs[i].e - trk_regs[i].s;
	uint64_t recorded_bytes = 0;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nregs; i++)
		recorded_bytes += regs[i].e - regs[i].s;
	pthread_mutex_unlock(&reg_lock);
	/* (tracked runs may bridge gaps: see runs_add) */
	st.untracked_bytes = recorded_bytes > st.tracked_bytes ? recorded_bytes - st.tracked_bytes : 0;
	if (debug)
		fprintf(stderr, "ooh-gc: feed %llu: %llu pages, %zu runs (%llu KiB), %zu trackers, %.3f ms\n",
			(unsigned long long)st.feeds, (unsigned long long)(st.pages_fed - before), trk_nregs,
			(unsigned long long)st.tracked_bytes / 1024, ntrk, (now_ns() - t0) / 1e6);
}

/*
 * ---- soft-dirty mode (OOH_GC_VDB=soft) ----
 * Boehm 8.2's SOFT_VDB reads its dirty bits from /proc/PID/pagemap (bit 55)
 * in GC_read_dirty() and then clears them by writing "4" to
 * /proc/PID/clear_refs.  This kernel has no soft-dirty bit (Boehm then falls
 * back to mprotect), so we answer for it: the pagemap and clear_refs files
 * libgc opens are noted, and in what libgc reads from that pagemap, bit 55
 * is set exactly for the pages libooh reports written since the previous
 * GC_read_dirty (collected, and re-armed, at its first read), for the pages
 * libooh does not track (static roots, anything not learnt: always dirty),
 * and for everything when libooh lost precision; libgc's clear_refs write
 * is swallowed (it would clear and write-protect the whole address space).
 * Compared with manual VDB, Boehm keeps its allocation fast path: with
 * manual VDB, Boehm 8.2 refills thread-local free lists one object at a
 * time and marks a dirty bit on every allocation.
 */
static int pm_fd = -1, cr_fd = -1;   /* libgc's pagemap and clear_refs */
static volatile int capture;          /* note libgc's opens of those */
static bool soft_need_collect = true; /* next pagemap read starts an interval */

#define PM_SOFT_DIRTY (1ull << 55)

static int cmp_region(const void *x, const void *y)
{
	const struct region *a = x, *b = y;
	return a->s < b->s ? -1 : a->s > b->s;
}

static void soft_collect(void)
{
	ndrun = 0;
	drun_sorted = true;
	soft_all_dirty = false;
	feed();
	if (!drun_sorted) {
		qsort(drun, ndrun, sizeof(*drun), cmp_region);
		size_t o = 0;
		for (size_t i = 0; i < ndrun; i++) {
			if (o && drun[i].s <= drun[o - 1].e) {
				if (drun[i].e > drun[o - 1].e)
					drun[o - 1].e = drun[i].e;
			} else {
				drun[o++] = drun[i];
			}
		}
		ndrun = o;
		drun_sorted = true;
	}
	soft_need_collect = false;
}

/*
 * The pagemap entries libgc asks for at file offset pos: all libgc looks at
 * is bit 55, so they are made up (no page-table walk in the kernel): bit 55
 * set for a dirty page, everything else 0.
 */
static void soft_answer(uint64_t pos, uint64_t *e, size_t n)
{
	if (st.enabled && soft_need_collect)
		soft_collect();
	uint64_t a = pos / 8 * PG;
	bool all = !st.enabled || soft_all_dirty;
	size_t t = first_after(trk_regs, trk_nregs, a), d = first_after(drun, ndrun, a);
	for (size_t i = 0; i < n; i++, a += PG) {
		while (t < trk_nregs && trk_regs[t].e <= a)
			t++;
		while (d < ndrun && drun[d].e <= a)
			d++;
		bool tracked = t < trk_nregs && trk_regs[t].s <= a;
		bool written = d < ndrun && drun[d].s <= a;
		e[i] = all || !tracked || (!drop && written) ? PM_SOFT_DIRTY : 0;
	}
}

static int note_open(const char *path, int fd, uintptr_t ra)
{
	if (fd < 0 || !capture || ra < gc_text_lo || ra >= gc_text_hi || strncmp(path, "/proc/", 6))
		return fd;
	const char *slash = strrchr(path, '/');
	if (!strcmp(slash, "/pagemap"))
		pm_fd = fd;
	else if (!strcmp(slash, "/clear_refs"))
		cr_fd = fd;
	return fd;
}

/* The real functions, resolved before main (see real_init) and lazily. */
static int (*real_open)(const char *, int, ...);
static int (*real_open_2)(const char *, int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_close)(int);

__attribute__((constructor)) static void real_init(void)
{
	real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	real_open_2 = (int (*)(const char *, int))dlsym(RTLD_NEXT, "__open_2");
	real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
}

/* The interposed calls: one comparison for everybody else. */
int open(const char *path, int flags, ...)
{
#define real real_open
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (!real)
		real_init();
	return note_open(path, real(path, flags, mode), (uintptr_t)__builtin_return_address(0));
#undef real
}

int __open_2(const char *path, int flags)
{
	if (!real_open_2)
		real_init();
	return note_open(path, real_open_2(path, flags), (uintptr_t)__builtin_return_address(0));
}

ssize_t read(int fd, void *buf, size_t n)
{
#define real real_read
	if (!real)
		real_init();
	if (fd < 0 || fd != pm_fd)
		return real(fd, buf, n);
	/* Answered without reading: the kernel would walk the page tables. */
	off_t pos = lseek(fd, 0, SEEK_CUR);
	const uint64_t user_end = 1ull << 47; /* x86-64 user address space */
	if (pos < 0 || pos % 8 || (uint64_t)pos / 8 * PG >= user_end)
		return pos < 0 ? -1 : 0;
	size_t cnt = n / 8;
	if (cnt > (user_end - (uint64_t)pos / 8 * PG) / PG)
		cnt = (size_t)((user_end - (uint64_t)pos / 8 * PG) / PG);
	soft_answer((uint64_t)pos, buf, cnt);
	if (lseek(fd, pos + (off_t)(cnt * 8), SEEK_SET) < 0)
		return -1;
	return (ssize_t)(cnt * 8);
#undef real
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (fd >= 0 && fd == cr_fd) {
		soft_need_collect = true; /* libgc's "clear the soft-dirty bits" */
		return (ssize_t)n;
	}
	if (!real_write)
		real_init();
	return real_write(fd, buf, n);
}

int close(int fd)
{
	if (fd >= 0 && fd == pm_fd)
		pm_fd = -1;
	if (fd >= 0 && fd == cr_fd)
		cr_fd = -1;
	if (!real_close)
		real_init();
	return real_close(fd);
}

static void on_event(GC_EventType e)
{
	if (e == GC_EVENT_PRE_STOP_WORLD)
		window_open();
	if (e == GC_EVENT_MARK_START && !vdb_soft)
		feed();
	if (e == GC_EVENT_MARK_END)
		hot_keep();
	if (e == GC_EVENT_POST_START_WORLD)
		window_close();
	if (prev_event)
		prev_event(e);
}

int ooh_gc_enable(void)
{
	const char *b = getenv("OOH_GC_BACKEND");
	struct ooh_backend_info info;
	Dl_info dli;

	if (st.enabled)
		return 0;
	debug = getenv("OOH_GC_DEBUG") && atoi(getenv("OOH_GC_DEBUG"));
	drop = getenv("OOH_GC_TEST_DROP") && atoi(getenv("OOH_GC_TEST_DROP"));
	if (b && *b) {
		int v = ooh_backend_from_name(b);
		if (v < 0)
			return v;
		want_backend = (enum ooh_backend)v;
	}
	const char *vdb = getenv("OOH_GC_VDB");
	if (vdb && *vdb && strcmp(vdb, "soft") && strcmp(vdb, "manual"))
		return -EINVAL;
	vdb_soft = !(vdb && !strcmp(vdb, "manual"));
	if (GC_is_init_called())
		return -EBUSY; /* its heap was mapped before we could see it */
	if (want_backend != OOH_BACKEND_AUTO) {
		ooh_probe(want_backend, &info);
		if (info.status)
			return info.status;
	} else {
		/* Needs: ranges of the calling process. */
		int ok = 0;
		for (int k = 1; k <= OOH_BACKEND_MAX && !ok; k++)
			ok = ooh_probe((enum ooh_backend)k, &info) == 0 && info.status == 0 &&
			     (info.caps & OOH_CAP_SELF);
		if (!ok)
			return -EOPNOTSUPP;
	}
	/* Where is libgc's code?  (Its mmap calls come from there.) */
	if (!dladdr((void *)(uintptr_t)GC_malloc, &dli) ||
	    !dl_iterate_phdr(find_gc_text, (void *)(uintptr_t)GC_malloc))
		return -ENOENT;
	(void)dli;
	heap_only = !(getenv("OOH_GC_HEAP_ONLY") && !strcmp(getenv("OOH_GC_HEAP_ONLY"), "0"));
	test_miss = getenv("OOH_GC_TEST_MISS") && atoi(getenv("OOH_GC_TEST_MISS"));
	hot = !(getenv("OOH_GC_HOT") && !strcmp(getenv("OOH_GC_HOT"), "0"));
	if (getenv("OOH_GC_HOT_MIN") && *getenv("OOH_GC_HOT_MIN"))
		hot_min = (unsigned)atoi(getenv("OOH_GC_HOT_MIN"));
	if (getenv("OOH_GC_HOT_HOLD") && *getenv("OOH_GC_HOT_HOLD"))
		hot_hold = (unsigned)atoi(getenv("OOH_GC_HOT_HOLD"));

	pagebuf = malloc(PAGE_BUF * sizeof(*pagebuf));
	if (!pagebuf)
		return -ENOMEM;
	owner_pid = getpid();
	recording = 1;
	capture = vdb_soft;
	GC_set_manual_vdb_allowed(!vdb_soft);
	prev_event = GC_get_on_collection_event();
	GC_set_on_collection_event(on_event);
	GC_enable_incremental();
	if (!GC_is_incremental_mode() || (!vdb_soft && !GC_get_manual_vdb_allowed()) ||
	    (vdb_soft && (pm_fd < 0 || cr_fd < 0))) {
		/* (soft: libgc did not take its soft-dirty path, e.g. built without
		 * SOFT_VDB or GC_USE_GETWRITEWATCH=0; it runs its own VDB now) */
		capture = 0;
		GC_set_on_collection_event(prev_event);
		return -EOPNOTSUPP;
	}
	real_dirty = (void (*)(const void *))dlsym(RTLD_NEXT, "GC_end_stubborn_change");
	if (!real_dirty)
		real_dirty = (void (*)(const void *))dlsym(RTLD_DEFAULT, "GC_end_stubborn_change");
	st.enabled = 1;
	st.soft_vdb = vdb_soft;
	absorb = !vdb_soft && !getenv("OOH_GC_NO_ABSORB") && real_dirty &&
		 real_dirty != GC_end_stubborn_change;
	if (debug)
		fprintf(stderr, "ooh-gc: enabled, %s VDB (libgc text %#lx-%#lx)\n",
			vdb_soft ? "soft-dirty" : "manual", (unsigned long)gc_text_lo,
			(unsigned long)gc_text_hi);
	return 0;
}

void ooh_gc_get_stats(struct ooh_gc_stats *out)
{
	*out = st;
}

#ifdef OOH_GC_SHARED
__attribute__((constructor)) static void ooh_gc_ctor(void)
{
	const char *e = getenv("OOH_GC");
	int err;

	if (e && (!strcmp(e, "0") || !strcmp(e, "off")))
		return;
	err = ooh_gc_enable();
	if (err && (getenv("OOH_GC_DEBUG") || (e && !strcmp(e, "1"))))
		fprintf(stderr, "ooh-gc: not enabled: %s\n", ooh_strerror(err));
}
#endif
