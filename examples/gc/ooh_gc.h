/* SPDX-License-Identifier: MIT */
/*
 * libooh-gc: Boehm GC's incremental/generational mode fed by libooh.
 *
 * Boehm GC 8.2 (Debian's libgc) reads its dirty bits in GC_read_dirty(),
 * at the start of each collection's marking (world stopped, allocation lock
 * held).  This library answers that from libooh: by default Boehm's
 * soft-dirty VDB, whose reads of /proc/PID/pagemap bit 55 it answers with
 * the pages libooh reports written since the previous read (this kernel has
 * no soft-dirty bit); with OOH_GC_VDB=manual, Boehm's manual VDB, to which
 * it hands the same pages with GC_dirty() at GC_EVENT_MARK_START.  libooh
 * is collected and re-armed atomically there, with the world stopped.  The
 * memory libgc maps is learnt by interposing mmap() for calls made from
 * libgc itself; of it, only the pages of Boehm's heap are tracked (not
 * libgc's own block headers and mark stacks), never the whole address
 * space.
 *
 * Use:
 *   - LD_PRELOAD=libooh-gc.so ./program     (a program already linked with
 *     -lgc; the library enables itself in a constructor; OOH_GC=0 disables)
 *   - link libooh-gc.so before -lgc (same auto-enable), or
 *   - link libooh-gc.a + libooh.a and call ooh_gc_enable() before GC_INIT().
 *
 * Programs that install their own GC_set_on_collection_event() handler after
 * the library must call the previous handler (GC_get_on_collection_event())
 * from theirs, or libooh-gc stops being fed and Boehm misses written pages
 * (libooh-gc cannot tell that it is no longer called).
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
	OOH_GC_PH_KEEP,    /* mark end: leaving garbage pages unprotected */
	OOH_GC_PH_GROW,    /* mark start: finding new heap pages, opening trackers */
	OOH_GC_PHASES
};

/* A phase's name ("collect", "feed", "keep", "grow"), or NULL. */
const char *ooh_gc_phase_name(int phase);

struct ooh_gc_stats {
	uint64_t feeds;          /* mark starts seen (dirty sets handed to Boehm) */
	uint64_t pages_fed;      /* pages marked dirty in total */
	uint64_t feed_ns;        /* time spent collecting + feeding */
	uint64_t rebuilds;       /* trackers opened because the heap grew */
	uint64_t overflows;      /* libooh lost precision: whole heap marked dirty */
	uint64_t errors;         /* libooh errors: whole heap marked dirty */
	uint64_t tracked_bytes;  /* bytes currently tracked (Boehm's heap) */
	uint64_t untracked_bytes; /* libgc's own memory (mapped by libgc, not heap) */
	uint64_t untracked_heap; /* feeds that found heap pages not tracked yet
				  * without the heap having grown (tracked then) */
	uint64_t heap_found_late; /* runs of heap pages found at a later feed than
				   * the first that saw them mapped (a header put on
				   * an inner block of a free block not recognised,
				   * or libgc's own memory given to the heap) */
	uint64_t pages_kept_hot; /* fed pages left unprotected for the next interval */
	int hot_on;              /* keeping some kind of them pays, as the last probes said */
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
 * picks the libooh backend (default: auto); OOH_GC_VDB=soft (default)
 * answers Boehm's soft-dirty VDB (its /proc/PID/pagemap reads) from libooh,
 * OOH_GC_VDB=manual feeds Boehm's manual VDB with GC_dirty() instead (see
 * examples/README.md for when which is cheaper).  Only Boehm's heap is
 * tracked, not libgc's own memory (block headers, mark stacks: Boehm never
 * asks for their dirty bits, and the collector writes them while the world
 * is stopped); OOH_GC_HEAP_ONLY=0 tracks all of it.  Written pages of the
 * kinds that are written again (measured per kind: by the share of their
 * objects that survived a collection) stay unprotected for the next
 * interval, and while they are mostly cheap to rescan, for up to
 * OOH_GC_HOT_HOLD=N more (default 2); they are reported at every
 * collection meanwhile (OOH_GC_HOT=0: every page is protected again,
 * OOH_GC_HOT_MIN=N: only runs of N pages or more, default 4).
 * OOH_GC_DEBUG=1 logs to stderr.  Tests only:
 * OOH_GC_TEST_DROP=1 deliberately drops every dirty page (a broken feeder,
 * proving that the tests detect a missed page); OOH_GC_TEST_MISS=1 leaves
 * part of the new heap untracked until the next collection finds it.
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
