/* SPDX-License-Identifier: MIT */
/* Guest RAM: one anonymous mapping, split around the 32-bit MMIO hole. */
#ifndef L0_MEMORY_H
#define L0_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest physical addresses [L0_MMIO_HOLE_START, 4 GiB) are never RAM. */
#define L0_MMIO_HOLE_START 0xc0000000ull
#define L0_MMIO_HOLE_END   0x100000000ull

#define L0_MEM_MAX_REGIONS 2

struct l0_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct l0_memory {
	uint8_t *host;          /* the whole mapping */
	uint64_t size;          /* bytes of guest RAM */
	bool hugepages;
	int nr_regions;
	struct l0_mem_region region[L0_MEM_MAX_REGIONS];
};

/* Returns 0 or an L0_EXIT_* code (message already printed). */
int l0_memory_init(struct l0_memory *mem, uint64_t size, bool hugepages, int numa_node);
void l0_memory_free(struct l0_memory *mem);

/* Host pointer for [gpa, gpa+len) if that range lies wholly in one RAM region. */
void *l0_gpa_to_host(const struct l0_memory *mem, uint64_t gpa, uint64_t len);

/* The reverse: the GPA of host pointer host if [host, host+len) is wholly in one region. */
bool l0_host_to_gpa(const struct l0_memory *mem, const void *host, uint64_t len, uint64_t *gpa);

/* Highest RAM address + 1 below the MMIO hole. */
uint64_t l0_memory_low_end(const struct l0_memory *mem);

/* Parse "512M", "2G", "65536K", "1048576" (bytes). Returns 0 on error. */
uint64_t l0_parse_size(const char *text);

#endif
