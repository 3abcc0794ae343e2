/* SPDX-License-Identifier: MIT */
/*
 * The page check (see pagecheck.h).  Per page, what is kept of its
 * /proc/PID/pagemap entry is what says whether it still holds the same
 * data: present (63), swapped (62), file-or-shared (61), and
 *  - pfn mode (frame numbers visible: CAP_SYS_ADMIN): the frame or swap
 *    slot (bits 0-54).  Another frame at an address is other memory, so
 *    drops, replacements and moves are all seen (swap-in, migration, KSM
 *    and THP collapse change frames too: false positives);
 *  - flags mode (frames hidden): exclusively-mapped (56) and PM_ZERO,
 *    see lost().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pagecheck.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE    (1ull << 61)
#define PM_ZERO    (1ull << 60) /* ours: present, not exclusive, reads all zero */
#define PM_EXCL    (1ull << 56)
#define PM_FRAME   ((1ull << 55) - 1)
#define PM_DATA    (PM_PRESENT | PM_SWAPPED)
#define PM_CHUNK   512          /* entries per pread / content batch (on the stack) */

int pagecheck_init(struct pagecheck *pc, pid_t pid, const char *env)
{
	volatile char here = 1; /* a page surely present: our stack */
	uint64_t e = 0;

	memset(pc, 0, sizeof(*pc));
	pc->pid = pid;
	if (env && !strcmp(env, "off")) {
		pc->mode = PAGECHECK_OFF;
		return 0;
	}
	/* Frame numbers are shown to the opener's capabilities: ours. */
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t got = pread(fd, &e, 8, (off_t)((uintptr_t)&here / OOH_PAGE_SIZE * 8));
	close(fd);
	if (got != 8)
		return -EIO;
	pc->mode = (e & PM_FRAME) && !(env && !strcmp(env, "flags")) ? PAGECHECK_PFN : PAGECHECK_FLAGS;
	return 0;
}

void pagecheck_free(struct pagecheck *pc)
{
	free(pc->old);
	free(pc->cur);
	pc->old = pc->cur = NULL;
	pc->nold = pc->capold = pc->ncur = pc->capcur = 0;
}

/* Did a page with the same backing lose its data between entries o and n? */
static bool lost(uint64_t o, uint64_t n, bool pfn)
{
	if (!(o & PM_DATA) || (o & PM_ZERO))
		return false; /* it held zero or the file's data: only a store or
			       * a new backing (the backend sees those) changes that */
	if (!(n & PM_DATA))
		return true;  /* dropped: reads as zero (or the file) now */
	if (pfn)
		return o != n;
	if ((o ^ n) & PM_FILE)
		return true;  /* private copy <-> file page */
	if (o & PM_FILE)
		return false; /* the same page cache or shared memory page */
	/*
	 * Anonymous, present and not exclusive: either the shared zero page
	 * that a read maps after a drop, or a page shared with a fork child
	 * (or KSM).  Without frames only the content tells them apart.  An
	 * exclusive or swapped page is the same one (a new exclusive page
	 * needs a store), a limit: with THP use_zero_page=0 a read of a whole
	 * dropped 2 MiB maps a new zero-filled huge page.
	 */
	if ((n & (PM_PRESENT | PM_EXCL)) == PM_PRESENT)
		return n & PM_ZERO;
	return false;
}

static bool holds_data(uint64_t e)
{
	return (e & PM_DATA) && !(e & PM_ZERO);
}

static bool all_zero(const void *buf, size_t len)
{
	const uint64_t *w = buf;
	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Mark with PM_ZERO those of the n pages at addr[] (entries e[]) of pid
 * that read all zero.  Read with process_vm_readv, so that a page unmapped
 * meanwhile gives EFAULT instead of SIGSEGV; such a page counts as zero
 * (reported: conservative).  64 bytes first, the whole page only when
 * those are zero, so a page shared with a fork child costs little.
 */
static void mark_zero(pid_t pid, const uint64_t *addr, uint64_t **e, size_t n)
{
	enum { HEAD = 64, BATCH = 64 };
	unsigned char head[BATCH][HEAD], page[OOH_PAGE_SIZE];
	struct iovec loc[BATCH], rem[BATCH];

	for (size_t i = 0; i < n;) {
		size_t b = n - i < BATCH ? n - i : BATCH;
		for (size_t j = 0; j < b; j++) {
			loc[j] = (struct iovec){ head[j], HEAD };
			rem[j] = (struct iovec){ (void *)(uintptr_t)addr[i + j], HEAD };
		}
		ssize_t got = process_vm_readv(pid, loc, b, rem, b, 0);
		size_t ok = got > 0 ? (size_t)got / HEAD : 0;
		for (size_t j = 0; j < ok; j++) {
			if (!all_zero(head[j], HEAD))
				continue;
			struct iovec l = { page, sizeof(page) }, r = { rem[j].iov_base, sizeof(page) };
			if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(page) ||
			    all_zero(page, sizeof(page)))
				*e[i + j] |= PM_ZERO;
		}
		if (ok < b) /* the first unreadable one */
			*e[i + ok++] |= PM_ZERO;
		i += ok;
	}
}

void pagecheck_begin(struct pagecheck *pc)
{
	pc->next = 0;
	pc->ncur = 0;
}

static int report(struct region_list *out, uint64_t pg)
{
	if (out->n && out->v[out->n - 1].end == pg) {
		out->v[out->n - 1].end += OOH_PAGE_SIZE;
		return 0;
	}
	return region_list_add(out, pg, pg + OOH_PAGE_SIZE);
}

/* Up to PM_CHUNK pages. */
static int feed_chunk(struct pagecheck *pc, uint64_t addr, uint64_t *e, size_t n, bool store,
		      struct region_list *out)
{
	uint64_t amb_addr[PM_CHUNK], *amb[PM_CHUNK];
	bool pfn = pc->mode == PAGECHECK_PFN;
	uint64_t keep = pfn ? PM_DATA | PM_FILE | PM_FRAME : PM_DATA | PM_FILE | PM_EXCL;
	size_t namb = 0, j = pc->next;

	for (size_t i = 0; i < n; i++) {
		uint64_t pg = addr + i * OOH_PAGE_SIZE;
		while (j < pc->nold && pc->old[j].addr < pg)
			j++;
		e[i] &= keep;
		/* Only the content tells the zero page from a shared page; read
		 * it where the answer is used: stored, or compared. */
		if (!pfn && (e[i] & (PM_PRESENT | PM_FILE | PM_EXCL)) == PM_PRESENT &&
		    (store || (out && j < pc->nold && pc->old[j].addr == pg))) {
			amb_addr[namb] = pg;
			amb[namb++] = &e[i];
		}
	}
	mark_zero(pc->pid, amb_addr, amb, namb);
	for (size_t i = 0; i < n; i++) {
		uint64_t pg = addr + i * OOH_PAGE_SIZE;
		while (pc->next < pc->nold && pc->old[pc->next].addr < pg)
			pc->next++; /* not passed: no longer mapped */
		if (out && pc->next < pc->nold && pc->old[pc->next].addr == pg &&
		    lost(pc->old[pc->next].entry, e[i], pfn)) {
			int err = report(out, pg);
			if (err)
				return err;
		}
		if (store && holds_data(e[i])) {
			if (pc->ncur == pc->capcur) {
				size_t cap = pc->capcur ? 2 * pc->capcur : 1024;
				struct pagecheck_page *c = realloc(pc->cur, cap * sizeof(*c));
				if (!c)
					return -ENOMEM;
				pc->cur = c;
				pc->capcur = cap;
			}
			pc->cur[pc->ncur++] = (struct pagecheck_page){ pg, e[i] };
		}
	}
	return 0;
}

int pagecheck_feed(struct pagecheck *pc, uint64_t addr, uint64_t *e, size_t n, bool store,
		   struct region_list *out)
{
	if (pc->mode == PAGECHECK_OFF)
		return 0;
	for (size_t i = 0; i < n; i += PM_CHUNK) {
		size_t c = n - i < PM_CHUNK ? n - i : PM_CHUNK;
		int err = feed_chunk(pc, addr + i * OOH_PAGE_SIZE, e + i, c, store, out);
		if (err)
			return err;
	}
	return 0;
}

void pagecheck_end(struct pagecheck *pc, bool store)
{
	if (!store || pc->mode == PAGECHECK_OFF)
		return;
	/* Swap, so that the next pass reuses the old array. */
	struct pagecheck_page *o = pc->old;
	size_t cap = pc->capold;
	pc->old = pc->cur;
	pc->nold = pc->ncur;
	pc->capold = pc->capcur;
	pc->cur = o;
	pc->capcur = cap;
	pc->ncur = 0;
}

int pagecheck_feed_range(struct pagecheck *pc, int fd, uint64_t start, uint64_t end, bool store,
			 struct region_list *out)
{
	uint64_t e[PM_CHUNK];

	if (pc->mode == PAGECHECK_OFF)
		return 0;
	for (uint64_t a = start; a < end;) {
		size_t n = (end - a) / OOH_PAGE_SIZE;
		if (n > PM_CHUNK)
			n = PM_CHUNK;
		ssize_t got;
		do
			got = pread(fd, e, n * 8, (off_t)(a / OOH_PAGE_SIZE * 8));
		while (got < 0 && errno == EINTR);
		if (got < 8)
			return got < 0 ? -errno : -EIO;
		n = (size_t)got / 8;
		int err = pagecheck_feed(pc, a, e, n, store, out);
		if (err)
			return err;
		a += n * OOH_PAGE_SIZE;
	}
	return 0;
}
