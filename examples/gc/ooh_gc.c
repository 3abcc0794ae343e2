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
 *    false), so only the heap needs dirty bits.
 *  - At each MARK_START we take libooh's set of pages written since the
 *    previous MARK_START (ooh_collect with OOH_COLLECT_REARM: a racing write
 *    lands in this interval or the next, never nowhere) and hand every one
 *    to GC_end_stubborn_change(), which in manual VDB mode is GC_dirty().
 *  - The heap is learnt by interposing mmap(): anonymous writable mappings
 *    made by code inside libgc are recorded.  When that set grows, the
 *    tracker is re-opened over the new set and every recorded page is
 *    reported dirty once (what happened there before is unknown).
 *  - Whenever libooh loses precision (OOH_RESULT_OVERFLOW) or fails, every
 *    recorded page is reported dirty.  False positives cost time, never
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
static int vdb_soft;                     /* OOH_GC_VDB: 0 manual VDB (default), 1 soft-dirty */
static volatile int recording;

/* Tracker state: touched only with the GC allocation lock held. */
#define MAX_TRK 16
static ooh_tracker *trks[MAX_TRK]; /* disjoint ranges; together: trk_regs */
static size_t ntrk;
static uint64_t trk_gen;
static struct region trk_regs[MAX_REGIONS];
static size_t trk_nregs;
static uint64_t *pagebuf;
static struct ooh_range *runbuf;
static unsigned hot_period = 8; /* OOH_GC_HOT: re-protect all every Nth feed; 0 = never keep */
static unsigned hot_pct = 30;  /* OOH_GC_HOT_PCT: keep when this share is written again */
static unsigned gap_pages = 32;  /* OOH_GC_GAP: marked pages bridged between unprotected runs */
static bool keep_hot;           /* this feed keeps the reported pages unprotected */
static bool hot_on = true;      /* pages do stay hot here (see hot_decide) */
static bool last_kept;          /* the previous feed kept pages unprotected */
static uint64_t *cur_set, *prev_set; /* pages reported by this / the previous feed */
static size_t ncur, nprev, set_cap;
static bool set_lost;           /* cur_set incomplete (no memory) */
static bool guided = true;      /* OOH_GC_GUIDED: protect only pages holding marked objects */
static bool can_unwatch;        /* the backend has OOH_CAP_MARK_UNWATCHES (else guiding saves nothing) */
static bool guiding;            /* guided and can_unwatch: this collection is guided */
static GC_on_collection_event_proc prev_event;
static int debug, drop;
static pid_t owner_pid;
static enum ooh_backend want_backend = OOH_BACKEND_AUTO;
static struct ooh_gc_stats st = { .backend = -1 };

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
		"collect", "feed", "grow", "rearm", "marks", "unwatch",
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

static void mark_all_recorded(void)
{
	phase(OOH_GC_PH_FEED);
	if (vdb_soft) {
		soft_all_dirty = true;
		for (size_t i = 0; i < trk_nregs; i++)
			st.pages_fed += (trk_regs[i].e - trk_regs[i].s) / PG;
		return;
	}
	for (size_t i = 0; i < trk_nregs; i++)
		for (uint64_t a = trk_regs[i].s; a < trk_regs[i].e; a += PG)
			mark_dirty(a);
	for (size_t i = 0; i < trk_nregs; i++)
		st.pages_fed += (trk_regs[i].e - trk_regs[i].s) / PG;
}

/*
 * Hot pages.  Between two collections the mutator (and Boehm's allocator,
 * sweeping and refilling free lists) writes nearly the same pages again:
 * on GCBench 97-99 % of the pages dirty in one interval are dirty in the
 * next.  Re-protecting them costs one write fault each per interval for a
 * page that is reported dirty anyway.  So the pages just reported stay
 * unprotected (ooh_mark_dirty: libooh reports them at every collect,
 * written or not, and leaves them alone while we collect with
 * OOH_COLLECT_KEEP_MARKED) except at every hot_period-th feed, where
 * everything is re-protected so that pages that cooled down drop out.  A page kept
 * unprotected that was not written is a false positive (Boehm rescans its
 * marked objects once more), never a miss.
 */
static void keep_watching_off(ooh_tracker *t, const uint64_t *pages, uint64_t n)
{
	size_t nr = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (nr && runbuf[nr - 1].start + runbuf[nr - 1].len == pages[i]) {
			runbuf[nr - 1].len += PG;
			continue;
		}
		runbuf[nr].start = pages[i];
		runbuf[nr].len = PG;
		nr++;
	}
	int err = ooh_mark_dirty(t, runbuf, nr);
	if (err) {
		st.errors++; /* the pages stay watched (or reported): nothing lost */
		if (debug)
			fprintf(stderr, "ooh-gc: mark dirty: %s\n", ooh_strerror(err));
	} else {
		st.pages_kept_hot += n;
	}
}

/* Collect the current interval of every tracker and feed it; false on failure. */
static bool collect_and_feed(void)
{
	struct ooh_collect_result res;
	bool overflow = false;
	int err = 0;

	phase(OOH_GC_PH_COLLECT);
	for (size_t k = 0; k < ntrk && !err; k++) {
		do {
			/* (guided: re-armed at the mark end) */
			err = ooh_collect(trks[k], pagebuf, PAGE_BUF,
					  guiding ? 0 : OOH_COLLECT_REARM | (keep_hot ? OOH_COLLECT_KEEP_MARKED : 0),
					  &res);
			if (err)
				break;
			if (res.flags & OOH_RESULT_OVERFLOW)
				overflow = true;
			phase(OOH_GC_PH_FEED);
			if (!drop)
				for (uint64_t i = 0; i < res.count; i++)
					mark_dirty(pagebuf[i]);
			st.pages_fed += res.count;
			phase(OOH_GC_PH_COLLECT);
			if ((hot_period || guiding) && !set_lost) {
				if (ncur + res.count > set_cap) {
					size_t nc = set_cap ? set_cap : 65536;
					while (nc < ncur + res.count)
						nc *= 2;
					uint64_t *a = realloc(cur_set, nc * 8), *b = realloc(prev_set, nc * 8);
					if (a)
						cur_set = a;
					if (b)
						prev_set = b;
					if (a && b)
						set_cap = nc;
					else
						set_lost = true;
				}
				if (!set_lost) {
					memcpy(cur_set + ncur, pagebuf, res.count * 8);
					ncur += res.count;
				}
			}
			if (keep_hot && !overflow)
				keep_watching_off(trks[k], pagebuf, res.count);
		} while (res.flags & OOH_RESULT_MORE);
	}
	if (err) {
		st.errors++;
		if (debug)
			fprintf(stderr, "ooh-gc: collect: %s\n", ooh_strerror(err));
		return false;
	}
	if (overflow) {
		st.overflows++;
		mark_all_recorded();
	}
	return true;
}

static struct ooh_range *trk_ranges[MAX_TRK]; /* what each tracker covers (sorted) */
static size_t trk_nranges[MAX_TRK];

static void close_all(void)
{
	for (size_t k = 0; k < ntrk; k++) {
		ooh_close(trks[k]);
		free(trk_ranges[k]);
		trk_ranges[k] = NULL;
	}
	ntrk = 0;
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
	trk_nranges[ntrk] = n;
	can_unwatch = ooh_tracker_caps(trks[ntrk]) > 0 &&
		      (ooh_tracker_caps(trks[ntrk]) & OOH_CAP_MARK_UNWATCHES);
	st.backend = ooh_tracker_backend(trks[ntrk]);
	ntrk++;
	return 0;
}

static struct region new_regs[MAX_REGIONS];

/*
 * The recorded set grew (or nothing is tracked).  World stopped, so nothing
 * is written until the trackers run again.  Pages not tracked until now:
 * nothing is known about them, so they are reported dirty once, and a new
 * tracker is opened over just them (the others keep their state: no fresh
 * write fault on every heap page after each heap growth).  At most
 * MAX_TRK trackers; with full (or when adding one fails) every tracker is
 * replaced by one over the whole recorded set.
 */
static void rebuild(bool full)
{
	size_t nnew = 0;
	int err;

	if (ntrk && !collect_and_feed()) {
		mark_all_recorded();
		full = true;
	}
	phase(OOH_GC_PH_GROW);
	pthread_mutex_lock(&reg_lock);
	/* new_regs = regs - trk_regs (regs only grow: trk_regs is inside regs) */
	for (size_t i = 0; i < nregs; i++) {
		uint64_t a = regs[i].s;
		while (a < regs[i].e) {
			size_t lo = first_after(trk_regs, trk_nregs, a);
			if (lo < trk_nregs && trk_regs[lo].s <= a) {
				a = trk_regs[lo].e; /* tracked already */
				continue;
			}
			uint64_t e = lo < trk_nregs && trk_regs[lo].s < regs[i].e ? trk_regs[lo].s : regs[i].e;
			if (nnew == MAX_REGIONS)
				full = true;
			else
				new_regs[nnew++] = (struct region){ a, e };
			a = e;
		}
	}
	memcpy(trk_regs, regs, nregs * sizeof(regs[0]));
	trk_nregs = nregs;
	trk_gen = reg_gen;
	pthread_mutex_unlock(&reg_lock);
	st.rebuilds++;

	phase(OOH_GC_PH_FEED);
	for (size_t i = 0; i < nnew; i++)
		for (uint64_t a = new_regs[i].s; a < new_regs[i].e; a += PG) {
			mark_dirty(a);
			st.pages_fed++;
		}
	phase(OOH_GC_PH_GROW);
	if (!full && ntrk && ntrk < MAX_TRK) {
		err = nnew ? open_tracker(new_regs, nnew) : 0;
		if (!err)
			goto done;
		/* (e.g. softdirty allows one tracker per process) */
	}
	close_all();
	err = open_tracker(trk_regs, trk_nregs);
	if (err) {
		close_all();
		st.errors++;
		if (debug && trk_nregs)
			fprintf(stderr, "ooh-gc: open: %s\n", ooh_strerror(err));
		trk_nregs = 0; /* untracked: the next feed reports everything again */
	}
done:
	st.tracked_bytes = 0;
	for (size_t i = 0; i < trk_nregs; i++)
		st.tracked_bytes += trk_regs[i].e - trk_regs[i].s;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* cur_set in ascending order (several trackers each deliver their own). */
static void sort_cur_set(void)
{
	for (size_t i = 1; i < ncur; i++)
		if (cur_set[i] < cur_set[i - 1]) {
			qsort(cur_set, ncur, 8, cmp_u64);
			return;
		}
}

/* How many values two ascending arrays share. */
static size_t count_common(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	size_t j = 0, both = 0;

	for (size_t i = 0; i < na; i++) {
		while (j < nb && b[j] < a[i])
			j++;
		both += j < nb && b[j] == a[i];
	}
	return both;
}

/* Append x to a growing array; false (nothing appended) without memory. */
static bool u64_push(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4096;
		uint64_t *nv = realloc(*v, nc * sizeof(*nv));
		if (!nv)
			return false;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = x;
	return true;
}

/*
 * Do pages stay hot in this program?  Judged on intervals in which nothing
 * was kept unprotected (each hot_period-th one, or all while keeping is
 * off): of the pages the previous feed reported (hot ones included), how
 * many were really written again?  Keeping pays when most were (GCBench:
 * 97-99 %); when few were, kept pages are mostly false positives that
 * Boehm rescans at every collection (a big heap written sparsely), so
 * keeping stops until the rate is high again.
 */
static void hot_decide(void)
{
	if (!hot_period || set_lost)
		return;
	sort_cur_set();
	if (!last_kept && nprev >= 64) {
		size_t both = count_common(cur_set, ncur, prev_set, nprev);
		hot_on = both * 10 >= nprev * 8; /* >= 80 % written again */
		st.hot_checks++;
		st.hot_on = hot_on;
	}
	uint64_t *t = prev_set;
	prev_set = cur_set;
	cur_set = t;
	nprev = ncur;
}

/*
 * Mark-guided protection (manual VDB; OOH_GC_GUIDED=0 turns it off).  Boehm
 * needs a dirty bit only where a marked object holding pointers was
 * written: it rescans the marked objects of dirty blocks, and an unmarked
 * object is scanned whole once it gets marked.  Boehm's own mprotect VDB
 * therefore never protects free or pointer-free blocks.  The same here: at
 * GC_EVENT_MARK_END (world still stopped, marks final) every tracked page is
 * re-protected (ooh_collect with OOH_COLLECT_REARM) and then those holding
 * no marked object with pointers are unprotected again with
 * ooh_mark_dirty().  Their writes - the sweeper rebuilding free lists, the
 * mutator filling fresh objects, the collector writing mark bits into its
 * own (untracked by Boehm, tracked here) header pages - then cost no fault.
 * Left unprotected as well, because they will be written anyway or a fault
 * costs more than a rescan: marked pages with a free slot (the sweeper goes
 * through them after every collection), hot pages (see guide_protection)
 * and gaps of up to gap_pages pages between unprotected runs (one
 * unprotect call, and TLB flush, less each).  Correctness does not rest on
 * the marks: libooh reports a page marked dirty at every collect, written
 * or not, until it is re-protected, so every write is still reported; the
 * marks only decide where a write costs a fault and where a page is
 * reported (and rescanned) at the next collection.  The mark start only
 * reads the dirty set; what the re-arm at the mark end reports beyond that
 * (pages the collector wrote while marking) is carried to the next feed.
 */
static uint64_t *carry;         /* pages to report at the next feed */
static size_t ncarry, carry_cap;
static bool carry_all;          /* report everything at the next feed */
static bool guided_fail;        /* the re-arm failed: start afresh at the next feed */
static uint64_t *mbits;         /* one bit per tracked page: holds marked objects with pointers */
static size_t mbits_words;
static uint16_t *pmarked, *psize; /* per tracked page: bytes of marked objects, their size */
static size_t pm_pages;
static bool sweep_guess = true; /* OOH_GC_SWEEP=0: protect marked pages with free slots too */
#define PMARKED_FULL 0xffff
static uint64_t trk_first[MAX_REGIONS]; /* index of trk_regs[i]'s first page */
#define BOEHM_PTRFREE_KIND 0    /* PTRFREE in Boehm's gc_priv.h */

static void carry_add(uint64_t a)
{
	if (!u64_push(&carry, &ncarry, &carry_cap, a))
		carry_all = true; /* cannot remember: everything is dirty */
}

/* At a feed: what the previous mark end left over. */
static void feed_carry(void)
{
	phase(OOH_GC_PH_FEED);
	if (guided_fail) {
		close_all(); /* re-opened by the caller, every page reported */
		trk_nregs = 0;
		guided_fail = false;
	}
	if (carry_all)
		mark_all_recorded();
	else if (!drop)
		for (size_t i = 0; i < ncarry; i++)
			mark_dirty(carry[i]);
	st.pages_fed += carry_all ? 0 : ncarry;
	st.pages_carried += ncarry;
	ncarry = 0;
	carry_all = false;
}

/* World stopped, allocation lock held, GC_read_dirty() comes next. */
static void feed(void)
{
	uint64_t t0 = now_ns();
	uint64_t before = st.pages_fed;
	uint64_t gen;

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
		ncarry = 0;
	}

	pthread_mutex_lock(&reg_lock);
	gen = reg_gen;
	pthread_mutex_unlock(&reg_lock);
	/* (the backend is known once a tracker is open; none yet: no collect) */
	guiding = guided && (!ntrk || can_unwatch);
	keep_hot = !guiding && can_unwatch && hot_period && hot_on && (st.feeds + 1) % hot_period != 0;
	if (guiding)
		feed_carry();
	ncur = 0;
	set_lost = false;
	if (!ntrk || gen != trk_gen) {
		/* consolidate into one tracker when everything is re-protected
		 * anyway (guided: at the mark end, which re-protects everything) */
		rebuild(!guiding && !keep_hot);
	} else if (!collect_and_feed()) {
		mark_all_recorded();
		close_all(); /* start afresh next time */
		trk_nregs = 0;
	}
	if (ntrk > 1 && !keep_hot && !guiding) {
		/* several trackers left from heap growth: merge them (all pages
		 * were just re-protected, so nothing is lost by re-opening) */
		phase(OOH_GC_PH_GROW);
		close_all();
		if (open_tracker(trk_regs, trk_nregs)) {
			st.errors++;
			close_all();
			trk_nregs = 0;
		}
	}
	guiding = guided && can_unwatch && ntrk;
	if (!guiding)
		hot_decide(); /* (guided: at the mark end) */
	last_kept = keep_hot;
	phase(-1);
	st.feeds++;
	st.feed_ns += now_ns() - t0;
	if (debug)
		fprintf(stderr, "ooh-gc: feed %llu: %llu pages, %llu regions, %zu trackers, %llu rebuilds, "
			"%llu kept hot (hot %d), %.3f ms\n",
			(unsigned long long)st.feeds, (unsigned long long)(st.pages_fed - before),
			(unsigned long long)trk_nregs, ntrk, (unsigned long long)st.rebuilds,
			(unsigned long long)st.pages_kept_hot, hot_on, (now_ns() - t0) / 1e6);
}

/* Index of tracked page a in mbits/pmarked/psize, or -1; *r: a run hint. */
static int64_t page_index(uint64_t a, size_t *r)
{
	if (*r >= trk_nregs || a < trk_regs[*r].s || a >= trk_regs[*r].e) {
		*r = first_after(trk_regs, trk_nregs, a);
		if (*r == trk_nregs || trk_regs[*r].s > a)
			return -1;
	}
	return (int64_t)(trk_first[*r] + (a - trk_regs[*r].s) / PG);
}

struct mark_walk {
	uint64_t page;  /* page of the previous object */
	bool ptrfree;   /* its block holds no pointers */
	size_t r;       /* trk_regs index of the previous hit */
};

static void note_marked(void *obj, size_t bytes, void *cd)
{
	struct mark_walk *w = cd;
	uint64_t a = (uint64_t)(uintptr_t)obj & ~(PG - 1);
	uint64_t e = ((uint64_t)(uintptr_t)obj + bytes + PG - 1) & ~(PG - 1);

	if (a != w->page) { /* objects come block by block: one kind lookup per page */
		w->page = a;
		w->ptrfree = GC_get_kind_and_size(obj, NULL) == BOEHM_PTRFREE_KIND;
	}
	if (w->ptrfree)
		return;
	for (; a < e; a += PG) {
		int64_t i = page_index(a, &w->r);
		if (i < 0)
			continue; /* not tracked (reported whole anyway) */
		mbits[i / 64] |= 1ull << (i % 64);
		if (bytes > PG / 2 || bytes == 0)
			pmarked[i] = PMARKED_FULL; /* one object per page: no free slot */
		else if (pmarked[i] != PMARKED_FULL)
			pmarked[i] += (uint16_t)bytes; /* small objects never cross a page */
		psize[i] = (uint16_t)bytes;
	}
}

/*
 * A marked page whose block still has a free slot is swept after this
 * collection (Boehm drops its free lists at every collection and rebuilds
 * them lazily, writing every free object), so it will be written: leave it
 * unprotected as well.
 */
static void unmark_sweepable(size_t npages)
{
	for (size_t i = 0; i < npages; i++) {
		if (!(mbits[i / 64] >> (i % 64) & 1) || pmarked[i] == PMARKED_FULL)
			continue;
		if (pmarked[i] / psize[i] < PG / psize[i])
			mbits[i / 64] &= ~(1ull << (i % 64));
	}
}

/* Hand runbuf[0..nr) (sorted) to each tracker, cut to its own ranges. */
static void unwatch_runs(size_t nr)
{
	static struct ooh_range sub[PAGE_BUF];

	for (size_t k = 0; nr && k < ntrk; k++) {
		const struct ooh_range *t = trk_ranges[k];
		size_t m = 0, j = 0;
		for (size_t i = 0; i < nr && j < trk_nranges[k];) {
			uint64_t s = runbuf[i].start, e = s + runbuf[i].len;
			uint64_t ts = t[j].start, te = ts + t[j].len;
			if (te <= s) {
				j++;
				continue;
			}
			if (e <= ts) {
				i++;
				continue;
			}
			sub[m].start = s > ts ? s : ts;
			sub[m].len = (e < te ? e : te) - sub[m].start;
			m++;
			if (e <= te)
				i++;
			else
				j++;
		}
		if (m && ooh_mark_dirty(trks[k], sub, m))
			st.errors++; /* those pages stay protected: nothing lost */
	}
}

/* Unprotect the tracked pages whose bit in mbits is clear; how many. */
static size_t unwatch_unmarked(void)
{
	size_t nr = 0, n = 0;

	for (size_t r = 0; r < trk_nregs; r++)
		for (uint64_t a = trk_regs[r].s, i = trk_first[r]; a < trk_regs[r].e; a += PG, i++) {
			if (mbits[i / 64] >> (i % 64) & 1)
				continue;
			n++;
			if (nr && runbuf[nr - 1].start + runbuf[nr - 1].len + gap_pages * PG >= a) {
				/* bridge a short gap: one unprotect (and TLB flush) less,
				 * for a few marked pages rescanned at the next collection */
				n += (a - runbuf[nr - 1].start - runbuf[nr - 1].len) / PG;
				runbuf[nr - 1].len = a + PG - runbuf[nr - 1].start;
				continue;
			}
			if (nr == PAGE_BUF) {
				unwatch_runs(nr);
				nr = 0;
			}
			runbuf[nr].start = a;
			runbuf[nr].len = PG;
			nr++;
		}
	unwatch_runs(nr);
	return n;
}

static uint64_t *cand;          /* written last interval, re-protected: written again? */
static size_t ncand, cand_cap;
static bool cand_valid;
static uint64_t guided_rounds;

static bool marked_bit(uint64_t a, size_t *r)
{
	int64_t i = page_index(a, r);
	return i >= 0 && (mbits[i / 64] >> (i % 64) & 1);
}

static void clear_marked_bit(uint64_t a, size_t *r)
{
	int64_t i = page_index(a, r);
	if (i >= 0)
		mbits[i / 64] &= ~(1ull << (i % 64));
}

/* Were the pages re-protected at the last full mark end written again in
 * the interval since (cur_set: what this mark start fed, sorted)? */
static void hot_measure(void)
{
	if (cand_valid && ncand >= 64 && !set_lost) {
		size_t both = count_common(cand, ncand, cur_set, ncur);
		hot_on = both * 100 >= ncand * hot_pct;
		st.hot_checks++;
		st.hot_on = hot_on;
		if (debug)
			fprintf(stderr, "ooh-gc: %zu of %zu pages written again: hot %d\n", both, ncand, hot_on);
	}
	cand_valid = false;
}

/* keep: leave what this mark start fed unprotected too; otherwise note the
 * pages it fed that are protected again now, to be measured next time. */
static void hot_apply(bool keep)
{
	size_t r = 0;

	if (keep) {
		for (size_t i = 0; i < ncur; i++)
			clear_marked_bit(cur_set[i], &r);
		return;
	}
	ncand = 0;
	for (size_t i = 0; hot_period && !set_lost && i < ncur; i++) {
		if (marked_bit(cur_set[i], &r) && !u64_push(&cand, &ncand, &cand_cap, cur_set[i]))
			return; /* (cand_valid stays false: no measurement) */
	}
	cand_valid = hot_period && !set_lost;
}

/* GC_EVENT_MARK_END: world stopped, allocation lock held, marks final. */
static void guide_protection(void)
{
	struct ooh_collect_result res;
	int err = 0;
	uint64_t t0 = now_ns();

	if (!guiding || owner_pid != getpid() || !ntrk || !trk_nregs)
		return;
	phase(OOH_GC_PH_REARM);
	sort_cur_set();
	/* 1. Re-protect every page (one walk); keep what the mark start did
	 * not feed. */
	for (size_t k = 0; k < ntrk && !err; k++) {
		size_t j = 0;
		do {
			err = ooh_collect(trks[k], pagebuf, PAGE_BUF, OOH_COLLECT_REARM, &res);
			if (err)
				break;
			if (res.flags & OOH_RESULT_OVERFLOW)
				carry_all = true;
			for (uint64_t i = 0; i < res.count; i++) {
				while (j < ncur && cur_set[j] < pagebuf[i])
					j++;
				if (set_lost || j == ncur || cur_set[j] != pagebuf[i])
					carry_add(pagebuf[i]);
			}
		} while (res.flags & OOH_RESULT_MORE);
	}
	if (err) {
		st.errors++;
		guided_fail = true; /* protection unknown: report all, start afresh */
		if (debug)
			fprintf(stderr, "ooh-gc: re-arm: %s\n", ooh_strerror(err));
		return;
	}
	if (ntrk >= MAX_TRK / 2) {
		/* trackers added as the heap grew: merge them now that every page
		 * is protected anyway (re-opening protects everything; it walks
		 * the page tables three times, so not at every heap growth) */
		phase(OOH_GC_PH_GROW);
		close_all();
		if (open_tracker(trk_regs, trk_nregs)) {
			st.errors++;
			close_all();
			trk_nregs = 0; /* untracked: the next feed reports everything */
			return;
		}
	}
	/* Are the pages written in an interval written again in the next? */
	phase(OOH_GC_PH_MARKS);
	hot_measure();
	bool keep = hot_period && hot_on && !set_lost && ++guided_rounds % hot_period != 0;
	/* 2. Which pages hold marked objects with pointers? */
	size_t npages = 0;
	for (size_t r = 0; r < trk_nregs; r++) {
		trk_first[r] = npages;
		npages += (trk_regs[r].e - trk_regs[r].s) / PG;
	}
	size_t words = (npages + 63) / 64;
	if (words > mbits_words) {
		uint64_t *nb = realloc(mbits, words * 8);
		if (!nb)
			return; /* all stays protected: correct, just slower */
		mbits = nb;
		mbits_words = words;
	}
	if (npages > pm_pages) {
		uint16_t *a = realloc(pmarked, npages * 2), *b = a ? realloc(psize, npages * 2) : NULL;
		if (a)
			pmarked = a;
		if (!b)
			return; /* all stays protected: correct, just slower */
		psize = b;
		pm_pages = npages;
	}
	memset(mbits, 0, words * 8);
	memset(pmarked, 0, npages * 2);
	struct mark_walk w = { .page = 1 };
	GC_enumerate_reachable_objects_inner(note_marked, &w);
	if (sweep_guess)
		unmark_sweepable(npages);
	/* 3. Hot pages (those the last interval wrote, while at least hot_pct
	 * percent of such pages are written again in the next: e.g. what the
	 * sweeper and the allocator go through each cycle) stay unprotected
	 * too: a page kept costs a rescan of its marked objects at the next
	 * collection, a write to a protected page a fault, which costs more
	 * (about 10 us here).  Every hot_period-th round they are protected,
	 * so that the rate is measured again. */
	hot_apply(keep);
	/* 4. The others write at full speed until the next mark end. */
	phase(OOH_GC_PH_UNWATCH);
	size_t n = unwatch_unmarked();
	phase(-1);
	st.pages_unwatched += n;
	st.guide_ns += now_ns() - t0;
	if (debug)
		fprintf(stderr, "ooh-gc: mark end: %zu of %zu pages left unprotected, %zu carried, %.3f ms\n",
			n, npages, ncarry, (now_ns() - t0) / 1e6);
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
	if (e == GC_EVENT_MARK_END && !vdb_soft)
		guide_protection();
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
	vdb_soft = vdb && !strcmp(vdb, "soft");
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
	if (getenv("OOH_GC_HOT") && *getenv("OOH_GC_HOT"))
		hot_period = (unsigned)atoi(getenv("OOH_GC_HOT"));
	if (getenv("OOH_GC_SWEEP") && !strcmp(getenv("OOH_GC_SWEEP"), "0"))
		sweep_guess = false;
	if (getenv("OOH_GC_GAP") && *getenv("OOH_GC_GAP"))
		gap_pages = (unsigned)atoi(getenv("OOH_GC_GAP"));
	if (getenv("OOH_GC_HOT_PCT") && *getenv("OOH_GC_HOT_PCT"))
		hot_pct = (unsigned)atoi(getenv("OOH_GC_HOT_PCT"));
	guided = !vdb_soft && !(getenv("OOH_GC_GUIDED") && !strcmp(getenv("OOH_GC_GUIDED"), "0"));

	pagebuf = malloc(PAGE_BUF * sizeof(*pagebuf));
	runbuf = malloc(PAGE_BUF * sizeof(*runbuf));
	if (!pagebuf || !runbuf) {
		free(pagebuf);
		free(runbuf);
		pagebuf = NULL;
		runbuf = NULL;
		return -ENOMEM;
	}
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
