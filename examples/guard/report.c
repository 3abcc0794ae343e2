/* SPDX-License-Identifier: MIT */
/*
 * ooh-guard's reports and the stacks they name.
 *
 * At malloc and free the call stack is taken as return addresses only
 * (glibc's backtrace(): the unwinder, no symbols) and stored once in a
 * stack depot: a hash set of (thread, stack), lock-free to insert, so a
 * slot keeps a 32-bit id and a hot call site costs its memory once.  Symbols are
 * looked up (dladdr) only when a report is written.  Reports are formatted
 * into a static buffer and written with write(2): they run inside a
 * SIGSEGV handler, and inside malloc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guard.h"

#define DEPOT_BYTES ((size_t)1 << 30)
#define DEPOT_BUCKETS (1u << 20)

struct stack {
	uint32_t next;   /* id of the next stack in the bucket, 0 = end */
	uint32_t hash;
	uint32_t n;
	uint32_t tid;    /* the thread that allocated or freed */
	uintptr_t pc[];
};

static char *depot;
static _Atomic size_t depot_used = 8; /* id 0 means "no stack" */
static _Atomic uint32_t *buckets;
static atomic_int report_lock;

static __thread pid_t my_tid __attribute__((tls_model("initial-exec")));

pid_t guard_tid(void)
{
	if (!my_tid)
		my_tid = gettid();
	return my_tid;
}

static uint32_t hash_pcs(const uintptr_t *pc, int n, uint32_t tid)
{
	uint64_t h = (0xcbf29ce484222325ull ^ tid) * 0x100000001b3ull;

	for (int i = 0; i < n; i++)
		h = (h ^ pc[i]) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

static struct stack *stack_at(uint32_t id)
{
	return id ? (struct stack *)(depot + (size_t)id * 8) : NULL;
}

static uint32_t depot_put(const uintptr_t *pc, int n, uint32_t tid)
{
	uint32_t h = hash_pcs(pc, n, tid);
	_Atomic uint32_t *b = &buckets[h & (DEPOT_BUCKETS - 1)];
	uint32_t head = atomic_load_explicit(b, memory_order_acquire);

	for (uint32_t id = head; id; id = stack_at(id)->next) {
		struct stack *s = stack_at(id);
		if (s->hash == h && s->n == (uint32_t)n && s->tid == tid &&
		    !memcmp(s->pc, pc, n * sizeof(*pc)))
			return id;
	}
	size_t len = sizeof(struct stack) + n * sizeof(*pc);
	size_t at = atomic_fetch_add(&depot_used, len);
	if (at + len > DEPOT_BYTES)
		return 0;
	struct stack *s = (struct stack *)(depot + at);
	s->hash = h;
	s->n = (uint32_t)n;
	s->tid = tid;
	memcpy(s->pc, pc, n * sizeof(*pc));
	uint32_t id = (uint32_t)(at / 8);
	/* Publish; a racing insert of the same stack only wastes a copy. */
	do
		s->next = head;
	while (!atomic_compare_exchange_weak_explicit(b, &head, id, memory_order_release,
						      memory_order_acquire));
	return id;
}

/* The calling thread and its stack, as a depot id: a slot keeps 4 bytes
 * for both, and a thread's hot call site costs its memory once. */
uint32_t stack_capture(uintptr_t caller)
{
	void *buf[MAX_DEPTH + 6];
	int n, from = 0;

	if (!depot)
		return 0;
	if (!g.cfg.depth)
		return depot_put((const uintptr_t *)buf, 0, (uint32_t)guard_tid());
	/* The unwinder costs per frame: ours (at most 5) and depth more. */
	n = backtrace(buf, (int)g.cfg.depth + 6);
	/* Drop our own frames: the stack starts at the allocator's caller. */
	for (int i = 0; i < n; i++) {
		if ((uintptr_t)buf[i] == caller) {
			from = i;
			break;
		}
	}
	n -= from;
	if (n > (int)g.cfg.depth)
		n = (int)g.cfg.depth;
	if (n < 0)
		n = 0;
	return depot_put((const uintptr_t *)&buf[from], n, (uint32_t)guard_tid());
}

/* ---- output ---- */

static char out[16384];
static size_t out_len;

static void flush_out(void)
{
	int fd = g.cfg.log_fd >= 0 ? g.cfg.log_fd : 2;
	size_t done = 0;

	while (done < out_len) {
		ssize_t w = write(fd, out + done, out_len - done);
		if (w <= 0) {
			if (fd == 2)
				break;
			fd = 2; /* the log went away (closed by the program) */
			continue;
		}
		done += (size_t)w;
	}
	out_len = 0;
}

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(out + out_len, sizeof(out) - out_len, "==%d== ", (int)getpid());

	if (n > 0 && (size_t)n < sizeof(out) - out_len)
		out_len += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(out + out_len, sizeof(out) - out_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_len += (size_t)n < sizeof(out) - out_len ? (size_t)n : sizeof(out) - out_len - 1;
	if (out_len > sizeof(out) - 512)
		flush_out();
}

static void lock_report(void)
{
	spin_lock(&report_lock);
}

static void unlock_report(void)
{
	spin_unlock(&report_lock);
}

void guard_say(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lock_report();
	put("ooh-guard: %s", msg);
	/* Said on stderr, and in the log too when there is one. */
	if (g.cfg.log_fd >= 0) {
		n = (int)out_len;
		if (write(2, out, (size_t)n) < 0)
			errno = 0;
	}
	flush_out();
	unlock_report();
}

/* The name of the function holding pc, or "?"; off its offset. */
static const char *symbol(uintptr_t pc, uintptr_t *off, const char **module, uintptr_t *moff)
{
	Dl_info info;

	*off = *moff = 0;
	*module = "?";
	if (!dladdr((void *)(pc - 1), &info))
		return "?";
	if (info.dli_fname)
		*module = info.dli_fname;
	*moff = pc - (uintptr_t)info.dli_fbase;
	if (!info.dli_sname)
		return "?";
	*off = pc - (uintptr_t)info.dli_saddr;
	return info.dli_sname;
}

static void put_stack(const char *what, uint32_t id)
{
	struct stack *s = stack_at(id);

	if (s)
		put("%s by thread %u:\n", what, s->tid);
	else
		put("%s by thread ?:\n", what);
	if (!s || !s->n) {
		put("    (no stack recorded)\n");
		return;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		uintptr_t off, moff;
		const char *mod, *sym = symbol(s->pc[i], &off, &mod, &moff);
		put("    #%u 0x%lx in %s+0x%lx (%s+0x%lx)\n", i, (unsigned long)s->pc[i], sym,
		    (unsigned long)off, mod, (unsigned long)moff);
	}
}

static const char *const kind_names[] = {
	[K_OVERFLOW] = "heap-buffer-overflow",
	[K_UNDERFLOW] = "heap-buffer-underflow",
	[K_WRITE_AFTER_FREE] = "write-after-free",
	[K_SLACK] = "slack-corruption",
	[K_DOUBLE_FREE] = "double-free",
	[K_INVALID_FREE] = "invalid-free",
};

void report(enum guard_kind kind, uintptr_t addr, uintptr_t obj, size_t size,
	    const struct slot *s, const char *note)
{
	bool is_free = kind == K_DOUBLE_FREE || kind == K_INVALID_FREE;
	long long offset = obj ? (long long)(addr - obj) : 0;
	const char *site = "?";

	if (s && g.cfg.report_only) {
		/* Each object once per kind. */
		uint8_t bit = (uint8_t)KIND_BIT(kind);
		if (((struct slot *)s)->reported & bit)
			return;
		((struct slot *)s)->reported |= bit;
	}
	lock_report();
	atomic_fetch_add(&g.reports, 1);
	put("ooh-guard: ERROR: %s at 0x%lx (%s) in thread %d\n", kind_names[kind],
	    (unsigned long)addr, is_free ? "free" : kind == K_SLACK ? note : "write",
	    (int)guard_tid());
	if (obj) {
		const char *where;
		unsigned long dist;
		if (addr >= obj + size) {
			where = "after the end of";
			dist = (unsigned long)(addr - obj - size);
		} else if (addr < obj) {
			where = "before the start of";
			dist = (unsigned long)(obj - addr);
		} else {
			where = "inside";
			dist = (unsigned long)(addr - obj);
		}
		put("0x%lx is %lu bytes %s the %zu-byte object [0x%lx, 0x%lx)\n",
		    (unsigned long)addr, dist, where, size, (unsigned long)obj,
		    (unsigned long)(obj + size));
	} else {
		put("0x%lx is not the start of any live object%s%s\n", (unsigned long)addr,
		    note ? ": " : "", note ? note : "");
	}
	if (s) {
		struct stack *st = stack_at(s->alloc_stack);
		uintptr_t off, moff;
		const char *mod;
		if (st && st->n)
			site = symbol(st->pc[0], &off, &mod, &moff);
		put_stack("allocated", s->alloc_stack);
		if (s->free_stack)
			put_stack("freed", s->free_stack);
	}
	if (is_free) {
		uintptr_t pcs[MAX_DEPTH];
		void *buf[MAX_DEPTH + 16];
		int n = backtrace(buf, MAX_DEPTH);
		put("bad free by thread %d:\n", (int)guard_tid());
		for (int i = 0; i < n && i < MAX_DEPTH; i++) {
			uintptr_t off, moff;
			const char *mod, *sym;
			pcs[i] = (uintptr_t)buf[i];
			sym = symbol(pcs[i], &off, &mod, &moff);
			put("    #%d 0x%lx in %s+0x%lx (%s+0x%lx)\n", i, (unsigned long)pcs[i], sym,
			    (unsigned long)off, mod, (unsigned long)moff);
		}
	}
	put("ooh-guard: SUMMARY: %s addr=0x%lx object=0x%lx size=%zu offset=%lld thread=%d site=%s\n",
	    kind_names[kind], (unsigned long)addr, (unsigned long)obj, size, offset,
	    (int)guard_tid(), site);
	flush_out();
	unlock_report();
	if (!g.cfg.report_only) {
		/* abort() with its default action, whatever the program set. */
		default_action(SIGABRT);
		abort();
	}
}

void report_init(void)
{
	void *buf[4];

	depot = mmap(NULL, DEPOT_BYTES, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	buckets = mmap(NULL, DEPOT_BUCKETS * sizeof(*buckets), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (depot == MAP_FAILED || buckets == MAP_FAILED) {
		depot = NULL;
		return;
	}
	/* The unwinder loads libgcc_s on its first use (a malloc): now, while
	 * nested calls still go to glibc. */
	backtrace(buf, 4);
}

void report_fork_prepare(void)
{
	lock_report();
}

void report_fork_parent(void)
{
	unlock_report();
}

void report_fork_child(void)
{
	my_tid = 0; /* the child's thread has a tid of its own */
	unlock_report();
}
