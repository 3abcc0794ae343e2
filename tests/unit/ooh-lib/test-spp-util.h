/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the sub-page protection tests (test-spp-*.c): the SPP
 * backends usable here, and a SIGSEGV catcher that the library chains to
 * (installed before ooh_spp_open), recording what a violation delivered
 * and jumping back to the write that caused it.
 */
#ifndef TEST_SPP_UTIL_H
#define TEST_SPP_UTIL_H

#include <check.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ooh.h"
#include "ooh_check.h"

#define PG 4096ul
#define SP 128ul

/*
 * Variants under test: every usable backend; the mprotect backend twice
 * when the CPU has protection keys (pkey windows, and with
 * OOH_SPP_NO_PKEYS=1 the parking mechanism every x86-64 Linux has).
 */
#define TS_MAX_VARIANTS 4
static enum ooh_spp_backend ts_backends[TS_MAX_VARIANTS];
static bool ts_nopkeys[TS_MAX_VARIANTS];
static int ts_nr_backends;

static inline bool ts_cpu_has_pkeys(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	return c & (1u << 4); /* OSPKE */
#else
	return false;
#endif
}

/* OOH_SPP_TEST_BACKENDS=ooh,mprotect: only those (the rig's L2 runs "ooh"). */
static inline bool ts_backend_wanted(const char *name)
{
	const char *list = getenv("OOH_SPP_TEST_BACKENDS");
	size_t n = strlen(name);

	if (!list || !*list)
		return true;
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

static inline void ts_find_backends(void)
{
	static const enum ooh_spp_backend all[] = { OOH_SPP_BACKEND_MPROTECT, OOH_SPP_BACKEND_OOH };
	char reason[160];

	ts_nr_backends = 0;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!ts_backend_wanted(ooh_spp_backend_name(all[i]))) {
			fprintf(stderr, "note: SPP backend %s left out (OOH_SPP_TEST_BACKENDS)\n",
				ooh_spp_backend_name(all[i]));
			continue;
		}
		if (ooh_spp_probe(all[i], reason, sizeof(reason)) != 0) {
			fprintf(stderr, "note: SPP backend %s not usable here, its cases are not run: %s\n",
				ooh_spp_backend_name(all[i]), reason);
			continue;
		}
		ts_backends[ts_nr_backends] = all[i];
		ts_nopkeys[ts_nr_backends++] = false;
		if (all[i] == OOH_SPP_BACKEND_MPROTECT && ts_cpu_has_pkeys()) {
			ts_backends[ts_nr_backends] = all[i];
			ts_nopkeys[ts_nr_backends++] = true;
		} else if (all[i] == OOH_SPP_BACKEND_MPROTECT) {
			fprintf(stderr, "note: no protection keys here: mprotect runs with parking only\n");
		}
	}
}

/* Select variant v for this (forked) test process, before the first open. */
static inline void ts_variant(int v)
{
	if (ts_nopkeys[v])
		setenv("OOH_SPP_NO_PKEYS", "1", 1);
	else
		unsetenv("OOH_SPP_NO_PKEYS");
}

/* What the last SIGSEGV of this thread carried. */
struct ts_caught {
	int code;
	int err;
	uintptr_t addr;
	unsigned long count;
};

static __thread struct ts_caught ts_last;
static __thread sigjmp_buf ts_jmp;
static __thread volatile int ts_armed;

static void ts_on_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig; (void)ctx;
	ts_last.code = si->si_code;
	ts_last.err = si->si_errno;
	ts_last.addr = (uintptr_t)si->si_addr;
	ts_last.count++;
	if (ts_armed) {
		ts_armed = 0;
		siglongjmp(ts_jmp, 1);
	}
	/* Unexpected: do not loop on the fault. */
	static const char msg[] = "test-spp: unexpected SIGSEGV\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	_exit(99);
}

static inline void ts_install_catcher(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = ts_on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
}

/* Store v at p; 0 if it completed, 1 if a SIGSEGV stopped it (ts_last says how). */
#define TS_TRY(store) ({                                   \
	int caught_ = 0;                                   \
	if (sigsetjmp(ts_jmp, 1) == 0) {                   \
		ts_armed = 1;                              \
		store;                                     \
		ts_armed = 0;                              \
	} else {                                           \
		caught_ = 1;                               \
	}                                                  \
	caught_;                                           \
})

static inline int ts_write8(volatile char *p, char v)
{
	return TS_TRY(*p = v);
}

/* Assert that writing v at p is a violation reported at exactly p. */
static inline void ts_expect_violation(volatile char *p, char v)
{
	char before = *p;
	ck_assert_msg(ts_write8(p, v) == 1, "write at %p (page offset %lu) was not caught",
		      (void *)p, (unsigned long)((uintptr_t)p & (PG - 1)));
	ck_assert_int_eq(ts_last.code, OOH_SEGV_SPPERR);
	ck_assert_msg(ts_last.addr == (uintptr_t)p, "si_addr %#lx, expected %p",
		      (unsigned long)ts_last.addr, (void *)p);
	ck_assert_msg(*p == before, "denied byte at %p was written", (void *)p);
}

static inline void ts_expect_lands(volatile char *p, char v)
{
	ck_assert_msg(ts_write8(p, v) == 0, "write at %p (page offset %lu) refused: code %d addr %#lx",
		      (void *)p, (unsigned long)((uintptr_t)p & (PG - 1)), ts_last.code,
		      (unsigned long)ts_last.addr);
	ck_assert_msg(*p == v, "permitted write at %p did not land", (void *)p);
}

static inline char *ts_map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

/* Open a domain of variant v (the loop index of the test). */
static inline ooh_spp *ts_open(int v)
{
	enum ooh_spp_backend b = ts_backends[v];
	ooh_spp *s = NULL;
	int err;

	ts_variant(v);
	err = ooh_spp_open(&s, OOH_SPP_OPEN_BACKEND(b));
	ck_assert_msg(err == 0, "ooh_spp_open(%s%s): %s", ooh_spp_backend_name(b),
		      ts_nopkeys[v] ? ", no pkeys" : "", ooh_strerror(err));
	return s;
}

/* Mask with only sub-pages lo..hi (inclusive) protected. */
static inline uint32_t ts_guard(unsigned lo, unsigned hi)
{
	uint32_t m = OOH_SPP_ALL_WRITABLE;
	for (unsigned i = lo; i <= hi; i++)
		m &= ~(1u << i);
	return m;
}

#endif
