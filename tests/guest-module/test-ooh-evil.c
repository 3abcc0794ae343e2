// SPDX-License-Identifier: MIT
/*
 * ooh-test-evil: a malicious guest. From L2 userspace (ioperm on the
 * hypercall port, /proc/self/pagemap for guest-physical addresses) it sends
 * ooh-l0 malformed, out-of-range, overlapping and racing hypercalls. l0 must
 * refuse each with the documented error, never touch memory outside the
 * guest, and keep working: the last test tracks a process through
 * /dev/ooh as usual. Run it when no other tracker is active (it closes
 * every session id it can name).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "../harness/ooh_check.h"

#include "user-hc.h"

static int32_t hc(struct gpage p, uint32_t op, uint32_t session, uint64_t a0, uint64_t a1,
		  uint64_t a2, uint64_t a3)
{
	return hc_at(p, 0, op, session, 0, a0, a1, a2, a3);
}

static void close_all(struct gpage p)
{
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++)
		hc(p, OOH_HC_SESSION_CLOSE, id, 0, 0, 0, 0);
}

START_TEST(garbage_outs_are_ignored)
{
	struct gpage p = gpage();
	unsigned int seed = 7;

	hc_port_access();
	/* block addresses beyond guest RAM, and every odd width and direction */
	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		outl((1u << 26) | seed, OOH_HC_PORT);
	}
	outl(0xffffffffu, OOH_HC_PORT);
	outb(1, OOH_HC_PORT);
	outw(1, OOH_HC_PORT);
	ck_assert_uint_eq(inl(OOH_HC_PORT), 0xffffffffu);
	ck_assert_int_eq(hc(p, OOH_HC_PING, 0, 0, 0, 0, 0), (int32_t)OOH_ABI_VERSION);
}
END_TEST

START_TEST(malformed_requests_get_errors)
{
	struct gpage p = gpage(), log = gpage(), shadow = gpage();
	int32_t id;

	hc_port_access();
	ck_assert_int_eq(hc(p, 1000, 0, 0, 0, 0, 0), -OOH_E_NOSYS);
	ck_assert_int_eq(hc_at(p, 0, OOH_HC_PING, 0, 1, 0, 0, 0, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_PING, 5, 0, 0, 0, 0), -OOH_E_INVAL);
	/* blocks at every 64-byte offset are fine, the last one too */
	ck_assert_int_eq(hc_at(p, PAGE - 64, OOH_HC_PING, 0, 0, 0, 0, 0, 0), (int32_t)OOH_ABI_VERSION);
	/* logs: outside RAM, huge, tiny, not a power of two, unaligned, wrapping */
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, 1ull << 40, PAGE, 0), -OOH_E_FAULT);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, 0xfee00000, PAGE, 0), -OOH_E_FAULT);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, log.gpa, 1ull << 30, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, log.gpa, 64, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, log.gpa, 3 * PAGE, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, log.gpa + 64, PAGE, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, -PAGE, 2 * PAGE, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, 0, log.gpa, PAGE, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, 1ull << 32 | OOH_MODE_SPML, log.gpa, PAGE, 0),
			 -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, log.gpa, PAGE, 0x1000), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_EPML, log.gpa, PAGE, 1ull << 40),
			 -OOH_E_FAULT);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_EPML, log.gpa, PAGE, log.gpa + 8),
			 -OOH_E_FAULT);
	/* a real one, then everything that would overlap it */
	id = hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, log.gpa, PAGE, 0);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, log.gpa, PAGE, 0), -OOH_E_BUSY);
	ck_assert_int_eq(hc(p, OOH_HC_SHADOW_REGISTER, 0, log.gpa, 0, 0, 0), -OOH_E_BUSY);
	ck_assert_int_eq(hc(p, OOH_HC_SHADOW_REGISTER, 0, shadow.gpa + 8, 0, 0, 0), -OOH_E_FAULT);
	ck_assert_int_eq(hc(p, OOH_HC_SHADOW_REGISTER, 0, 1ull << 40, 0, 0, 0), -OOH_E_FAULT);
	/* sessions that do not exist */
	ck_assert_int_eq(hc(p, OOH_HC_START, 0, 0, 0, 0, 0), -OOH_E_NOENT);
	ck_assert_int_eq(hc(p, OOH_HC_START, OOH_MAX_SESSIONS + 1, 0, 0, 0, 0), -OOH_E_NOENT);
	ck_assert_int_eq(hc(p, OOH_HC_STOP, 0xffffffffu, 0, 0, 0, 0), -OOH_E_NOENT);
	ck_assert_int_eq(hc(p, OOH_HC_SET_ROOT, (uint32_t)id, log.gpa, 0, 0, 0), -OOH_E_INVAL);
	/* the log works and l0 keeps its own indices whatever we write */
	ck_assert_int_eq(hc(p, OOH_HC_START, (uint32_t)id, 0, 0, 0, 0), 0);
	((struct ooh_log_header *)log.va)->producer = 1ull << 62;
	((struct ooh_log_header *)log.va)->size = 1u << 31;
	ck_assert_int_eq(hc(p, OOH_HC_SYNC, 0, 0, 0, 0, 0), 0);
	ck_assert_uint_eq(((struct ooh_log_header *)log.va)->size, 128);
	ck_assert_uint_lt(((struct ooh_log_header *)log.va)->producer, 1u << 20);
	/* stats: bad sizes, alignment, places */
	ck_assert_int_eq(hc(p, OOH_HC_STATS, 0, shadow.gpa, 0, 0, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_STATS, 0, shadow.gpa, 1 << 20, 0, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_STATS, 0, shadow.gpa + 4, 64, 0, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_STATS, 0, (1ull << 40), 64, 0, 0), -OOH_E_FAULT);
	ck_assert_int_eq(hc(p, OOH_HC_STATS, 0, shadow.gpa, sizeof(struct ooh_hv_stats), 0, 0), 0);
	ck_assert_uint_gt(((struct ooh_hv_stats *)shadow.va)->bad_hypercalls, 20);
	/* trapped shadow fields */
	ck_assert_int_eq(hc(p, OOH_HC_VMWRITE, 0, OOH_VMCS_PML_INDEX, 1, 0, 0), -OOH_E_PERM);
	ck_assert_int_eq(hc(p, OOH_HC_VMWRITE, 0, 0x6c00, 1, 0, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_VMWRITE, 0, OOH_VMCS_GUEST_PML_ADDRESS, log.gpa, 0, 0),
			 -OOH_E_INVAL); /* an SPML log is not a GVA log */
	ck_assert_int_eq(hc(p, OOH_HC_VMREAD, 0, 0xffff, 0, 0, 0), -OOH_E_INVAL);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_CLOSE, (uint32_t)id, 0, 0, 0, 0), 0);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_CLOSE, (uint32_t)id, 0, 0, 0, 0), -OOH_E_NOENT);
}
END_TEST

START_TEST(cyclic_page_tables_are_bounded)
{
	struct gpage p = gpage(), log = gpage(), root = gpage();
	uint64_t *pml4 = (uint64_t *)root.va;
	struct ooh_log_header *h = (struct ooh_log_header *)log.va;
	int32_t id;

	hc_port_access();
	pin_cpu0();
	/* every entry points back at the table itself: 2^35 paths */
	for (int i = 0; i < 512; i++)
		pml4[i] = root.gpa | 0x7;
	id = hc(p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_EPML, log.gpa, PAGE, root.gpa);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(hc(p, OOH_HC_START, (uint32_t)id, 0, 0, 0, 0), 0);
	/* claim the context ran here (a direct shadow field, through the trap path) */
	ck_assert_int_eq(hc(p, OOH_HC_VMWRITE, 0, OOH_VMCS_EPML_SEEN, 1ull << (id - 1), 0, 0), 0);
	p.va[100] = 1;
	ck_assert_int_eq(hc(p, OOH_HC_SYNC, 0, 0, 0, 0, 0), 0);
	ck_assert_msg(h->overflow > 0, "walk not bounded: overflow %llu", (unsigned long long)h->overflow);
	ck_assert_int_eq(hc(p, OOH_HC_SESSION_CLOSE, (uint32_t)id, 0, 0, 0, 0), 0);
	ck_assert_int_eq(hc(p, OOH_HC_PING, 0, 0, 0, 0, 0), (int32_t)OOH_ABI_VERSION);
}
END_TEST

struct racer {
	struct gpage p, log;
	int iters;
	bool random_ids;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	unsigned int seed = (unsigned int)(uintptr_t)r;

	for (int i = 0; i < r->iters; i++) {
		if (r->random_ids) {
			seed = seed * 1103515245u + 12345u;
			hc(r->p, OOH_HC_START + (seed >> 8) % 3, 1 + (seed >> 16) % OOH_MAX_SESSIONS,
			   0, 0, 0, 0);
		} else {
			int32_t id = hc(r->p, OOH_HC_SESSION_OPEN, 0, OOH_MODE_SPML, r->log.gpa, PAGE, 0);

			if (id > 0) {
				hc(r->p, OOH_HC_START, (uint32_t)id, 0, 0, 0, 0);
				r->log.va[2048] ^= 1;
				hc(r->p, OOH_HC_SYNC, 0, 0, 0, 0, 0);
				hc(r->p, OOH_HC_SESSION_CLOSE, (uint32_t)id, 0, 0, 0, 0);
			}
		}
	}
	return NULL;
}

START_TEST(racing_vcpus)
{
	struct racer r[4];
	pthread_t t[4];
	struct gpage p = gpage();

	hc_port_access();
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ gpage(), gpage(), 300, i >= 2 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	close_all(p); /* nothing may keep writing into our pages after we exit */
	ck_assert_int_eq(hc(p, OOH_HC_PING, 0, 0, 0, 0, 0), (int32_t)OOH_ABI_VERSION);
}
END_TEST

START_TEST(still_tracks_after_the_storm)
{
	int fd = open("/dev/ooh", O_RDWR), pipefd[2], status;
	struct ooh_open_session o = { .mode = OOH_MODE_SPML };
	uint64_t buf[64];
	struct ooh_collect c = { .buf = (uintptr_t)buf, .count = 64 };
	uint8_t *region = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char go;
	pid_t child;
	bool seen[16] = { false };

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	child = fork();
	if (child == 0) {
		if (read(pipefd[0], &go, 1) != 1)
			_exit(1);
		for (int i = 0; i < 16; i += 2)
			region[i * PAGE] = 9;
		pause(); /* stays alive until collected */
		_exit(0);
	}
	o.pid = child;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_OPEN_SESSION, &o), 0);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_START), 0);
	ck_assert_int_eq(write(pipefd[1], "g", 1), 1);
	/* collect before the child exits: wait for its writes through the page */
	while (region[14 * PAGE] != 9)
		usleep(1000);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_COLLECT, &c), 0);
	for (uint64_t i = 0; i < c.count; i++)
		if (buf[i] >= (uintptr_t)region && buf[i] < (uintptr_t)region + 16 * PAGE)
			seen[(buf[i] - (uintptr_t)region) / PAGE] = true;
	for (int i = 0; i < 16; i += 2)
		ck_assert_msg(seen[i], "page %d missed", i);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("ooh-evil");
	TCase *tc = tcase_create("evil");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, garbage_outs_are_ignored);
	tcase_add_test(tc, malformed_requests_get_errors);
	tcase_add_test(tc, cyclic_page_tables_are_bounded);
	tcase_add_test(tc, racing_vcpus);
	tcase_add_test(tc, still_tracks_after_the_storm);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
