/* SPDX-License-Identifier: MIT */
/*
 * ooh-guard: a heap guard allocator on 128-byte sub-page guards.
 *
 * Preload it (LD_PRELOAD=libooh-guard.so, or `ooh guard -- CMD`) or link
 * libooh-guard.a before the C library: it then is malloc, free, calloc,
 * realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc and malloc_usable_size.  Every guarded object ends at a
 * write-protected 128-byte sub-page (libooh's ooh_spp_*: OoH virtual SPP
 * under ooh-l0, the software backend elsewhere); a write past it stops the
 * program with a report.  Settings come from the environment (ooh-guard(7)).
 *
 * This header is for programs that want to look at the allocator: the
 * calls below work whether the library was preloaded or linked.
 */
#ifndef OOH_GUARD_H
#define OOH_GUARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ooh_guard_stats {
	uint64_t guarded_allocs;   /* objects ever placed before a guard */
	uint64_t plain_allocs;     /* handed to the C library (sampling, no protection) */
	uint64_t live_objects;     /* guarded objects not yet freed */
	uint64_t live_bytes;       /* their requested sizes */
	uint64_t quarantined_bytes;/* freed objects still write-protected */
	uint64_t reports;          /* errors reported so far */
	uint64_t heap_bytes;       /* address space the guarded heap uses */
	int backend;               /* enum ooh_spp_backend, or -1: no protection */
	int degraded;              /* 1: protection failed once; new objects are plain */
	unsigned sample;           /* 1 = every allocation guarded */
};

/* Fills *st; 0, or -EINVAL when st is NULL. */
int ooh_guard_stats(struct ooh_guard_stats *st);

/* Checks the slack bytes of every live guarded object now (as at exit);
 * returns how many corrupted objects it reported. */
int ooh_guard_check(void);

#ifdef __cplusplus
}
#endif

#endif
