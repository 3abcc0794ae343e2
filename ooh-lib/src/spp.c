/* SPDX-License-Identifier: MIT */
/*
 * Sub-page protection front: handle registry, argument checking, the
 * mapping checks every backend needs, dispatch to backends/spp-*.c.
 * Every call is serialized by one process-wide mutex (the calls are rare
 * next to the writes they guard; the fault path never takes it).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define MAX_DOMAINS 64

static const struct spp_backend_ops *const spp_backends[OOH_SPP_BACKEND_MAX + 1] = {
	[OOH_SPP_BACKEND_MPROTECT] = &ooh_spp_backend_mprotect,
	[OOH_SPP_BACKEND_OOH] = &ooh_spp_backend_ooh,
};

static pthread_mutex_t spp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ooh_spp *domains[MAX_DOMAINS];

const char *ooh_spp_backend_name(enum ooh_spp_backend b)
{
	switch (b) {
	case OOH_SPP_BACKEND_AUTO: return "auto";
	case OOH_SPP_BACKEND_MPROTECT: return "mprotect";
	case OOH_SPP_BACKEND_OOH: return "ooh";
	}
	return NULL;
}

int ooh_spp_probe(enum ooh_spp_backend b, char *reason, size_t len)
{
	char dummy[8];

	if (!reason) {
		reason = dummy;
		len = sizeof(dummy);
	}
	if (len)
		reason[0] = '\0';
	if (b == OOH_SPP_BACKEND_AUTO) /* the hypervisor's when it is there */
		return ooh_spp_probe(OOH_SPP_BACKEND_OOH, NULL, 0) == 0 ? 0 :
		       ooh_spp_probe(OOH_SPP_BACKEND_MPROTECT, reason, len);
	if ((unsigned)b > OOH_SPP_BACKEND_MAX)
		return -EINVAL;
	if (!spp_backends[b]) {
		set_reason(reason, len, "%s sub-page protection is not in this build",
			   ooh_spp_backend_name(b));
		return -EOPNOTSUPP;
	}
	return spp_backends[b]->probe(reason, len);
}

/* The registered domain behind a handle, or NULL.  Call with spp_lock. */
static struct ooh_spp *lookup(ooh_spp *h)
{
	for (int i = 0; h && i < MAX_DOMAINS; i++)
		if (domains[i] == h)
			return h;
	return NULL;
}

int ooh_spp_open(ooh_spp **out, unsigned flags)
{
	enum ooh_spp_backend b = (enum ooh_spp_backend)(flags & OOH_SPP_OPEN_BACKEND_MASK);
	struct ooh_spp *s;
	char reason[160];
	int slot = -1, err;

	if (out)
		*out = NULL;
	if (!out || (flags & ~OOH_SPP_OPEN_BACKEND_MASK) || (unsigned)b > OOH_SPP_BACKEND_MAX)
		return -EINVAL;
	if (b == OOH_SPP_BACKEND_AUTO)
		b = ooh_spp_probe(OOH_SPP_BACKEND_OOH, NULL, 0) == 0 ? OOH_SPP_BACKEND_OOH
								    : OOH_SPP_BACKEND_MPROTECT;
	err = ooh_spp_probe(b, reason, sizeof(reason));
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ops = spp_backends[b];
	pthread_mutex_lock(&spp_lock);
	for (int i = 0; i < MAX_DOMAINS && slot < 0; i++)
		if (!domains[i])
			slot = i;
	if (slot < 0) {
		err = -EBUSY;
	} else {
		s->id = slot + 1;
		err = s->ops->open(s);
	}
	if (!err)
		domains[slot] = s;
	pthread_mutex_unlock(&spp_lock);
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

/*
 * Check that the n pages at addr are mapped and writable (or read-only
 * because a domain protects them); fill prot[i] with each page's
 * protection when writable (read/write, plus exec where mapped so).
 */
static int check_mapped(const struct ooh_spp *s, uint64_t addr, size_t n, int *prot,
			bool *first_writable)
{
	struct ooh_region r = { addr, addr + n * OOH_PAGE_SIZE, 0 };
	struct vma *v;
	ssize_t nv = read_maps(getpid(), &r, 1, &v);
	uint64_t pos = addr;
	int err = 0;

	if (nv < 0)
		return (int)nv;
	for (ssize_t i = 0; i < nv && pos < r.end && !err; i++) {
		if (v[i].end <= pos)
			continue;
		if (v[i].start > pos)
			break;
		for (; pos < v[i].end && pos < r.end && !err; pos += OOH_PAGE_SIZE) {
			int p = PROT_READ | PROT_WRITE | (v[i].exec ? PROT_EXEC : 0);
			if (pos == addr && first_writable)
				*first_writable = v[i].write;
			if (!v[i].write)
				p = s->ops->page_prot(pos);
			if (p < 0)
				err = -EACCES;
			else
				prot[(pos - addr) / OOH_PAGE_SIZE] = p;
		}
	}
	free(v);
	if (!err && pos < r.end)
		err = -EFAULT;
	return err;
}

/* Pages whose writable protection the kernel shows as writable and we
 * recorded as read-only were unmapped and mapped again (or mprotect'ed by
 * the program): the protection went with the old mapping.  check_mapped
 * already proved them writable, so the backend just overwrites them. */
static int set_common(ooh_spp *h, void *addr, size_t len_or_n, bool pages,
		      const uint32_t *masks, uint32_t mask, bool release)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;
	size_t n;
	int *prot = NULL;
	int err;

	if (a & (OOH_PAGE_SIZE - 1) || !len_or_n)
		return -EINVAL;
	if (pages) {
		if (!masks || len_or_n > (OOH_USER_END - a) / OOH_PAGE_SIZE)
			return -EINVAL;
		n = len_or_n;
	} else {
		if (len_or_n & (OOH_PAGE_SIZE - 1) || len_or_n > OOH_USER_END - a)
			return -EINVAL;
		n = len_or_n / OOH_PAGE_SIZE;
	}
	if (a + n * OOH_PAGE_SIZE > OOH_USER_END)
		return -EINVAL;
	if (!release) {
		prot = malloc(n * sizeof(*prot));
		if (!prot)
			return -ENOMEM;
	}
	pthread_mutex_lock(&spp_lock);
	struct ooh_spp *s = lookup(h);
	if (!s)
		err = -EBADF;
	else
		err = release ? 0 : check_mapped(s, a, n, prot, NULL);
	if (!err)
		err = s->ops->set(s, a, n, masks, mask, prot, release);
	pthread_mutex_unlock(&spp_lock);
	free(prot);
	return err;
}

int ooh_spp_protect(ooh_spp *spp, void *addr, size_t len, uint32_t mask)
{
	return set_common(spp, addr, len, false, NULL, mask, false);
}

int ooh_spp_protect_pages(ooh_spp *spp, void *addr, const uint32_t *masks, size_t nr_pages)
{
	return set_common(spp, addr, nr_pages, true, masks, 0, false);
}

/*
 * The allocator's call: no mapping check, no allocation (the caller may be
 * a malloc implementation, whose own lock we must not re-enter), no /proc.
 * The backend checks that every page is already protected by the domain.
 */
int ooh_spp_update(ooh_spp *h, void *addr, const uint32_t *masks, size_t n)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;
	int err;

	if (a & (OOH_PAGE_SIZE - 1) || !n || n > OOH_SPP_UPDATE_MAX_PAGES || !masks ||
	    a >= OOH_USER_END || n > (OOH_USER_END - a) / OOH_PAGE_SIZE)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (masks[i] == OOH_SPP_ALL_WRITABLE)
			return -EINVAL;
	pthread_mutex_lock(&spp_lock);
	struct ooh_spp *s = lookup(h);
	err = s ? s->ops->update(s, a, n, masks) : -EBADF;
	pthread_mutex_unlock(&spp_lock);
	return err;
}

int ooh_spp_release(ooh_spp *spp, void *addr, size_t len)
{
	return set_common(spp, addr, len, false, NULL, OOH_SPP_ALL_WRITABLE, true);
}

int ooh_spp_query(ooh_spp *h, const void *addr, uint32_t *mask)
{
	uint64_t page = (uint64_t)(uintptr_t)addr & OOH_PAGE_MASK;
	bool writable = false;
	int err, prot;

	if (!mask || page >= OOH_USER_END)
		return -EINVAL;
	pthread_mutex_lock(&spp_lock);
	struct ooh_spp *s = lookup(h);
	if (!s) {
		err = -EBADF;
		goto out;
	}
	err = check_mapped(s, page, 1, &prot, &writable);
	if (err == -EFAULT) /* unmapped: what we recorded went with the mapping */
		s->ops->set(s, page, 1, NULL, OOH_SPP_ALL_WRITABLE, NULL, true);
	if (err)
		goto out; /* -EACCES: read-only, and not because of us */
	err = s->ops->query(s, page, mask);
	if (!err && *mask != OOH_SPP_ALL_WRITABLE && writable && s->ops->stale(page)) {
		/* Writable although we made it read-only: unmapped and mapped
		 * again (or mprotect'ed by the program); ours went with the
		 * old mapping. */
		s->ops->set(s, page, 1, NULL, OOH_SPP_ALL_WRITABLE, NULL, true);
		*mask = OOH_SPP_ALL_WRITABLE;
	}
out:
	pthread_mutex_unlock(&spp_lock);
	return err;
}

int ooh_spp_backend(ooh_spp *h)
{
	int ret;

	pthread_mutex_lock(&spp_lock);
	struct ooh_spp *s = lookup(h);
	ret = s ? (int)s->ops->id : -EBADF;
	pthread_mutex_unlock(&spp_lock);
	return ret;
}

int ooh_spp_close(ooh_spp *h)
{
	pthread_mutex_lock(&spp_lock);
	struct ooh_spp *s = lookup(h);
	if (!s) {
		pthread_mutex_unlock(&spp_lock);
		return -EBADF;
	}
	s->ops->close(s);
	domains[s->id - 1] = NULL;
	pthread_mutex_unlock(&spp_lock);
	free(s);
	return 0;
}

int ooh_spp_stats(struct ooh_spp_stats *st)
{
	if (!st)
		return -EINVAL;
	return ooh_spp_backend_mprotect.stats(st);
}
