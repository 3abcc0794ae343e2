// SPDX-License-Identifier: MIT
/*
 * Guest RAM: one anonymous mmap (optionally MAP_HUGETLB, optionally bound to
 * a NUMA node) carved into at most two KVM regions: [0, 3 GiB) and, for
 * bigger guests, the rest from 4 GiB up, leaving the hole for MMIO.
 */
#include "memory.h"
#include "exit-codes.h"

#include <ctype.h>
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_2M (2ull << 20)

static int bind_to_node(void *addr, uint64_t size, int node)
{
	unsigned long mask[16] = { 0 };
	const unsigned long bits = 8 * sizeof(mask[0]);

	if (numa_available() < 0) {
		fprintf(stderr, "ooh-l0: --numa-node %d: NUMA is not available on this host\n", node);
		return -1;
	}
	if (node < 0 || node > numa_max_node() || (unsigned)node >= 16 * bits) {
		fprintf(stderr, "ooh-l0: --numa-node %d: no such node (max %d)\n", node, numa_max_node());
		return -1;
	}
	mask[node / bits] = 1ul << (node % bits);
	/* MPOL_BIND before first touch: every page the guest faults comes from node. */
	if (mbind(addr, size, MPOL_BIND, mask, 16 * bits, MPOL_MF_STRICT) != 0) {
		fprintf(stderr, "ooh-l0: mbind to node %d: %s\n", node, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Anonymous RAM at a 2 MiB-aligned address: guest-physical and host-virtual
 * addresses then agree modulo 2 MiB, which KVM needs to map transparent huge
 * pages into the guest as huge pages (fewer, cheaper nested page faults).
 * One inaccessible guard page stays mapped just below: without it the next
 * mapping (typically a vCPU thread's stack) would end 2 MiB-aligned too and,
 * with THP "always", its top would come as a 2 MiB huge page of VMM RSS.
 */
#define GUARD 4096ull

static void *map_aligned(uint64_t size, int flags)
{
	uint8_t *p, *aligned;
	uint64_t head;

	if (flags & MAP_HUGETLB)
		return mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	p = mmap(NULL, GUARD + size + HUGE_2M, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return p;
	aligned = (uint8_t *)(((uintptr_t)p + GUARD + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	head = (uint64_t)(aligned - GUARD - p);
	if (head)
		munmap(p, head);
	mprotect(aligned - GUARD, GUARD, PROT_NONE);
	munmap(aligned + size, HUGE_2M - head);
	return aligned;
}

int l0_memory_init(struct l0_memory *mem, uint64_t size, bool hugepages, int numa_node)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	void *host;

	memset(mem, 0, sizeof(*mem));
	if (size == 0 || size % 4096) {
		fprintf(stderr, "ooh-l0: guest memory size must be a non-zero multiple of 4 KiB\n");
		return L0_EXIT_USAGE;
	}
	if (hugepages) {
		if (size % HUGE_2M) {
			fprintf(stderr, "ooh-l0: --hugepages needs --mem to be a multiple of 2 MiB\n");
			return L0_EXIT_USAGE;
		}
		/* Reserve up front: a short pool must fail here, not SIGBUS later. */
		flags = (flags & ~MAP_NORESERVE) | MAP_HUGETLB;
	}
	host = map_aligned(size, flags);
	if (host == MAP_FAILED) {
		fprintf(stderr, "ooh-l0: cannot map %llu MiB of guest RAM%s: %s\n",
			(unsigned long long)(size >> 20),
			hugepages ? " from huge pages (see /proc/sys/vm/nr_hugepages)" : "",
			strerror(errno));
		return L0_EXIT_HOST_MEMORY;
	}
	if (!hugepages)
		madvise(host, size, MADV_HUGEPAGE); /* THP when available; harmless otherwise */
	/* Guest RAM is not interesting in a core dump of the VMM. */
	madvise(host, size, MADV_DONTDUMP);
	if (numa_node >= 0 && bind_to_node(host, size, numa_node) != 0) {
		if (hugepages)
			munmap(host, size);
		else
			munmap((uint8_t *)host - GUARD, GUARD + size);
		return L0_EXIT_HOST_MEMORY;
	}

	mem->host = host;
	mem->size = size;
	mem->hugepages = hugepages;
	if (size <= L0_MMIO_HOLE_START) {
		mem->nr_regions = 1;
		mem->region[0] = (struct l0_mem_region){ 0, size, host };
	} else {
		mem->nr_regions = 2;
		mem->region[0] = (struct l0_mem_region){ 0, L0_MMIO_HOLE_START, host };
		mem->region[1] = (struct l0_mem_region){ L0_MMIO_HOLE_END, size - L0_MMIO_HOLE_START,
							 (uint8_t *)host + L0_MMIO_HOLE_START };
	}
	return 0;
}

void l0_memory_free(struct l0_memory *mem)
{
	if (mem->host && mem->hugepages)
		munmap(mem->host, mem->size);
	else if (mem->host)
		munmap((uint8_t *)mem->host - GUARD, GUARD + mem->size); /* with its guard */
	memset(mem, 0, sizeof(*mem));
}

void *l0_gpa_to_host(const struct l0_memory *mem, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < mem->nr_regions; i++) {
		const struct l0_mem_region *r = &mem->region[i];

		/* Written to avoid overflow with guest-chosen gpa/len. */
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t l0_memory_low_end(const struct l0_memory *mem)
{
	return mem->nr_regions ? mem->region[0].size : 0;
}

uint64_t l0_parse_size(const char *text)
{
	char *end;
	unsigned long long value;
	unsigned shift = 0;

	if (!text || !isdigit((unsigned char)*text))
		return 0;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno)
		return 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	case '\0': break;
	default: return 0;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || value > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)value << shift;
}

bool l0_host_to_gpa(const struct l0_memory *mem, const void *host, uint64_t len, uint64_t *gpa)
{
	const uint8_t *p = host;

	for (int i = 0; i < mem->nr_regions; i++) {
		const struct l0_mem_region *r = &mem->region[i];

		if (p >= r->host && len <= r->size && (uint64_t)(p - r->host) <= r->size - len) {
			*gpa = r->gpa + (uint64_t)(p - r->host);
			return true;
		}
	}
	return false;
}
