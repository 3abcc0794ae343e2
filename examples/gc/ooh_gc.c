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
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <gc/gc.h>

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
static volatile int recording;

/* Tracker state: touched only with the GC allocation lock held. */
static ooh_tracker *trk;
static uint64_t trk_gen;
static struct region trk_regs[MAX_REGIONS];
static size_t trk_nregs;
static uint64_t *pagebuf;
static GC_on_collection_event_proc prev_event;
static int debug, drop;
static enum ooh_backend want_backend = OOH_BACKEND_AUTO;
static struct ooh_gc_stats st = { .backend = -1 };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
			return 1;
		}
	}
	return 0;
}

static void mark_all_recorded(void)
{
	for (size_t i = 0; i < trk_nregs; i++)
		for (uint64_t a = trk_regs[i].s; a < trk_regs[i].e; a += PG)
			GC_end_stubborn_change((void *)(uintptr_t)a);
	for (size_t i = 0; i < trk_nregs; i++)
		st.pages_fed += (trk_regs[i].e - trk_regs[i].s) / PG;
}

/* Collect the current interval from trk and feed it; false on failure. */
static bool collect_and_feed(void)
{
	struct ooh_collect_result res;
	bool overflow = false;
	int err;

	do {
		err = ooh_collect(trk, pagebuf, PAGE_BUF, OOH_COLLECT_REARM, &res);
		if (err)
			break;
		if (res.flags & OOH_RESULT_OVERFLOW)
			overflow = true;
		if (!drop)
			for (uint64_t i = 0; i < res.count; i++)
				GC_end_stubborn_change((void *)(uintptr_t)pagebuf[i]);
		st.pages_fed += res.count;
	} while (res.flags & OOH_RESULT_MORE);
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

/* Is page a inside one of the runs r[0..n)? (sorted: binary search) */
static bool in_runs(const struct region *r, size_t n, uint64_t a)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a < r[mid].s)
			hi = mid;
		else if (a >= r[mid].e)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static struct region old_regs[MAX_REGIONS];

static void rebuild(void)
{
	struct ooh_range *ranges;
	size_t old_n = 0;
	int err;

	if (trk) {
		if (!collect_and_feed())
			mark_all_recorded();
		ooh_close(trk);
		trk = NULL;
		memcpy(old_regs, trk_regs, trk_nregs * sizeof(trk_regs[0]));
		old_n = trk_nregs;
	}
	pthread_mutex_lock(&reg_lock);
	memcpy(trk_regs, regs, nregs * sizeof(regs[0]));
	trk_nregs = nregs;
	trk_gen = reg_gen;
	pthread_mutex_unlock(&reg_lock);
	st.rebuilds++;

	/*
	 * Nothing is known about pages that were not tracked until now: report
	 * them dirty once.  (Pages tracked before were fed just above; the
	 * world is stopped, so nothing is written until the new tracker runs.)
	 */
	for (size_t i = 0; i < trk_nregs; i++)
		for (uint64_t a = trk_regs[i].s; a < trk_regs[i].e; a += PG)
			if (!in_runs(old_regs, old_n, a)) {
				GC_end_stubborn_change((void *)(uintptr_t)a);
				st.pages_fed++;
			}
	st.tracked_bytes = 0;
	ranges = calloc(trk_nregs ? trk_nregs : 1, sizeof(*ranges));
	if (!ranges) {
		st.errors++;
		trk_nregs = 0; /* next feed starts from scratch */
		return;
	}
	for (size_t i = 0; i < trk_nregs; i++) {
		ranges[i].start = trk_regs[i].s;
		ranges[i].len = trk_regs[i].e - trk_regs[i].s;
		st.tracked_bytes += ranges[i].len;
	}
	struct ooh_open_opts o = {
		.size = sizeof(o), .backend = want_backend, .flags = OOH_OPEN_START,
		.ranges = ranges, .nr_ranges = trk_nregs,
	};
	err = trk_nregs ? ooh_open(&o, &trk) : -ENOENT;
	free(ranges);
	if (err) {
		trk = NULL;
		st.errors++;
		if (debug && trk_nregs)
			fprintf(stderr, "ooh-gc: open: %s\n", ooh_strerror(err));
		trk_nregs = 0; /* untracked: the next feed reports everything again */
		return;
	}
	st.backend = ooh_tracker_backend(trk);
}

/* World stopped, allocation lock held, GC_read_dirty() comes next. */
static void feed(void)
{
	uint64_t t0 = now_ns();
	uint64_t before = st.pages_fed;
	uint64_t gen;

	pthread_mutex_lock(&reg_lock);
	gen = reg_gen;
	pthread_mutex_unlock(&reg_lock);
	if (!trk || gen != trk_gen) {
		rebuild();
	} else if (!collect_and_feed()) {
		mark_all_recorded();
		ooh_close(trk); /* start afresh next time */
		trk = NULL;
		trk_nregs = 0;
	}
	st.feeds++;
	st.feed_ns += now_ns() - t0;
	if (debug)
		fprintf(stderr, "ooh-gc: feed %llu: %llu pages, %llu regions, %.3f ms\n",
			(unsigned long long)st.feeds, (unsigned long long)(st.pages_fed - before),
			(unsigned long long)trk_nregs, (now_ns() - t0) / 1e6);
}

static void on_event(GC_EventType e)
{
	if (e == GC_EVENT_MARK_START)
		feed();
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
	pagebuf = malloc(PAGE_BUF * sizeof(*pagebuf));
	if (!pagebuf)
		return -ENOMEM;
	recording = 1;
	GC_set_manual_vdb_allowed(1);
	prev_event = GC_get_on_collection_event();
	GC_set_on_collection_event(on_event);
	GC_enable_incremental();
	if (!GC_is_incremental_mode() || !GC_get_manual_vdb_allowed()) {
		GC_set_on_collection_event(prev_event);
		return -EOPNOTSUPP;
	}
	st.enabled = 1;
	if (debug)
		fprintf(stderr, "ooh-gc: enabled (libgc text %#lx-%#lx)\n", (unsigned long)gc_text_lo,
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
