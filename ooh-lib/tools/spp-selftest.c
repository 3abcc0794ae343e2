/* SPDX-License-Identifier: MIT */
/*
 * ooh-spp-selftest: the core of the sub-page protection unit tests
 * (tests/unit/ooh-lib/test-spp-*.c) as one dependency-free program, for
 * the rig's guests (no Check there).  For every usable SPP backend and
 * mechanism (mprotect: protection keys when the CPU has them, and parking,
 * forced with OOH_SPP_NO_PKEYS=1), each check runs in its own child:
 * one-byte overflow at the exact address, every byte of a page, straddling
 * stores and libc memset, several writer threads against a hammer on the
 * protected sub-pages, fork, munmap, no handler (dies of SIGSEGV).
 *
 * OOH_SPP_TEST_BACKENDS=ooh,mprotect (names, comma-separated) limits the
 * backends tried (the rig's L2 runs only "ooh": single-stepping there has
 * reset the TCG-emulated L1).
 *
 * Prints one line per check:  PASS|FAIL|SKIP <name> <detail>
 * Exit status 1 if any check failed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ooh.h"
#include "selftest-report.h"

#define PG 4096ul
#define SP 128ul

static __thread sigjmp_buf jb;
static __thread volatile int armed;
static __thread volatile uintptr_t last_addr;
static __thread volatile int last_code;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig; (void)ctx;
	last_addr = (uintptr_t)si->si_addr;
	last_code = si->si_code;
	if (armed) {
		armed = 0;
		siglongjmp(jb, 1);
	}
	_exit(90);
}

/* 1 if the store was refused (last_addr/last_code say how), else 0. */
#define TRY(store) ({ int c_ = 0; if (sigsetjmp(jb, 1) == 0) { armed = 1; store; armed = 0; } \
		      else { c_ = 1; } c_; })

static int w8(volatile char *p, char v)
{
	return TRY(*p = v);
}

/* In a check's child: return 0 on success, else a line number. */
#define CHECK(cond) do { if (!(cond)) return __LINE__; } while (0)

static enum ooh_spp_backend cur_backend;

static ooh_spp *open_domain(void)
{
	ooh_spp *s = NULL;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	if (ooh_spp_open(&s, OOH_SPP_OPEN_BACKEND(cur_backend)))
		return NULL;
	return s;
}

static char *map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		abort();
	memset(p, 0, len);
	return p;
}

static bool refused_at(volatile char *p, char v)
{
	char before = *p;
	return w8(p, v) == 1 && last_code == OOH_SEGV_SPPERR && last_addr == (uintptr_t)p &&
	       *p == before;
}

static int t_overflow(void)
{
	ooh_spp *s = open_domain();
	char *m = map(PG);
	CHECK(s && ooh_spp_protect(s, m, PG, ~(1u << 1)) == 0);
	for (int i = 0; i < 128; i++)
		CHECK(w8(&m[i], 'a') == 0 && m[i] == 'a');
	CHECK(refused_at(&m[128], 'x'));
	CHECK(refused_at(&m[255], 'x'));
	CHECK(w8(&m[256], 'b') == 0 && m[256] == 'b');
	uint32_t mask;
	CHECK(ooh_spp_query(s, m, &mask) == 0 && mask == ~(1u << 1));
	CHECK(ooh_spp_close(s) == 0 && w8(&m[128], 'c') == 0 && m[128] == 'c');
	return 0;
}

static int t_every_byte(void)
{
	ooh_spp *s = open_domain();
	char *m = map(PG);
	const uint32_t mask = 0x5a5a5a5au;
	CHECK(s && ooh_spp_protect(s, m, PG, mask) == 0);
	for (size_t i = 0; i < PG; i++) {
		if (mask & (1u << (i / SP)))
			CHECK(w8(&m[i], 1) == 0 && m[i] == 1);
		else
			CHECK(refused_at(&m[i], 1));
	}
	return 0;
}

static int t_straddle(void)
{
	static void *(*volatile do_memset)(void *, int, size_t) = memset;
	ooh_spp *s = open_domain();
	char *m = map(PG);
	CHECK(s && ooh_spp_protect(s, m, PG, ~(1u << 1)) == 0);
	CHECK(TRY(__asm__ volatile("movq %1, (%0)" : : "r"(m + 124), "r"(0x1122334455667788ull)
				   : "memory")) == 1);
	CHECK(last_code == OOH_SEGV_SPPERR && last_addr == (uintptr_t)(m + 128));
	for (int i = 120; i < 136; i++)
		CHECK(m[i] == 0);
	CHECK(TRY(do_memset(m, 'y', 129)) == 1 && last_addr == (uintptr_t)(m + 128));
	for (int i = 128; i < 256; i++)
		CHECK(m[i] == 0);
	return 0;
}

#define NT 3
static char *tpage;
static atomic_int tstop, tbad;

static void *writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 1; i <= 300; i++) {
		volatile char *own = tpage + 2 * id * SP + (i % 64);
		if (w8(own, (char)i) || *own != (char)i)
			atomic_fetch_add(&tbad, 1);
		if (i % 4 == 0 && !refused_at(tpage + (2 * id + 1) * SP + (i % SP), 9))
			atomic_fetch_add(&tbad, 1);
	}
	return NULL;
}

static void *hammer(void *arg)
{
	(void)arg;
	for (unsigned i = 0; !atomic_load(&tstop); i++)
		if (!refused_at(tpage + 31 * SP + (i % SP), 7))
			atomic_fetch_add(&tbad, 1);
	return NULL;
}

static int t_threads(void)
{
	ooh_spp *s = open_domain();
	pthread_t th[NT], h;
	tpage = map(PG);
	CHECK(s && ooh_spp_protect(s, tpage, PG, 0x55555555u) == 0);
	pthread_create(&h, NULL, hammer, NULL);
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	atomic_store(&tstop, 1);
	pthread_join(h, NULL);
	CHECK(atomic_load(&tbad) == 0);
	for (size_t i = 0; i < PG; i++)
		if ((i / SP) % 2)
			CHECK(tpage[i] == 0);
	return 0;
}

static int t_fork(void)
{
	ooh_spp *s = open_domain();
	char *m = map(PG);
	int st;
	CHECK(s && ooh_spp_protect(s, m, PG, ~(1u << 1)) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(refused_at(&m[130], 'c') && w8(&m[3], 'c') == 0 && m[3] == 'c' ? 0 : 1);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(m[3] == 0 && refused_at(&m[130], 'p'));
	return 0;
}

static int t_munmap(void)
{
	ooh_spp *s = open_domain();
	char *m = map(2 * PG);
	uint32_t mask;
	CHECK(s && ooh_spp_protect(s, m, 2 * PG, 0) == 0);
	CHECK(munmap(m + PG, PG) == 0);
	CHECK(ooh_spp_query(s, m + PG, &mask) == -EFAULT);
	char *again = mmap(m + PG, PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(again == m + PG);
	for (size_t i = 0; i < PG; i += 7)
		CHECK(w8(&again[i], 3) == 0 && again[i] == 3);
	CHECK(ooh_spp_query(s, again, &mask) == 0 && mask == OOH_SPP_ALL_WRITABLE);
	CHECK(refused_at(&m[5], 1));
	return 0;
}

static int t_no_handler(void)
{
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int st;
	CHECK(m != MAP_FAILED);
	memset(m, 0, PG);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		ooh_spp *s;
		signal(SIGSEGV, SIG_DFL);
		if (ooh_spp_open(&s, OOH_SPP_OPEN_BACKEND(cur_backend)) ||
		    ooh_spp_protect(s, m, PG, ~(1u << 2)))
			_exit(3);
		m[0] = 1;
		((volatile char *)m)[300] = 2;
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	CHECK(m[0] == 1 && m[300] == 0);
	return 0;
}


static bool name_in_list(const char *name, const char *list)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

static void run(const char *variant, bool nopkeys, const char *name, int (*fn)(void))
{
	char full[96];
	int st;

	snprintf(full, sizeof(full), "spp-%s-%s", variant, name);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (nopkeys)
			setenv("OOH_SPP_NO_PKEYS", "1", 1);
		alarm(60);
		_exit(fn());
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		result("FAIL", full, "fork/wait failed");
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		result("PASS", full, "");
	else if (WIFEXITED(st))
		result("FAIL", full, "check at line %d failed", WEXITSTATUS(st));
	else
		result("FAIL", full, "killed by signal %d", WTERMSIG(st));
}

/* Which mechanism a fresh process gets: 1 pkeys, 0 parking, -1 error. */
static int mechanism(bool nopkeys)
{
	int fd[2], st;
	char c = 'e';

	if (pipe(fd))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		ooh_spp *s;
		struct ooh_spp_stats stats;
		if (nopkeys)
			setenv("OOH_SPP_NO_PKEYS", "1", 1);
		if (ooh_spp_open(&s, OOH_SPP_OPEN_BACKEND(cur_backend)) == 0 && ooh_spp_stats(&stats) == 0)
			c = stats.pkeys ? 'k' : 'p';
		if (write(fd[1], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	if (pid < 0 || read(fd[0], &c, 1) != 1)
		c = 'e';
	close(fd[0]);
	waitpid(pid, &st, 0);
	return c == 'k' ? 1 : c == 'p' ? 0 : -1;
}

int main(void)
{
	static const struct { const char *name; int (*fn)(void); } tests[] = {
		{ "overflow", t_overflow }, { "every-byte", t_every_byte },
		{ "straddle", t_straddle }, { "threads", t_threads }, { "fork", t_fork },
		{ "munmap", t_munmap }, { "no-handler", t_no_handler },
	};
	char reason[160];
	const char *only = getenv("OOH_SPP_TEST_BACKENDS");

	for (int b = OOH_SPP_BACKEND_MPROTECT; b <= OOH_SPP_BACKEND_MAX; b++) {
		const char *bname = ooh_spp_backend_name((enum ooh_spp_backend)b);
		cur_backend = (enum ooh_spp_backend)b;
		if (only && *only && !name_in_list(bname, only)) {
			result("SKIP", bname, "not in OOH_SPP_TEST_BACKENDS=%s", only);
			continue;
		}
		if (ooh_spp_probe(cur_backend, reason, sizeof(reason))) {
			result("SKIP", bname, "%s", reason);
			continue;
		}
		for (int np = 0; np <= (b == OOH_SPP_BACKEND_MPROTECT); np++) {
			int mech = b == OOH_SPP_BACKEND_MPROTECT ? mechanism(np) : 0;
			char variant[32];
			if (mech < 0) {
				result("FAIL", bname, "cannot open a domain");
				continue;
			}
			if (b == OOH_SPP_BACKEND_MPROTECT && !np && mech == 0) {
				result("SKIP", "spp-mprotect-pkeys", "no protection keys on this CPU/kernel");
				continue;
			}
			snprintf(variant, sizeof(variant), "%s%s", bname,
				 b != OOH_SPP_BACKEND_MPROTECT ? "" : mech ? "-pkeys" : "-parking");
			for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
				run(variant, np, tests[i].name, tests[i].fn);
		}
	}
	return failures ? 1 : 0;
}
