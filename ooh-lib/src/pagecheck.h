/* SPDX-License-Identifier: MIT */
/*
 * The page check (issue #16), shared by the mprotect and softdirty
 * backends: memory can change without a store (MADV_DONTNEED, MADV_FREE
 * discarded, memory moved or mapped over it), which neither a write fault
 * nor a soft-dirty bit sees.  At each arm the pagemap entry of every page
 * that holds data of its own is kept (sparse: cost follows the populated
 * pages, not the ranges' size); at collect each is compared with the
 * page's entry now, and a page that lost its data is reported.  A page
 * that is not passed at collect (no longer mapped) is forgotten.
 */
#ifndef OOH_PAGECHECK_H
#define OOH_PAGECHECK_H

#include "internal.h"

enum pagecheck_mode { PAGECHECK_OFF, PAGECHECK_FLAGS, PAGECHECK_PFN };

struct pagecheck_page {
	uint64_t addr, entry; /* entry: the pagemap entry, reduced */
};

struct pagecheck {
	enum pagecheck_mode mode;
	pid_t pid;                      /* whose pages (flags mode reads them) */
	struct pagecheck_page *old;     /* pages holding data at the last arm, by address */
	size_t nold, capold, next;      /* next: first of old not yet passed */
	struct pagecheck_page *cur;     /* being built when storing */
	size_t ncur, capcur;
};

/* Choose the mode: env ("off", "flags" or "pfn", may be NULL) or else pfn
 * when this process sees frame numbers, else flags.  0 or -errno. */
int pagecheck_init(struct pagecheck *pc, pid_t pid, const char *env);
void pagecheck_free(struct pagecheck *pc);

/*
 * One pass: begin, then feed every page that is mapped now in ascending
 * address order, then end.  feed takes the raw pagemap entries e[0..n) of
 * the n pages from addr (and overwrites them); when out, it reports the
 * pages that lost their data since the last stored pass; when store,
 * this pass becomes the last (end installs it).
 */
void pagecheck_begin(struct pagecheck *pc);
int pagecheck_feed(struct pagecheck *pc, uint64_t addr, uint64_t *e, size_t n, bool store,
		   struct region_list *out);
void pagecheck_end(struct pagecheck *pc, bool store);

/* Feed [start, end) read from the pagemap file fd (unmapped pages too). */
int pagecheck_feed_range(struct pagecheck *pc, int fd, uint64_t start, uint64_t end, bool store,
			 struct region_list *out);

#endif
