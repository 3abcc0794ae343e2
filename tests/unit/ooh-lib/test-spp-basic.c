/* SPDX-License-Identifier: MIT */
/*
 * Sub-page protection, one thread: a write into a protected 128-byte
 * sub-page is stopped at the exact byte (si_addr, si_code OOH_SEGV_SPPERR,
 * nothing written), writes to the writable sub-pages of the same page land;
 * stores straddling into a guard, string instructions, reads, a program
 * without a SIGSEGV handler, and the program's own SIGSEGV/SIGTRAP handlers.
 */
#include <fcntl.h>
#include <immintrin.h>
#include <sys/wait.h>

#include "test-spp-util.h"

/* The LeanGuard case: a 128-byte object, then a guard sub-page. */
START_TEST(one_byte_overflow)
{
	ooh_spp *s;
	char *m = ts_map(PG);
	char *buf = m; /* object in sub-page 0, guard in sub-page 1 */

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 'a', PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(1, 1)), 0);
	for (int i = 0; i < 128; i++)
		ts_expect_lands(&buf[i], (char)i);
	ts_expect_violation(&buf[128], 'X'); /* buf[128]: one past the end */
	ck_assert_int_eq(m[128], 'a');
	ck_assert_int_eq(ts_last.err, 0);
	/* Every byte of the guard, and the neighbours after it. */
	for (int i = 129; i < 256; i += 7)
		ts_expect_violation(&m[i], 'Y');
	ts_expect_violation(&m[255], 'Y');
	for (int i = 256; i < (int)PG; i += 13)
		ts_expect_lands(&m[i], 'b');
	for (int i = 0; i < 128; i++)
		ck_assert_int_eq(buf[i], (char)i);
	for (int i = 128; i < 256; i++)
		ck_assert_int_eq(m[i], 'a');
	ck_assert_int_eq(ooh_spp_close(s), 0);
	/* Released: the guard is ordinary memory again. */
	ts_expect_lands(&m[128], 'Z');
	munmap(m, PG);
}
END_TEST

/* Every byte of two pages under alternating vectors. */
START_TEST(every_byte)
{
	ooh_spp *s;
	char *m = ts_map(2 * PG);
	uint32_t masks[2] = { 0x55555555u, 0xf0f0f00fu };
	unsigned long caught = 0;

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, 2 * PG);
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, masks, 2), 0);
	for (size_t i = 0; i < 2 * PG; i++) {
		bool ok = masks[i / PG] & (1u << ((i % PG) / SP));
		if (ok) {
			ts_expect_lands(&m[i], (char)(i * 7 + 1));
		} else {
			ts_expect_violation(&m[i], (char)(i * 7 + 1));
			caught++;
		}
	}
	for (size_t i = 0; i < 2 * PG; i++) {
		bool ok = masks[i / PG] & (1u << ((i % PG) / SP));
		ck_assert_int_eq(m[i], ok ? (char)(i * 7 + 1) : 0);
	}
	ck_assert_uint_eq(caught, (16 + 16) * SP);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, 2 * PG);
}
END_TEST

/* Reads never fault; a fully protected page refuses every write. */
START_TEST(reads_and_mask_zero)
{
	ooh_spp *s;
	char *m = ts_map(PG);
	unsigned long sum = 0;

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 3, PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, 0), 0);
	for (size_t i = 0; i < PG; i++)
		sum += ((volatile char *)m)[i];
	ck_assert_uint_eq(sum, 3 * PG);
	ck_assert_uint_eq(ts_last.count, 0);
	for (size_t i = 0; i < PG; i += 61)
		ts_expect_violation(&m[i], 9);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, PG);
}
END_TEST

/*
 * Stores that begin in a writable sub-page and end in a protected one: the
 * fault names only their first byte.  They must be refused as a whole, at
 * the first protected byte, with nothing written (not even the part in the
 * writable sub-page).
 */
START_TEST(straddling_stores)
{
	ooh_spp *s;
	char *m = ts_map(PG);
	struct ooh_spp_stats a, b;

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(1, 1)), 0);
	ck_assert_int_eq(ooh_spp_stats(&a), 0);

	/* 8-byte store at offset 124: 4 bytes writable, 4 protected. */
	ck_assert_int_eq(TS_TRY(__asm__ volatile("movq %1, (%0)" : : "r"(m + 124),
						 "r"(0x1122334455667788ull) : "memory")), 1);
	ck_assert_int_eq(ts_last.code, OOH_SEGV_SPPERR);
	ck_assert_msg(ts_last.addr == (uintptr_t)(m + 128), "si_addr %#lx, expected %p",
		      (unsigned long)ts_last.addr, (void *)(m + 128));
	for (int i = 120; i < 140; i++)
		ck_assert_msg(m[i] == 0, "byte %d written by a refused straddling store", i);

	/* 16-byte SSE store at offset 120 (8 + 8). */
	__m128i v = _mm_set1_epi8(0x5a);
	ck_assert_int_eq(TS_TRY(_mm_storeu_si128((__m128i *)(m + 120), v)), 1);
	ck_assert_uint_eq(ts_last.addr, (uintptr_t)(m + 128));
	for (int i = 112; i < 144; i++)
		ck_assert_int_eq(m[i], 0);

	/* A store ending exactly at the boundary is fine. */
	ck_assert_int_eq(TS_TRY(_mm_storeu_si128((__m128i *)(m + 112), v)), 0);
	for (int i = 112; i < 128; i++)
		ck_assert_int_eq(m[i], 0x5a);
	ck_assert_int_eq(m[128], 0);
	if (ts_backends[_i] == OOH_SPP_BACKEND_MPROTECT) {
		ck_assert_int_eq(ooh_spp_stats(&b), 0);
		ck_assert_uint_eq(b.rewound - a.rewound, 2);
	}
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, PG);
}
END_TEST

/* An 8-byte store from the last (writable) sub-page of one page into the
 * first (protected) sub-page of the next: refused at the next page's first
 * byte, nothing written in either page. */
START_TEST(page_crossing_store)
{
	ooh_spp *s;
	char *m = ts_map(2 * PG);
	uint32_t masks[2] = { OOH_SPP_ALL_WRITABLE & ts_guard(0, 0), ts_guard(0, 0) };

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, 2 * PG);
	ck_assert_int_eq(ooh_spp_protect_pages(s, m, masks, 2), 0);
	ck_assert_int_eq(TS_TRY(__asm__ volatile("movq %1, (%0)" : : "r"(m + PG - 4),
						 "r"(0x1122334455667788ull) : "memory")), 1);
	ck_assert_int_eq(ts_last.code, OOH_SEGV_SPPERR);
	ck_assert_msg(ts_last.addr == (uintptr_t)(m + PG), "si_addr at offset %ld, expected 4096",
		      (long)(ts_last.addr - (uintptr_t)m));
	for (size_t i = PG - 8; i < PG + 8; i++)
		ck_assert_int_eq(m[i], 0);
	/* Ending exactly at the page end is fine. */
	ck_assert_int_eq(TS_TRY(__asm__ volatile("movq %1, (%0)" : : "r"(m + PG - 8),
						 "r"(0x1122334455667788ull) : "memory")), 0);
	ck_assert_int_eq(m[PG - 1], 0x11);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, 2 * PG);
}
END_TEST

/* Signal handlers (which the kernel runs with a default key register)
 * read protected pages and write their writable sub-pages normally. */
static char *sig_page;
static volatile int sig_sum, sig_done;

static void on_usr1(int sig)
{
	(void)sig;
	for (int i = 0; i < 256; i++)
		sig_sum += sig_page[i];
	sig_page[5] = 9;
	sig_done = 1;
}

START_TEST(signal_handler_access)
{
	ooh_spp *s;
	struct sigaction sa;

	sig_page = ts_map(PG);
	memset(sig_page, 1, PG);
	ts_install_catcher();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, sig_page, PG, ts_guard(1, 1)), 0);
	raise(SIGUSR1);
	ck_assert_int_eq(sig_done, 1);
	ck_assert_int_eq(sig_sum, 256);
	ck_assert_int_eq(sig_page[5], 9);
	ts_expect_violation(&sig_page[130], 2);
	ck_assert_int_eq(ooh_spp_close(s), 0);
}
END_TEST

/* rep stosb over [100, 140): the iterations before the guard land, the
 * first one inside it is refused at its exact address. */
START_TEST(string_instruction)
{
	ooh_spp *s;
	char *m = ts_map(PG);

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(1, 1)), 0);
	void *dst = m + 100;
	unsigned long cnt = 40;
	ck_assert_int_eq(TS_TRY(__asm__ volatile("rep stosb"
						 : "+D"(dst), "+c"(cnt)
						 : "a"(0x77)
						 : "memory")), 1);
	ck_assert_int_eq(ts_last.code, OOH_SEGV_SPPERR);
	ck_assert_uint_eq(ts_last.addr, (uintptr_t)(m + 128));
	for (int i = 100; i < 128; i++)
		ck_assert_int_eq(m[i], 0x77);
	for (int i = 128; i < 140; i++)
		ck_assert_int_eq(m[i], 0);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, PG);
}
END_TEST

/* The library's own memset/memcpy (vector stores, ERMS): in bounds they
 * land, one byte too many is caught at the guard's first byte. */
START_TEST(libc_memset_memcpy)
{
	ooh_spp *s;
	char *m = ts_map(PG);
	char src[256];
	static void *(*volatile do_memset)(void *, int, size_t) = memset;
	static void *(*volatile do_memcpy)(void *, const void *, size_t) = memcpy;

	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, PG);
	memset(src, 's', sizeof(src));
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(1, 1) & ts_guard(4, 4)), 0);
	ck_assert_int_eq(TS_TRY(do_memset(m, 'x', 128)), 0);
	ck_assert_int_eq(TS_TRY(do_memcpy(m + 256, src, 256)), 0);
	for (int i = 0; i < 128; i++)
		ck_assert_int_eq(m[i], 'x');
	for (int i = 256; i < 512; i++)
		ck_assert_int_eq(m[i], 's');
	ck_assert_int_eq(TS_TRY(do_memset(m, 'y', 129)), 1);
	ck_assert_int_eq(ts_last.code, OOH_SEGV_SPPERR);
	ck_assert_uint_eq(ts_last.addr, (uintptr_t)(m + 128));
	/* glibc copies backward when source and destination 4K-alias (the
	 * stack address decides): the first protected byte *written* may then
	 * be any in [512, 600); it must be one of them. */
	ck_assert_int_eq(TS_TRY(do_memcpy(m + 300, src, 300)), 1);
	ck_assert_int_eq(ts_last.code, OOH_SEGV_SPPERR);
	ck_assert_msg(ts_last.addr >= (uintptr_t)(m + 512) && ts_last.addr < (uintptr_t)(m + 600),
		      "si_addr at page offset %lu, not in the protected part [512, 600) written",
		      (unsigned long)(ts_last.addr - (uintptr_t)m));
	for (int i = 128; i < 256; i++)
		ck_assert_int_eq(m[i], 0);
	for (int i = 512; i < 640; i++)
		ck_assert_int_eq(m[i], 0);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, PG);
}
END_TEST

static bool has_avx(void)
{
	unsigned a, b, c, d, lo, hi;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 28)) || !(c & (1u << 27))) /* AVX, OSXSAVE */
		return false;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6; /* the OS saves SSE and AVX state */
}

#define VMOVDQU32(dst, src) __asm__ volatile("vmovdqu (%1), %%ymm0\n\tvmovdqu %%ymm0, (%0)" \
					      : : "r"(dst), "r"(src) : "memory", "xmm0")
#define VMOVDQU16(dst, src) __asm__ volatile("vmovdqu (%1), %%xmm0\n\tvmovdqu %%xmm0, (%0)" \
					      : : "r"(dst), "r"(src) : "memory", "xmm0")

/* VEX-encoded vector stores (glibc's AVX2 string functions use them): a
 * 32-byte store wholly in writable sub-pages lands; one reaching into a
 * protected sub-page is refused whole, reported at its first protected
 * byte. (Under ooh-l0 on KVM 6.1, KVM cannot emulate these: ooh.ko does.) */
START_TEST(vex_vector_stores)
{
	ooh_spp *s;
	char *m = ts_map(PG);
	char src[32];

	if (!has_avx()) {
		fprintf(stderr, "note: no AVX here: vex_vector_stores checks nothing\n");
		return;
	}
	memset(src, 0x5a, sizeof(src));
	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 0, PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(2, 2)), 0);
	ck_assert_int_eq(TS_TRY(VMOVDQU32(m + 64, src)), 0);
	for (int i = 64; i < 96; i++)
		ck_assert_int_eq(((volatile char *)m)[i], 0x5a);
	ck_assert_int_eq(TS_TRY(VMOVDQU16(m + 400, src)), 0);
	for (int i = 400; i < 416; i++)
		ck_assert_int_eq(((volatile char *)m)[i], 0x5a);
	ck_assert_int_eq(TS_TRY(VMOVDQU32(m + 240, src)), 1);
	ck_assert_int_eq(ts_last.code, OOH_SEGV_SPPERR);
	ck_assert_msg(ts_last.addr == (uintptr_t)(m + 256), "si_addr at offset %ld",
		      (long)(ts_last.addr - (uintptr_t)m));
	for (int i = 240; i < 272; i++)
		ck_assert_int_eq(((volatile char *)m)[i], 0);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, PG);
}
END_TEST

/* The kernel writing into a protected page (read(2)) gets EFAULT, even for
 * a writable sub-page: documented, and nothing is written. */
START_TEST(kernel_writes_get_efault)
{
	ooh_spp *s;
	char *m = ts_map(PG);
	int fd = open("/dev/zero", O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ts_install_catcher();
	s = ts_open(_i);
	memset(m, 1, PG);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(1, 1)), 0);
	if (ts_backends[_i] == OOH_SPP_BACKEND_OOH) {
		/* Below the kernel: its writes are judged like any other; the
		 * refused ones are dropped and the caller gets SIGSEGV on its
		 * way out of the system call (which reports success). */
		ck_assert_int_eq(read(fd, m, 64), 64);
		for (int i = 0; i < 64; i++)
			ck_assert_int_eq(m[i], 0);
		ck_assert_int_eq(TS_TRY(ck_assert_int_eq(read(fd, m + 128, 64), 64)), 1);
		ck_assert_int_eq(ts_last.code, OOH_SEGV_SPPERR);
		ck_assert_uint_eq(ts_last.addr, (uintptr_t)(m + 128));
		for (int i = 64; i < 256; i++)
			ck_assert_int_eq(m[i], 1);
		close(fd);
		ck_assert_int_eq(ooh_spp_close(s), 0);
		munmap(m, PG);
		return;
	}
	errno = 0;
	ck_assert_int_eq(read(fd, m, 64), -1);
	ck_assert_int_eq(errno, EFAULT);
	ck_assert_int_eq(read(fd, m + 128, 64), -1);
	for (int i = 0; i < 256; i++)
		ck_assert_int_eq(m[i], 1);
	ck_assert_uint_eq(ts_last.count, 0);
	close(fd);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, PG);
}
END_TEST

/* No SIGSEGV handler: the process dies of SIGSEGV and the byte is not written. */
START_TEST(default_action_kills)
{
	char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m, 0, PG);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sigaction dfl;
		ooh_spp *s;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGSEGV, &dfl, NULL);
		ts_variant(_i);
		if (ooh_spp_open(&s, OOH_SPP_OPEN_BACKEND(ts_backends[_i])) ||
		    ooh_spp_protect(s, m, PG, ts_guard(2, 2)))
			_exit(3);
		m[0] = 1;                        /* lands */
		((volatile char *)m)[300] = 2;   /* refused: dies here */
		m[1] = 3;
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x", st);
	ck_assert_int_eq(m[0], 1);
	ck_assert_int_eq(m[300], 0);
	ck_assert_int_eq(m[1], 0);
	munmap(m, PG);
}
END_TEST

static volatile sig_atomic_t traps;

static void on_trap(int sig)
{
	(void)sig;
	traps++;
}

/* Faults and traps that are not ours reach the program's handlers
 * unchanged (kernel si_code, not OOH_SEGV_SPPERR). */
START_TEST(chains_foreign_signals)
{
	ooh_spp *s;
	char *m = ts_map(2 * PG);
	struct sigaction sa;

	ts_install_catcher();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_trap;
	sigaction(SIGTRAP, &sa, NULL);
	s = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(s, m, PG, ts_guard(0, 0)), 0);
	ck_assert_int_eq(mprotect(m + PG, PG, PROT_READ), 0); /* the program's own */
	ck_assert_int_eq(ts_write8(m + PG + 5, 1), 1);
	ck_assert_int_eq(ts_last.code, SEGV_ACCERR);
	ck_assert_uint_eq(ts_last.addr, (uintptr_t)(m + PG + 5));
	volatile char *volatile null_page = (volatile char *)(uintptr_t)16;
	ck_assert_int_eq(TS_TRY(*null_page = 1), 1);
	ck_assert_int_eq(ts_last.code, SEGV_MAPERR);
	__asm__ volatile("int3");
	ck_assert_int_eq(traps, 1);
	/* And ours still work after them. */
	ts_expect_violation(&m[3], 4);
	ts_expect_lands(&m[200], 4);
	ck_assert_int_eq(traps, 1);
	ck_assert_int_eq(ooh_spp_close(s), 0);
	munmap(m, 2 * PG);
}
END_TEST

/* Returning from the handler retries the write; releasing the sub-page in
 * the handler lets it complete (the documented way to "allow and go on").
 * With the ooh backend the refused write has retired when the signal
 * arrives: returning goes on after it, nothing written (documented). */
static ooh_spp *retry_spp;
static char *retry_page;
static volatile sig_atomic_t retry_calls;

static void on_segv_release(int sig, siginfo_t *si, void *ctx)
{
	(void)sig; (void)ctx;
	if (si->si_code != OOH_SEGV_SPPERR || (char *)si->si_addr != retry_page + 1000)
		_exit(98);
	retry_calls++;
	if (retry_calls == 3)
		ooh_spp_release(retry_spp, retry_page, PG);
}

START_TEST(handler_returns_and_retries)
{
	struct sigaction sa;

	retry_page = ts_map(PG);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv_release;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	retry_spp = ts_open(_i);
	ck_assert_int_eq(ooh_spp_protect(retry_spp, retry_page, PG, ts_guard(7, 7)), 0);
	((volatile char *)retry_page)[1000] = 42;
	if (ts_backends[_i] == OOH_SPP_BACKEND_OOH) {
		ck_assert_int_eq(retry_calls, 1);
		ck_assert_int_eq(retry_page[1000], 0);
		ck_assert_int_eq(ooh_spp_close(retry_spp), 0);
		return;
	}
	ck_assert_int_eq(retry_calls, 3);
	ck_assert_int_eq(retry_page[1000], 42);
	ck_assert_int_eq(ooh_spp_close(retry_spp), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-spp-basic");
	TCase *tc = tcase_create("spp-basic");

	ts_find_backends();
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, one_byte_overflow, 0, ts_nr_backends);
	tcase_add_loop_test(tc, every_byte, 0, ts_nr_backends);
	tcase_add_loop_test(tc, reads_and_mask_zero, 0, ts_nr_backends);
	tcase_add_loop_test(tc, straddling_stores, 0, ts_nr_backends);
	tcase_add_loop_test(tc, string_instruction, 0, ts_nr_backends);
	tcase_add_loop_test(tc, page_crossing_store, 0, ts_nr_backends);
	tcase_add_loop_test(tc, signal_handler_access, 0, ts_nr_backends);
	tcase_add_loop_test(tc, libc_memset_memcpy, 0, ts_nr_backends);
	tcase_add_loop_test(tc, kernel_writes_get_efault, 0, ts_nr_backends);
	tcase_add_loop_test(tc, vex_vector_stores, 0, ts_nr_backends);
	tcase_add_loop_test(tc, default_action_kills, 0, ts_nr_backends);
	tcase_add_loop_test(tc, chains_foreign_signals, 0, ts_nr_backends);
	tcase_add_loop_test(tc, handler_returns_and_retries, 0, ts_nr_backends);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
