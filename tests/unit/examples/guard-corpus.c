/* SPDX-License-Identifier: MIT */
/*
 * ooh-guard-corpus: heap bugs and correct programs for ooh-guard, run under
 * LD_PRELOAD=libooh-guard.so by tests/unit/examples/test-guard.c (not
 * linked with the guard). One subcommand per bug or program:
 *
 *   ooh-guard-corpus <case> [args]
 *
 * Before each bad operation a bug case prints, flushed,
 *   EXPECT kind=<kind> addr=0x.. object=0x.. size=N site=<func> thread=<tid>
 * (the report ooh-guard must make: its SUMMARY line has the same fields);
 * a correct program prints "EXPECT none". Checks the corpus makes itself
 * (errno, alignment, contents) print "PASS name" or "FAIL name detail";
 * the process exits 1 after any FAIL.
 *
 * Built -O1 -rdynamic, without sanitizers: every allocation site is a
 * global noinline function named site_* (dladdr names it through the
 * dynamic symbol table), each pointer handed to a bad operation is
 * laundered so the compiler neither warns about nor removes it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NOINL __attribute__((noinline, noclone, used))

static int failures;

/* The compiler must not know where p points. */
static inline void *launder(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

/* the memory p points to may be read here: stores to it are not dead */
static inline void keep(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static inline void barrier(void)
{
	__asm__ volatile("" : : : "memory");
}

static void pass(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("PASS %s", name);
	if (fmt) {
		putchar(' ');
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	if (++failures > 20) { /* the first 20 tell; the count is printed at the end */
		return;
	}
	printf("FAIL %s ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

#define CHECK(name, cond, ...) do { \
	if (cond) \
		pass(name, NULL); \
	else \
		fail(name, __VA_ARGS__); \
} while (0)

static void expect(const char *kind, const void *addr, const void *obj, size_t size,
		   const char *site)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&lock);
	printf("EXPECT kind=%s addr=0x%lx object=0x%lx size=%zu site=%s thread=%ld\n", kind,
	       (unsigned long)(uintptr_t)addr, (unsigned long)(uintptr_t)obj, size, site,
	       (long)gettid());
	fflush(stdout);
	pthread_mutex_unlock(&lock);
}

static void expect_none(void)
{
	printf("EXPECT none\n");
	fflush(stdout);
}

static void poke(void *p, char v)
{
	*(volatile char *)launder(p) = v;
}

/* a size the compiler cannot see (no -Walloc-size-larger-than) */
static inline size_t sz(size_t n)
{
	__asm__ volatile("" : "+r"(n));
	return n;
}

/* The placement the environment asks for (the spec's rules depend on it). */
static bool exact_align(void)
{
	const char *a = getenv("OOH_GUARD_ALIGN");

	return a && !strcmp(a, "1");
}

/* OOH_GUARD_SAMPLE=N, N > 1: most objects are glibc's (usable size >= n) */
static bool sampled(void)
{
	const char *s = getenv("OOH_GUARD_SAMPLE");

	return s && strtol(s, NULL, 0) > 1;
}

static bool usable_ok(void *p, size_t n)
{
	return sampled() ? malloc_usable_size(p) >= n : malloc_usable_size(p) == n;
}

static size_t round16(size_t n)
{
	return exact_align() ? n : (n + 15) & ~(size_t)15;
}

/* ---- allocation sites: one global function per site ---- */
#define SITE(name) \
	NOINL void *name(size_t n) \
	{ \
		void *p = malloc(n); \
		barrier(); \
		return launder(p); \
	}
SITE(site_overflow)
SITE(site_mappings)
SITE(site_slack)
SITE(site_large)
SITE(site_off_by_one)
SITE(site_memcpy)
SITE(site_strcpy)
SITE(site_sprintf)
SITE(site_strcat)
SITE(site_underflow)
SITE(site_waf)
SITE(site_waf_memset)
SITE(site_double_free)
SITE(site_interior)
SITE(site_realloc_first)
SITE(site_thread)
SITE(site_handler)
SITE(site_malloc0)
SITE(site_repeat)
SITE(site_at_exit)
SITE(site_after_enomem)

NOINL void *site_realloc_grow(void *p, size_t n)
{
	void *q = realloc(p, n);
	barrier();
	return launder(q);
}

NOINL void *site_realloc_shrink(void *p, size_t n)
{
	void *q = realloc(p, n);
	barrier();
	return launder(q);
}

NOINL void *site_calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	barrier();
	return launder(p);
}

/* ---- bugs ---- */

/* 1-byte write at p[n] for n in [from, to] (OOH_GUARD_ALIGN=1: each at the store). */
static int c_overflow_exact(size_t from, size_t to)
{
	for (size_t n = from; n <= to; n++) {
		char *p = site_overflow(n);
		expect("heap-buffer-overflow", p + n, p, n, "site_overflow");
		poke(p + n, 'x');
		free(p);
	}
	return 0;
}

/*
 * Default alignment (16): p[n] is caught at the store when n % 16 == 0;
 * otherwise it lands in the slack and is reported at free, and a write at
 * p[roundup(n, 16)] is caught at the store.
 */
static void one_slack(size_t n, const char *site, char *p)
{
	if (round16(n) == n) {
		expect("heap-buffer-overflow", p + n, p, n, site);
		poke(p + n, 'x');
	} else {
		poke(p + n, 'x');
		expect("heap-buffer-overflow", p + round16(n), p, n, site);
		poke(p + round16(n), 'y');
		expect("slack-corruption", p + n, p, n, site);
	}
	free(p);
}

static int c_overflow_slack(size_t from, size_t to)
{
	for (size_t n = from; n <= to; n++)
		one_slack(n, "site_slack", site_slack(n));
	return 0;
}

static const size_t large_sizes[] = {
	3968, 3969, 3999, 4000, 4080, 4095, 4096, 4097, 4111, 4112, 5000, 8191, 8192,
	8193, 12345, 65535, 65536, 65537, 100000, 131072, 262143, 524288, 1048575, 1048576,
};

static int c_overflow_large(bool exact)
{
	for (size_t i = 0; i < sizeof(large_sizes) / sizeof(large_sizes[0]); i++) {
		size_t n = large_sizes[i];
		char *p = site_large(n);
		memset(p, 'a', n); /* the whole object is writable */
		if (exact) {
			expect("heap-buffer-overflow", p + n, p, n, "site_large");
			poke(p + n, 'x');
			free(p);
		} else {
			one_slack(n, "site_large", p);
		}
	}
	return 0;
}

/* for (i = 0; i <= n; i++) p[i] = i; */
static int c_off_by_one(size_t n)
{
	volatile char *p = site_off_by_one(n);

	if (round16(n) == n)
		expect("heap-buffer-overflow", (char *)p + n, (char *)p, n, "site_off_by_one");
	else
		expect("slack-corruption", (char *)p + n, (char *)p, n, "site_off_by_one");
	for (size_t i = 0; i <= n; i++)
		p[i] = (char)i;
	free(launder((char *)p));
	return 0;
}

/* libc functions doing the bad write (sizes multiple of 16: caught at the store) */
static int c_libc(const char *which)
{
	static const char src[64] = "0123456789abcdef0123456789abcdef0123456789abcdef";
	bool all = !strcmp(which, "all");

	if (all || !strcmp(which, "memcpy")) {
		char *p = site_memcpy(32);
		expect("heap-buffer-overflow", p + 32, p, 32, "site_memcpy");
		memcpy(launder(p), launder((void *)src), 33);
		keep(p);
		free(p);
	}
	if (all || !strcmp(which, "strcpy")) {
		char *p = site_strcpy(16);
		expect("heap-buffer-overflow", p + 16, p, 16, "site_strcpy");
		strcpy(launder(p), launder((void *)"0123456789abcdef")); /* 17 bytes with the NUL */
		keep(p);
		free(p);
	}
	if (all || !strcmp(which, "sprintf")) {
		char *p = site_sprintf(48);
		expect("heap-buffer-overflow", p + 48, p, 48, "site_sprintf");
		/* 38 + 1 + 9 characters and the NUL: only the NUL is outside */
		sprintf(launder(p), "%s-%d", (char *)launder((void *)"0123456789abcdef0123456789abcdef012345"),
			123456789);
		keep(p);
		free(p);
	}
	if (all || !strcmp(which, "strcat")) {
		char *p = site_strcat(16);
		strcpy(p, "01234567");
		expect("heap-buffer-overflow", p + 16, p, 16, "site_strcat");
		strcat(launder(p), launder((void *)"89abcdef"));
		keep(p);
		free(p);
	}
	return 0;
}

/* OOH_GUARD_SIDE=left: p[-1] is caught at the store. */
static int c_underflow(size_t n)
{
	char *p = site_underflow(n);

	memset(p, 'a', n);
	expect("heap-buffer-underflow", p - 1, p, n, "site_underflow");
	poke(p - 1, 'x');
	free(p);
	return 0;
}

static int c_waf_store(void)
{
	char *p = site_waf(64);

	memset(p, 'a', 64);
	free(p);
	expect("write-after-free", p + 10, p, 64, "site_waf");
	poke(p + 10, 'x');
	return 0;
}

/* memset of a freed 16-byte object: every store of glibc's memset(, 16) starts at p */
static int c_waf_memset(void)
{
	char *p = site_waf_memset(16);

	free(p);
	expect("write-after-free", p, p, 16, "site_waf_memset");
	memset(launder(p), 0, 16);
	keep(p);
	return 0;
}

static int c_double_free(void)
{
	char *p = site_double_free(24);

	free(p);
	expect("double-free", p, p, 24, "site_double_free");
	free(launder(p));
	return 0;
}

static char global_buf[64];

static int c_invalid_free(const char *which)
{
	if (!strcmp(which, "interior")) {
		char *p = site_interior(64);
		expect("invalid-free", p + 8, p, 64, "site_interior");
		free(launder(p + 8));
	} else if (!strcmp(which, "stack")) {
		char buf[32];
		memset(buf, 0, sizeof(buf));
		expect("invalid-free", buf, NULL, 0, "?");
		free(launder(buf));
	} else if (!strcmp(which, "global")) {
		expect("invalid-free", global_buf + 16, NULL, 0, "?");
		free(launder(global_buf + 16));
	} else {
		fprintf(stderr, "invalid-free: interior|stack|global\n");
		return 2;
	}
	return 0;
}

/* realloc grow and shrink: the guard follows the new size; the old area is freed. */
static int c_realloc(void)
{
	char *p = site_realloc_first(40);
	for (int i = 0; i < 40; i++)
		p[i] = (char)i;
	char *q = site_realloc_grow(p, 96);
	bool same = true;
	for (int i = 0; i < 40; i++)
		same &= q[i] == (char)i;
	CHECK("realloc-grow-keeps-contents", same, "contents lost");
	memset(q + 40, 'b', 56);
	expect("heap-buffer-overflow", q + 96, q, 96, "site_realloc_grow");
	poke(q + 96, 'x');
	if (q != p) {
		expect("write-after-free", p, p, 40, "site_realloc_first");
		poke(p, 'x');
	} else {
		fail("realloc-grow-moves", "grown in place at %p: its guard cannot be exact", (void *)p);
	}
	char *r = site_realloc_shrink(q, 32);
	same = true;
	for (int i = 0; i < 32; i++)
		same &= r[i] == (char)i;
	CHECK("realloc-shrink-keeps-contents", same, "contents lost");
	expect("heap-buffer-overflow", r + 32, r, 32, "site_realloc_shrink");
	poke(r + 32, 'x');
	if (r != q) {
		expect("write-after-free", q + 50, q, 96, "site_realloc_grow");
		poke(q + 50, 'x');
	} else {
		fail("realloc-shrink-moves", "shrunk in place at %p: its guard cannot be exact", (void *)q);
	}
	free(r);
	return failures ? 1 : 0;
}

/* 4 threads overflow at the same moment (report mode: 4 reports). */
static pthread_barrier_t thread_barrier;

static void *overflow_thread(void *arg)
{
	size_t n = 64 + 16 * (size_t)(uintptr_t)arg;
	char *p = site_thread(n);

	memset(p, 'a', n);
	expect("heap-buffer-overflow", p + n, p, n, "site_thread");
	pthread_barrier_wait(&thread_barrier);
	poke(p + n, 'x');
	pthread_barrier_wait(&thread_barrier);
	free(p);
	return NULL;
}

static int c_threads(void)
{
	pthread_t t[4];

	pthread_barrier_init(&thread_barrier, NULL, 4);
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, overflow_thread, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return 0;
}

/* The program's own SIGSEGV handler catches its own NULL reads; the overflow is ooh-guard's. */
static sigjmp_buf own_jmp;
static volatile sig_atomic_t own_faults;
static void *volatile own_addr = (void *)1;

static void own_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	own_faults++;
	own_addr = si->si_addr;
	siglongjmp(own_jmp, 1);
}

static bool own_null_read(void)
{
	own_addr = (void *)1;
	if (sigsetjmp(own_jmp, 1) == 0) {
		volatile int *null = launder(NULL);
		(void)*null;
		return false;
	}
	return own_addr == NULL;
}

static int c_own_handler(void)
{
	struct sigaction sa = { .sa_sigaction = own_handler, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		fail("own-handler-install", "sigaction: %s", strerror(errno));
	CHECK("own-handler-before", own_null_read() && own_faults == 1,
	      "faults %d addr %p", (int)own_faults, own_addr);
	char *p = site_handler(32);
	expect("heap-buffer-overflow", p + 32, p, 32, "site_handler");
	poke(p + 32, 'x');
	CHECK("own-handler-not-called-for-overflow", own_faults == 1, "faults %d", (int)own_faults);
	CHECK("own-handler-after", own_null_read() && own_faults == 2,
	      "faults %d addr %p", (int)own_faults, own_addr);
	struct sigaction old;
	sigaction(SIGSEGV, NULL, &old);
	CHECK("own-handler-visible", (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == own_handler,
	      "sigaction(SIGSEGV) reads back %p flags %#x", (void *)old.sa_sigaction, old.sa_flags);
	free(p);
	return failures ? 1 : 0;
}

/* malloc(0): a 0-byte object, any write is an overflow. */
static int c_malloc0(void)
{
	char *p = site_malloc0(0);

	if (!p) {
		fail("malloc0-non-null", "malloc(0) returned NULL");
		return 1;
	}
	expect("heap-buffer-overflow", p, p, 0, "site_malloc0");
	poke(p, 'x');
	free(p);
	return 0;
}

/* report mode: one report per object and kind, however many bad writes */
static int c_repeat(void)
{
	char *p = site_repeat(32);

	expect("heap-buffer-overflow", p + 32, p, 32, "site_repeat");
	poke(p + 32, 'x');
	poke(p + 32, 'y');
	poke(p + 33, 'z');
	poke(p + 40, 'w');
	free(p);
	return 0;
}

/* an object never freed: its slack is checked at exit */
static int c_slack_at_exit(void)
{
	char *p = site_at_exit(20);

	expect("slack-corruption", p + 20, p, 20, "site_at_exit");
	poke(p + 20, 'x');
	return 0;
}

/* ---- correct programs ---- */

/* glibc's own functions (reference behaviour) */
static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*realloc)(void *, size_t);
	void *(*calloc)(size_t, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
} glibc;

static void load_glibc(void)
{
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);

	if (!h) {
		fprintf(stderr, "dlopen libc.so.6: %s\n", dlerror());
		exit(2);
	}
#define LOAD(f) (*(void **)&glibc.f = dlsym(h, #f))
	LOAD(malloc); LOAD(free); LOAD(realloc); LOAD(calloc); LOAD(reallocarray);
	LOAD(posix_memalign); LOAD(aligned_alloc); LOAD(memalign); LOAD(valloc); LOAD(pvalloc);
#undef LOAD
	if (glibc.malloc == malloc)
		printf("note: malloc is glibc's (not run under ooh-guard?)\n");
}

static size_t pow2_at_least(size_t a)
{
	size_t p = 1;

	while (p < a)
		p <<= 1;
	return p;
}

static bool fill_check(char *p, size_t n, char v)
{
	memset(p, v, n);
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static int c_ok_malloc0(void)
{
	expect_none();
	void *a = malloc(0), *b = malloc(0), *c = malloc(0);
	CHECK("malloc0-unique", a && b && c && a != b && b != c && a != c, "%p %p %p", a, b, c);
	CHECK("malloc0-usable-size", usable_ok(a, 0), "%zu", malloc_usable_size(a));
	free(a);
	free(b);
	free(c);
	void *d = calloc(0, 16);
	CHECK("calloc0-non-null", d != NULL, "calloc(0, 16) = NULL");
	free(d);
	free(NULL);
	return failures ? 1 : 0;
}

/* Every alignment 1..4096 for posix_memalign, aligned_alloc and memalign, as
 * glibc ("sparse": powers of two and their neighbours, for the rig's L1) */
static int c_ok_align(const char *which)
{
	static const size_t sizes[] = { 1, 24, 100 };
	unsigned long allocs = 0;
	bool sparse = !strcmp(which, "sparse");

	expect_none();
	load_glibc();
	for (size_t a = 1; a <= 4096; a++) {
		if (sparse && pow2_at_least(a) != a && pow2_at_least(a - 1) != a - 1 &&
		    pow2_at_least(a + 1) != a + 1)
			continue;
		size_t want = pow2_at_least(a);
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t n = sizes[si] + (a % 7);
			void *p = NULL, *g = NULL;
			int r = posix_memalign(&p, a, n), gr = glibc.posix_memalign(&g, a, n);
			if (gr == 0)
				glibc.free(g);
			if (r != gr || (r == 0) != (p != NULL))
				fail("posix_memalign", "align %zu size %zu: %d %p, glibc %d", a, n, r, p, gr);
			if (p) {
				if ((uintptr_t)p % a || !usable_ok(p, n) || !fill_check(p, n, 'p'))
					fail("posix_memalign-object", "align %zu size %zu: %p usable %zu",
					     a, n, p, malloc_usable_size(p));
				free(p);
				allocs++;
			}

			errno = 0;
			p = aligned_alloc(a, n);
			int e = errno;
			errno = 0;
			g = glibc.aligned_alloc(a, n);
			int ge = errno;
			glibc.free(g);
			if ((p == NULL) != (g == NULL) || (!p && e != ge))
				fail("aligned_alloc", "align %zu size %zu: %p errno %d, glibc %p errno %d",
				     a, n, p, e, g, ge);
			if (p) {
				if ((uintptr_t)p % want || !usable_ok(p, n) || !fill_check(p, n, 'a'))
					fail("aligned_alloc-object", "align %zu size %zu: %p usable %zu",
					     a, n, p, malloc_usable_size(p));
				/* efence cannot free() these */
				free(p);
				allocs++;
			}

			p = memalign(a, n);
			g = glibc.memalign(a, n);
			glibc.free(g);
			if ((p == NULL) != (g == NULL))
				fail("memalign", "align %zu size %zu: %p, glibc %p", a, n, p, g);
			if (p) {
				if ((uintptr_t)p % want || !usable_ok(p, n) || !fill_check(p, n, 'm'))
					fail("memalign-object", "align %zu size %zu: %p usable %zu",
					     a, n, p, malloc_usable_size(p));
				/* and realloc one of them */
				if (a % 512 == 0) {
					char *q = realloc(p, n * 3);
					if (!q || !fill_check(q, n * 3, 'r'))
						fail("memalign-realloc", "align %zu", a);
					p = q;
				}
				free(p);
				allocs++;
			}
		}
	}
	if (!failures)
		pass("align-1-4096", "%lu aligned objects (%s), results as glibc's", allocs,
		     sparse ? "powers of two and neighbours" : "every alignment");
	return failures ? 1 : 0;
}

static int c_ok_valloc(void)
{
	long pg = sysconf(_SC_PAGESIZE);

	expect_none();
	for (size_t n = 1; n < 20000; n = n * 3 + 1) {
		char *p = valloc(n);
		if (!p || (uintptr_t)p % (size_t)pg || !fill_check(p, n, 'v'))
			fail("valloc", "size %zu: %p", n, (void *)p);
		free(p);
		/* pvalloc rounds the size up to whole pages: all of it is the program's */
		size_t whole = (n + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
		p = pvalloc(n);
		if (!p || (uintptr_t)p % (size_t)pg || !fill_check(p, whole, 'w'))
			fail("pvalloc", "size %zu: %p", n, (void *)p);
		free(p);
	}
	if (!failures)
		pass("valloc-pvalloc", NULL);
	return failures ? 1 : 0;
}

static unsigned char pattern(size_t i, unsigned seed)
{
	return (unsigned char)(i * 131 + seed);
}

static int c_ok_realloc(void)
{
	unsigned char *p = NULL;
	size_t cur = 0;
	unsigned steps = 0;

	expect_none();
	/* up from nothing to 200 KB, then down to 1, contents kept each time */
	for (size_t n = 1; n <= 200000; n = n < 64 ? n + 1 : n * 5 / 4, steps++) {
		unsigned char *q = realloc(p, n);
		if (!q) {
			fail("realloc-up", "NULL at %zu", n);
			return 1;
		}
		for (size_t i = 0; i < cur && i < n; i++)
			if (q[i] != pattern(i, 1)) {
				fail("realloc-up", "byte %zu lost growing to %zu", i, n);
				return 1;
			}
		for (size_t i = cur; i < n; i++)
			q[i] = pattern(i, 1);
		if (!usable_ok(q, n))
			fail("realloc-usable-size", "%zu for %zu", malloc_usable_size(q), n);
		p = q;
		cur = n;
	}
	for (size_t n = cur; n >= 1; n = n > 64 ? n * 4 / 5 : n - 1, steps++) {
		unsigned char *q = realloc(p, n);
		if (!q) {
			fail("realloc-down", "NULL at %zu", n);
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			if (q[i] != pattern(i, 1)) {
				fail("realloc-down", "byte %zu lost shrinking to %zu", i, n);
				return 1;
			}
		p = q;
		cur = n;
	}
	free(p);
	/* realloc(NULL, n) is malloc(n); same size realloc keeps the object usable */
	char *s = realloc(NULL, 10);
	s = realloc(s, 10);
	CHECK("realloc-null-same", s && fill_check(s, 10, 's'), "%p", (void *)s);
	free(s);
	if (!failures)
		pass("realloc-chain", "%u reallocs up to 200000 bytes and down to 1", steps);
	return failures ? 1 : 0;
}

static int c_ok_calloc(void)
{
	expect_none();
	for (int round = 0; round < 3; round++) {
		for (size_t n = 1; n < 70000; n = n * 2 + 3) {
			unsigned char *p = site_calloc(n, 1 + (size_t)round);
			size_t bytes = n * (1 + (size_t)round);
			for (size_t i = 0; i < bytes; i++)
				if (p[i]) {
					fail("calloc-zeroed", "size %zu byte %zu = %d", bytes, i, p[i]);
					return 1;
				}
			memset(p, 0xee, bytes); /* dirty it: a later calloc must still be zero */
			free(p);
		}
	}
	pass("calloc-zeroed", NULL);
	return 0;
}

static int c_ok_reallocarray(void)
{
	int *a = NULL;

	expect_none();
	for (size_t n = 1; n <= 5000; n += 37) {
		int *b = reallocarray(a, n, sizeof(int));
		if (!b) {
			fail("reallocarray", "NULL at %zu", n);
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			b[i] = (int)i;
		a = b;
	}
	free(a);
	pass("reallocarray", NULL);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int c_ok_libc(void)
{
	expect_none();
	/* strdup / strndup */
	char *d = strdup("ooh-guard");
	char *nd = strndup("ooh-guard-strndup", 7);
	CHECK("strdup", d && !strcmp(d, "ooh-guard") && nd && !strcmp(nd, "ooh-gua"), "%s %s", d, nd);
	free(d);
	free(nd);

	/* getline over lines of growing length (its buffer is realloc'd) */
	size_t total = 0;
	for (int i = 1; i <= 300; i++)
		total += (size_t)i * 7 + 1;
	char *text = malloc(total + 1), *t = text;
	for (int i = 1; i <= 300; i++) {
		memset(t, 'a' + i % 26, (size_t)i * 7);
		t += i * 7;
		*t++ = '\n';
	}
	*t = 0;
	FILE *f = fmemopen(text, total, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lines = 0;
	bool ok = f != NULL;
	while (f && (len = getline(&line, &cap, f)) > 0) {
		lines++;
		ok &= len == lines * 7 + 1;
	}
	if (f)
		fclose(f);
	free(line);
	free(text);
	CHECK("getline", ok && lines == 300, "%d lines", lines);

	/* popen (glibc's posix_spawn writes the FILE's pid with every signal
	 * blocked), posix_spawn into a pid inside a heap object, read(2) and
	 * fread from /proc (1 KiB stdio buffer) into heap objects */
	FILE *pp = popen("echo popen-ok", "r");
	char pbuf[32] = "";
	bool pok = pp && fgets(pbuf, sizeof(pbuf), pp) && !strcmp(pbuf, "popen-ok\n");
	CHECK("popen", pok && pp && pclose(pp) == 0, "'%s'", pbuf);
	struct { int tag; pid_t pid; } *sp = malloc(sizeof(*sp));
	char *sargv[] = { (char *)"true", NULL };
	int st = -1;
	int serr = posix_spawnp(&sp->pid, "true", NULL, NULL, sargv, environ);
	CHECK("posix_spawn", !serr && sp->pid > 0 && waitpid(sp->pid, &st, 0) == sp->pid && st == 0,
	      "err %d pid %d status %d", serr, (int)sp->pid, st);
	free(sp);
	char *rb = malloc(100);
	int rfd = open("/proc/self/stat", O_RDONLY);
	ssize_t rn = rfd >= 0 ? read(rfd, rb, 99) : -1;
	CHECK("read-into-heap", rn > 10 && rb[0] >= '1' && rb[0] <= '9', "%zd (%s)", rn,
	      rn < 0 ? strerror(errno) : "short");
	if (rfd >= 0)
		close(rfd);
	free(rb);
	FILE *pf = fopen("/proc/self/maps", "r");
	int plines = 0;
	char lbuf[512];
	while (pf && fgets(lbuf, sizeof(lbuf), pf))
		plines++;
	CHECK("fopen-proc", pf && !ferror(pf) && plines > 5, "%d lines", plines);
	if (pf)
		fclose(pf);

	/* qsort of 100000 ints (glibc's merge sort takes a malloc'd buffer) */
	int *v = malloc(100000 * sizeof(int));
	for (int i = 0; i < 100000; i++)
		v[i] = (int)((unsigned)i * 2654435761u % 1000003u);
	qsort(v, 100000, sizeof(int), cmp_int);
	ok = true;
	for (int i = 1; i < 100000; i++)
		ok &= v[i - 1] <= v[i];
	free(v);
	CHECK("qsort", ok, "not sorted");

	/* asprintf, open_memstream */
	char *s = NULL;
	int n = asprintf(&s, "%s-%d-%.3f-%0500d", "asprintf", 42, 3.25, 7);
	CHECK("asprintf", n == 518 && s && (int)strlen(s) == n, "%d", n);
	free(s);
	char *ms = NULL;
	size_t mslen = 0;
	FILE *m = open_memstream(&ms, &mslen);
	for (int i = 0; m && i < 5000; i++)
		fprintf(m, "line %d\n", i);
	if (m)
		fclose(m);
	CHECK("open_memstream", ms && mslen == strlen(ms) && mslen > 30000, "%zu", mslen);
	free(ms);

	/* regcomp/regexec, opendir/readdir: libc's own malloc users */
	regex_t re;
	ok = !regcomp(&re, "^(a+)(b*)[0-9]{2,}$", REG_EXTENDED);
	regmatch_t mt[3];
	ok = ok && !regexec(&re, "aaabb123", 3, mt, 0) && mt[1].rm_eo == 3;
	regfree(&re);
	CHECK("regex", ok, "no match");
	DIR *dir = opendir("/proc/self/fd");
	int ents = 0;
	while (dir && readdir(dir))
		ents++;
	if (dir)
		closedir(dir);
	CHECK("readdir", ents >= 3, "%d entries", ents);
	return failures ? 1 : 0;
}

/* allocated in one thread, freed in another */
#define QN 256
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void *slot[QN];
	size_t size[QN];
	unsigned head, tail;
	int producers_left;
} queue = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
static int bad_objects, per_producer = 100;

static void *producer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	/* (full mode on the software backend: every store to a small object
	 * is single-stepped with the other threads parked, so few: memset) */
	for (int i = 0; i < per_producer; i++) {
		size_t n = (size_t)(rand_r(&seed) % 2000);
		unsigned char *p = malloc(n);
		memset(p, (unsigned char)n, n);
		pthread_mutex_lock(&queue.lock);
		while (queue.head - queue.tail == QN)
			pthread_cond_wait(&queue.cond, &queue.lock);
		queue.slot[queue.head % QN] = p;
		queue.size[queue.head % QN] = n;
		queue.head++;
		pthread_cond_broadcast(&queue.cond);
		pthread_mutex_unlock(&queue.lock);
	}
	pthread_mutex_lock(&queue.lock);
	queue.producers_left--;
	pthread_cond_broadcast(&queue.cond);
	pthread_mutex_unlock(&queue.lock);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&queue.lock);
		while (queue.head == queue.tail && queue.producers_left)
			pthread_cond_wait(&queue.cond, &queue.lock);
		if (queue.head == queue.tail) {
			pthread_mutex_unlock(&queue.lock);
			return NULL;
		}
		unsigned char *p = queue.slot[queue.tail % QN];
		size_t n = queue.size[queue.tail % QN];
		queue.tail++;
		pthread_cond_broadcast(&queue.cond);
		pthread_mutex_unlock(&queue.lock);
		for (size_t j = 0; j < n; j++)
			if (p[j] != (unsigned char)n) {
				__atomic_add_fetch(&bad_objects, 1, __ATOMIC_RELAXED);
				break;
			}
		free(p);
	}
}

static int c_ok_threads(size_t n)
{
	pthread_t p[2], c[2];

	per_producer = (int)n;
	expect_none();
	queue.producers_left = 2;
	for (uintptr_t i = 0; i < 2; i++) {
		pthread_create(&p[i], NULL, producer, (void *)(i + 1));
		pthread_create(&c[i], NULL, consumer, NULL);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(p[i], NULL);
		pthread_join(c[i], NULL);
	}
	CHECK("threads-cross-free", bad_objects == 0 && queue.head == 2 * n && queue.tail == 2 * n,
	      "%d bad objects, %u produced, %u consumed", bad_objects, queue.head, queue.tail);
	return failures ? 1 : 0;
}

/* fork: the child allocates, frees the parent's objects and exits; also while
 * another thread of the parent is in the allocator */
static volatile int churn_stop;

static void *churn(void *arg)
{
	(void)arg;
	while (!churn_stop) {
		void *a[16];
		for (int i = 0; i < 16; i++)
			a[i] = malloc((size_t)(i * 97));
		for (int i = 0; i < 16; i++)
			free(a[i]);
	}
	return NULL;
}

static int fork_child(char *inherited)
{
	alarm(20); /* an allocator lock left held by fork hangs the child: fail, not hang */
	bool ok = !strcmp(inherited, "from the parent");
	free(inherited);
	for (int i = 0; i < 200; i++) {
		char *p = malloc((size_t)i * 13);
		memset(p, 'c', (size_t)i * 13);
		free(p);
	}
	char *keep = malloc(100);
	memset(keep, 'k', 100); /* never freed: checked at exit */
	exit(ok ? 0 : 3);
}

static int c_ok_fork(void)
{
	pthread_t t;

	expect_none();
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			pthread_create(&t, NULL, churn, NULL);
		for (int i = 0; i < 10; i++) {
			char *s = strdup("from the parent");
			pid_t pid = fork();
			if (pid == 0)
				fork_child(s);
			int st = -1;
			waitpid(pid, &st, 0);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fail(round ? "fork-threaded" : "fork", "child %d status %#x", i, st);
				break;
			}
			free(s);
		}
		if (round == 1) {
			churn_stop = 1;
			pthread_join(t, NULL);
		}
	}
	if (!failures)
		pass("fork", "20 children allocated, freed and exited (10 while a thread allocated)");
	return failures ? 1 : 0;
}

static int c_ok_usable(void)
{
	expect_none();
	for (size_t n = 0; n < 9000; n += n < 100 ? 1 : 61) {
		void *p = malloc(n);
		if (!usable_ok(p, n))
			fail("malloc_usable_size", "%zu for malloc(%zu)", malloc_usable_size(p), n);
		free(p);
	}
	CHECK("malloc_usable_size-null", malloc_usable_size(NULL) == 0, "%zu", malloc_usable_size(NULL));
	return failures ? 1 : 0;
}

/* Impossible sizes: NULL and the errno glibc sets (ENOMEM; EINVAL for bad alignments). */
static void null_case(const char *name, void *p, int e, void *g, int ge, int want_errno)
{
	if (p || g || e != ge)
		fail(name, "ooh-guard %p errno %d, glibc %p errno %d", p, e, g, ge);
	else
		pass(name, "NULL, errno %d as glibc%s", e, e == want_errno ? "" : " (not the errno expected)");
	free(p);
	glibc.free(g);
}

#define BOTH(name, call, gcall, want) do { \
	errno = 0; void *p_ = (call); int e_ = errno; \
	errno = 0; void *g_ = (gcall); int ge_ = errno; \
	null_case(name, p_, e_, g_, ge_, want); \
} while (0)

static int c_errno(void)
{
	expect_none();
	load_glibc();
	BOTH("malloc-half", malloc(sz(SIZE_MAX / 2)), glibc.malloc(sz(SIZE_MAX / 2)), ENOMEM);
	BOTH("malloc-max", malloc(sz(SIZE_MAX)), glibc.malloc(sz(SIZE_MAX)), ENOMEM);
	BOTH("malloc-max-page", malloc(sz(SIZE_MAX - 4095)), glibc.malloc(sz(SIZE_MAX - 4095)), ENOMEM);
	BOTH("calloc-overflow", calloc(sz(SIZE_MAX / 4), 8), glibc.calloc(sz(SIZE_MAX / 4), 8), ENOMEM);
	BOTH("calloc-overflow-2", calloc(sz((size_t)1 << 33), sz((size_t)1 << 33)),
	     glibc.calloc(sz((size_t)1 << 33), sz((size_t)1 << 33)), ENOMEM);
	BOTH("calloc-half", calloc(1, sz(SIZE_MAX / 2)), glibc.calloc(1, sz(SIZE_MAX / 2)), ENOMEM);
	BOTH("reallocarray-overflow-null", reallocarray(NULL, sz(SIZE_MAX / 4), 8),
	     glibc.reallocarray(NULL, sz(SIZE_MAX / 4), 8), ENOMEM);
	BOTH("aligned_alloc-huge", aligned_alloc(64, sz(SIZE_MAX / 2)), glibc.aligned_alloc(64, sz(SIZE_MAX / 2)), ENOMEM);
	BOTH("memalign-huge", memalign(64, sz(SIZE_MAX / 2)), glibc.memalign(64, sz(SIZE_MAX / 2)), ENOMEM);
	BOTH("memalign-huge-align", memalign(sz(SIZE_MAX / 2 + 1), 16), glibc.memalign(sz(SIZE_MAX / 2 + 1), 16), EINVAL);
	BOTH("valloc-huge", valloc(sz(SIZE_MAX / 2)), glibc.valloc(sz(SIZE_MAX / 2)), ENOMEM);
	BOTH("pvalloc-max", pvalloc(sz(SIZE_MAX)), glibc.pvalloc(sz(SIZE_MAX)), ENOMEM);

	/* a failed reallocarray/realloc leaves the object alone */
	char *p = malloc(32);
	memset(p, 'o', 32);
	errno = 0;
	void *r = reallocarray(p, sz(SIZE_MAX / 4), 8);
	int e = errno;
	CHECK("reallocarray-overflow-keeps", !r && e == ENOMEM && p[31] == 'o', "%p errno %d", r, e);
	errno = 0;
	r = realloc(p, sz(SIZE_MAX / 2));
	e = errno;
	memset(p, 'p', 32); /* still the program's */
	CHECK("realloc-huge-keeps", !r && e == ENOMEM, "%p errno %d", r, e);
	free(p);

	/* posix_memalign reports through its result, leaves *memptr alone */
	void *m = (void *)&m, *gm = (void *)&gm;
	int rc = posix_memalign(&m, 3, 8), grc = glibc.posix_memalign(&gm, 3, 8);
	CHECK("posix_memalign-einval", rc == EINVAL && grc == EINVAL && m == (void *)&m,
	      "%d (glibc %d), memptr %p", rc, grc, m);
	rc = posix_memalign(&m, 16, sz(SIZE_MAX / 2));
	grc = glibc.posix_memalign(&gm, 16, sz(SIZE_MAX / 2));
	CHECK("posix_memalign-enomem", rc == ENOMEM && grc == ENOMEM, "%d (glibc %d)", rc, grc);

	/* realloc(p, 0): glibc 2.36 frees p and returns NULL; realloc(NULL, 0) is malloc(0) */
	char *z = malloc(10);
	char *gz = glibc.malloc(10);
	void *zr = realloc(z, 0), *gzr = glibc.realloc(gz, 0);
	CHECK("realloc-zero-as-glibc", (zr == NULL) == (gzr == NULL),
	      "ooh-guard %p, glibc %p", zr, gzr);
	printf("note: realloc(p, 0) returns %s under glibc\n", gzr ? "an object" : "NULL (p freed)");
	free(zr);
	glibc.free(gzr);
	void *zn = realloc(NULL, 0);
	CHECK("realloc-null-zero", zn != NULL && usable_ok(zn, 0), "%p usable %zu", zn,
	      malloc_usable_size(zn));
	free(zn);
	free(NULL);
	return failures ? 1 : 0;
}

/* after impossible sizes (NULL, ENOMEM) the guard still guards */
static int c_after_enomem(void)
{
	static const size_t sizes[] = { SIZE_MAX / 2, SIZE_MAX, SIZE_MAX - 4095, (size_t)1 << 62 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		errno = 0;
		void *p = malloc(sz(sizes[i]));
		CHECK("impossible-malloc", !p && errno == ENOMEM, "malloc(%#zx) = %p errno %d", sizes[i], p,
		      errno);
		p = calloc(sz(sizes[i]), 1);
		CHECK("impossible-calloc", !p && errno == ENOMEM, "calloc(%#zx, 1) = %p", sizes[i], p);
		p = memalign(64, sz(sizes[i]));
		CHECK("impossible-memalign", !p, "memalign(64, %#zx) = %p", sizes[i], p);
		p = valloc(sz(sizes[i]));
		CHECK("impossible-valloc", !p, "valloc(%#zx) = %p", sizes[i], p);
		char *q = malloc(16);
		p = realloc(q, sz(sizes[i]));
		CHECK("impossible-realloc", !p, "realloc(, %#zx) = %p", sizes[i], p);
		free(q);
	}
	/* impossible alignments (glibc: NULL, ENOMEM or EINVAL) */
	void *m = NULL;
	CHECK("impossible-memalign-align", !memalign(sz(SIZE_MAX / 2 + 1), 16), "not NULL");
	CHECK("impossible-aligned_alloc-align", !aligned_alloc(sz(SIZE_MAX / 2 + 1), 16), "not NULL");
	CHECK("impossible-posix_memalign-align", posix_memalign(&m, sz(SIZE_MAX / 2 + 1), 16) != 0, "0");
	CHECK("impossible-pvalloc", !pvalloc(sz(SIZE_MAX)), "not NULL");
	for (size_t n = 16; n <= 65536; n *= 4) {
		char *p = site_after_enomem(n);
		memset(p, 'a', n);
		expect("heap-buffer-overflow", p + n, p, n, "site_after_enomem");
		poke(p + n, 'x');
		free(p);
	}
	return failures ? 1 : 0;
}

/*
 * The program itself holds all but ~6000 of vm.max_map_count's mappings;
 * then many objects with pages of their own (3000 bytes: on the software
 * backend each is two mappings) and small ones, written and read back:
 * ooh-guard must say once that it stops guarding the big ones, never take
 * a good write for a bad one, and still guard the small ones.
 */
static int c_many_mappings(void)
{
	unsigned long max = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	if (f) {
		if (fscanf(f, "%lu", &max) != 1)
			max = 65530;
		fclose(f);
	}
	long splits = max > 12000 ? (long)(max - 6000) / 2 : 0;
	char *m = mmap(NULL, (size_t)(2 * splits + 2) * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long done = 0;
	for (long i = 0; m != MAP_FAILED && i < splits; i++, done++)
		if (mprotect(m + (2 * i + 1) * 4096, 4096, PROT_READ))
			break;
	enum { BIG = 4000, SMALL = 4000 };
	static char *big[BIG], *small[SMALL];
	bool ok = true;
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < BIG; i++) {
			big[i] = malloc(3000);
			ok &= big[i] != NULL;
			if (big[i])
				memset(big[i], i & 0xff, 3000);
		}
		for (int i = 0; i < SMALL; i++) {
			small[i] = malloc(40);
			ok &= small[i] != NULL;
			if (small[i])
				memset(small[i], i & 0x7f, 40);
		}
		for (int i = 0; i < BIG; i++)
			ok &= big[i] && big[i][2999] == (char)(i & 0xff);
		for (int i = 0; i < SMALL; i++)
			ok &= small[i] && small[i][39] == (char)(i & 0x7f);
		for (int i = 0; i < BIG; i++)
			free(big[i]);
		for (int i = 0; i < SMALL; i++)
			free(small[i]);
	}
	CHECK("many-mappings", ok && done == splits, "%ld of %ld splits, contents %s", done, splits,
	      ok ? "ok" : "wrong");
	/* small objects still guarded */
	char *p = site_mappings(48);
	expect("heap-buffer-overflow", p + 48, p, 48, "site_mappings");
	poke(p + 48, 'x');
	free(p);
	return 0;
}

/* Faults and traps the program has no handler for end it as without
 * ooh-guard: a NULL write (SIGSEGV), an int3 (SIGTRAP). */
static int c_no_handler(const char *what)
{
	expect_none();
	if (what && !strcmp(what, "trap"))
		__asm__ volatile("int3");
	else
		poke(launder(NULL), 'x');
	printf("survived\n");
	return 0;
}

static const struct cmd {
	const char *name;
	int (*fn0)(void);
	int (*fn_size)(size_t);
	int (*fn_str)(const char *);
	const char *help;
} cmds[] = {
	{ "off-by-one", NULL, c_off_by_one, NULL, "N: for (i = 0; i <= N; i++) p[i] = i" },
	{ "libc", NULL, NULL, c_libc, "memcpy|strcpy|sprintf|strcat|all: libc overflows" },
	{ "underflow", NULL, c_underflow, NULL, "N: p[-1] (OOH_GUARD_SIDE=left)" },
	{ "waf-store", c_waf_store, NULL, NULL, "write after free (store)" },
	{ "waf-memset", c_waf_memset, NULL, NULL, "write after free (memset)" },
	{ "double-free", c_double_free, NULL, NULL, "free twice" },
	{ "invalid-free", NULL, NULL, c_invalid_free, "interior|stack|global" },
	{ "realloc", c_realloc, NULL, NULL, "realloc grow and shrink, old areas written" },
	{ "threads", c_threads, NULL, NULL, "4 threads overflow at once (report mode)" },
	{ "own-handler", c_own_handler, NULL, NULL, "the program's SIGSEGV handler, then an overflow" },
	{ "malloc0", c_malloc0, NULL, NULL, "write through malloc(0)" },
	{ "repeat", c_repeat, NULL, NULL, "several bad writes, one object (report mode)" },
	{ "slack-at-exit", c_slack_at_exit, NULL, NULL, "slack corrupted, never freed" },
	{ "after-enomem", c_after_enomem, NULL, NULL, "impossible sizes, then overflows (report mode)" },
	{ "ok-malloc0", c_ok_malloc0, NULL, NULL, "" },
	{ "ok-align", NULL, NULL, c_ok_align, "[sparse]" },
	{ "ok-valloc", c_ok_valloc, NULL, NULL, "" },
	{ "ok-realloc", c_ok_realloc, NULL, NULL, "" },
	{ "ok-calloc", c_ok_calloc, NULL, NULL, "" },
	{ "ok-reallocarray", c_ok_reallocarray, NULL, NULL, "" },
	{ "ok-libc", c_ok_libc, NULL, NULL, "" },
	{ "ok-threads", NULL, c_ok_threads, NULL, "[N]: 2 threads allocate N objects each, 2 others free them" },
	{ "ok-fork", c_ok_fork, NULL, NULL, "" },
	{ "ok-usable", c_ok_usable, NULL, NULL, "" },
	{ "errno", c_errno, NULL, NULL, "impossible sizes: NULL + ENOMEM as glibc" },
	{ "many-mappings", c_many_mappings, NULL, NULL, "the program holds nearly all of vm.max_map_count" },
	{ "no-handler", NULL, NULL, c_no_handler, "segv|trap: dies of the signal, as without ooh-guard" },
};

static void usage(void)
{
	fprintf(stderr, "usage: ooh-guard-corpus CASE [ARG]\n"
		"  overflow-exact FROM TO   p[n] for n in FROM..TO (OOH_GUARD_ALIGN=1)\n"
		"  overflow-slack FROM TO   p[n], p[roundup(n,16)] (default alignment)\n"
		"  overflow-large exact|slack  sizes 3968 .. 1 MiB\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, "  %-24s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2) {
		usage();
		return 2;
	}
	if (!strcmp(argv[1], "overflow-exact") || !strcmp(argv[1], "overflow-slack")) {
		size_t from = argc > 2 ? strtoul(argv[2], NULL, 0) : 1;
		size_t to = argc > 3 ? strtoul(argv[3], NULL, 0) : 4097;
		rc = argv[1][9] == 'e' ? c_overflow_exact(from, to) : c_overflow_slack(from, to);
	} else if (!strcmp(argv[1], "overflow-large")) {
		rc = c_overflow_large(argc > 2 && !strcmp(argv[2], "exact"));
	} else {
		size_t i;
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (!strcmp(argv[1], cmds[i].name))
				break;
		if (i == sizeof(cmds) / sizeof(cmds[0])) {
			usage();
			return 2;
		}
		if (cmds[i].fn0)
			rc = cmds[i].fn0();
		else if (cmds[i].fn_size)
			rc = cmds[i].fn_size(argc > 2 ? strtoul(argv[2], NULL, 0) :
					     cmds[i].fn_size == c_ok_threads ? 100 : 64);
		else
			rc = cmds[i].fn_str(argc > 2 ? argv[2] : "all");
	}
	if (failures > 20)
		printf("FAIL and %d more failed checks\n", failures - 20);
	printf("END %s\n", failures ? "FAIL" : "ok");
	fflush(stdout);
	return rc ? rc : failures ? 1 : 0;
}
