/* SPDX-License-Identifier: MIT */
/*
 * uffd backend: userfaultfd synchronous write-protect.  A handler thread
 * receives each first write to a protected page, logs the page and lifts
 * the protection of that 4 KiB page only (THPs are split, so reports stay
 * page-exact).  Collect re-protects the logged pages under the same lock
 * the handler takes, so no write slips between "taken" and "re-armed".
 *
 * Never-touched memory (empty ptes carry no write-protection) is caught
 * in one of two ways.  For the calling process the ranges are also
 * registered in MISSING mode and first touches are resolved here (zeros,
 * protected unless the touch is a write); UFFD_FEATURE_WP_UNPOPULATED is
 * avoided there because it fills every empty pte with a marker, a
 * page-table walk over the whole of a sparse reservation (terabytes for an
 * ASan shadow).  For another process MISSING mode would make its untouched
 * pages unreadable through /proc/PID/mem (remote faults on a missing page
 * fail), so markers are used when the kernel has them (>= 6.4), at the
 * cost of that walk; older kernels fall back to MISSING mode.
 * Mapping changes arrive as UNMAP/REMAP/REMOVE events: the affected
 * extents are reported whole, and unmapped holes are re-registered when
 * something is mapped there again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"
#include "uffd_common.h"

#define WANTED_FEATURES (UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP | \
			 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_WP_HUGETLBFS_SHMEM)

struct uffd_priv {
	int uffd;
	int stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t mu;          /* handler vs collect/start/stop */
	uint64_t reg_mode;
	bool armed;
	bool overflow;
	struct ooh_tracker *t;
	struct region_list log;      /* pages taken by the handler */
	struct region_list extents;  /* whole runs to report (events, new VMAs) */
	struct region_list holes;    /* parts of our ranges not registered */
	struct region_list untracked;
	bool markers;                /* WP_UNPOPULATED in use (remote targets) */
	int pagemap_fd;              /* to find populated parts of big VMAs */
	void *zero;                  /* a zero page for UFFDIO_COPY */
	struct uffd_msg *stash;      /* read, not handled yet (see read_msgs) */
	size_t nstash, stash_cap;
	struct region_list deferred; /* faulted pages still to unprotect */
};

static uint64_t supported_features(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	uint64_t got = 0;

	if (fd < 0)
		return 0;
	if (uffd_api(fd, 0, &got))
		got = 0;
	close(fd);
	return got;
}

static int probe(char *reason, size_t len)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0) {
		int err = -errno;
		set_reason(reason, len, "userfaultfd() failed: %s", strerror(errno));
		return err == -ENOSYS ? -EOPNOTSUPP : err;
	}
	close(fd);
	uint64_t f = supported_features();
	if (!(f & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		set_reason(reason, len, "userfaultfd has no write-protect support");
		return -EOPNOTSUPP;
	}
	if ((f & WANTED_FEATURES) != WANTED_FEATURES) {
		set_reason(reason, len, "userfaultfd lacks UNMAP/REMAP/REMOVE events or shmem WP");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int log_page(struct uffd_priv *p, uint64_t addr)
{
	if (region_list_add(&p->log, addr, addr + OOH_PAGE_SIZE)) {
		p->overflow = true; /* cannot remember it: say so */
		return -ENOMEM;
	}
	return 0;
}

static void wake(struct uffd_priv *p, uint64_t addr)
{
	struct uffdio_range r = { .start = addr, .len = OOH_PAGE_SIZE };
	ioctl(p->uffd, UFFDIO_WAKE, &r);
}

/*
 * Lift the protection of a faulted page, which wakes its writer.  While a
 * mapping-change event is unread the kernel refuses (EAGAIN), and only we
 * read events: keep the page for drain() to retry after reading on, never
 * spin here (the event's thread, and so the writer, would wait forever).
 */
static void unprotect_faulted(struct uffd_priv *p, uint64_t addr)
{
	int err = uffd_wp_once(p->uffd, addr, addr + OOH_PAGE_SIZE, false);

	if (err == -EAGAIN && !region_list_add(&p->deferred, addr, addr + OOH_PAGE_SIZE))
		return;
	if (err)
		wake(p, addr); /* it faults again, and we come back here */
}

static void handle_fault(struct uffd_priv *p, const struct uffd_msg *m)
{
	uint64_t addr = m->arg.pagefault.address & OOH_PAGE_MASK;
	uint64_t fl = m->arg.pagefault.flags;

	if (fl & UFFD_PAGEFAULT_FLAG_WP) {
		log_page(p, addr);
		unprotect_faulted(p, addr);
		return;
	}
	/* MISSING: populate with zeros, writable for a write (and logged),
	 * protected for a read. */
	struct uffdio_copy c = {
		.dst = addr, .src = (uintptr_t)p->zero, .len = OOH_PAGE_SIZE,
		.mode = (fl & UFFD_PAGEFAULT_FLAG_WRITE) ? 0 : UFFDIO_COPY_MODE_WP,
	};
	if (fl & UFFD_PAGEFAULT_FLAG_WRITE)
		log_page(p, addr);
	if (ioctl(p->uffd, UFFDIO_COPY, &c) < 0)
		wake(p, addr); /* EEXIST: raced with another fault; retry it */
}

static void add_event_run(struct region_list *l, struct uffd_priv *p, uint64_t s, uint64_t e)
{
	if (ranges_intersect(p->t->ranges, p->t->nr_ranges, s, e) && region_list_add(l, s, e))
		p->overflow = true;
}

static void handle_msg(struct uffd_priv *p, const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		handle_fault(p, m);
		break;
	case UFFD_EVENT_UNMAP:
		add_event_run(&p->holes, p, m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_REMOVE: /* content dropped: zero from now on */
		add_event_run(&p->extents, p, m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_REMAP:
		add_event_run(&p->holes, p, m->arg.remap.from, m->arg.remap.from + m->arg.remap.len);
		add_event_run(&p->extents, p, m->arg.remap.to, m->arg.remap.to + m->arg.remap.len);
		break;
	default:
		break;
	}
}

/*
 * Read what is queued into the stash without handling it: a thread that
 * unmaps or remaps tracked memory waits until its event is read, and
 * until then every write-protect fails with EAGAIN.  Whoever holds mu may
 * be walking the lists a message would change, so the handling waits for
 * drain().  Caller holds mu.
 */
static void read_msgs(struct uffd_priv *p)
{
	for (;;) {
		if (p->stash_cap - p->nstash < 32) {
			size_t cap = p->stash_cap ? p->stash_cap * 2 : 64;
			struct uffd_msg *v = realloc(p->stash, cap * sizeof(*v));
			if (!v) {
				p->overflow = true;
				return;
			}
			p->stash = v;
			p->stash_cap = cap;
		}
		ssize_t n = read(p->uffd, p->stash + p->nstash, 32 * sizeof(*p->stash));
		if (n <= 0)
			return;
		p->nstash += (size_t)n / sizeof(*p->stash);
	}
}

static void retry_deferred(struct uffd_priv *p)
{
	struct region_list again = p->deferred;

	p->deferred = (struct region_list){ 0 };
	for (size_t i = 0; i < again.n; i++)
		unprotect_faulted(p, again.v[i].start);
	region_list_free(&again);
}

/*
 * Handle everything queued on the uffd, and what comes meanwhile, until no
 * faulted page waits for us.  A page refused for an event we have just
 * read is retried once the event's thread has gone on (a moment).  Caller
 * holds mu.
 */
static void drain(struct uffd_priv *p)
{
	for (;;) {
		read_msgs(p);
		size_t n = p->nstash;
		for (size_t i = 0; i < n; i++)
			handle_msg(p, &p->stash[i]);
		p->nstash = 0;
		if (p->deferred.n)
			retry_deferred(p);
		if (p->deferred.n)
			poll(&(struct pollfd){ .fd = p->uffd, .events = POLLIN }, 1, 1);
		else if (!n)
			return;
	}
}

static void *handler_main(void *arg)
{
	struct uffd_priv *p = arg;
	struct pollfd pf[2] = {
		{ .fd = p->uffd, .events = POLLIN },
		{ .fd = p->stop_pipe[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents)
			return NULL;
		if (pf[0].revents & (POLLERR | POLLHUP))
			return NULL;
		pthread_mutex_lock(&p->mu);
		drain(p);
		pthread_mutex_unlock(&p->mu);
	}
}

static int uf_open(struct ooh_tracker *t)
{
	struct uffd_priv *p = calloc(1, sizeof(*p));
	int err;

	/* Self-tracking the whole address space would write-protect the
	 * handler thread's own stack and data: ask for ranges instead. */
	if (t->self && t->whole) {
		free(p);
		return -EINVAL;
	}
	if (!p)
		return -ENOMEM;
	p->t = t;
	p->pagemap_fd = -1;
	p->stop_pipe[0] = p->stop_pipe[1] = -1;
	pthread_mutex_init(&p->mu, NULL);
	p->zero = mmap(NULL, OOH_PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p->uffd = uffd_create(t->pid, t->self);
	if (p->uffd < 0 || p->zero == MAP_FAILED) {
		err = p->uffd < 0 ? p->uffd : -ENOMEM;
		goto fail;
	}
	p->markers = !t->self && (supported_features() & UFFD_FEATURE_WP_UNPOPULATED);
	err = uffd_api(p->uffd, WANTED_FEATURES | (p->markers ? UFFD_FEATURE_WP_UNPOPULATED : 0), NULL);
	if (err)
		goto fail;
	p->reg_mode = UFFDIO_REGISTER_MODE_WP | (p->markers ? 0 : UFFDIO_REGISTER_MODE_MISSING);
	p->pagemap_fd = open_proc(t->pid, "pagemap", O_RDONLY);
	if (pipe2(p->stop_pipe, O_CLOEXEC) < 0) {
		err = -errno;
		goto fail;
	}
	err = -pthread_create(&p->thread, NULL, handler_main, p);
	if (err)
		goto fail;
	t->priv = p;
	return 0;
fail:
	if (p->uffd >= 0)
		close(p->uffd);
	if (p->pagemap_fd >= 0)
		close(p->pagemap_fd);
	if (p->stop_pipe[0] >= 0) {
		close(p->stop_pipe[0]);
		close(p->stop_pipe[1]);
	}
	if (p->zero != MAP_FAILED)
		munmap(p->zero, OOH_PAGE_SIZE);
	pthread_mutex_destroy(&p->mu);
	free(p);
	return err;
}

static void uf_close(struct ooh_tracker *t)
{
	struct uffd_priv *p = t->priv;

	if (write(p->stop_pipe[1], "x", 1) < 0) {
		/* cannot happen with an open pipe; the join below would hang */
	}
	pthread_join(p->thread, NULL);
	close(p->uffd); /* unregisters and wakes any blocked faulter */
	if (p->pagemap_fd >= 0)
		close(p->pagemap_fd);
	close(p->stop_pipe[0]);
	close(p->stop_pipe[1]);
	munmap(p->zero, OOH_PAGE_SIZE);
	region_list_free(&p->log);
	region_list_free(&p->extents);
	region_list_free(&p->holes);
	region_list_free(&p->untracked);
	region_list_free(&p->deferred);
	free(p->stash);
	pthread_mutex_destroy(&p->mu);
	free(p);
	t->priv = NULL;
}

/* l := l minus the runs of sub (both sorted and disjoint). */
static int subtract(struct region_list *l, const struct region_list *sub)
{
	struct region_list out = { 0 };
	int err = 0;

	for (size_t i = 0; i < l->n && !err; i++) {
		uint64_t s = l->v[i].start, e = l->v[i].end;
		for (size_t j = 0; j < sub->n && s < e && !err; j++) {
			const struct ooh_region *x = &sub->v[j];
			if (x->end <= s || x->start >= e)
				continue;
			if (x->start > s)
				err = region_list_add(&out, s, x->start);
			s = x->end;
		}
		if (!err && s < e)
			err = region_list_add(&out, s, e);
	}
	if (err) {
		region_list_free(&out);
		return err;
	}
	free(l->v);
	*l = out;
	return 0;
}

/* Write-protect [s, e), reading (not handling) messages while an unread
 * event makes the kernel refuse; the caller's drain() handles them. */
static int protect_once_read(struct uffd_priv *p, uint64_t s, uint64_t e)
{
	int err;

	while ((err = uffd_wp_once(p->uffd, s, e, true)) == -EAGAIN) {
		read_msgs(p);
		poll(&(struct pollfd){ .fd = p->uffd, .events = POLLIN }, 1, 1);
	}
	return err;
}

/*
 * Write-protect [s, e).  On older kernels (Debian 12's 6.1; later ones
 * loop over VMAs) UFFDIO_WRITEPROTECT works within one VMA and fails with
 * ENOENT for a range that spans several (merged runs of adjacent VMAs do):
 * then it is done VMA by VMA.
 */
static int wp_range(struct uffd_priv *p, uint64_t s, uint64_t e)
{
	struct ooh_region want = { s, e, 0 };
	struct vma *v;
	int err = protect_once_read(p, s, e);

	if (err != -ENOENT)
		return err;
	ssize_t n = read_maps(p->t->pid, &want, 1, &v);
	if (n < 0)
		return (int)n;
	err = 0;
	for (ssize_t i = 0; i < n && !err; i++) {
		uint64_t vs = v[i].start > s ? v[i].start : s, ve = v[i].end < e ? v[i].end : e;
		if (vs < ve)
			err = protect_once_read(p, vs, ve);
	}
	free(v);
	return err;
}

/*
 * Write-protect a newly registered run.  With markers, a big anonymous VMA
 * (registered in MISSING mode too, see uffd_register_vmas) is protected
 * only where populated, found with PAGEMAP_SCAN when the kernel has it.
 */
static int protect_run(struct uffd_priv *p, uint64_t s, uint64_t e)
{
	if (!p->markers || e - s < UFFD_BIG_VMA || p->pagemap_fd < 0)
		return wp_range(p, s, e);
	struct page_region vec[256];
	uint64_t pos = s;
	while (pos < e) {
		struct pm_scan_arg a = {
			.size = sizeof(a), .start = pos, .end = e,
			.vec = (uintptr_t)vec, .vec_len = 256,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		};
		long n = ioctl(p->pagemap_fd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return wp_range(p, s, e); /* no PAGEMAP_SCAN: walk it all */
		for (long i = 0; i < n; i++) {
			int err = wp_range(p, vec[i].start, vec[i].end);
			if (err)
				return err;
		}
		if (a.walk_end <= pos)
			break;
		pos = a.walk_end;
	}
	return 0;
}

/*
 * Register and protect whatever is mapped in the holes now; report it whole.
 * Caller holds mu.
 */
static int fill_holes(struct uffd_priv *p, bool report)
{
	struct region_list newly = { 0 };
	int err = 0;

	region_list_normalize(&p->holes);
	for (size_t i = 0; i < p->holes.n && !err; i++)
		err = uffd_register_vmas(p->uffd, p->t->pid, p->holes.v[i].start, p->holes.v[i].end,
					 p->reg_mode,
					 p->markers ? UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING : 0,
					 NULL, &p->untracked, &newly);
	region_list_normalize(&newly);
	region_list_normalize(&p->untracked);
	for (size_t i = 0; i < newly.n && !err; i++) {
		err = protect_run(p, newly.v[i].start, newly.v[i].end);
		/* Unmapped again since it was registered: its UNMAP event makes
		 * it a hole again, and it is reported whole below anyway. */
		if (err == -ENOENT)
			err = 0;
		if (!err && report)
			err = region_list_add(&p->extents, newly.v[i].start, newly.v[i].end);
	}
	if (!err)
		err = subtract(&p->holes, &newly);
	if (!err)
		err = subtract(&p->holes, &p->untracked);
	region_list_free(&newly);
	return err;
}

static int uf_start(struct ooh_tracker *t)
{
	struct uffd_priv *p = t->priv;
	int err = 0;

	pthread_mutex_lock(&p->mu);
	drain(p);
	p->log.n = p->extents.n = p->holes.n = p->untracked.n = 0;
	p->overflow = false;
	for (size_t i = 0; i < t->nr_ranges && !err; i++)
		err = region_list_add(&p->holes, t->ranges[i].start, t->ranges[i].end);
	if (!err)
		err = fill_holes(p, false);
	p->extents.n = 0;
	p->armed = !err;
	drain(p); /* what protecting read meanwhile: the new interval's */
	pthread_mutex_unlock(&p->mu);
	return err;
}

static int uf_stop(struct ooh_tracker *t)
{
	struct uffd_priv *p = t->priv;
	struct vma *v;
	ssize_t n;

	pthread_mutex_lock(&p->mu);
	n = read_maps(t->pid, t->ranges, t->nr_ranges, &v);
	for (ssize_t i = 0; i < n; i++)
		for (size_t k = 0; k < t->nr_ranges; k++) {
			uint64_t s = v[i].start > t->ranges[k].start ? v[i].start : t->ranges[k].start;
			uint64_t e = v[i].end < t->ranges[k].end ? v[i].end : t->ranges[k].end;
			if (s < e)
				uffd_unregister(p->uffd, s, e); /* lifts protection, wakes */
		}
	if (n > 0)
		free(v);
	drain(p);
	p->armed = false;
	pthread_mutex_unlock(&p->mu);
	return n < 0 ? (int)n : 0;
}

static int uf_snapshot(struct ooh_tracker *t, bool rearm, struct region_list *out, uint32_t *rflags)
{
	struct uffd_priv *p = t->priv;
	int err = 0;

	pthread_mutex_lock(&p->mu);
	drain(p); /* events and faults already queued belong to this interval */
	if (p->holes.n)
		err = fill_holes(p, true);
	region_list_normalize(&p->log);
	region_list_normalize(&p->extents);
	for (size_t i = 0; i < p->log.n && !err; i++)
		err = region_list_add(out, p->log.v[i].start, p->log.v[i].end);
	for (size_t i = 0; i < p->extents.n && !err; i++)
		err = region_list_add(out, p->extents.v[i].start, p->extents.v[i].end);
	for (size_t i = 0; i < p->untracked.n && !err; i++)
		err = region_list_add(out, p->untracked.v[i].start, p->untracked.v[i].end);
	if (p->overflow)
		*rflags |= OOH_RESULT_OVERFLOW;
	if (!err && rearm) {
		/* Re-protect before anyone can write again: faulters wait on mu.
		 * A run that could not be protected again (unmapped meanwhile is
		 * fine: ENOENT after the per-VMA retry means nothing is left to
		 * protect) would miss its next writes: say so next time. */
		bool lost = false;
		for (size_t i = 0; i < p->log.n; i++) {
			int e = wp_range(p, p->log.v[i].start, p->log.v[i].end);
			lost |= e && e != -ENOENT;
		}
		for (size_t i = 0; i < p->extents.n; i++) {
			int e = wp_range(p, p->extents.v[i].start, p->extents.v[i].end);
			lost |= e && e != -ENOENT;
		}
		p->log.n = p->extents.n = 0;
		p->overflow = lost;
	}
	drain(p); /* what re-protecting read meanwhile: the next interval's */
	pthread_mutex_unlock(&p->mu);
	return err;
}

const struct backend_ops ooh_backend_uffd = {
	.id = OOH_BACKEND_UFFD,
	.name = "uffd",
	.caps = OOH_CAP_SELF | OOH_CAP_REMOTE | OOH_CAP_WHOLE | OOH_CAP_ATOMIC_REARM | OOH_CAP_PAGE_EXACT |
		OOH_CAP_MAPPING_CHANGES,
	.probe = probe,
	.open = uf_open,
	.close = uf_close,
	.start = uf_start,
	.stop = uf_stop,
	.snapshot = uf_snapshot,
};
