/* SPDX-License-Identifier: MIT */
/*
 * OoH hypercalls from guest user space, for the malicious-guest tests
 * (test-ooh-evil.c, test-ooh-spp-evil.c) and the programs that mark their
 * phases for ooh-kvmstat (kvmstat-workload.c, bench/ooh-pml-bench.c,
 * bench/ooh-bench-spp.c): root in the guest gets the hypercall port with
 * ioperm and guest-physical addresses from /proc/self/pagemap, and so can
 * send ooh-l0 anything. Included after <check.h>, the helpers that assert
 * are there too.
 */
#ifndef OOH_TEST_USER_HC_H
#define OOH_TEST_USER_HC_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ooh/hv-abi.h>

#define PAGE 4096ul

struct gpage {
	uint8_t *va;
	uint64_t gpa;
};

/*
 * A page of ours, locked, with its guest-physical address; 0, or what
 * failed in *why with errno set.
 */
static inline int gpage_try(struct gpage *p, const char **why)
{
	uint64_t entry = 0;
	int fd;

	p->va = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*why = "mmap";
	if (p->va == MAP_FAILED)
		return -1;
	*why = "mlock";
	if (mlock(p->va, PAGE))
		return -1;
	memset(p->va, 0, PAGE);
	*why = "/proc/self/pagemap";
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, &entry, 8, (off_t)((uintptr_t)p->va / PAGE * 8)) != 8) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	*why = "pagemap: no PFN (not root?)";
	errno = EPERM;
	if (!(entry & (1ull << 63)) || !(entry & ((1ull << 55) - 1)))
		return -1;
	p->gpa = (entry & ((1ull << 55) - 1)) * PAGE;
	return 0;
}

#ifdef ck_assert_msg
static inline struct gpage gpage(void)
{
	struct gpage p;
	const char *why;

	ck_assert_msg(gpage_try(&p, &why) == 0, "%s: %s", why, strerror(errno));
	return p;
}

static inline void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(set), &set), 0);
}

static inline void hc_port_access(void)
{
	ck_assert_msg(ioperm(OOH_HC_PORT, 4, 1) == 0, "ioperm: %s", strerror(errno));
}
#endif

/* One hypercall with the block at offset off of page p; its result. */
static inline int32_t hc_at(struct gpage p, size_t off, uint32_t op, uint32_t session,
			    uint32_t flags, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	volatile struct ooh_hc_req *req = (volatile struct ooh_hc_req *)(p.va + off);

	memset((void *)req, 0, sizeof(*req));
	req->op = op;
	req->session = session;
	req->flags = flags;
	req->result = 0x5a5a5a5a;
	req->arg[0] = a0;
	req->arg[1] = a1;
	req->arg[2] = a2;
	req->arg[3] = a3;
	outl((uint32_t)((p.gpa + off) >> OOH_HC_ALIGN_SHIFT), OOH_HC_PORT);
	return req->result;
}

/*
 * A STATS hypercall with its reply at offset 512 of p, copied to *out (may
 * be NULL). ooh-kvmstat --split-on stats opens a window at each STATS
 * hypercall, and the reply counts the STATS hypercalls so far, this one
 * included: the return value is the number of the window this call opened
 * (0: the hypercall failed). A page shared with a forked child is
 * copy-on-write: give the page MADV_DONTFORK before forking.
 */
static inline uint64_t hc_stats(struct gpage p, struct ooh_hv_stats *out)
{
	struct ooh_hv_stats *st = (struct ooh_hv_stats *)(p.va + 512);

	if (hc_at(p, 0, OOH_HC_STATS, 0, 0, p.gpa + 512, sizeof(*st), 0, 0) != 0)
		return 0;
	__asm__ __volatile__("" ::: "memory");	/* outl has no memory clobber */
	if (out)
		*out = *st;
	return st->hypercalls[OOH_HC_STATS];
}

#endif
