/* SPDX-License-Identifier: MIT */
/* Private to libooh: tracker state, backend interface, helpers. */
#ifndef OOH_INTERNAL_H
#define OOH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ooh.h"

#define OOH_PAGE_SIZE 4096ull
#define OOH_PAGE_MASK (~(OOH_PAGE_SIZE - 1))
/* End of the x86-64 user address space (47-bit), for "whole address space". */
#define OOH_USER_END 0x7ffffffff000ull

/* A run of pages [start, end).  Same layout as the kernel's struct
 * page_region so the pagemap backend can scan straight into a list. */
struct ooh_region {
	uint64_t start, end, flags;
};

struct region_list {
	struct ooh_region *v;
	size_t n, cap;
};

int region_list_reserve(struct region_list *l, size_t cap);
int region_list_add(struct region_list *l, uint64_t start, uint64_t end);
/* Sort and merge overlapping runs (only a check when already sorted). */
void region_list_normalize(struct region_list *l);
/* Keep only the parts inside the sorted, disjoint ranges r[0..n). */
void region_list_clip(struct region_list *l, const struct ooh_region *r, size_t n);
void region_list_free(struct region_list *l);

/* One line of /proc/PID/maps. */
struct vma {
	uint64_t start, end;
	bool read, write, exec, shared;
	bool anon;        /* no backing file (includes [heap], [stack]) */
	uint64_t offset;  /* file offset of start (the kernel shows 0 for anon) */
	uint64_t dev, ino;/* backing file: device (major << 32 | minor), inode */
	char name[64];    /* path or [heap]/[stack]/[vdso]..., truncated */
};

/* Reads /proc/PID/maps, keeping only VMAs that intersect the n ranges r
 * (all when r is NULL): keeps memory use small, which matters when the
 * process is out of VMAs and cannot mmap.  *out is malloc'ed.  Returns
 * the count or -errno. */
ssize_t read_maps(pid_t pid, const struct ooh_region *r, size_t n, struct vma **out);
/* The same from an open maps file (or anything in its format: the fuzzer,
 * tests/fuzz/libooh-maps); does not close fd. */
ssize_t read_maps_fd(int fd, const struct ooh_region *r, size_t n, struct vma **out);

struct ooh_tracker;

struct backend_ops {
	enum ooh_backend id;
	const char *name;
	uint32_t caps;
	/* Exercise the mechanism; on failure fill reason, return -errno. */
	int (*probe)(char *reason, size_t len);
	int (*open)(struct ooh_tracker *t);
	void (*close)(struct ooh_tracker *t);
	int (*start)(struct ooh_tracker *t);
	int (*stop)(struct ooh_tracker *t);
	/* Append the pages dirtied since the last re-arm to out (any order);
	 * re-arm them when rearm; set OOH_RESULT_OVERFLOW in *rflags when
	 * precision was lost. */
	int (*snapshot)(struct ooh_tracker *t, bool rearm, struct region_list *out,
			uint32_t *rflags);
	/* Optional: stop watching the sorted, disjoint runs l (ooh_mark_dirty:
	 * core reports them at the next collect in any case). */
	int (*unwatch)(struct ooh_tracker *t, const struct region_list *l);
};

extern const struct backend_ops ooh_backend_pagemap;
extern const struct backend_ops ooh_backend_softdirty;
extern const struct backend_ops ooh_backend_uffd;
extern const struct backend_ops ooh_backend_mprotect;
extern const struct backend_ops ooh_backend_ooh_spml;
extern const struct backend_ops ooh_backend_ooh_epml;

struct ooh_tracker {
	pthread_mutex_t lock;         /* serializes every call on this handle */
	const struct backend_ops *ops;
	pid_t pid;                    /* always a real pid (getpid() for self) */
	bool self;
	bool whole;                   /* ranges = whole user address space */
	struct ooh_region *ranges;    /* sorted, disjoint, page-aligned */
	size_t nr_ranges;
	bool started;
	int pidfd;                    /* remote: readable once the target exits */
	int mm_fd;                    /* remote: /proc/PID/pagemap, bound to its mm */

	/* The interval being handed out with continuation. */
	bool in_interval;
	unsigned interval_flags;
	uint32_t interval_result;
	struct region_list pending;
	size_t pending_idx;
	uint64_t pending_next;        /* next page to hand out in pending.v[pending_idx] */
	unsigned collect_flags;       /* OOH_COLLECT_* of the collect in progress */
	struct region_list forced;    /* ooh_mark_dirty(): reported until a re-arm */

	void *priv;                   /* backend state */

	/* Registry bookkeeping (guarded by the registry lock). */
	int users;
	bool closing;
	struct ooh_tracker *next;
};

/* Small helpers shared by backends. */
int pidfd_open_compat(pid_t pid);
int open_proc(pid_t pid, const char *file, int flags);
int write_file_str(const char *path, const char *s);
int proc_thread_count(pid_t pid);
void set_reason(char *reason, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Ranges r[] intersecting [start, end)? */
bool ranges_intersect(const struct ooh_region *r, size_t n, uint64_t start, uint64_t end);

/* Remote helpers (ptrace): freeze every thread of pid, run a syscall in it. */
struct ptrace_freeze {
	pid_t pid;
	pid_t *tids;
	size_t n;
};
int freeze_target(pid_t pid, struct ptrace_freeze *f);
void thaw_target(struct ptrace_freeze *f);
/* Runs syscall nr(args) in the (frozen) main thread; returns its result. */
long inject_syscall(struct ptrace_freeze *f, long nr, long a1, long a2, long a3);
/* A userfaultfd created inside pid, duplicated into this process. */
int remote_userfaultfd(pid_t pid, int uffd_flags);

/* ---- sub-page protection (src/spp.c front, backends/spp-*.c) ---- */

struct ooh_spp;

struct spp_backend_ops {
	enum ooh_spp_backend id;
	const char *name;
	int (*probe)(char *reason, size_t len);
	int (*open)(struct ooh_spp *s);
	/* Drop every protection of the domain. */
	void (*close)(struct ooh_spp *s);
	/* Give page addr + i*4096 the vector masks ? masks[i] : mask, i < n.
	 * The front has checked alignment and (unless release) that the
	 * pages are mapped writable; prot[i] is each page's protection when
	 * writable.  All or nothing. */
	int (*set)(struct ooh_spp *s, uint64_t addr, size_t n, const uint32_t *masks,
		   uint32_t mask, const int *prot, bool release);
	/* ooh_spp_update: pages addr + i*4096 (i < n, n <= OOH_SPP_UPDATE_MAX_PAGES)
	 * all protected by this domain get masks[i] (none ALL_WRITABLE, the
	 * front checked), else -ENOENT and nothing changes.  All or nothing.
	 * Never calls malloc (the caller may be a malloc), never reads /proc. */
	int (*update)(struct ooh_spp *s, uint64_t addr, size_t n, const uint32_t *masks);
	/* The vector of the page at addr (page-aligned), ALL_WRITABLE if none. */
	int (*query)(struct ooh_spp *s, uint64_t addr, uint32_t *mask);
	int (*stats)(struct ooh_spp_stats *st);
	/* The protection page had when writable if some domain protects it
	 * (so it is read-only because of us), else -1. */
	int (*page_prot)(uint64_t page);
	/* A page the kernel shows writable although the domain protects it:
	 * is that record stale (the page was unmapped and mapped again)? */
	bool (*stale)(uint64_t page);
};

extern const struct spp_backend_ops ooh_spp_backend_mprotect;
extern const struct spp_backend_ops ooh_spp_backend_ooh;

struct ooh_spp {
	const struct spp_backend_ops *ops;
	int id;          /* 1..: owner tag of the domain's pages */
	bool owned;      /* OOH_SPP_OPEN_OWNED_MEMORY: no mapping check */
	void *priv;
};

#endif
