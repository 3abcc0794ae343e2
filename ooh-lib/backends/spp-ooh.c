/* SPDX-License-Identifier: MIT */
/*
 * SPP backend "ooh": sub-page protection by the hypervisor (ooh-l0's
 * virtual SPP) through /dev/ooh (include/ooh/dev-abi.h). One open file per
 * domain; ooh.ko pins the pages and hands {GPA, vector} to l0, which
 * refuses the writes below the guest kernel. A refused write reaches the
 * writing thread as SIGSEGV from the kernel (si_code OOH_SEGV_SPPERR,
 * si_addr the first refused byte): no handler of ours is involved, and a
 * permitted write costs no signal at all (one exit to l0, which performs
 * it). Difference to the software backend: the refused write has retired
 * when the signal arrives, so returning from the handler goes on after it
 * (nothing written) instead of retrying it.
 *
 * fork(): the kernel copies pinned pages into the child eagerly, and those
 * copies are not protected; so that protection goes on in the child as
 * with the software backend, a fork handler re-protects, in the child, a
 * snapshot of every domain's pages taken just before fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#define OOH_SPP_DEV "/dev/" OOH_DEV_NAME

struct page_rec {
	uint64_t page;
	uint32_t mask;
};

struct spp_ooh_priv {
	int fd;
	struct page_rec *rec;   /* sorted by page: what this domain protected */
	size_t nr, cap;
	uint32_t *scratch;      /* cap entries: masks for the fork child */
	struct spp_ooh_priv *next;
};

/* Domains, for the fork handlers (every change under the front's mutex,
 * which the prepare handler takes too). */
static struct spp_ooh_priv *domains;
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static int dev_open(char *reason, size_t len)
{
	struct ooh_dev_info info;
	int fd = open(OOH_SPP_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int err = -errno;

		set_reason(reason, len, "%s: %s (is ooh.ko loaded?)", OOH_SPP_DEV, strerror(errno));
		return err;
	}
	if (ioctl(fd, OOH_IOC_GET_INFO, &info) != 0) {
		int err = -errno;

		set_reason(reason, len, "OOH_IOC_GET_INFO: %s", strerror(errno));
		close(fd);
		return err;
	}
	if (info.abi_version != OOH_DEV_ABI_VERSION) {
		set_reason(reason, len, "ooh.ko speaks /dev/ooh ABI %u, libooh %u", info.abi_version,
			   OOH_DEV_ABI_VERSION);
		close(fd);
		return -EOPNOTSUPP;
	}
	if (!info.hv_present || !(info.hv_features & OOH_FEAT_SPP)) {
		set_reason(reason, len, "%s",
			   info.hv_present ? "the hypervisor below does not offer SPP"
					   : "no OoH hypervisor (ooh-l0) below this guest");
		close(fd);
		return -EOPNOTSUPP;
	}
	return fd;
}

static int probe(char *reason, size_t len)
{
	struct ooh_spp_query q = { 0 };
	int fd = dev_open(reason, len), err = 0;

	if (fd < 0)
		return fd;
	q.addr = (uint64_t)(uintptr_t)&q & OOH_PAGE_MASK;
	if (ioctl(fd, OOH_IOC_SPP_QUERY, &q) != 0) {
		err = -errno;
		set_reason(reason, len, "OOH_IOC_SPP_QUERY: %s", strerror(errno));
	}
	close(fd);
	return err;
}

static long find(const struct spp_ooh_priv *p, uint64_t page)
{
	size_t lo = 0, hi = p->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->rec[mid].page == page)
			return (long)mid;
		if (p->rec[mid].page < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static int reserve(struct spp_ooh_priv *p, size_t more)
{
	size_t cap = p->cap ? p->cap : 64;
	struct page_rec *r;
	uint32_t *s;

	if (p->nr + more <= p->cap)
		return 0;
	while (cap < p->nr + more)
		cap *= 2;
	r = realloc(p->rec, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	p->rec = r;
	s = realloc(p->scratch, cap * sizeof(*s));
	if (!s)
		return -ENOMEM;
	p->scratch = s;
	p->cap = cap;
	return 0;
}

/* Records page's vector (ALL_WRITABLE drops it); room reserved before. */
static void note(struct spp_ooh_priv *p, uint64_t page, uint32_t mask)
{
	long i = find(p, page);

	if (i >= 0) {
		if (mask != OOH_SPP_ALL_WRITABLE) {
			p->rec[i].mask = mask;
		} else {
			memmove(&p->rec[i], &p->rec[i + 1], (p->nr - (size_t)i - 1) * sizeof(*p->rec));
			p->nr--;
		}
		return;
	}
	if (mask == OOH_SPP_ALL_WRITABLE)
		return;
	i = -i - 1;
	memmove(&p->rec[i + 1], &p->rec[i], (p->nr - (size_t)i) * sizeof(*p->rec));
	p->rec[i] = (struct page_rec){ page, mask };
	p->nr++;
}

static int get_masks(int fd, uint64_t a, size_t n, uint32_t *out)
{
	struct ooh_spp_range r = { .addr = a, .nr_pages = n, .masks = (uint64_t)(uintptr_t)out };

	return ioctl(fd, OOH_IOC_SPP_GET, &r) == 0 ? 0 : -errno;
}

/* Brings the records of [a, a + n pages) in line with the kernel's (pages
 * unmapped since lost their protection there). */
static void resync(struct spp_ooh_priv *p, uint64_t a, size_t n, uint32_t *buf)
{
	if (get_masks(p->fd, a, n, buf) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		note(p, a + i * OOH_PAGE_SIZE, buf[i]);
}

/* Runs of consecutive recorded pages: fn(priv, first index, count). */
static void for_each_run(struct spp_ooh_priv *p, void (*fn)(struct spp_ooh_priv *, size_t, size_t))
{
	size_t i = 0;

	while (i < p->nr) {
		size_t j = i + 1;

		while (j < p->nr && p->rec[j].page == p->rec[j - 1].page + OOH_PAGE_SIZE &&
		       j - i < OOH_SPP_MAX_PAGES)
			j++;
		fn(p, i, j - i);
		i = j;
	}
}

static void refresh_run(struct spp_ooh_priv *p, size_t i, size_t n)
{
	uint64_t a = p->rec[i].page;

	if (get_masks(p->fd, a, n, p->scratch) != 0)
		return;
	/* note() may remove entries: apply from the end */
	for (size_t k = n; k-- > 0;)
		note(p, a + k * OOH_PAGE_SIZE, p->scratch[k]);
}

static void reprotect_run(struct spp_ooh_priv *p, size_t i, size_t n)
{
	struct ooh_spp_range r = { .addr = p->rec[i].page, .nr_pages = n,
				   .masks = (uint64_t)(uintptr_t)p->scratch };

	for (size_t k = 0; k < n; k++)
		p->scratch[k] = p->rec[i + k].mask;
	if (ioctl(p->fd, OOH_IOC_SPP_PROTECT, &r) != 0) {
		static const char msg[] = "libooh: ooh SPP: cannot protect pages in the fork child\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);

		(void)w;
	}
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&fork_lock);
	for (struct spp_ooh_priv *p = domains; p; p = p->next) {
		size_t before;

		do { /* refresh_run can shrink the list: until stable */
			before = p->nr;
			for_each_run(p, refresh_run);
		} while (p->nr != before);
	}
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&fork_lock);
}

/* The child: a file of its own (the inherited one is bound to the parent's
 * address space), then the snapshot protected again. No allocation. */
static void atfork_child(void)
{
	for (struct spp_ooh_priv *p = domains; p; p = p->next) {
		int fd = open(OOH_SPP_DEV, O_RDWR | O_CLOEXEC);

		if (fd < 0 || dup3(fd, p->fd, O_CLOEXEC) < 0) {
			static const char msg[] = "libooh: ooh SPP: no /dev/ooh in the fork child\n";
			ssize_t w = write(2, msg, sizeof(msg) - 1);

			(void)w;
			if (fd >= 0)
				close(fd);
			p->nr = 0;
			continue;
		}
		close(fd);
		for_each_run(p, reprotect_run);
	}
	pthread_mutex_unlock(&fork_lock);
}

static void install_fork_handlers(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static int sp_open(struct ooh_spp *s)
{
	struct spp_ooh_priv *p = calloc(1, sizeof(*p));
	char reason[8];
	int fd;

	if (!p)
		return -ENOMEM;
	fd = dev_open(reason, sizeof(reason));
	if (fd < 0) {
		free(p);
		return fd;
	}
	p->fd = fd;
	pthread_once(&fork_once, install_fork_handlers);
	pthread_mutex_lock(&fork_lock);
	p->next = domains;
	domains = p;
	pthread_mutex_unlock(&fork_lock);
	s->priv = p;
	return 0;
}

static void sp_close(struct ooh_spp *s)
{
	struct spp_ooh_priv *p = s->priv;

	pthread_mutex_lock(&fork_lock);
	for (struct spp_ooh_priv **q = &domains; *q; q = &(*q)->next) {
		if (*q == p) {
			*q = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&fork_lock);
	close(p->fd); /* ooh.ko drops every protection of the file */
	free(p->rec);
	free(p->scratch);
	free(p);
	s->priv = NULL;
}

static int sp_set(struct ooh_spp *s, uint64_t a, size_t n, const uint32_t *masks, uint32_t mask,
		  const int *prot, bool release)
{
	struct spp_ooh_priv *p = s->priv;
	struct ooh_spp_range r = { .addr = a, .nr_pages = n,
				   .masks = (uint64_t)(uintptr_t)masks, .mask = mask };
	uint32_t *old = NULL;
	int err = 0;

	(void)prot;
	if (n > OOH_SPP_MAX_PAGES)
		return -E2BIG;
	pthread_mutex_lock(&fork_lock);
	err = reserve(p, n);
	if (!err && !release) {
		old = malloc(n * sizeof(*old));
		err = old ? get_masks(p->fd, a, n, old) : -ENOMEM;
	}
	if (!err && ioctl(p->fd, release ? OOH_IOC_SPP_RELEASE : OOH_IOC_SPP_PROTECT, &r) != 0) {
		err = -errno;
		if (!release) {
			/* All or nothing: put back what the kernel had (the
			 * module works in batches and keeps the ones done). */
			struct ooh_spp_range back = { .addr = a, .nr_pages = n,
						      .masks = (uint64_t)(uintptr_t)old };
			if (ioctl(p->fd, OOH_IOC_SPP_PROTECT, &back) != 0)
				(void)ioctl(p->fd, OOH_IOC_SPP_RELEASE, &back);
		}
	}
	if (!err || !release) {
		uint32_t *buf = old ? old : malloc(n * sizeof(*buf));

		if (buf)
			resync(p, a, n, buf);
		if (buf != old)
			free(buf);
	}
	pthread_mutex_unlock(&fork_lock);
	free(old);
	return err;
}

_Static_assert(OOH_SPP_UPDATE_MAX_PAGES <= OOH_SPP_MAX_PAGES,
	       "ooh_spp_update takes what one OOH_IOC_SPP_PROTECT takes");

/*
 * ooh_spp_update: every page must be in the domain's records (-ENOENT
 * otherwise, nothing changed), then ONE OOH_IOC_SPP_PROTECT with the
 * caller's masks; ooh.ko finds each page already pinned and protected and
 * only changes its vector.  No malloc: the records are changed in place.
 * The front limits n to OOH_SPP_UPDATE_MAX_PAGES, what one ioctl takes.
 *
 * ooh.ko works in batches and keeps the ones done when a later one fails
 * (a page unmapped since: -EFAULT; mapped again: it may even protect the
 * new page).  Then, as sp_set does, the old vectors (our records) are put
 * back with a second PROTECT, in the domain's scratch buffer: all the
 * pages are recorded, so n <= nr <= cap always fits.  That one stops at
 * the same page, after restoring the batches before it; the batches after
 * it were not touched by either.  Last, the records are brought in line
 * with the kernel's (the unmapped page's record goes): one SPP_GET into
 * scratch, or page by page when that fails.
 */
static int sp_update(struct ooh_spp *s, uint64_t a, size_t n, const uint32_t *masks)
{
	struct spp_ooh_priv *p = s->priv;
	struct ooh_spp_range r = { .addr = a, .nr_pages = n, .masks = (uint64_t)(uintptr_t)masks };
	long i0;
	int err = 0;

	if (n > OOH_SPP_MAX_PAGES)
		return -EINVAL;
	pthread_mutex_lock(&fork_lock);
	/* Sorted and distinct: n consecutive pages are all recorded iff the
	 * first and the last are, n - 1 entries apart. */
	i0 = find(p, a);
	if (i0 < 0 || (size_t)i0 + n > p->nr ||
	    p->rec[(size_t)i0 + n - 1].page != a + (n - 1) * OOH_PAGE_SIZE) {
		err = -ENOENT;
	} else if (ioctl(p->fd, OOH_IOC_SPP_PROTECT, &r) == 0) {
		for (size_t k = 0; k < n; k++)
			p->rec[(size_t)i0 + k].mask = masks[k];
	} else {
		err = -errno;
		if (n <= p->cap) {
			struct ooh_spp_range back = { .addr = a, .nr_pages = n,
						      .masks = (uint64_t)(uintptr_t)p->scratch };

			for (size_t k = 0; k < n; k++)
				p->scratch[k] = p->rec[(size_t)i0 + k].mask;
			(void)ioctl(p->fd, OOH_IOC_SPP_PROTECT, &back);
		}
		if (n > p->cap || get_masks(p->fd, a, n, p->scratch) != 0) {
			for (size_t k = n; k-- > 0;) {
				struct ooh_spp_query q = { .addr = a + k * OOH_PAGE_SIZE };

				if (ioctl(p->fd, OOH_IOC_SPP_QUERY, &q) == 0)
					note(p, q.addr, q.mask);
			}
		} else {
			/* note() may remove entries: apply from the end */
			for (size_t k = n; k-- > 0;)
				note(p, a + k * OOH_PAGE_SIZE, p->scratch[k]);
		}
	}
	pthread_mutex_unlock(&fork_lock);
	return err;
}

static int sp_query(struct ooh_spp *s, uint64_t page, uint32_t *mask)
{
	struct spp_ooh_priv *p = s->priv;
	struct ooh_spp_query q = { .addr = page };

	if (ioctl(p->fd, OOH_IOC_SPP_QUERY, &q) != 0)
		return -errno;
	*mask = q.mask;
	return 0;
}

static int sp_stats(struct ooh_spp_stats *st)
{
	memset(st, 0, sizeof(*st));
	return 0;
}

/* Pages stay writable in the page tables: never read-only because of us. */
static int sp_page_prot(uint64_t page)
{
	(void)page;
	return -1;
}

/* ooh.ko drops the protection itself when a page is unmapped. */
static bool sp_stale(uint64_t page)
{
	(void)page;
	return false;
}

const struct spp_backend_ops ooh_spp_backend_ooh = {
	.id = OOH_SPP_BACKEND_OOH,
	.name = "ooh",
	.probe = probe,
	.open = sp_open,
	.close = sp_close,
	.set = sp_set,
	.update = sp_update,
	.query = sp_query,
	.stats = sp_stats,
	.page_prot = sp_page_prot,
	.stale = sp_stale,
};
