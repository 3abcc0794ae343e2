/* SPDX-License-Identifier: MIT */
/*
 * Software sub-page protection (x86-64, the calling process).
 *
 * A page with a vector other than all-writable is mprotect'ed read-only.
 * A write to it faults (SIGSEGV, SEGV_ACCERR, write bit in the error code)
 * and our handler decodes si_addr:
 *
 *  - protected sub-page: a violation.  Nothing was written; the program's
 *    SIGSEGV disposition gets a siginfo with si_code OOH_SEGV_SPPERR and
 *    si_addr the exact faulting address (its handler is called, or the
 *    process dies of SIGSEGV if it had none).
 *  - writable sub-page, protection keys (the CPU has pku and the kernel
 *    enabled it, unless OOH_SPP_NO_PKEYS is set): protected pages carry a
 *    key of ours, write-disabled in every thread's PKRU, and the page stays
 *    PROT_WRITE; the window opens the key in the faulting thread's signal
 *    frame only and single-steps: no other thread can write meanwhile, so
 *    nobody is parked.  A thread without the key's rights at all (older
 *    than the key, or in a signal handler) faults once on a read and gets
 *    it write-disabled.  PKRU is per key, so a store crossing into the next
 *    page does not fault there: a fault in a page's last 64 bytes puts the
 *    next page, if protected, in the window's check too.
 *  - writable sub-page, parking (no keys): the writing thread opens a "window": every other
 *    thread of the process is parked (a real-time signal whose handler
 *    waits on a futex), the page is made writable, and the faulting
 *    instruction is single-stepped (TF set in the signal frame's EFLAGS,
 *    async signals blocked in the frame's mask).  The SIGTRAP that follows
 *    re-protects the page, unparks the others and restores TF and mask.
 *
 * Windows are serialized process-wide by one lock whose owner is a tid:
 * the window state (pages, snapshot, saved registers) belongs to that
 * thread alone, never a global "current gfn" shared by racing CPUs as in
 * the original OoH-SPP.  Parking is what makes a permitted write exact
 * with several threads: while the page is writable nobody else can write
 * to its protected sub-pages.  A process with one thread parks nobody.
 *
 * Stores that straddle into a protected sub-page (a vector store or memset
 * tail starting in a writable one: the fault reports only its first byte)
 * are caught after the step: the page was copied before it, and if any
 * byte of a protected sub-page changed, the page contents, the general
 * registers and the x87/SSE state are rewound to before the instruction
 * and the violation is delivered with si_addr = the first changed
 * protected byte.  (A straddling store that writes the very value a
 * protected byte already holds is not seen.)
 *
 * Not caught: writes by the kernel (read(2) into a protected page fails
 * with EFAULT), by other processes through shared memory, by threads that
 * block the park signal (counted in ooh_spp_stats().unparkable).  The
 * park signal is SIGRTMAX-1 (OOH_SPP_PARK_SIGNAL=n in the environment
 * overrides it).  fork: the child inherits the read-only pages, the
 * handlers and the vectors, so protection goes on in the child.
 * munmap: the kernel drops the read-only mapping; the stale vector is
 * dropped by the next ooh_spp_query/protect of the page (or release).
 * ooh_spp_update does not look (no /proc, no mprotect): on such a page it
 * succeeds and records a vector nothing enforces.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

#if defined(__x86_64__)

#define EFLAGS_TF 0x100ull
#define WIN_PAGES 4
#define MAX_PARK 4096
#define TOMB 1ull /* deleted slot (page addresses are 4 KiB aligned) */

struct rec {
	uint64_t page; /* 0: empty, TOMB: deleted */
	uint32_t mask;
	uint16_t domain;
	uint16_t prot; /* protection when writable */
};

/* Open-addressing hash of protected pages.  Read by the handlers under
 * slock; every writer holds slock with async signals blocked. */
static struct rec *table;
static size_t table_cap, table_used; /* used counts tombstones too */
static atomic_int slock;

/* Statistics. */
static atomic_ullong st_permitted, st_violations, st_rewound, st_parks, st_unparkable;

/* The window: owned by the thread whose tid is in wlock. */
static atomic_int wlock;
static struct {
	int n;
	uint64_t page[WIN_PAGES];
	uint32_t mask[WIN_PAGES];
	int prot[WIN_PAGES];
	unsigned char snap[WIN_PAGES][4096];
	greg_t gregs[NGREG];
	struct _libc_fpstate fp;
	bool have_fp;
	bool tf_was_set;
	sigset_t user_mask;
	bool parked_others;
	bool pkru_set;
	uint32_t user_pkru;   /* the frame's PKRU before the step (pkey mode) */
} win;

/* Protection-key mode: protected pages carry pkey, write-disabled in every
 * thread's PKRU; a window opens the key in the faulting thread's signal
 * frame only, so no other thread has to be parked. */
static bool use_pkeys;
static int pkey = -1;
static unsigned pkru_off; /* of PKRU in the (standard-format) XSAVE area */

/* Parking. */
static atomic_uint park_gen;
static atomic_uint ack_seq;  /* bumped by every ack: the owner sleeps on it */
static atomic_uint wlock_seq; /* bumped when the window lock is given back */
static atomic_int window_open;
static pid_t park_tid[MAX_PARK];
/* Threads inside on_park (asleep with the park signal blocked, yet about
 * to answer the next window): never mistaken for unparkable ones. */
#define IN_PARK_SLOTS 1024
static atomic_int in_park[IN_PARK_SLOTS];
static atomic_uint park_ack[MAX_PARK];
static int park_n;
static int park_sig;

static struct sigaction prev_segv, prev_trap, prev_park;
static int installed;
static sigset_t async_sigs; /* every signal but the synchronous ones */

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static uint32_t rdpkru(void)
{
	uint32_t eax, edx;
	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static void wrpkru(uint32_t v)
{
	__asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(v), "c"(0), "d"(0) : "memory");
}

#define PKEY_BITS(k) (3u << (2 * (k)))
#define PKEY_WD(k) (2u << (2 * (k)))
#define PKEY_AD(k) (1u << (2 * (k)))

/* PKRU in a signal frame's XSAVE area, or NULL without one. */
static uint32_t *frame_pkru(ucontext_t *uc)
{
	unsigned char *x = (unsigned char *)uc->uc_mcontext.fpregs;
	struct _fpx_sw_bytes *sw;
	uint64_t *xstate_bv;

	if (!x)
		return NULL;
	sw = (struct _fpx_sw_bytes *)(x + 464);
	if (sw->magic1 != FP_XSTATE_MAGIC1 || sw->xstate_size < pkru_off + 4)
		return NULL;
	xstate_bv = (uint64_t *)(x + 512);
	if (!(*xstate_bv & (1ull << 9))) {
		*xstate_bv |= 1ull << 9;
		*(uint32_t *)(x + pkru_off) = 0; /* the component's init value */
	}
	return (uint32_t *)(x + pkru_off);
}

/* Our handlers read and rewind protected pages: open the key here (the
 * kernel runs handlers with it access-disabled).  Returns the PKRU to put
 * back before running the program's handlers. */
static uint32_t open_key_here(void)
{
	uint32_t entry;

	if (!use_pkeys)
		return 0;
	entry = rdpkru();
	wrpkru(entry & ~PKEY_BITS(pkey));
	return entry;
}

static void close_key_here(uint32_t entry)
{
	if (use_pkeys)
		wrpkru(entry);
}

/* ---- the page table ---- */

static size_t slot_of(uint64_t page)
{
	return (size_t)(((page >> 12) * 0x9e3779b97f4a7c15ull) >> 20) & (table_cap - 1);
}

static struct rec *find(uint64_t page)
{
	if (!table)
		return NULL;
	for (size_t i = slot_of(page), k = 0; k < table_cap; i = (i + 1) & (table_cap - 1), k++) {
		if (table[i].page == page)
			return &table[i];
		if (!table[i].page)
			return NULL;
	}
	return NULL;
}

static struct rec *insert_slot(uint64_t page)
{
	struct rec *tomb = NULL;

	for (size_t i = slot_of(page), k = 0; k < table_cap; i = (i + 1) & (table_cap - 1), k++) {
		if (table[i].page == page)
			return &table[i];
		if (table[i].page == TOMB && !tomb)
			tomb = &table[i];
		if (!table[i].page) {
			if (tomb)
				return tomb;
			table_used++;
			return &table[i];
		}
	}
	return tomb;
}

/* Make room for n more records.  Call with slock held. */
static int reserve(size_t n)
{
	size_t live = 0, cap = table_cap ? table_cap : 1024;

	if (table && (table_used + n) * 4 <= table_cap * 3)
		return 0;
	for (size_t i = 0; i < table_cap; i++)
		live += table[i].page > TOMB;
	while ((live + n) * 2 > cap)
		cap *= 2;
	struct rec *t = mmap(NULL, cap * sizeof(*t), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return -ENOMEM;
	struct rec *old = table;
	size_t old_cap = table_cap;
	table = t;
	table_cap = cap;
	table_used = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].page > TOMB)
			*insert_slot(old[i].page) = old[i];
	if (old)
		munmap(old, old_cap * sizeof(*old));
	return 0;
}

static void spin_lock(atomic_int *l)
{
	int zero = 0;
	while (!atomic_compare_exchange_weak(l, &zero, 1)) {
		zero = 0;
		sched_yield();
	}
}

static void spin_unlock(atomic_int *l)
{
	atomic_store(l, 0);
}

/* slock from ordinary code: async signals blocked, so no handler of this
 * thread (ours, or a program's that writes to a protected page) can run
 * and spin on the lock we hold, and no park can stop us holding it. */
static void lock_state(sigset_t *old)
{
	pthread_sigmask(SIG_BLOCK, &async_sigs, old);
	spin_lock(&slock);
}

static void unlock_state(const sigset_t *old)
{
	spin_unlock(&slock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- copies the sanitizers must not check (the page is the program's) ---- */

__attribute__((no_sanitize("address")))
static void copy_page(void *dst, const void *src)
{
	volatile const uint64_t *s = src;
	uint64_t *d = dst;
	for (size_t i = 0; i < 4096 / 8; i++)
		d[i] = s[i];
}

__attribute__((no_sanitize("address")))
static void restore_page(void *dst, const void *src)
{
	volatile uint64_t *d = dst;
	const uint64_t *s = src;
	for (size_t i = 0; i < 4096 / 8; i++)
		d[i] = s[i];
}

/* First byte of a protected sub-page that differs from the snapshot, or -1. */
__attribute__((no_sanitize("address")))
static long first_changed_protected(const void *page, const unsigned char *snap, uint32_t mask)
{
	volatile const unsigned char *p = page;
	for (unsigned sp = 0; sp < 32; sp++) {
		if (mask & (1u << sp))
			continue;
		for (unsigned b = sp * 128; b < sp * 128 + 128; b++)
			if (p[b] != snap[b])
				return b;
	}
	return -1;
}

/* ---- parking the other threads ---- */

static void futex_wait(atomic_uint *addr, unsigned val, long timeout_ns)
{
	struct timespec ts = { 0, timeout_ns };
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, timeout_ns ? &ts : NULL, NULL, 0);
}

static void futex_wake_all(atomic_uint *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void on_park(int sig, siginfo_t *si, void *ctx)
{
	int saved_errno = errno;
	pid_t me = my_tid();
	int slot = -1;
	(void)sig; (void)si; (void)ctx;

	for (int k = 0; k < 8 && slot < 0; k++) {
		int zero = 0, i = (int)(((unsigned)me + (unsigned)k) % IN_PARK_SLOTS);
		if (atomic_compare_exchange_strong(&in_park[i], &zero, me))
			slot = i;
	}
	if (atomic_load(&window_open)) {
		unsigned g = atomic_load(&park_gen);
		for (int i = 0; i < park_n; i++) {
			if (park_tid[i] != me)
				continue;
			atomic_store(&park_ack[i], g);
			atomic_fetch_add(&ack_seq, 1);
			futex_wake_all(&ack_seq);
			while (atomic_load(&park_gen) == g)
				futex_wait(&park_gen, g, 0);
			break;
		}
	}
	if (slot >= 0)
		atomic_store(&in_park[slot], 0);
	errno = saved_errno;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Can thread tid not be stopped?  It blocks the park signal and sleeps in
 * the kernel (sigwait-style), or has not answered for 2 s.  A thread inside
 * our own handlers also has the signal blocked, but runs, and is parked as
 * soon as it leaves them: it is waited for.
 */
static bool unparkable(pid_t tid, uint64_t waited_us)
{
	char path[64], buf[2048];
	int fd;
	ssize_t n;

	for (int k = 0; k < 8; k++)
		if (atomic_load(&in_park[((unsigned)tid + (unsigned)k) % IN_PARK_SLOTS]) == tid)
			return false;
	if (waited_us > 2000000)
		return true;
	/* "/proc/self/task/<tid>/status", without stdio (signal context). */
	char digits[16];
	int nd = 0;
	for (unsigned t = (unsigned)tid; nd == 0 || t; t /= 10)
		digits[nd++] = (char)('0' + t % 10);
	strcpy(path, "/proc/self/task/");
	char *q = path + strlen(path);
	while (nd)
		*q++ = digits[--nd];
	strcpy(q, "/status");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *st = strstr(buf, "State:");
	char *l = strstr(buf, "SigBlk:");
	if (!l || !st)
		return false;
	st += 6;
	while (*st == ' ' || *st == '\t')
		st++;
	unsigned long long blk = strtoull(l + 7, NULL, 16);
	return (blk & (1ull << (park_sig - 1))) && *st != 'R';
}

/* Add the threads not yet listed; returns how many were added (-1: too many). */
static int list_threads(pid_t me)
{
	char buf[4096];
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int added = 0;
	long n;

	if (fd < 0)
		return -1;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type;
				 char name[]; } *d = (void *)(buf + off);
			off += d->reclen;
			if (d->name[0] < '0' || d->name[0] > '9')
				continue;
			pid_t tid = (pid_t)atoi(d->name);
			bool known = tid == me;
			for (int i = 0; i < park_n && !known; i++)
				known = park_tid[i] == tid;
			if (known)
				continue;
			if (park_n == MAX_PARK) {
				close(fd);
				return -1;
			}
			park_tid[park_n] = tid;
			atomic_store(&park_ack[park_n], 0);
			park_n++;
			added++;
		}
	}
	close(fd);
	return added;
}

/* Stop every other thread.  Called by the window owner.  Returns 0, or an
 * errno when the threads cannot be listed (no /proc, more than MAX_PARK):
 * then the write must not go through. */
static int park_others(pid_t me)
{
	unsigned g = atomic_fetch_add(&park_gen, 1) + 1;
	pid_t pid = getpid();
	int from = 0, added;

	park_n = 0;
	win.parked_others = false;
	atomic_store(&window_open, 1);
	while ((added = list_threads(me)) != 0) {
		if (added < 0) {
			win.parked_others = park_n > 0;
			return park_n == MAX_PARK ? EAGAIN : ENOSYS;
		}
		win.parked_others = true;
		for (int i = from; i < park_n; i++)
			if (syscall(SYS_tgkill, pid, park_tid[i], park_sig) < 0)
				atomic_store(&park_ack[i], g); /* gone */
		uint64_t t0 = now_us(), next = t0 + 1000;
		for (;;) {
			unsigned seq = atomic_load(&ack_seq);
			bool all = true, check = false;
			uint64_t t = now_us();
			if (t >= next) {
				check = true;
				next = t + 1000;
			}
			for (int i = from; i < park_n; i++) {
				if (atomic_load(&park_ack[i]) == g)
					continue;
				all = false;
				if (!check)
					continue;
				if (syscall(SYS_tgkill, pid, park_tid[i], 0) < 0) {
					atomic_store(&park_ack[i], g); /* exited */
				} else if (unparkable(park_tid[i], t - t0)) {
					atomic_store(&park_ack[i], g);
					atomic_fetch_add(&st_unparkable, 1);
				}
			}
			if (all)
				break;
			futex_wait(&ack_seq, seq, 1000000);
		}
		from = park_n;
	}
	if (win.parked_others)
		atomic_fetch_add(&st_parks, 1);
	return 0;
}

static void unpark_others(void)
{
	atomic_store(&window_open, 0);
	atomic_fetch_add(&park_gen, 1);
	futex_wake_all(&park_gen);
}

/* ---- delivering a violation ---- */

static void chain(const struct sigaction *prev, int sig, siginfo_t *si, void *ctx)
{
	if (prev->sa_flags & SA_SIGINFO) {
		prev->sa_sigaction(sig, si, ctx);
	} else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
		prev->sa_handler(sig);
	} else {
		/* Default action (a fault's SIGSEGV/SIGTRAP cannot be ignored). */
		struct sigaction dfl;
		sigset_t s;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(sig, &dfl, NULL);
		sigemptyset(&s);
		sigaddset(&s, sig);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
		if (sig == SIGSEGV && si->si_code != OOH_SEGV_SPPERR)
			return; /* the kernel's fault repeats, and kills */
		if (sig == SIGSEGV) {
			/* A violation: die of SIGSEGV now, never retry the write
			 * (another thread's window could let it through). */
			syscall(SYS_rt_tgsigqueueinfo, getpid(), my_tid(), sig, si);
			raise(SIGKILL); /* not reached */
		}
		raise(sig);
	}
}

/* Run the program's handler for sig with the mask it asked for. */
static void deliver(const struct sigaction *prev, int sig, siginfo_t *si, ucontext_t *uc)
{
	sigset_t m = uc->uc_sigmask;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&prev->sa_mask, s))
			sigaddset(&m, s);
	if (!(prev->sa_flags & SA_NODEFER))
		sigaddset(&m, sig);
	pthread_sigmask(SIG_SETMASK, &m, NULL);
	chain(prev, sig, si, uc);
}

static void violation(siginfo_t *kernel_si, ucontext_t *uc, uint64_t addr, int err)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (kernel_si)
		si = *kernel_si;
	si.si_signo = SIGSEGV;
	si.si_code = OOH_SEGV_SPPERR;
	si.si_errno = err;
	si.si_addr = (void *)(uintptr_t)addr;
	atomic_fetch_add(&st_violations, 1);
	deliver(&prev_segv, SIGSEGV, &si, uc);
}

/* ---- the window ---- */

static int win_find(uint64_t page)
{
	for (int i = 0; i < win.n; i++)
		if (win.page[i] == page)
			return i;
	return -1;
}

static void give_window(void)
{
	atomic_store(&wlock, 0);
	atomic_fetch_add(&wlock_seq, 1);
	futex_wake_all(&wlock_seq);
}

/* Re-protect the window's pages, unpark, give the lock back.  Restores
 * the program's TF and signal mask in the context that resumes. */
static void close_window(ucontext_t *uc)
{
	sigset_t old;

	if (use_pkeys) {
		uint32_t *fp = frame_pkru(uc);
		if (fp && win.pkru_set)
			*fp = win.user_pkru;
		win.pkru_set = false;
	} else {
		pthread_sigmask(SIG_BLOCK, &async_sigs, &old);
		spin_lock(&slock);
		for (int i = 0; i < win.n; i++) {
			struct rec *r = find(win.page[i]);
			if (r && r->mask != OOH_SPP_ALL_WRITABLE)
				mprotect((void *)(uintptr_t)win.page[i], 4096,
					 r->prot & ~PROT_WRITE);
		}
		spin_unlock(&slock);
	}
	win.n = 0;
	if (!win.tf_was_set)
		uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)EFLAGS_TF;
	uc->uc_sigmask = win.user_mask;
	if (win.parked_others)
		unpark_others();
	else
		atomic_store(&window_open, 0);
	give_window();
}

/* Unblock parking while we wait: a thread waiting here must be stoppable. */
static void take_window(pid_t me)
{
	int zero = 0;
	sigset_t s, old;

	if (atomic_compare_exchange_strong(&wlock, &zero, me))
		return;
	sigemptyset(&s);
	sigaddset(&s, park_sig);
	pthread_sigmask(SIG_UNBLOCK, &s, &old);
	for (;;) {
		unsigned seq = atomic_load(&wlock_seq);
		zero = 0;
		if (atomic_compare_exchange_strong(&wlock, &zero, me))
			break;
		futex_wait(&wlock_seq, seq, 1000000);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A write fault of the kind our protection causes. */
static bool write_fault(const siginfo_t *si, const ucontext_t *uc)
{
	bool kind = use_pkeys ? si->si_code == SEGV_PKUERR && si->si_pkey == (uint32_t)pkey
			      : si->si_code == SEGV_ACCERR;
	return kind && (uc->uc_mcontext.gregs[REG_ERR] & 2);
}

/* Add page to the window: copy it, and open it (mprotect mode).  Returns
 * 0 or an errno for a refusal. */
static int win_add(uint64_t page, const struct rec *r)
{
	int i = win.n;

	if (win_find(page) >= 0)
		return 0;
	if (i == WIN_PAGES)
		return E2BIG;
	copy_page(win.snap[i], (void *)(uintptr_t)page);
	win.page[i] = page;
	win.mask[i] = r->mask;
	win.prot[i] = r->prot;
	win.n++;
	if (!use_pkeys && mprotect((void *)(uintptr_t)page, 4096, r->prot) < 0) {
		/* Out of VMAs: never let the write through unchecked. */
		win.n--;
		return errno;
	}
	return 0;
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	int saved_errno = errno;
	uint64_t addr = (uint64_t)(uintptr_t)si->si_addr;
	uint64_t page = addr & OOH_PAGE_MASK;
	pid_t me = my_tid();
	bool owner = atomic_load(&wlock) == me;
	struct rec r = { 0 }, next = { 0 };
	bool ours = false;
	uint32_t entry = open_key_here();
	int e;

	if (use_pkeys && si->si_code == SEGV_PKUERR && si->si_pkey == (uint32_t)pkey) {
		uint32_t *fp = frame_pkru(uc);
		if (fp && (*fp & PKEY_AD(pkey))) {
			/* A thread that never had the key (born before it, or in a
			 * signal handler): readable, write-disabled. */
			*fp = (*fp & ~PKEY_BITS(pkey)) | PKEY_WD(pkey);
			close_key_here(entry);
			errno = saved_errno;
			return;
		}
	}
	if (write_fault(si, uc) && !(owner && win_find(page) >= 0)) {
		spin_lock(&slock);
		struct rec *p = find(page);
		if (p && p->mask != OOH_SPP_ALL_WRITABLE) {
			r = *p;
			ours = true;
		}
		spin_unlock(&slock);
	}
	if (!ours) {
		if (owner) /* the stepped instruction faulted elsewhere */
			close_window(uc);
		close_key_here(entry);
		errno = saved_errno;
		deliver(&prev_segv, sig, si, uc);
		return;
	}
	unsigned sp = (unsigned)(addr & 4095) / OOH_SPP_SUBPAGE_SIZE;
	if (!(r.mask & (1u << sp))) {
		if (owner) /* nothing of the instruction landed: it faulted */
			close_window(uc);
		close_key_here(entry);
		errno = saved_errno;
		violation(si, uc, addr, 0);
		return;
	}
	if (!owner) {
		uint32_t *fp = use_pkeys ? frame_pkru(uc) : NULL;
		int perr = 0;

		take_window(me);
		if (use_pkeys) {
			win.parked_others = false;
			win.pkru_set = false;
		} else {
			perr = park_others(me);
		}
		/* Vectors may have changed meanwhile: look again. */
		spin_lock(&slock);
		struct rec *p = find(page);
		r = p ? *p : (struct rec){ 0 };
		/* A store may cross into the next page (pkey mode: without a
		 * fault of its own), so watch that one too when protected. */
		p = (addr & 4095) > 4096 - 64 ? find(page + 4096) : NULL;
		next = p ? *p : (struct rec){ 0 };
		spin_unlock(&slock);
		win.n = 0;
		win.tf_was_set = uc->uc_mcontext.gregs[REG_EFL] & EFLAGS_TF;
		win.user_mask = uc->uc_sigmask;
		memcpy(win.gregs, uc->uc_mcontext.gregs, sizeof(win.gregs));
		win.have_fp = uc->uc_mcontext.fpregs != NULL;
		if (win.have_fp)
			win.fp = *uc->uc_mcontext.fpregs;
		if (r.mask == OOH_SPP_ALL_WRITABLE || !r.page) {
			/* Released meanwhile: just retry the write. */
			close_window(uc);
			close_key_here(entry);
			errno = saved_errno;
			return;
		}
		if (!(r.mask & (1u << sp)) || (use_pkeys && !fp) || perr) {
			/* Refused: protected, or we could not open the page for
			 * this thread alone (si_errno says why). */
			close_window(uc);
			close_key_here(entry);
			errno = saved_errno;
			violation(si, uc, addr, !(r.mask & (1u << sp)) ? 0 : perr ? perr : ENOTSUP);
			return;
		}
		if (use_pkeys) {
			win.user_pkru = *fp;
			win.pkru_set = true;
			*fp &= ~PKEY_BITS(pkey);
		}
		/* Step with TF, and with no async signal handler in between. */
		uc->uc_mcontext.gregs[REG_EFL] |= EFLAGS_TF;
		for (int s = 1; s < NSIG; s++)
			if (sigismember(&async_sigs, s))
				sigaddset(&uc->uc_sigmask, s);
	}
	e = win_add(page, &r);
	if (!e && next.page && next.mask != OOH_SPP_ALL_WRITABLE && use_pkeys)
		e = win_add(next.page, &next);
	if (e) {
		close_window(uc);
		close_key_here(entry);
		errno = saved_errno;
		violation(si, uc, addr, e);
		return;
	}
	close_key_here(entry);
	errno = saved_errno;
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	int saved_errno = errno;
	long changed = -1;
	uint64_t at = 0;

	if (atomic_load(&wlock) != my_tid()) {
		deliver(&prev_trap, sig, si, uc);
		return;
	}
	uint32_t entry = open_key_here();
	for (int i = 0; i < win.n && changed < 0; i++) {
		changed = first_changed_protected((void *)(uintptr_t)win.page[i], win.snap[i],
						  win.mask[i]);
		at = win.page[i] + (uint64_t)changed;
	}
	bool tf_was_set = win.tf_was_set;
	if (changed >= 0) {
		/* A store straddled into a protected sub-page: undo the instruction. */
		for (int i = 0; i < win.n; i++)
			restore_page((void *)(uintptr_t)win.page[i], win.snap[i]);
		memcpy(uc->uc_mcontext.gregs, win.gregs, sizeof(win.gregs));
		if (win.have_fp && uc->uc_mcontext.fpregs)
			*uc->uc_mcontext.fpregs = win.fp;
		atomic_fetch_add(&st_rewound, 1);
	} else {
		atomic_fetch_add(&st_permitted, 1);
	}
	close_window(uc);
	close_key_here(entry);
	errno = saved_errno;
	if (changed >= 0)
		violation(NULL, uc, at, 0);
	else if (tf_was_set)
		deliver(&prev_trap, sig, si, uc);
}

/* fork: no lock may be held by a thread that does not exist in the child.
 * The forking thread holds both across fork() with async signals blocked
 * (a handler of its own writing to a protected page would spin on them). */
static sigset_t fork_mask;

static void atfork_prepare(void)
{
	sigset_t old;
	pid_t me = my_tid();

	take_window(me);
	pthread_sigmask(SIG_BLOCK, &async_sigs, &old);
	spin_lock(&slock);
	fork_mask = old;
}

static void atfork_parent(void)
{
	sigset_t old = fork_mask;

	spin_unlock(&slock);
	give_window();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void atfork_child(void)
{
	sigset_t old = fork_mask;

	for (int i = 0; i < IN_PARK_SLOTS; i++)
		atomic_store(&in_park[i], 0);
	spin_unlock(&slock);
	atomic_store(&wlock, 0);
	atomic_store(&window_open, 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int install(void)
{
	struct sigaction sa;
	const char *e;

	if (installed)
		return 0;
	sigfillset(&async_sigs);
	sigdelset(&async_sigs, SIGSEGV);
	sigdelset(&async_sigs, SIGBUS);
	sigdelset(&async_sigs, SIGTRAP);
	sigdelset(&async_sigs, SIGILL);
	sigdelset(&async_sigs, SIGFPE);
	sigdelset(&async_sigs, SIGKILL);
	sigdelset(&async_sigs, SIGSTOP);
	if (!getenv("OOH_SPP_NO_PKEYS") && __get_cpuid_max(0, NULL) >= 0xd) {
		unsigned a, b, c, d;
		__cpuid_count(7, 0, a, b, c, d);
		if (c & (1u << 4)) { /* OSPKE: the kernel enabled protection keys */
			__cpuid_count(0xd, 9, a, b, c, d);
			int k = a >= 4 && b ? pkey_alloc(0, PKEY_DISABLE_WRITE) : -1;
			if (k > 0) {
				pkey = k;
				pkru_off = b;
				use_pkeys = true;
			}
		}
	}
	park_sig = SIGRTMAX - 1;
	e = getenv("OOH_SPP_PARK_SIGNAL");
	if (e && atoi(e) >= SIGRTMIN && atoi(e) <= SIGRTMAX)
		park_sig = atoi(e);

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sa.sa_sigaction = on_park;
	sigemptyset(&sa.sa_mask);
	if (sigaction(park_sig, &sa, &prev_park) < 0)
		return -errno;
	/* Our SIGSEGV/SIGTRAP handlers run with async signals (parking
	 * included) blocked: they hold slock at times. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
	sa.sa_mask = async_sigs;
	sa.sa_sigaction = on_segv;
	if (sigaction(SIGSEGV, &sa, &prev_segv) < 0)
		return -errno;
	sa.sa_sigaction = on_trap;
	if (sigaction(SIGTRAP, &sa, &prev_trap) < 0) {
		sigaction(SIGSEGV, &prev_segv, NULL);
		return -errno;
	}
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	installed = 1;
	return 0;
}

/* ---- backend operations (called by src/spp.c under its mutex) ---- */

static int probe(char *reason, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	if (pg != (long)OOH_PAGE_SIZE) {
		set_reason(reason, len, "page size is %ld, not 4096", pg);
		return -EOPNOTSUPP;
	}
	/* Parking lists the threads in /proc/self/task. */
	if (access("/proc/self/task", R_OK) != 0) {
		set_reason(reason, len, "/proc/self/task not readable (is /proc mounted?)");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int sp_open(struct ooh_spp *s)
{
	/* Handlers stay installed once installed (a write may be in flight). */
	(void)s;
	return install();
}

/* mprotect runs of pages [a, a + n pages) to their new state. */
static int apply(uint64_t a, size_t n)
{
	size_t i = 0;

	while (i < n) {
		struct rec *r = find(a + i * OOH_PAGE_SIZE);
		bool ro = r && r->mask != OOH_SPP_ALL_WRITABLE;
		int prot = r ? r->prot : -1;
		size_t j = i + 1;
		for (; j < n; j++) {
			struct rec *q = find(a + j * OOH_PAGE_SIZE);
			bool qro = q && q->mask != OOH_SPP_ALL_WRITABLE;
			if (qro != ro || (q ? q->prot : -1) != prot)
				break;
		}
		void *at = (void *)(uintptr_t)(a + i * OOH_PAGE_SIZE);
		size_t len = (j - i) * OOH_PAGE_SIZE;
		if (prot >= 0 && (use_pkeys ? pkey_mprotect(at, len, prot, ro ? pkey : 0)
					    : mprotect(at, len, ro ? prot & ~PROT_WRITE : prot)) < 0 &&
		    (ro || errno != ENOMEM))
			return -errno; /* ENOMEM when read-only: out of VMAs */
		i = j;
	}
	return 0;
}

static void drop_released(uint64_t a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct rec *r = find(a + i * OOH_PAGE_SIZE);
		if (r && r->mask == OOH_SPP_ALL_WRITABLE)
			r->page = TOMB;
	}
}

static int sp_set(struct ooh_spp *s, uint64_t a, size_t n, const uint32_t *masks, uint32_t mask,
		  const int *prot, bool release)
{
	struct rec *saved = NULL;
	sigset_t old;
	int err = 0;

	if (!release) {
		saved = malloc(n * sizeof(*saved));
		if (!saved)
			return -ENOMEM;
	}
	lock_state(&old);
	if (!release) {
		for (size_t i = 0; i < n && !err; i++) {
			struct rec *r = find(a + i * OOH_PAGE_SIZE);
			if (r && r->domain != s->id && r->mask != OOH_SPP_ALL_WRITABLE)
				err = -EBUSY;
		}
		if (!err)
			err = reserve(n);
		for (size_t i = 0; i < n && !err; i++) {
			struct rec *r = find(a + i * OOH_PAGE_SIZE);
			saved[i] = r ? *r : (struct rec){ 0 };
		}
	}
	for (size_t i = 0; i < n && !err; i++) {
		uint64_t page = a + i * OOH_PAGE_SIZE;
		struct rec *r = find(page);
		if (release) {
			if (r && r->domain == s->id)
				r->mask = OOH_SPP_ALL_WRITABLE;
			continue;
		}
		if (!r)
			r = insert_slot(page);
		r->page = page;
		r->domain = (uint16_t)s->id;
		r->mask = masks ? masks[i] : mask;
		r->prot = (uint16_t)prot[i];
	}
	if (!err) {
		err = apply(a, n);
		if (err && !release) {
			/* All or nothing: put back what was there. */
			for (size_t i = 0; i < n; i++) {
				struct rec *r = find(a + i * OOH_PAGE_SIZE);
				if (saved[i].page)
					*r = saved[i];
				else if (r)
					r->mask = OOH_SPP_ALL_WRITABLE;
			}
			apply(a, n);
		}
	}
	drop_released(a, n);
	unlock_state(&old);
	free(saved);
	return err;
}

/*
 * ooh_spp_update.  The pages stay write-protected (read-only, or tagged
 * with our key), so only the records change, under slock, where the fault
 * handlers read them.  A write racing with the update:
 *
 *  - a fault whose handler reads the record after the update is judged by
 *    the new vector (nothing of the write has landed: it is ordered after
 *    the update);
 *  - a window opened before the update holds its own copy of the old
 *    vector (win.mask, read under slock after parking): it lets its one
 *    instruction through, or rewinds one that straddled into a sub-page
 *    protected in the old vector, by that copy.  That write is ordered
 *    before the update, which is correct as long as it has also landed (or
 *    been refused) by the time the update returns: else an allocator that
 *    protects a freed object and then looks at it, or hands the slot out
 *    again after another update, could see a write permitted by the old
 *    vector arrive afterwards.  With parking a window re-reads the vector
 *    after every other thread is parked: an updater inside slock (the park
 *    signal blocked) finishes before that read, any other is parked until
 *    the window closes, so the copy is never older than a returned update.
 *    With keys nobody is parked, and an updater that blocks the park
 *    signal is not either: so after the update we wait for a window that
 *    is open now (another thread's) to close.  It lasts one instruction.
 */
static void wait_open_window(void)
{
	unsigned seq = atomic_load(&wlock_seq);
	pid_t owner = atomic_load(&wlock);

	if (!owner || owner == my_tid())
		return;
	/* give_window() clears wlock, then bumps wlock_seq: the window that
	 * was open when seq was read has closed once it changed. */
	while (atomic_load(&wlock_seq) == seq)
		futex_wait(&wlock_seq, seq, 1000000);
}

static int sp_update(struct ooh_spp *s, uint64_t a, size_t n, const uint32_t *masks)
{
	sigset_t old;
	int err = 0;

	lock_state(&old);
	for (size_t i = 0; i < n && !err; i++) {
		struct rec *r = find(a + i * OOH_PAGE_SIZE);
		if (!r || r->domain != s->id || r->mask == OOH_SPP_ALL_WRITABLE)
			err = -ENOENT;
	}
	for (size_t i = 0; i < n && !err; i++)
		find(a + i * OOH_PAGE_SIZE)->mask = masks[i];
	unlock_state(&old);
	if (!err)
		wait_open_window();
	return err;
}

static int sp_query(struct ooh_spp *s, uint64_t page, uint32_t *mask)
{
	sigset_t old;

	(void)s;
	lock_state(&old);
	struct rec *r = find(page);
	*mask = r ? r->mask : OOH_SPP_ALL_WRITABLE;
	unlock_state(&old);
	return 0;
}

static void sp_close(struct ooh_spp *s)
{
	sigset_t old;

	lock_state(&old);
	for (size_t i = 0; i < table_cap; i++) {
		struct rec *r = &table[i];
		if (r->page <= TOMB || r->domain != s->id)
			continue;
		if (r->mask != OOH_SPP_ALL_WRITABLE && use_pkeys)
			pkey_mprotect((void *)(uintptr_t)r->page, OOH_PAGE_SIZE, r->prot, 0);
		else if (r->mask != OOH_SPP_ALL_WRITABLE)
			mprotect((void *)(uintptr_t)r->page, OOH_PAGE_SIZE, r->prot);
		r->page = TOMB;
	}
	unlock_state(&old);
}

static int sp_page_prot(uint64_t page)
{
	sigset_t old;
	int prot = -1;

	lock_state(&old);
	struct rec *r = find(page);
	if (r && r->mask != OOH_SPP_ALL_WRITABLE)
		prot = r->prot;
	unlock_state(&old);
	return prot;
}

/* The protection key of the VMA holding page (/proc/self/smaps), or -1. */
static int vma_pkey(uint64_t page)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char *line = NULL;
	size_t cap = 0;
	bool in = false;
	int key = -1;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		unsigned long long lo, hi;
		int k;
		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = page >= lo && page < hi;
		} else if (in && sscanf(line, "ProtectionKey: %d", &k) == 1) {
			key = k;
			break;
		}
	}
	free(line);
	fclose(f);
	return key;
}

/* Is our record of a page that the kernel shows writable stale? */
static bool sp_stale(uint64_t page)
{
	if (!use_pkeys)
		return true; /* we made it read-only: it was mapped anew */
	return vma_pkey(page) != pkey;
}

static int sp_stats(struct ooh_spp_stats *st)
{
	st->permitted = atomic_load(&st_permitted);
	st->violations = atomic_load(&st_violations);
	st->rewound = atomic_load(&st_rewound);
	st->parks = atomic_load(&st_parks);
	st->unparkable = atomic_load(&st_unparkable);
	st->pkeys = use_pkeys;
	return 0;
}

#else /* !__x86_64__ */

static int probe(char *reason, size_t len)
{
	set_reason(reason, len, "single-stepping a permitted write needs x86-64 (EFLAGS.TF)");
	return -EOPNOTSUPP;
}

static int sp_open(struct ooh_spp *s) { (void)s; return -EOPNOTSUPP; }
static void sp_close(struct ooh_spp *s) { (void)s; }
static int sp_set(struct ooh_spp *s, uint64_t a, size_t n, const uint32_t *masks, uint32_t mask,
		  const int *prot, bool release)
{
	(void)s; (void)a; (void)n; (void)masks; (void)mask; (void)prot; (void)release;
	return -EOPNOTSUPP;
}
static int sp_query(struct ooh_spp *s, uint64_t page, uint32_t *mask)
{
	(void)s; (void)page; (void)mask;
	return -EOPNOTSUPP;
}
static int sp_update(struct ooh_spp *s, uint64_t a, size_t n, const uint32_t *masks)
{
	(void)s; (void)a; (void)n; (void)masks;
	return -EOPNOTSUPP;
}
static int sp_stats(struct ooh_spp_stats *st) { memset(st, 0, sizeof(*st)); return 0; }
static int sp_page_prot(uint64_t page) { (void)page; return -1; }
static bool sp_stale(uint64_t page) { (void)page; return true; }

#endif

const struct spp_backend_ops ooh_spp_backend_mprotect = {
	.id = OOH_SPP_BACKEND_MPROTECT,
	.name = "mprotect",
	.probe = probe,
	.open = sp_open,
	.close = sp_close,
	.set = sp_set,
	.update = sp_update,
	.query = sp_query,
	.stats = sp_stats,
	.page_prot = sp_page_prot,
	.stale = sp_stale,
};
