/* SPDX-License-Identifier: MIT */
/*
 * ooh-guard's entry points: the C allocator family, sigaction/signal for
 * the signals the protection needs, set-up from the environment, fork.
 *
 * Calls made while the allocator itself is busy (libooh's and the
 * unwinder's own mallocs) and, in sampled mode, the allocations not
 * sampled go to glibc's allocator (__libc_malloc and friends); free()
 * tells the two apart by address.  In full mode the glibc blocks handed
 * out that way are remembered, so that any other pointer that is not ours
 * can be reported as an invalid free instead of reaching glibc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

#define API __attribute__((visibility("default")))

__thread int guard_busy __attribute__((tls_model("initial-exec")));
static __thread uint64_t rng __attribute__((tls_model("initial-exec")));
static size_t (*glibc_usable_size)(void *);

extern int __sigaction(int, const struct sigaction *, struct sigaction *);

int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return __sigaction(sig, act, old);
}

void default_action(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t set;

	real_sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- glibc blocks we handed out in full mode ---- */

static struct {
	uintptr_t *v;
	size_t cap, n;
	atomic_int lock;
	bool off;       /* too many (degraded mode): free() trusts glibc */
} foreign;


static size_t foreign_slot(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9e3779b97f4a7c15ull) & (foreign.cap - 1);
}

static void foreign_add(void *p)
{
	if (!p || g.cfg.sample > 1 || foreign.off)
		return;
	spin_lock(&foreign.lock);
	if ((foreign.n + 1) * 2 > foreign.cap) {
		size_t cap = foreign.cap ? foreign.cap * 2 : 4096;
		uintptr_t *v = mmap(NULL, cap * sizeof(*v), PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (v == MAP_FAILED || cap > ((size_t)1 << 26)) {
			foreign.off = true;
			spin_unlock(&foreign.lock);
			return;
		}
		uintptr_t *old = foreign.v;
		size_t old_cap = foreign.cap;
		foreign.v = v;
		foreign.cap = cap;
		for (size_t i = 0; i < old_cap; i++) {
			if (old[i] > 1) {
				size_t k = foreign_slot(old[i]);
				while (v[k])
					k = (k + 1) & (cap - 1);
				v[k] = old[i];
			}
		}
		if (old)
			munmap(old, old_cap * sizeof(*old));
	}
	size_t k = foreign_slot((uintptr_t)p);
	while (foreign.v[k] > 1 && foreign.v[k] != (uintptr_t)p)
		k = (k + 1) & (foreign.cap - 1);
	if (foreign.v[k] != (uintptr_t)p)
		foreign.n++;
	foreign.v[k] = (uintptr_t)p;
	spin_unlock(&foreign.lock);
}

/* Forget p; true if it was there (or nobody keeps count). */
static bool foreign_take(void *p)
{
	bool found = false;

	if (g.cfg.sample > 1 || foreign.off || atomic_load(&g.state) != 2)
		return true;
	spin_lock(&foreign.lock);
	if (foreign.cap) {
		for (size_t k = foreign_slot((uintptr_t)p);; k = (k + 1) & (foreign.cap - 1)) {
			if (!foreign.v[k])
				break;
			if (foreign.v[k] == (uintptr_t)p) {
				foreign.v[k] = 1; /* tombstone */
				found = true;
				break;
			}
		}
	}
	spin_unlock(&foreign.lock);
	return found || foreign.off;
}

/* ---- configuration ---- */

static size_t parse_size(const char *s, size_t dflt)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return dflt;
	switch (*end) {
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	default: break;
	}
	return (size_t)v;
}

static int open_log(const char *name)
{
	char path[PATH_MAX];
	size_t o = 0;

	for (const char *c = name; *c && o < sizeof(path) - 16; c++) {
		if (c[0] == '%' && c[1] == 'p') {
			o += (size_t)snprintf(path + o, sizeof(path) - o, "%d", (int)getpid());
			c++;
		} else {
			path[o++] = *c;
		}
	}
	path[o] = '\0';
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 600);
	if (hi >= 0) {
		close(fd);
		fd = hi;
	}
	return fd;
}

static void configure(void)
{
	struct guard_config *c = &g.cfg;
	const char *e;

	c->sample = (unsigned)parse_size(getenv("OOH_GUARD_SAMPLE"), 1);
	if (!c->sample)
		c->sample = 1;
	c->align = (unsigned)parse_size(getenv("OOH_GUARD_ALIGN"), 16);
	if (c->align < 1 || c->align > 16 || (c->align & (c->align - 1)))
		c->align = 16;
	e = getenv("OOH_GUARD_SIDE");
	c->left = e && !strcmp(e, "left");
	e = getenv("OOH_GUARD_MODE");
	c->report_only = e && !strcmp(e, "report");
	c->depth = (unsigned)parse_size(getenv("OOH_GUARD_STACK"), 8);
	if (c->depth > MAX_DEPTH)
		c->depth = MAX_DEPTH;
	c->max_sampled = (unsigned)parse_size(getenv("OOH_GUARD_SLOTS"), 1024);
	c->backend = OOH_SPP_BACKEND_AUTO;
	e = getenv("OOH_GUARD_BACKEND");
	if (e && !strcmp(e, "mprotect"))
		c->backend = OOH_SPP_BACKEND_MPROTECT;
	else if (e && !strcmp(e, "ooh"))
		c->backend = OOH_SPP_BACKEND_OOH;
	c->log_fd = -1;
	e = getenv("OOH_GUARD_LOG");
	if (e && *e)
		c->log_fd = open_log(e);
	/* Unset: the quarantine follows the heap (heap.c, quarantine_limit). */
	c->quarantine = parse_size(getenv("OOH_GUARD_QUARANTINE"), SIZE_MAX);
}

/* ---- signals ---- */

static struct sigaction user_act[NSIG]; /* what the program asked for */
static atomic_int sig_lock;

static bool guarded_signal(int sig)
{
	return (sig == SIGSEGV || sig == SIGTRAP) && atomic_load(&g.state) == 2;
}

/* Hand a signal that is not ours to what the program installed. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	struct sigaction a = user_act[sig];

	if (a.sa_flags & SA_RESETHAND) {
		user_act[sig].sa_handler = SIG_DFL;
		user_act[sig].sa_flags &= ~SA_SIGINFO;
	}
	if ((a.sa_flags & SA_SIGINFO) && a.sa_sigaction) {
		a.sa_sigaction(sig, si, uc);
	} else if (a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN) {
		a.sa_handler(sig);
	} else {
		/* Default action: die of this signal, as without us. */
		default_action(sig);
		/* A fault returned from repeats its instruction (and now kills);
		 * a trap, a sent signal or a refused write that retired does
		 * not: raise it. */
		if (sig == SIGTRAP || si->si_code <= 0)
			raise(sig);
	}
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	if (si->si_code == OOH_SEGV_SPPERR && si->si_errno && heap_owns(si->si_addr)) {
		/* Not a bad write: the backend could not let a good one
		 * through (si_errno says why; out of mappings, in practice). */
		if (heap_shed_mappings() > 0) {
			errno = saved;
			return; /* the write runs again */
		}
		guard_say("the software backend could not let a permitted write at %p through (%s): "
			  "too few mappings left under vm.max_map_count for this program with "
			  "ooh-guard; raise it, or use OOH_GUARD_SAMPLE\n", si->si_addr,
			  strerror(si->si_errno));
		default_action(SIGABRT);
		abort();
	}
	if (si->si_code == OOH_SEGV_SPPERR && heap_violation((uintptr_t)si->si_addr)) {
		errno = saved;
		return;
	}
	errno = saved;
	forward(sig, si, uc);
}

static void on_trap(int sig, siginfo_t *si, void *uc)
{
	forward(sig, si, uc);
}

/* Ours go in before libooh's (it chains to the handlers it finds), and
 * what was there becomes the program's. */
void signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_segv;
	real_sigaction(SIGSEGV, &sa, &user_act[SIGSEGV]);
	sa.sa_sigaction = on_trap;
	real_sigaction(SIGTRAP, &sa, &user_act[SIGTRAP]);
}

API int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!guarded_signal(sig))
		return real_sigaction(sig, act, old);
	spin_lock(&sig_lock);
	if (old)
		*old = user_act[sig];
	if (act)
		user_act[sig] = *act;
	spin_unlock(&sig_lock);
	return 0;
}

API sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART; /* glibc's signal() has BSD semantics */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

/*
 * System calls that write into the caller's buffer.  On the software
 * backend a small object's page is read-only, and the kernel's write
 * fails with EFAULT where the program's own store would have been
 * single-stepped: when the buffer is such an object, the call reads into
 * a buffer of ours and we copy, checking the object's end on the way (so
 * read(2) past an object's end is reported like a store past it).  The C
 * library's own calls (stdio) are not seen here: its buffers are at least
 * a kilobyte, which is page_min on this backend, so they have pages of
 * their own.
 */
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);

static bool bounce_needed(uintptr_t buf, size_t n)
{
	uintptr_t obj;
	size_t size;

	return n && !guard_busy && g.backend == OOH_SPP_BACKEND_MPROTECT &&
	       atomic_load(&g.state) == 2 && heap_small_room(buf, &obj, &size) != SIZE_MAX;
}

/* Our buffer: a small object is below 4 KiB; read no more than fits plus
 * one byte (enough to see an overflow). */
#define BOUNCE 4096

static ssize_t bounced(void *buf, ssize_t r, const char *tmp)
{
	int saved = errno;

	if (r > 0) {
		guard_busy++;
		heap_kernel_write(buf, tmp, (size_t)r);
		guard_busy--;
	}
	errno = saved;
	return r;
}

API ssize_t read(int fd, void *buf, size_t n)
{
	char tmp[BOUNCE];

	if (!bounce_needed((uintptr_t)buf, n))
		return real_read(fd, buf, n);
	return bounced(buf, real_read(fd, tmp, n < BOUNCE ? n : BOUNCE), tmp);
}

API ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	char tmp[BOUNCE];

	if (!bounce_needed((uintptr_t)buf, n))
		return real_pread(fd, buf, n, off);
	return bounced(buf, real_pread(fd, tmp, n < BOUNCE ? n : BOUNCE, off), tmp);
}

API ssize_t pread64(int fd, void *buf, size_t n, off_t off) __attribute__((alias("pread")));

API ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
		     socklen_t *len)
{
	char tmp[BOUNCE];

	if (!bounce_needed((uintptr_t)buf, n))
		return real_recvfrom(fd, buf, n, flags, from, len);
	return bounced(buf, real_recvfrom(fd, tmp, n < BOUNCE ? n : BOUNCE, flags, from, len),
		       tmp);
}

API ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	return recvfrom(fd, buf, n, flags, NULL, NULL);
}

/*
 * glibc's posix_spawn writes the child's pid with every signal blocked;
 * on the software backend a write to a small object then faults with
 * SIGSEGV blocked, and the kernel kills the process.  So a pid that lives
 * in a small object is written by us, and popen (which spawns with its
 * own FILE's pid field, calling glibc's internal posix_spawn) gets its
 * allocations on pages of their own.
 */
__thread int guard_page_own __attribute__((tls_model("initial-exec")));
static int (*real_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			 const posix_spawnattr_t *, char *const[], char *const[]);
static int (*real_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			  const posix_spawnattr_t *, char *const[], char *const[]);
static FILE *(*real_popen)(const char *, const char *);

static int spawn(bool path, pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int (*fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
		  const posix_spawnattr_t *, char *const[], char *const[]) =
		path ? real_spawnp : real_spawn;
	pid_t mine;

	if (!pid || !bounce_needed((uintptr_t)pid, sizeof(*pid)))
		return fn(pid, file, fa, attr, argv, envp);
	int err = fn(&mine, file, fa, attr, argv, envp);
	if (!err)
		bounced(pid, sizeof(mine), (const char *)&mine);
	return err;
}

API int posix_spawn(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn(false, pid, file, fa, attr, argv, envp);
}

API int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn(true, pid, file, fa, attr, argv, envp);
}

API FILE *popen(const char *command, const char *type)
{
	guard_page_own++;
	FILE *f = real_popen(command, type);
	guard_page_own--;
	return f;
}

/* glibc's stdio buffer allocator: the kernel fills those buffers itself
 * (its internal reads are not seen by our read()), so on the software
 * backend they get pages of their own whatever their size (1 KiB for
 * /proc and terminals). */
static uintptr_t stdio_alloc_lo, stdio_alloc_len;

static void find_stdio_allocator(void)
{
	void *fn = dlsym(RTLD_DEFAULT, "_IO_file_doallocate");
	const ElfW(Sym) *sym = NULL;
	Dl_info info;

	if (fn && dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
		stdio_alloc_lo = (uintptr_t)fn;
		stdio_alloc_len = sym->st_size;
	}
}

/* ---- set-up ---- */

/* fork: no lock of ours may stay held by a thread the child does not have. */
static void fork_prepare(void)
{
	heap_fork_prepare();
	report_fork_prepare();
	spin_lock(&foreign.lock);
}

static void fork_parent(void)
{
	spin_unlock(&foreign.lock);
	report_fork_parent();
	heap_fork_parent();
}

static void fork_child(void)
{
	spin_unlock(&foreign.lock);
	report_fork_child();
	heap_fork_child();
}

static void init(void)
{
	int expect = 0;
	char reason[160] = "";

	if (!atomic_compare_exchange_strong(&g.state, &expect, 1))
		return;
	guard_busy++;
	configure();
	report_init();
	glibc_usable_size = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
	real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	real_pread = (ssize_t (*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread64");
	real_recvfrom = (ssize_t (*)(int, void *, size_t, int, struct sockaddr *, socklen_t *))
		dlsym(RTLD_NEXT, "recvfrom");
	real_spawn = (int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			      const posix_spawnattr_t *, char *const[], char *const[]))
		dlsym(RTLD_NEXT, "posix_spawn");
	real_spawnp = (int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			       const posix_spawnattr_t *, char *const[], char *const[]))
		dlsym(RTLD_NEXT, "posix_spawnp");
	real_popen = (FILE * (*)(const char *, const char *))dlsym(RTLD_NEXT, "popen");
	find_stdio_allocator();
	int err = heap_init();
	if (!err) {
		signals_install();
		err = ooh_spp_open(&g.spp, OOH_SPP_OPEN_BACKEND(g.cfg.backend) |
						 OOH_SPP_OPEN_OWNED_MEMORY);
		if (err) {
			ooh_spp_probe((enum ooh_spp_backend)g.cfg.backend, reason, sizeof(reason));
			real_sigaction(SIGSEGV, &user_act[SIGSEGV], NULL);
			real_sigaction(SIGTRAP, &user_act[SIGTRAP], NULL);
		}
	}
	if (err) {
		guard_say("no sub-page protection (%s%s%s): running as a plain allocator, "
			  "nothing is guarded\n", ooh_strerror(err), *reason ? ": " : "", reason);
		atomic_store(&g.state, 3);
		guard_busy--;
		return;
	}
	g.backend = ooh_spp_backend(g.spp);
	/* OOH_GUARD_QUARANTINE unset (SIZE_MAX): heap.c sizes it (quarantine_limit). */
	if (g.backend == OOH_SPP_BACKEND_MPROTECT)
		heap_open_mem();
	heap_set_limits();
	/* Software backend: objects of 2 KiB or more get pages of their own,
	 * which stay writable: glibc's memset/memcpy use rep stos/movs from
	 * 2 KiB on, and a single-stepped rep instruction traps once per
	 * element (mix-20k: 79 s with none, 5.8 s with 2 KiB).  Below that,
	 * spans cost less memory than whole pages (mix-20k: 0.6 MiB less
	 * than with 1 KiB); stdio's buffers get pages anyway (see read()). */
	g.cfg.page_min = parse_size(getenv("OOH_GUARD_PAGE_MIN"),
				    g.backend == OOH_SPP_BACKEND_MPROTECT ? 2048 : SIZE_MAX);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	atomic_store(&g.state, 2);
	guard_busy--;
}

__attribute__((constructor(101))) static void guard_ctor(void)
{
	init();
}

__attribute__((destructor(101))) static void guard_dtor(void)
{
	if (atomic_load(&g.state) == 2) {
		guard_busy++;
		heap_check_all(true);
		guard_busy--;
	}
}

/* Whether this call goes to our heap. */
static inline bool ours(void)
{
	if (guard_busy)
		return false;
	if (atomic_load_explicit(&g.state, memory_order_acquire) == 0)
		init();
	return atomic_load_explicit(&g.state, memory_order_acquire) == 2 &&
	       !atomic_load_explicit(&g.degraded, memory_order_relaxed);
}

/* Sampled mode: one allocation in cfg.sample, at random. */
static inline bool sampled_out(void)
{
	if (g.cfg.sample <= 1)
		return false;
	if (!rng)
		rng = (uint64_t)guard_tid() * 0x9e3779b97f4a7c15ull | 1;
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % g.cfg.sample || g.sampled_live >= g.cfg.max_sampled;
}

static void *plain_alloc(size_t size, size_t align, bool zero)
{
	void *p;

	if (align > 16)
		p = __libc_memalign(align, size);
	else if (zero)
		p = __libc_calloc(1, size);
	else
		p = __libc_malloc(size);
	if (!guard_busy)
		atomic_fetch_add(&g.plain_allocs, 1);
	foreign_add(p);
	return p;
}

static void *alloc(size_t size, size_t align, bool zero, uintptr_t caller)
{
	if (!ours() || sampled_out())
		return plain_alloc(size, align, zero);
	guard_busy++;
	int saved = errno;
	bool own = caller - stdio_alloc_lo < stdio_alloc_len &&
		   g.backend == OOH_SPP_BACKEND_MPROTECT;
	guard_page_own += own;
	void *p = heap_alloc(size, align, zero, caller);
	guard_page_own -= own;
	bool fallback = !p && errno != ENOMEM;
	guard_busy--;
	if (fallback) {
		bool big = errno == E2BIG;
		errno = saved;
		p = plain_alloc(size, align, zero);
		static atomic_bool said;
		if (p && big && !atomic_exchange(&said, true))
			guard_say("an object of %zu bytes (alignment %zu) is beyond the guarded "
				  "heap: objects that big are not guarded (plain allocator)\n", size,
				  align);
	}
	return p;
}

static void release(void *p, uintptr_t caller)
{
	if (!p)
		return;
	if (heap_owns(p)) {
		guard_busy++;
		heap_free(p, caller);
		guard_busy--;
		return;
	}
	if (foreign_take(p) || guard_busy) {
		__libc_free(p);
		return;
	}
	guard_busy++;
	report(K_INVALID_FREE, (uintptr_t)p, 0, 0, NULL, "not from this allocator");
	guard_busy--;
}

#define CALLER ((uintptr_t)__builtin_return_address(0))

API void *malloc(size_t size)
{
	return alloc(size, 0, false, CALLER);
}

API void free(void *p)
{
	release(p, CALLER);
}

API void *calloc(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc(total, 0, true, CALLER);
}

static void *resize(void *p, size_t size, uintptr_t caller)
{
	if (!p)
		return alloc(size, 0, false, caller);
	if (!heap_owns(p)) {
		if (foreign_take(p) || guard_busy) {
			void *q = __libc_realloc(p, size);
			foreign_add(q ? q : (size ? p : NULL));
			return q;
		}
		report(K_INVALID_FREE, (uintptr_t)p, 0, 0, NULL, "realloc of a pointer not from this allocator");
		errno = EINVAL;
		return NULL;
	}
	if (!size) { /* glibc's: free, and return NULL */
		release(p, caller);
		return NULL;
	}
	size_t old = heap_size(p);
	if (old == SIZE_MAX) {
		release(p, caller); /* reports the double or invalid free */
		errno = EINVAL;
		return NULL;
	}
	void *q = alloc(size, 0, false, caller);
	if (!q)
		return NULL;
	guard_busy++;
	if (heap_owns(q))
		heap_write(q, p, 0, old < size ? old : size);
	else
		memcpy(q, p, old < size ? old : size);
	guard_busy--;
	release(p, caller);
	return q;
}

API void *realloc(void *p, size_t size)
{
	return resize(p, size, CALLER);
}

API void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return resize(p, total, CALLER);
}

static bool pow2(size_t x)
{
	return x && !(x & (x - 1));
}

API int posix_memalign(void **out, size_t align, size_t size)
{
	if (!pow2(align) || align % sizeof(void *))
		return EINVAL;
	int saved = errno;
	void *p = alloc(size, align, false, CALLER);
	if (!p)
		return ENOMEM;
	errno = saved;
	*out = p;
	return 0;
}

/* glibc 2.36's memalign and aligned_alloc: an alignment that is not a
 * power of two is rounded up to one; too big to exist is ENOMEM. */
static void *aligned(size_t align, size_t size, uintptr_t caller)
{
	size_t a = 1;

	while (a < align && a)
		a <<= 1;
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc(size, a, false, caller);
}

API void *aligned_alloc(size_t align, size_t size)
{
	return aligned(align, size, CALLER);
}

API void *memalign(size_t align, size_t size)
{
	return aligned(align, size, CALLER);
}

API void *valloc(size_t size)
{
	return alloc(size, PAGE, false, CALLER);
}

API void *pvalloc(size_t size)
{
	size_t rounded = (size + PAGE - 1) & ~(PAGE - 1);

	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc(rounded ? rounded : PAGE, PAGE, false, CALLER);
}

API size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (heap_owns(p)) {
		size_t n = heap_size(p);
		return n == SIZE_MAX ? 0 : n;
	}
	return glibc_usable_size ? glibc_usable_size(p) : 0;
}

/* ---- ooh-guard.h ---- */

API int ooh_guard_stats(struct ooh_guard_stats *st)
{
	if (!st)
		return -EINVAL;
	if (atomic_load(&g.state) == 0)
		init();
	memset(st, 0, sizeof(*st));
	st->guarded_allocs = atomic_load(&g.guarded_allocs);
	st->plain_allocs = atomic_load(&g.plain_allocs);
	st->live_objects = atomic_load(&g.live_objects);
	st->live_bytes = atomic_load(&g.live_bytes);
	st->quarantined_bytes = g.quarantined_bytes;
	st->reports = atomic_load(&g.reports);
	st->heap_bytes = (g.small_next - g.base) + (g.large_next - g.small_end);
	st->backend = atomic_load(&g.state) == 2 ? g.backend : -1;
	st->degraded = atomic_load(&g.degraded);
	st->sample = g.cfg.sample;
	return 0;
}

API int ooh_guard_check(void)
{
	if (atomic_load(&g.state) != 2)
		return 0;
	guard_busy++;
	int n = heap_check_all(false);
	guard_busy--;
	return n;
}
