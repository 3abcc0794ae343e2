// SPDX-License-Identifier: MIT
/*
 * ooh-test-spp-evil: a malicious guest against ooh-l0's virtual SPP. From
 * L2 userspace (ioperm on the hypercall port, /proc/self/pagemap for
 * guest-physical addresses) it sends malformed, out-of-range, duplicate and
 * racing SPP batches and bad violation-record registrations; l0 must refuse
 * each with the documented error and change nothing, protect what a raw
 * (module-less) batch names without harm, and keep working: the last test
 * protects a page through /dev/ooh and gets its violation as SIGSEGV.
 * Run it when nothing else uses SPP (it clears every protection of the VM).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "../harness/ooh_check.h"

#include "user-hc.h"

static void port_access(void)
{
	pin_cpu0();
	hc_port_access();
}

static int32_t hc_flags(struct gpage p, uint32_t op, uint32_t session, uint32_t flags,
			uint64_t a0, uint64_t a1, uint64_t a2)
{
	return hc_at(p, 0, op, session, flags, a0, a1, a2, 0);
}

static int32_t hc(struct gpage p, uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2)
{
	return hc_flags(p, op, 0, 0, a0, a1, a2);
}

/* Reads through volatile: the compiler must not forward a refused store. */
static uint8_t rd(const struct gpage *p, size_t off)
{
	return ((volatile uint8_t *)p->va)[off];
}

static void entry(struct gpage b, int i, uint64_t gpa, uint32_t mask, uint32_t reserved)
{
	struct ooh_spp_entry *e = (struct ooh_spp_entry *)b.va + i;

	e->gpa = gpa;
	e->mask = mask;
	e->reserved = reserved;
}

START_TEST(malformed_batches_are_refused)
{
	struct gpage req = gpage(), batch = gpage(), data = gpage();

	port_access();
	entry(batch, 0, data.gpa, 0xfffffffe, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 0, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, OOH_SPP_MAX_BATCH + 1, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, ~0ull, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa + 4, 1, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, 1ull << 45, 1, 0), -OOH_E_FAULT);
	/* an array running past the end of RAM */
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, 0xbffff000ull, 512, 0), -OOH_E_FAULT);
	ck_assert_int_eq(hc_flags(req, OOH_HC_SPP_SET, 3, 0, batch.gpa, 1, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc_flags(req, OOH_HC_SPP_SET, 0, 1, batch.gpa, 1, 0), -OOH_E_INVAL);
	entry(batch, 0, data.gpa + 8, 0, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 1, 0), -OOH_E_INVAL);
	entry(batch, 0, 1ull << 45, 0, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 1, 0), -OOH_E_FAULT);
	entry(batch, 0, 0xc0000000ull, 0, 0); /* the MMIO hole */
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 1, 0), -OOH_E_FAULT);
	entry(batch, 0, data.gpa, 0, 7);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 1, 0), -OOH_E_INVAL);
	entry(batch, 0, data.gpa, 0, 0);
	entry(batch, 1, data.gpa, 5, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 2, 0), -OOH_E_INVAL);
	/* a good entry next to a bad one: nothing happens */
	entry(batch, 1, 1ull << 45, 0, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 2, 0), -OOH_E_FAULT);
	((volatile uint8_t *)data.va)[5] = 1;
	ck_assert_int_eq(rd(&data, 5), 1);
	/* clear: masks must be 0, flags known */
	entry(batch, 0, data.gpa, 1, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_CLEAR, batch.gpa, 1, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_CLEAR, 0, 0, 2), -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_CLEAR, batch.gpa, 1, OOH_SPP_CLEAR_ALL), -OOH_E_INVAL);
	/* records: never a good one (this vCPU's record is ooh.ko's) */
	ck_assert_int_eq(hc(req, OOH_HC_SPP_REGISTER, data.gpa + 8, OOH_SPP_NOTIFY_NMI, 0),
			 -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_REGISTER, 1ull << 45, OOH_SPP_NOTIFY_NMI, 0),
			 -OOH_E_FAULT);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_REGISTER, data.gpa, 9, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_REGISTER, 0, OOH_SPP_NOTIFY_NMI, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(req, OOH_HC_PING, 0, 0, 0), (int32_t)OOH_ABI_VERSION);
}
END_TEST

/* A raw batch on a page no module knows: l0 enforces it, nobody is told
 * (no SIGSEGV: ooh.ko finds no owner), the VM goes on. */
START_TEST(raw_protection_without_the_module)
{
	struct gpage req = gpage(), batch = gpage(), data = gpage();

	port_access();
	memset(data.va, 0, PAGE);
	entry(batch, 0, data.gpa, 0xfffffffe, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 1, 0), 1);
	((volatile uint8_t *)data.va)[5] = 7;    /* refused, silently */
	((volatile uint8_t *)data.va)[200] = 8;  /* lands */
	if (rd(&data, 5) != 0) {
		struct gpage st = gpage();
		struct ooh_hv_stats *h = (struct ooh_hv_stats *)st.va;
		uint64_t entry2 = 0;
		int fd = open("/proc/self/pagemap", O_RDONLY);

		pread(fd, &entry2, 8, (off_t)((uintptr_t)data.va / PAGE * 8));
		close(fd);
		hc(req, OOH_HC_STATS, st.gpa, sizeof(*h), 0);
		ck_abort_msg("refused byte written: gpa %#llx now %#llx, l0 pages %llu slots %llu "
			     "writes %llu violations %llu", (unsigned long long)data.gpa,
			     (unsigned long long)((entry2 & ((1ull << 55) - 1)) * PAGE),
			     (unsigned long long)h->spp_pages, (unsigned long long)h->spp_slots,
			     (unsigned long long)h->spp_writes, (unsigned long long)h->spp_violations);
	}
	ck_assert_int_eq(rd(&data, 200), 8);
	/* re-setting replaces the vector */
	entry(batch, 0, data.gpa, 0xffffffff & ~2u, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_SET, batch.gpa, 1, 0), 1);
	((volatile uint8_t *)data.va)[5] = 9;
	ck_assert_int_eq(rd(&data, 5), 9);
	entry(batch, 0, data.gpa, 0, 0);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_CLEAR, batch.gpa, 1, 0), 1);
	ck_assert_int_eq(hc(req, OOH_HC_SPP_CLEAR, batch.gpa, 1, 0), 0);
	((volatile uint8_t *)data.va)[130] = 3;
	ck_assert_int_eq(rd(&data, 130), 3);
}
END_TEST

static atomic_int stop;
static struct gpage race_batch;

static void *flipper(void *arg)
{
	volatile struct ooh_spp_entry *e = (volatile struct ooh_spp_entry *)race_batch.va;
	uint64_t good = *(uint64_t *)arg;

	for (unsigned i = 0; !atomic_load(&stop); i++) {
		e->gpa = i & 1 ? good : (1ull << 45) + 3;
		e->reserved = i & 2;
	}
	return NULL;
}

/* The guest rewrites the batch while l0 reads it: each answer is one of
 * the documented ones, nothing else. */
START_TEST(racing_batch)
{
	struct gpage req = gpage(), data = gpage();
	pthread_t t;

	race_batch = gpage();
	port_access();
	entry(race_batch, 0, data.gpa, 0xfffffffe, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, flipper, &data.gpa), 0);
	for (int i = 0; i < 200; i++) {
		int32_t r = hc(req, OOH_HC_SPP_SET, race_batch.gpa, 1, 0);

		ck_assert_msg(r == 1 || r == -OOH_E_INVAL || r == -OOH_E_FAULT, "result %d", r);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	ck_assert_int_ge(hc(req, OOH_HC_SPP_CLEAR, 0, 0, OOH_SPP_CLEAR_ALL), 0);
	((volatile uint8_t *)data.va)[1] = 1;
	ck_assert_int_eq(rd(&data, 1), 1);
}
END_TEST

static sigjmp_buf jb;
static volatile uintptr_t got_addr;
static volatile int got_code;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	got_addr = (uintptr_t)si->si_addr;
	got_code = si->si_code;
	siglongjmp(jb, 1);
}

START_TEST(still_protects_after_the_storm)
{
	int fd = open("/dev/" OOH_DEV_NAME, O_RDWR);
	uint8_t *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ooh_spp_range r = { .addr = (uintptr_t)m, .nr_pages = 1, .mask = 0xfffffffd };
	struct sigaction sa;

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	memset(m, 0, PAGE);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_SPP_PROTECT, &r), 0);
	if (sigsetjmp(jb, 1) == 0) {
		((volatile uint8_t *)m)[129] = 1;
		ck_abort_msg("refused write not reported");
	}
	ck_assert_int_eq(got_code, OOH_SEGV_SPPERR);
	ck_assert_uint_eq(got_addr, (uintptr_t)(m + 129));
	ck_assert_int_eq(((volatile uint8_t *)m)[129], 0);
	((volatile uint8_t *)m)[300] = 2;
	ck_assert_int_eq(((volatile uint8_t *)m)[300], 2);
	close(fd);
	((volatile uint8_t *)m)[129] = 4; /* closed: unprotected */
	ck_assert_int_eq(((volatile uint8_t *)m)[129], 4);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("ooh-spp-evil");
	TCase *tc = tcase_create("spp-evil");
	int ret;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, malformed_batches_are_refused);
	tcase_add_test(tc, raw_protection_without_the_module);
	tcase_add_test(tc, racing_batch);
	tcase_add_test(tc, still_protects_after_the_storm);
	suite_add_tcase(suite, tc);
	ret = ooh_check_main(suite);
	/* a failed case may have left a raw protection on a page it freed
	 * (no ck_assert here: outside a test Check cannot report) */
	if (ioperm(OOH_HC_PORT, 4, 1) == 0) {
		struct gpage req = { mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 0 };
		int fd = open("/proc/self/pagemap", O_RDONLY);
		uint64_t e = 0;

		if (req.va != MAP_FAILED && fd >= 0 && mlock(req.va, PAGE) == 0 &&
		    pread(fd, &e, 8, (off_t)((uintptr_t)req.va / PAGE * 8)) == 8 &&
		    (e & (1ull << 63)) && (e & ((1ull << 55) - 1))) {
			req.gpa = (e & ((1ull << 55) - 1)) * PAGE;
			hc(req, OOH_HC_SPP_CLEAR, 0, 0, OOH_SPP_CLEAR_ALL);
		}
		if (fd >= 0)
			close(fd);
	}
	return ret;
}
