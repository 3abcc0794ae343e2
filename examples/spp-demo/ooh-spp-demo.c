/* SPDX-License-Identifier: MIT */
/*
 * ooh-spp-demo: a buffer overflow caught by sub-page write protection.
 *
 *   ooh-spp-demo [-b auto|ooh|mprotect]
 *
 * One page laid out like a guard-based allocator would (LeanGuard-style):
 * a 128-byte object in sub-page 1, write-protected guard sub-pages 0 and
 * 2 around it, a neighbouring object in sub-page 3.  The program copies a
 * 200-byte string into the 128-byte object one byte at a time, like a
 * careless strcpy.  The first byte past the object's end falls in the
 * guard: the write does not land and the thread gets SIGSEGV with si_code
 * OOH_SEGV_SPPERR and si_addr the exact byte.  The program says where it
 * was caught and checks that nothing past the object changed.
 *
 * Exit status: 0 caught at the exact address with the guard and the
 * neighbour intact, 1 not so, 2 usage, 3 the backend is not usable here.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ooh.h"

#define PG 4096u
#define SP OOH_SPP_SUBPAGE_SIZE
#define OBJ_SP 1u   /* the object's sub-page */
#define INPUT 200u  /* bytes copied into the 128-byte object */

static sigjmp_buf jb;
static volatile sig_atomic_t caught;
static void *volatile fault_addr;
static volatile int fault_code;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig; (void)ctx;
	fault_addr = si->si_addr;
	fault_code = si->si_code;
	if (!caught) {
		caught = 1;
		siglongjmp(jb, 1);
	}
	_exit(1); /* a second fault: not ours to recover from */
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* 1 if every byte of [p, p + n) is c. */
static int all(const volatile unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	enum ooh_spp_backend backend = OOH_SPP_BACKEND_AUTO;
	int c;

	while ((c = getopt(argc, argv, "b:h")) != -1) {
		if (c == 'b' && !strcmp(optarg, "ooh"))
			backend = OOH_SPP_BACKEND_OOH;
		else if (c == 'b' && !strcmp(optarg, "mprotect"))
			backend = OOH_SPP_BACKEND_MPROTECT;
		else if (c == 'b' && !strcmp(optarg, "auto"))
			backend = OOH_SPP_BACKEND_AUTO;
		else {
			fprintf(c == 'h' ? stdout : stderr, "usage: ooh-spp-demo [-b auto|ooh|mprotect]\n");
			return c == 'h' ? 0 : 2;
		}
	}

	/* Our handler first: libooh chains to it for its sub-page faults. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);

	char why[256] = "";
	if (backend != OOH_SPP_BACKEND_AUTO && ooh_spp_probe(backend, why, sizeof(why))) {
		printf("backend %s not usable: %s\n", ooh_spp_backend_name(backend), why);
		return 3;
	}
	ooh_spp *s;
	int err = ooh_spp_open(&s, OOH_SPP_OPEN_BACKEND(backend));
	if (err) {
		printf("ooh_spp_open: %s\n", strerror(-err));
		return 3;
	}

	unsigned char *page = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(page, 0, PG);
	volatile unsigned char *obj = page + OBJ_SP * SP, *next = obj + 2 * SP;
	memcpy((unsigned char *)next, "neighbour", 10);
	/* Guards: the sub-pages just below and just above the object. */
	uint32_t writable = OOH_SPP_ALL_WRITABLE & ~(1u << (OBJ_SP - 1)) & ~(1u << (OBJ_SP + 1));
	err = ooh_spp_protect(s, page, PG, writable);
	if (err) {
		printf("ooh_spp_protect: %s\n", strerror(-err));
		return 3;
	}
	printf("backend %s: page %p, object %u B at %p (sub-page %u), guards at %p and %p "
	       "(sub-pages %u and %u, write-protected), neighbour at %p\n",
	       ooh_spp_backend_name((enum ooh_spp_backend)ooh_spp_backend(s)), (void *)page, SP,
	       (void *)obj, OBJ_SP, (void *)(obj - SP), (void *)(obj + SP), OBJ_SP - 1, OBJ_SP + 1,
	       (void *)next);

	char input[INPUT];
	memset(input, 'A', sizeof(input));
	printf("copying %u bytes into the %u-byte object, one byte at a time ...\n", INPUT, SP);
	fflush(stdout);
	/* volatile: each byte is its own store, as a byte loop in C would be
	 * (a compiler's memcpy would be caught too, just less readably) */
	volatile unsigned landed = 0;
	double t0 = now_us(), t1 = 0;
	if (sigsetjmp(jb, 1) == 0) {
		for (unsigned i = 0; i < INPUT; i++) {
			obj[i] = (unsigned char)input[i];
			landed = i + 1;
		}
	}
	t1 = now_us();

	int ok = caught && fault_code == OOH_SEGV_SPPERR && fault_addr == (void *)(obj + SP) &&
		 landed == SP && all(obj, SP, 'A') && all(obj + SP, SP, 0) && all(obj - SP, SP, 0) &&
		 !memcmp((const void *)next, "neighbour", 10);
	if (!caught)
		printf("NOT caught: all %u bytes were written past the object\n", landed);
	else
		printf("caught: SIGSEGV si_code %s at %p = object + %td (%s), after %u bytes landed "
		       "(%.0f us for the copy)\n",
		       fault_code == OOH_SEGV_SPPERR ? "OOH_SEGV_SPPERR" : "(not a sub-page fault)",
		       fault_addr, (volatile unsigned char *)fault_addr - obj,
		       fault_addr == (void *)(obj + SP) ? "the first byte past its end" : "NOT the expected byte",
		       landed, t1 - t0);
	printf("after: object %s, guards %s, neighbour %s\n",
	       all(obj, SP, 'A') ? "filled" : "NOT filled",
	       all(obj + SP, SP, 0) && all(obj - SP, SP, 0) ? "unchanged" : "CHANGED",
	       !memcmp((const void *)next, "neighbour", 10) ? "intact" : "OVERWRITTEN");
	ooh_spp_close(s);
	return ok ? 0 : 1;
}
