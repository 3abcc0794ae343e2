// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: libooh's reading of PAGEMAP_SCAN results, the pagemap
 * backend's snapshot walk (ooh-lib/backends/pagemap.c: scan_written and
 * under it scan_range, which resumes from walk_end or the last region when
 * the output vector was full, scan_gap, scan_anon and report_gone). The
 * backend's file is compiled in whole, with its PAGEMAP_SCAN ioctl
 * (OOH_PAGEMAP_SCAN_IOCTL) answered by a fake kernel from the input.
 *
 * The fake kernel answers as the kernel may: regions inside the asked
 * range, ascending, apart, page-aligned, no more than vec_len, categories
 * as the input says, and walk_end the range's end, the last region's end,
 * 0, or (the 6.18 behaviour scan_range works around) below the end
 * although the walk was complete. The input: an options byte (re-arm or
 * not), the VMAs known to the backend and which are big anonymous ones,
 * the runs that held data at the last arm, the range scanned, then the
 * answers, one per ioctl, taken in turn (none left: an empty answer).
 *
 * Checked: the call returns 0 or -EIO (no progress) or -ENOMEM, every
 * ioctl asks inside the range and writes inside its vector, every
 * reported run lies in the range and is not empty, and in a big
 * anonymous VMA the runs kept for the next arm are ascending and apart.
 */
#include <stdint.h>
#include <stdio.h>

#include "kabi.h"

static long fake_scan(int fd, struct pm_scan_arg *a);
#define OOH_PAGEMAP_SCAN_IOCTL(fd, a) fake_scan(fd, a)
#include "../../../ooh-lib/backends/pagemap.c"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__); \
	abort(); } } while (0)

#define BASE 0x7f0000000000ull
#define WINDOW 512u /* pages */

/* remote.c's, which the fuzzer does not link: never called on this path. */
int remote_userfaultfd(pid_t pid, int flags)
{
	(void)pid;
	(void)flags;
	abort();
}

struct input {
	const uint8_t *p;
	size_t left;
};

static struct input answers;
static uint64_t scan_start, scan_end;
static int calls;

static uint8_t next_byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint64_t page_at(struct input *in)
{
	return BASE + (uint64_t)(next_byte(in) | next_byte(in) << 8) % WINDOW * OOH_PAGE_SIZE;
}

/* One answer: [count][walk_end kind] then per region [gap pages][pages][categories]. */
static long fake_scan(int fd, struct pm_scan_arg *a)
{
	struct page_region *vec = (struct page_region *)(uintptr_t)a->vec;
	uint64_t want = next_byte(&answers), kind = next_byte(&answers), pos = a->start, n = 0;

	(void)fd;
	calls++;
	CHECK(calls < 10000); /* a walk that never ends */
	CHECK(a->size == sizeof(*a) && a->vec_len > 0);
	CHECK(a->start >= scan_start && a->end <= scan_end && a->start < a->end);
	CHECK(a->start % OOH_PAGE_SIZE == 0 && a->end % OOH_PAGE_SIZE == 0);
	while (n < want && n < a->vec_len && pos < a->end) {
		uint64_t gap = next_byte(&answers) % 8, len = next_byte(&answers) % 16 + 1;
		uint64_t cat = next_byte(&answers);

		if (gap == 0 && n > 0)
			gap = 1; /* the kernel merges touching regions of the same categories */
		pos += gap * OOH_PAGE_SIZE;
		if (pos >= a->end)
			break;
		if (len * OOH_PAGE_SIZE > a->end - pos)
			len = (a->end - pos) / OOH_PAGE_SIZE;
		vec[n] = (struct page_region){ pos, pos + len * OOH_PAGE_SIZE, cat & a->return_mask };
		pos += len * OOH_PAGE_SIZE;
		n++;
	}
	switch (kind % 4) {
	case 0:
		a->walk_end = n == a->vec_len ? pos : a->end;
		break;
	case 1:
		a->walk_end = a->end;
		break;
	case 2:
		a->walk_end = 0;
		break;
	default: /* below the end although done (seen on 6.18 with > 512 regions) */
		a->walk_end = n ? vec[n - 1].start : a->start;
	}
	return (long)n;
}

static int runs_from(struct input *in, struct region_list *l, unsigned max, bool sorted)
{
	unsigned n = next_byte(in) % (max + 1);
	uint64_t last = BASE;

	for (unsigned i = 0; i < n; i++) {
		uint64_t s = page_at(in), len = (uint64_t)(next_byte(in) % 64 + 1) * OOH_PAGE_SIZE;

		if (sorted) { /* the backend keeps these ascending and apart */
			s = last + (s - BASE) % (64 * OOH_PAGE_SIZE);
			last = s + len + OOH_PAGE_SIZE;
		}
		if (region_list_add(l, s, s + len))
			return -1;
	}
	return 0;
}

static void check_out(const struct region_list *out, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < out->n; i++)
		CHECK(out->v[i].start < out->v[i].end && out->v[i].start >= start && out->v[i].end <= end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct pagemap_priv p = { .uffd = -1, .pagemap_fd = -1 };
	struct region_list out = { 0 };
	bool wp = next_byte(&in) & 1;
	int err;

	/* the VMAs as register_ranges learnt them; big anonymous ones among them */
	CHECK(runs_from(&in, &p.anon, 2, true) == 0);
	CHECK(runs_from(&in, &p.known, 4, false) == 0);
	CHECK(runs_from(&in, &p.data, 4, true) == 0);
	scan_start = page_at(&in);
	scan_end = scan_start + (uint64_t)(next_byte(&in) % 128 + 1) * OOH_PAGE_SIZE;
	answers = in;
	calls = 0;
	err = scan_written(&p, scan_start, scan_end, wp, &out);
	CHECK(err == 0 || err == -EIO || err == -ENOMEM);
	if (!err)
		check_out(&out, scan_start, scan_end);
	for (size_t i = 1; i < p.data_next.n; i++)
		CHECK(p.data_next.v[i - 1].end < p.data_next.v[i].start);
	region_list_free(&out);
	region_list_free(&p.anon);
	region_list_free(&p.known);
	region_list_free(&p.data);
	region_list_free(&p.data_next);
	region_list_free(&p.scan);
	return 0;
}
