/* SPDX-License-Identifier: MIT */
/*
 * ooh.h - one C API for dirty-page tracking ("which pages of this process
 * were written since I last asked?"), with software backends on any Linux
 * and, later, the OoH hardware-assisted path.
 *
 * Model: a tracker is opened on a target (the calling process or a PID),
 * over its whole address space or over given ranges.  ooh_start() arms it;
 * ooh_collect() returns the page-aligned virtual addresses of the pages
 * dirtied since the last interval began, sorted ascending, into a buffer the
 * caller sizes; with OOH_COLLECT_REARM the same call atomically begins the
 * next interval, so no write is ever lost between two intervals.
 *
 * Rules every backend follows:
 *  - a page that may have been modified through the target's own mappings
 *    is reported (false positives are allowed, misses are not), also when
 *    it changed without a store (see OOH_CAP_MAPPING_CHANGES);
 *  - whenever a backend cannot keep that promise at page granularity it
 *    sets OOH_RESULT_OVERFLOW in the collect result: the caller must then
 *    treat every page of the tracked ranges as dirty for that interval;
 *  - errors are negative errno values (ooh_strerror() explains them).
 *
 * All calls are thread-safe; one handle may be used from several threads.
 */
#ifndef OOH_H
#define OOH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OOH_API __attribute__((visibility("default")))
#else
#define OOH_API
#endif

#define OOH_VERSION_MAJOR 1
#define OOH_VERSION_MINOR 2
#define OOH_VERSION_PATCH 0
/* Compile-time version as one number: major << 16 | minor << 8 | patch. */
#define OOH_VERSION ((OOH_VERSION_MAJOR << 16) | (OOH_VERSION_MINOR << 8) | OOH_VERSION_PATCH)

/* The version of the library actually linked, same encoding as OOH_VERSION. */
OOH_API unsigned ooh_version(void);

/* Tracking mechanisms.  Values are ABI: never renumbered. */
enum ooh_backend {
	OOH_BACKEND_AUTO = 0,      /* best one that works for the request */
	OOH_BACKEND_PAGEMAP = 1,   /* PAGEMAP_SCAN + userfaultfd WP_ASYNC, Linux >= 6.7 */
	OOH_BACKEND_SOFTDIRTY = 2, /* clear_refs 4 + pagemap bit 55, CONFIG_MEM_SOFT_DIRTY */
	OOH_BACKEND_UFFD = 3,      /* userfaultfd synchronous write-protect + handler thread */
	OOH_BACKEND_MPROTECT = 4,  /* mprotect + SIGSEGV, the calling process only */
	OOH_BACKEND_OOH_SPML = 5,  /* /dev/ooh under ooh-l0: virtual PML, guest reverse map */
	OOH_BACKEND_OOH_EPML = 6,  /* /dev/ooh under ooh-l0: guest-linear log (EPML) */
};
#define OOH_BACKEND_MAX 6

/* Capability bits, reported by ooh_probe() and ooh_tracker_caps(). */
#define OOH_CAP_SELF          (1u << 0) /* can track the calling process */
#define OOH_CAP_REMOTE        (1u << 1) /* can track another process (pid) */
#define OOH_CAP_WHOLE         (1u << 2) /* can track a whole address space (uffd:
					   * another process's only) */
#define OOH_CAP_ATOMIC_REARM  (1u << 3) /* OOH_COLLECT_REARM loses no racing write */
#define OOH_CAP_PAGE_EXACT    (1u << 4) /* reports only written pages (THPs at 4 KiB),
					   * apart from mapping changes */
#define OOH_CAP_MAPPING_CHANGES (1u << 5) /* reports pages (re)mapped into a range */
/*
 * Memory can change without a store: dropped (MADV_DONTNEED; MADV_FREE
 * pages discarded under memory pressure), replaced (munmap + mmap), moved
 * (mremap).  Such pages count as dirty (their content may differ from the
 * last collect).  A page no longer mapped at the collect is no page of
 * the target: reporting it is allowed, not required; nor is a page mapped
 * anew where nothing was, while it reads zero (untouched anonymous memory:
 * it is reported once written).  Per backend, as
 * tested (test-mappings, ooh-lib-selftest):
 *  - mprotect: all of them, also pages left unmapped.  It compares, per
 *    page, /proc/self/pagemap at collect with the last arm, and the layout.
 *    Without CAP_SYS_ADMIN (frame numbers hidden) it cannot tell memory
 *    moved onto exactly a whole VMA from what was there: an interval in
 *    which anything in the ranges was mapped, unmapped or moved, or a
 *    read-only anonymous mapping outside them went or changed, overflows.
 *    Not seen: read-only anonymous memory mapped after the last arm and
 *    moved onto exactly a whole VMA of the ranges (no unprivileged
 *    interface tells it from what was there).
 *  - pagemap, uffd: drops, replacements, moves in and out, growth.  pagemap, in
 *    private anonymous VMAs of 4 GiB or more: a drop is seen as a run that
 *    held data (present, not the zero page, or swapped) at the last arm
 *    and does not now.
 *  - softdirty: new and moved mappings (the kernel marks them soft-dirty);
 *    drops by mprotect's per-page pagemap check, in its collect's pagemap
 *    pass (remote: /proc/PID/pagemap and, frames hidden, process_vm_readv).
 *  - ooh-spml, ooh-epml: every page that was present or swapped in a range
 *    invalidated by munmap, MADV_DONTNEED, MADV_FREE discard, mremap away
 *    (THP split and reclaim too: false positives); at each collect the
 *    present pages (all pages of file mappings) where the backing changed
 *    since the last one (mremap into a hole, a file mapped in); pages
 *    faulted in new are reported when written.
 * Each has OOH_CAP_MAPPING_CHANGES.
 */
#define OOH_CAP_MARK_UNWATCHES (1u << 6) /* ooh_mark_dirty() stops watching the pages:
					    * writes to them cost no fault (since 1.1.1) */

struct ooh_backend_info {
	enum ooh_backend backend;
	uint32_t caps;     /* OOH_CAP_*: what the backend offers when usable */
	int status;        /* 0: usable here; else -errno why not */
	char reason[160];  /* why not usable (empty when usable) */
};

/*
 * Probe whether a backend really works on this kernel, by exercising it
 * (e.g. soft-dirty must be seen to set bit 55 on a written page).
 * Returns 0 and fills *info (also when the backend is unusable: see
 * info->status), or -EINVAL for an unknown backend.
 */
OOH_API int ooh_probe(enum ooh_backend backend, struct ooh_backend_info *info);

/* "pagemap", "softdirty", "uffd", "mprotect", "auto"; NULL if unknown. */
OOH_API const char *ooh_backend_name(enum ooh_backend backend);
/* Inverse of ooh_backend_name(); -EINVAL if unknown. */
OOH_API int ooh_backend_from_name(const char *name);

/* A virtual address range of the target, [start, start + len). */
struct ooh_range {
	uint64_t start; /* page-aligned */
	uint64_t len;   /* > 0, page-aligned */
};

#define OOH_OPEN_START (1u << 0) /* arm right away (as ooh_start()) */

struct ooh_open_opts {
	uint32_t size;            /* sizeof(struct ooh_open_opts): lets the struct grow */
	enum ooh_backend backend; /* OOH_BACKEND_AUTO picks the best usable one */
	pid_t pid;                /* 0 or getpid(): the calling process */
	uint32_t flags;           /* OOH_OPEN_* */
	const struct ooh_range *ranges; /* NULL and nr_ranges 0: whole address space */
	size_t nr_ranges;
};

typedef struct ooh_tracker ooh_tracker;

/*
 * Open a tracker.  Errors: -EINVAL (bad options, unaligned/overlapping/empty
 * ranges, backend unable to do what was asked), -ESRCH (no such pid),
 * -EPERM/-EACCES (not allowed to track that pid), -EOPNOTSUPP (backend not
 * usable on this kernel; ooh_probe() says why), -ENOMEM.
 */
OOH_API int ooh_open(const struct ooh_open_opts *opts, ooh_tracker **tracker);

/* Stop if started and release everything; the handle is invalid afterwards
 * (any later call with it returns -EBADF). */
OOH_API int ooh_close(ooh_tracker *tracker);

/*
 * Arm (or re-arm) tracking: everything is considered clean from now on and
 * any interval in progress is discarded.  Pages written afterwards are
 * reported by the next ooh_collect().
 */
OOH_API int ooh_start(ooh_tracker *tracker);

/* Disarm: writes cost nothing any more and are no longer recorded.
 * Collect what you need before stopping.  -EINVAL if not started. */
OOH_API int ooh_stop(ooh_tracker *tracker);

/* Flags for ooh_collect(). */
#define OOH_COLLECT_REARM (1u << 0) /* begin the next interval atomically */
/* The caller keeps every thread of the target stopped for the whole call
 * (e.g. SIGSTOP, and has seen it stop): a backend that would otherwise
 * freeze another process itself to re-arm atomically (softdirty) skips
 * that.  A write by a thread that runs during the call may be lost. */
#define OOH_COLLECT_FROZEN (1u << 1)
/* Pages marked with ooh_mark_dirty() stay marked through this re-arming
 * collect (reported, not watched) instead of being tracked again. */
#define OOH_COLLECT_KEEP_MARKED (1u << 2)
/* This interval ends where the caller's collect of another tracker just
 * ended its own, when the backend can: the hypervisor backends then skip
 * their harvest hypercall (one harvest serves every tracker of the guest),
 * so that collecting several trackers at one instant costs one.  Writes
 * made after that collect come in the next interval.  Backends without a
 * shared harvest take a collect as usual. */
#define OOH_COLLECT_JOINED (1u << 3)

/* Result flags of ooh_collect(). */
#define OOH_RESULT_MORE     (1u << 0) /* buffer full: call again to continue this interval */
#define OOH_RESULT_OVERFLOW (1u << 1) /* precision lost: treat all tracked pages as dirty */

struct ooh_collect_result {
	uint64_t count;  /* addresses written into pages[] */
	uint32_t flags;  /* OOH_RESULT_* */
	uint32_t reserved;
};

/*
 * Collect dirty pages.  Writes up to cap page-aligned addresses into
 * pages[], sorted ascending, each once.  The first call of an interval
 * takes the backend's dirty set; when it does not fit, OOH_RESULT_MORE is
 * set and the following calls (same flags) return the rest, still
 * ascending, until a call returns without OOH_RESULT_MORE; the next call
 * after that begins a new interval.
 *
 * Without OOH_COLLECT_REARM the dirty state is only read: the next interval
 * reports the same pages again (plus new ones).  With it, the pages are
 * write-protected again as they are taken, so a write racing with the call
 * lands in this interval or the next, never nowhere.
 *
 * res is required (overflow must not go unseen).  Returns 0, or -EBADF
 * (closed handle), -EINVAL (not started, bad arguments, flags changed in a
 * continuation), -ESRCH (target exited, or replaced its address space with
 * execve: open a new tracker), other -errno from the kernel.
 */
OOH_API int ooh_collect(ooh_tracker *tracker, uint64_t *pages, size_t cap, unsigned flags,
		struct ooh_collect_result *res);

/*
 * Declare pages dirty: the next ooh_collect() interval reports every page
 * of the ranges (clipped to the tracked ranges) whether written or not,
 * and until then the backend may stop watching them, so that writes to
 * them cost nothing (backends with OOH_CAP_MARK_UNWATCHES: pagemap lifts
 * their write protection; the others keep watching them).  For
 * "hot" pages the caller expects to be written again anyway.  The pages
 * stay marked (reported by every collect) until a collect with
 * OOH_COLLECT_REARM and without OOH_COLLECT_KEEP_MARKED, or ooh_start(),
 * has taken them; after that they are tracked as usual.  Returns 0, or
 * -EBADF, -EINVAL (not started, unaligned/empty ranges), -ENOMEM, other
 * -errno from the kernel.  (Since 1.1.0.)
 */
OOH_API int ooh_mark_dirty(ooh_tracker *tracker, const struct ooh_range *ranges, size_t nr_ranges);

/* The backend a tracker uses, and its capabilities (OOH_CAP_*), or -EBADF. */
OOH_API int ooh_tracker_backend(ooh_tracker *tracker);
OOH_API int ooh_tracker_caps(ooh_tracker *tracker);

/* Text for a negative errno returned by this library (never NULL). */
OOH_API const char *ooh_strerror(int err);

/*
 * Sub-page write protection (128-byte sub-pages, 32 per 4 KiB page), for
 * guard-based allocators (LeanGuard-style).
 *
 * A sub-page protection domain covers ranges of the calling process.  Each
 * 4 KiB page carries a 32-bit write-permission vector: bit i set = bytes
 * [i*128, i*128+128) writable; OOH_SPP_ALL_WRITABLE = no protection.  A
 * write to a protected sub-page does not land: the writing thread gets
 * SIGSEGV, synchronously, with si_addr = the exact faulting address and
 * si_code = OOH_SEGV_SPPERR (unlike the original OoH-SPP, which injected #GP
 * without an address).  Writes to the writable sub-pages of a protected
 * page land as usual.  Returning from the SIGSEGV handler retries the write
 * (as for any SIGSEGV); release the sub-page, or siglongjmp, to go on.
 *
 * Backends: "mprotect" (any x86-64 Linux: the page is read-only, the write
 * faults, a permitted one is single-stepped with the page writable while
 * the process's other threads are parked) and "ooh" (OoH virtual SPP under
 * ooh-l0, see ooh_spp_open(3)).  Install your own SIGSEGV/SIGTRAP handlers
 * before ooh_spp_open(): the library's handlers chain to them.
 */
#define OOH_SPP_SUBPAGE_SIZE 128u
#define OOH_SPP_SUBPAGES_PER_PAGE 32u
#define OOH_SPP_ALL_WRITABLE 0xffffffffu

/* si_code of the SIGSEGV of a sub-page violation.  Negative (the range
 * user-generated codes use, so never a code the kernel gives a fault);
 * si_addr is the exact address of the first protected byte written. */
#define OOH_SEGV_SPPERR (-0x5350)

/* Sub-page protection backends.  Values are ABI: never renumbered. */
enum ooh_spp_backend {
	OOH_SPP_BACKEND_AUTO = 0,     /* ooh if usable, else mprotect */
	OOH_SPP_BACKEND_MPROTECT = 1, /* software: mprotect + SIGSEGV + single-step */
	OOH_SPP_BACKEND_OOH = 2,      /* /dev/ooh under ooh-l0: virtual SPP */
};
#define OOH_SPP_BACKEND_MAX 2

/* ooh_spp_open() flags: the low byte picks the backend. */
#define OOH_SPP_OPEN_BACKEND(b) ((unsigned)(b) & 0xffu)
#define OOH_SPP_OPEN_BACKEND_MASK 0xffu
/* The caller protects only private anonymous read/write memory it mapped
 * itself and does not unmap while protected (an allocator's heap): the
 * domain skips the /proc/self/maps check of ooh_spp_protect*, which costs
 * time in proportion to the process's mappings.  (Since 1.2.0.) */
#define OOH_SPP_OPEN_OWNED_MEMORY 0x100u

typedef struct ooh_spp ooh_spp;

/* Open a sub-page protection domain on the calling process. */
OOH_API int ooh_spp_open(ooh_spp **spp, unsigned flags);
/* Set the write-permission vector of every page in [addr, addr + len). */
OOH_API int ooh_spp_protect(ooh_spp *spp, void *addr, size_t len, uint32_t writable_mask);
/* Set per-page vectors: masks[i] applies to page addr + i * 4096. */
OOH_API int ooh_spp_protect_pages(ooh_spp *spp, void *addr, const uint32_t *masks, size_t nr_pages);
/*
 * Change the vectors of pages this domain already protects, for callers
 * that own the memory and have not unmapped it since (allocators): no
 * mapping check, no allocation, and on the software backend no mprotect
 * (the page stays write-protected, only the recorded vector changes).
 * Every page must be protected by spp (vector not OOH_SPP_ALL_WRITABLE)
 * and no new vector may be OOH_SPP_ALL_WRITABLE (use ooh_spp_release for
 * that).  masks[i] applies to page addr + i * 4096.  All or nothing.
 * Returns 0, -EINVAL (addr not page-aligned, nr_pages 0 or more than
 * OOH_SPP_UPDATE_MAX_PAGES or past the end of the address space, masks
 * NULL, a new vector ALL_WRITABLE), -ENOENT (a page not protected by this
 * domain), -EBADF (not an open domain), or the backend's error.  It
 * never calls malloc, so a malloc implementation may call it.  A page
 * unmapped since it was protected breaks the contract: see
 * ooh_spp_update(3).  (Since 1.2.0.)
 */
#define OOH_SPP_UPDATE_MAX_PAGES (1u << 20)
OOH_API int ooh_spp_update(ooh_spp *spp, void *addr, const uint32_t *masks, size_t nr_pages);
/* Read back the vector of the page containing addr. */
OOH_API int ooh_spp_query(ooh_spp *spp, const void *addr, uint32_t *writable_mask);
/* Make [addr, addr + len) fully writable again. */
OOH_API int ooh_spp_release(ooh_spp *spp, void *addr, size_t len);
/* Release all protections and the domain. */
OOH_API int ooh_spp_close(ooh_spp *spp);
/* The backend a domain uses (enum ooh_spp_backend), or -EBADF. */
OOH_API int ooh_spp_backend(ooh_spp *spp);
/* "auto", "mprotect", "ooh"; NULL if unknown. */
OOH_API const char *ooh_spp_backend_name(enum ooh_spp_backend backend);
/* Whether a backend works here: 0, or -errno with reason filled (may be NULL). */
OOH_API int ooh_spp_probe(enum ooh_spp_backend backend, char *reason, size_t len);

/* Counters of the calling process's software SPP (mprotect backend). */
struct ooh_spp_stats {
	uint64_t permitted;   /* writes let through by single-stepping */
	uint64_t violations;  /* writes refused (SIGSEGV OOH_SEGV_SPPERR) */
	uint64_t rewound;     /* of which: detected after the step (store straddling
			       * into a protected sub-page) and undone */
	uint64_t parks;       /* permitted writes that had to park other threads */
	uint64_t unparkable;  /* threads found blocking the park signal (not stopped) */
	uint64_t pkeys;       /* 1: windows open a protection key for the faulting
			       * thread only (nobody parked); 0: page made writable,
			       * other threads parked */
};
OOH_API int ooh_spp_stats(struct ooh_spp_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* OOH_H */
