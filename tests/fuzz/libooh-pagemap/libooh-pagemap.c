// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: libooh's /proc/PID/pagemap reader, the page check of
 * the softdirty and mprotect backends (ooh-lib/src/pagecheck.c:
 * pagecheck_feed_range, which preads entries as the backends do, and
 * pagecheck_feed / lost / mark_zero under it). The input is what the
 * kernel would return from pagemap: a few passes over one range, each
 * pass's entries written into a memfd at the offsets /proc/PID/pagemap
 * has them (a short file gives short reads), in pfn or flags mode; passes
 * alternately store (arm) and compare (collect), sometimes in two halves.
 *
 * The range lies on a buffer of this process (flags mode reads the pages'
 * content with process_vm_readv), its pages alternately zero and not.
 * Checked after each pass: the pages reported lost are sorted, apart,
 * page-aligned, inside the range and among the pages kept at the last
 * store; the pages kept are sorted, inside the range, at most one a page.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "pagecheck.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

#define MAX_PAGES 1536u /* three PM_CHUNKs */
#define MAX_PASSES 4

static uint8_t *pages;  /* the range's memory */

static int pagemap_fd(const uint8_t *entries, size_t size, uint64_t first_page)
{
	static int fd = -1;

	if (fd < 0)
		fd = memfd_create("fuzz-pagemap", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, entries, size, (off_t)(first_page * 8)) == (ssize_t)size);
	return fd;
}

static bool kept_at(const struct pagecheck_page *v, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].addr == addr)
			return true;
	return false;
}

static void check_lost(const struct region_list *out, uint64_t start, uint64_t end,
		       const struct pagecheck_page *kept, size_t nkept)
{
	for (size_t i = 0; i < out->n; i++) {
		const struct ooh_region *r = &out->v[i];

		CHECK(r->start < r->end && r->start >= start && r->end <= end);
		CHECK(r->start % OOH_PAGE_SIZE == 0 && r->end % OOH_PAGE_SIZE == 0);
		CHECK(i == 0 || out->v[i - 1].end < r->start); /* apart: adjacent ones merge */
		for (uint64_t a = r->start; a < r->end; a += OOH_PAGE_SIZE)
			CHECK(kept_at(kept, nkept, a));
	}
}

static void check_kept(const struct pagecheck *pc, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < pc->nold; i++) {
		CHECK(pc->old[i].addr >= start && pc->old[i].addr < end);
		CHECK(i == 0 || pc->old[i - 1].addr < pc->old[i].addr);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	pages = aligned_alloc(OOH_PAGE_SIZE, MAX_PAGES * OOH_PAGE_SIZE);
	CHECK(pages);
	/* zero and non-zero pages (the zero page and a shared page look alike) */
	for (size_t i = 0; i < MAX_PAGES; i++)
		memset(pages + i * OOH_PAGE_SIZE, i % 2 ? 0x5a : 0, OOH_PAGE_SIZE);
	return 0;
}

/*
 * Header: mode (bit 0 pfn, bit 1 split passes in two halves), pages
 * (u16, 1..MAX_PAGES), passes (1..MAX_PASSES); then the passes' entries.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct region_list out = { 0 };
	struct pagecheck_page *kept = NULL;
	struct pagecheck pc;
	uint64_t npages, start, end, first;
	size_t nkept = 0, part;
	int passes;

	if (size < 4)
		return 0;
	npages = (uint64_t)(data[1] | data[2] << 8) % MAX_PAGES + 1;
	passes = data[3] % MAX_PASSES + 1;
	start = (uint64_t)(uintptr_t)pages;
	end = start + npages * OOH_PAGE_SIZE;
	first = start / OOH_PAGE_SIZE;
	part = (size - 4) / (size_t)passes;
	CHECK(pagecheck_init(&pc, getpid(), "flags") == 0);
	if (data[0] & 1)
		pc.mode = PAGECHECK_PFN;
	for (int k = 0; k < passes; k++) {
		bool store = k % 2 == 0;
		uint64_t mid = (data[0] & 2) ? start + npages / 2 * OOH_PAGE_SIZE : end;
		int fd = pagemap_fd(data + 4 + (size_t)k * part, part, first);
		int err;

		out.n = 0;
		pagecheck_begin(&pc);
		err = pagecheck_feed_range(&pc, fd, start, mid, store, &out);
		if (!err && mid < end)
			err = pagecheck_feed_range(&pc, fd, mid, end, store, &out);
		pagecheck_end(&pc, store && !err);
		if (err)
			continue; /* short file: -EIO, the backends give up on that pass */
		check_lost(&out, start, end, kept, nkept);
		if (store) {
			check_kept(&pc, start, end);
			free(kept);
			kept = malloc((pc.nold ? pc.nold : 1) * sizeof(*kept));
			CHECK(kept);
			if (pc.nold)
				memcpy(kept, pc.old, pc.nold * sizeof(*kept));
			nkept = pc.nold;
		}
	}
	free(kept);
	region_list_free(&out);
	pagecheck_free(&pc);
	return 0;
}
