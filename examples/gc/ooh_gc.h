/* SPDX-License-Identifier: MIT */
/*
 * libooh-gc: Boehm GC's incremental/generational mode fed by libooh.
 *
 * Boehm GC (8.2, Debian libgc) offers a "manual virtual dirty bit" mode in
 * which the client says which heap pages were written (GC_dirty /
 * GC_end_stubborn_change).  This library turns that mode on and, at every
 * GC_EVENT_MARK_START (world stopped, allocation lock held, immediately
 * before Boehm reads its dirty bits in GC_initiate_gc), marks as dirty every
 * page libooh reports written since the previous mark start, then re-arms
 * libooh atomically.  Boehm's heap sections are learnt by interposing mmap()
 * for calls made from libgc itself, so only the GC heap (and its small
 * scratch areas) is tracked, never the whole address space.
 *
 * Use:
 *   - LD_PRELOAD=libooh-gc.so ./program     (a program already linked with
 *     -lgc; the library enables itself in a constructor; OOH_GC=0 disables)
 *   - link libooh-gc.so before -lgc (same auto-enable), or
 *   - link libooh-gc.a + libooh.a and call ooh_gc_enable() before GC_INIT().
 *
 * Programs that install their own GC_set_on_collection_event() handler after
 * the library must call the previous handler (GC_get_on_collection_event())
 * from theirs, or libooh-gc stops being fed (it then detects that and makes
 * every collection scan the whole heap - slow, never wrong: see
 * ooh_gc_enable()).
 */
#ifndef OOH_GC_H
#define OOH_GC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Phases of libooh-gc's work, in ooh_gc_stats.phase_ns[]. */
enum ooh_gc_phase {
	OOH_GC_PH_COLLECT, /* mark start: taking libooh's dirty set */
	OOH_GC_PH_FEED,    /* mark start: handing the pages to Boehm (GC_dirty) */
	OOH_GC_PH_GROW,    /* trackers opened over new heap, or merged */
	OOH_GC_PH_REARM,   /* mark end: re-protecting every page */
	OOH_GC_PH_MARKS,   /* mark end: reading Boehm's marks */
	OOH_GC_PH_UNWATCH, /* mark end: unprotecting pages again */
	OOH_GC_PHASES
};

/* A phase's name ("collect", "feed", ...), or NULL. */
const char *ooh_gc_phase_name(int phase);

struct ooh_gc_stats {
	uint64_t feeds;          /* mark starts seen (dirty sets handed to Boehm) */
	uint64_t pages_fed;      /* pages marked dirty in total */
	uint64_t feed_ns;        /* time spent collecting + feeding */
	uint64_t rebuilds;       /* tracker re-opened because the heap grew */
	uint64_t overflows;      /* libooh lost precision: whole heap marked dirty */
	uint64_t errors;         /* libooh errors: whole heap marked dirty */
	uint64_t tracked_bytes;  /* bytes currently tracked */
	uint64_t pages_kept_hot; /* reported pages left unprotected for the next interval */
	uint64_t hot_checks;     /* times the "pages stay hot" rate was measured */
	int hot_on;              /* keeping hot pages unprotected (last decision) */
	uint64_t pages_unwatched; /* pages left unprotected at mark ends (no marked object) */
	uint64_t pages_carried;  /* pages re-armed at a mark end, fed at the next start */
	uint64_t guide_ns;       /* time spent at mark ends (re-arm, marks, unprotect) */
	int backend;             /* libooh backend in use, -1 if none */
	int enabled;             /* 1 once ooh_gc_enable() succeeded */
	int soft_vdb;            /* 1: Boehm's soft-dirty VDB answered from libooh;
				  * 0: Boehm's manual VDB fed with GC_dirty() */
	/* Where the time goes (ns), by phase (enum ooh_gc_phase): in total,
	 * and in the longest world-stopped window (pause_max_ns, from
	 * GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD; the rest of
	 * it is Boehm's: stopping the world and marking). */
	uint64_t phase_ns[OOH_GC_PHASES];
	uint64_t pauses;         /* world-stopped windows seen */
	uint64_t pause_max_ns;
	uint64_t pause_max_phase_ns[OOH_GC_PHASES];
};

/*
 * Enable Boehm incremental mode with libooh dirty bits.  Must be called
 * before GC_INIT()/the first allocation (the preloaded library does it in
 * a constructor).  Environment: OOH_GC_BACKEND=pagemap|uffd|mprotect|...
 * picks the libooh backend (default: auto); OOH_GC_VDB=manual (default) feeds
 * Boehm's manual VDB, OOH_GC_VDB=soft answers Boehm's soft-dirty VDB (its
 * /proc/PID/pagemap reads) from libooh instead.  Manual VDB protects only
 * pages holding marked objects with pointers and no free slot (mark-guided,
 * see ooh_gc.c; OOH_GC_GUIDED=0: every tracked page, re-protected at each
 * collection); OOH_GC_SWEEP=0 protects marked pages with free slots too;
 * OOH_GC_GAP=N bridges gaps of up to N protected pages between unprotected
 * runs (default 32); OOH_GC_HOT=N keeps pages written in one interval
 * unprotected while at least OOH_GC_HOT_PCT percent of them are written
 * again in the next (default 30; 80 unguided), re-protecting them every Nth
 * collection (default 8; 0: never keep them); OOH_GC_DEBUG=1 logs to stderr;
 * OOH_GC_TEST_DROP=1 deliberately drops every dirty page (a broken feeder:
 * only for proving that the tests detect a missed page).
 * Returns 0, or a negative errno when libooh cannot track here (Boehm then
 * stays in its default mode).
 */
int ooh_gc_enable(void);

/* Copy the statistics; safe at any time. */
void ooh_gc_get_stats(struct ooh_gc_stats *out);

#ifdef __cplusplus
}
#endif

#endif
