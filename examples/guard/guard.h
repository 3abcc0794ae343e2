/* SPDX-License-Identifier: MIT */
/* Private to ooh-guard: the heap's layout, its metadata, the reporter. */
#ifndef OOH_GUARD_INTERNAL_H
#define OOH_GUARD_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ooh.h"
#include "ooh-guard.h"

#define PAGE 4096ul
#define SUB OOH_SPP_SUBPAGE_SIZE              /* 128: one guard */
#define NCLASS 31                             /* areas of 128 .. 3968 bytes */
#define SMALL_MAX_AREA (NCLASS * SUB)
#define LARGE_CLASS 0xff
#define PATTERN 0xbd                          /* slack and free areas */
#define MAX_DEPTH 30

enum slot_state { SLOT_FREE, SLOT_LIVE, SLOT_QUARANTINED };

/* What a report is about. */
enum guard_kind {
	K_OVERFLOW, K_UNDERFLOW, K_WRITE_AFTER_FREE, K_SLACK, K_DOUBLE_FREE, K_INVALID_FREE,
};

/* slot.reported: sub-pages report mode opened, and kinds reported. */
#define OPEN_GUARD 1u
#define OPEN_AREA 2u
#define KIND_BIT(k) (4u << (k))

/* One object place, 16 bytes (a 16-byte object's slot is 256: metadata
 * is 6 % of the heap).  Read by the fault handler without the lock: state
 * is stored last (release) when a slot goes live. */
struct slot {
	uint32_t size;        /* requested bytes (large runs: see run.size) */
	uint16_t off;         /* object start - area start */
	_Atomic uint8_t state;
	uint8_t reported;     /* OPEN_* and KIND_BIT()s (report mode) */
	uint32_t alloc_stack, free_stack; /* stack depot ids (thread and stack), 0 = none */
};

/* A span of small slots of one class, or one large object with its guard
 * page.  Lives in the metadata arena, found through the page map. */
struct run {
	uintptr_t start;      /* first page (large, left side: the guard page) */
	uint32_t npages;      /* all pages, the guard page included */
	uint8_t cls;          /* size class, or LARGE_CLASS */
	uint8_t sampled;
	uint16_t nslots;
	uint16_t filled;      /* small, software backend: pages holding the pattern */
	uintptr_t area;       /* large: first data page */
	size_t size;          /* large: requested bytes */
	size_t obj;           /* large: object address */
	uint32_t *masks;      /* small: the vector of each page */
	struct slot *slots;   /* small: nslots; large: one */
	uint32_t next_free;   /* large: free-list link (run id + 1) */
};

struct guard_config {
	unsigned sample;      /* 1 = full mode */
	unsigned align;       /* 1..16 */
	bool left;
	bool report_only;
	size_t quarantine;
	unsigned depth;
	unsigned max_sampled;
	size_t page_min;      /* objects this big get pages of their own */
	int backend;          /* enum ooh_spp_backend requested */
	int log_fd;
};

struct guard {
	_Atomic int state;    /* 0 new, 1 starting, 2 guarded, 3 plain */
	struct guard_config cfg;
	ooh_spp *spp;
	int backend;          /* the one in use, -1 none */
	int mem_fd;           /* /proc/self/mem (software backend) */
	uintptr_t base, end, small_next, small_end, large_next;
	_Atomic(uint32_t) *pagemap;
	struct run *runs;
	uint32_t nruns, runs_cap;
	pthread_mutex_t lock;
	_Atomic bool degraded;
	bool large_failed;    /* a guard page could not be protected */
	uint32_t large_carved, large_cap; /* large runs made, and the limit */
	unsigned long map_max;  /* vm.max_map_count */
	_Atomic uint64_t guarded_allocs, plain_allocs, live_objects, live_bytes, reports;
	uint64_t quarantined_bytes;
	unsigned sampled_live;
};

extern struct guard g;

/* A lock for what signal handlers and fork handlers also take (no
 * pthread mutex there): spins, yielding. */
static inline void spin_lock(atomic_int *l)
{
	int zero = 0;

	while (!atomic_compare_exchange_weak(l, &zero, 1)) {
		zero = 0;
		sched_yield();
	}
}

static inline void spin_unlock(atomic_int *l)
{
	atomic_store(l, 0);
}

/* heap.c */
int heap_init(void);
void heap_set_limits(void);
void *heap_alloc(size_t size, size_t align, bool zero, uintptr_t caller);
/* 1: ours and freed (or reported), 0: not ours. */
int heap_free(void *p, uintptr_t caller);
size_t heap_size(const void *p);  /* requested size, or SIZE_MAX when not ours */
bool heap_owns(const void *p);
/* Bytes from p to the end of the live small object holding p (its pages
 * are read-only on the software backend), or SIZE_MAX if p is elsewhere. */
size_t heap_small_room(uintptr_t p, uintptr_t *obj, size_t *size);
int heap_kernel_write(void *p, const void *src, size_t n);
void heap_write(void *dst, const void *src, int byte, size_t n);
int heap_check_all(bool at_exit);
int heap_open_mem(void);
void heap_fork_prepare(void);
void heap_fork_parent(void);
void heap_fork_child(void);
/* The fault handler's question: a violation at addr; 1 if it reported it. */
int heap_violation(uintptr_t addr);
int heap_shed_mappings(void);

/* report.c */
uint32_t stack_capture(uintptr_t caller);
void report(enum guard_kind kind, uintptr_t addr, uintptr_t obj, size_t size,
	    const struct slot *s, const char *note);
void report_init(void);
void report_fork_prepare(void);
void report_fork_parent(void);
void report_fork_child(void);
void guard_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
pid_t guard_tid(void);

/* interpose.c */
extern __thread int guard_busy; /* inside the allocator: nested calls go to glibc */
extern __thread int guard_page_own; /* allocate on pages of their own (popen) */
int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* sig's disposition back to SIG_DFL and unblocked in this thread. */
void default_action(int sig);
void signals_install(void);

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

#endif
