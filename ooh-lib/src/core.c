/* SPDX-License-Identifier: MIT */
/* Handle registry, argument checking, interval hand-out with continuation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <poll.h>
#include <fcntl.h>

#include "internal.h"

static const struct backend_ops *const backends[OOH_BACKEND_MAX + 1] = {
	[OOH_BACKEND_PAGEMAP] = &ooh_backend_pagemap,
	[OOH_BACKEND_SOFTDIRTY] = &ooh_backend_softdirty,
	[OOH_BACKEND_UFFD] = &ooh_backend_uffd,
	[OOH_BACKEND_MPROTECT] = &ooh_backend_mprotect,
	[OOH_BACKEND_OOH_SPML] = &ooh_backend_ooh_spml,
	[OOH_BACKEND_OOH_EPML] = &ooh_backend_ooh_epml,
};

/* Order tried by OOH_BACKEND_AUTO: cheapest per write and per collect first. */
static const enum ooh_backend auto_order[] = {
	OOH_BACKEND_PAGEMAP, OOH_BACKEND_SOFTDIRTY, OOH_BACKEND_UFFD, OOH_BACKEND_MPROTECT,
};

unsigned ooh_version(void)
{
	return OOH_VERSION;
}

const char *ooh_backend_name(enum ooh_backend b)
{
	if (b == OOH_BACKEND_AUTO)
		return "auto";
	if ((unsigned)b > OOH_BACKEND_MAX || !backends[b])
		return NULL;
	return backends[b]->name;
}

int ooh_backend_from_name(const char *name)
{
	if (!name)
		return -EINVAL;
	for (int b = 0; b <= OOH_BACKEND_MAX; b++) {
		const char *n = ooh_backend_name((enum ooh_backend)b);
		if (n && !strcmp(n, name))
			return b;
	}
	return -EINVAL;
}

int ooh_probe(enum ooh_backend b, struct ooh_backend_info *info)
{
	if (!info || (unsigned)b > OOH_BACKEND_MAX || !backends[b])
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->backend = b;
	info->caps = backends[b]->caps;
	info->status = backends[b]->probe(info->reason, sizeof(info->reason));
	if (!info->status)
		info->reason[0] = '\0';
	return 0;
}

const char *ooh_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EBADF: return "invalid or closed tracker handle";
	case -EINVAL: return "invalid argument (ranges, flags, state or backend request)";
	case -ESRCH: return "no such process (or it exited)";
	case -EPERM: return "not permitted to track that process";
	case -EACCES: return "access to the target's /proc files denied";
	case -EOPNOTSUPP: return "backend not usable on this kernel (see ooh backends)";
	case -ENOSYS: return "not implemented yet";
	case -ENOMEM: return "out of memory";
	case -EBUSY: return "range already tracked by another tracker";
	case -EFAULT: return "range not mapped in the target";
	default: break;
	}
	if (err < 0)
		return strerror(-err);
	return "not an error code";
}

/* ---- handle registry: lets every call reject closed handles safely ---- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registry_cond = PTHREAD_COND_INITIALIZER;
static struct ooh_tracker *registry;

/* Find a live handle and pin it; NULL if closed or unknown. */
static struct ooh_tracker *tracker_get(ooh_tracker *handle)
{
	struct ooh_tracker *t;

	pthread_mutex_lock(&registry_lock);
	for (t = registry; t; t = t->next)
		if (t == handle && !t->closing)
			break;
	if (t)
		t->users++;
	pthread_mutex_unlock(&registry_lock);
	if (t)
		pthread_mutex_lock(&t->lock);
	return t;
}

static void tracker_put(struct ooh_tracker *t)
{
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&registry_lock);
	if (--t->users == 0 && t->closing)
		pthread_cond_broadcast(&registry_cond);
	pthread_mutex_unlock(&registry_lock);
}

/* ---- open ---- */

static int cmp_region(const void *a, const void *b)
{
	const struct ooh_region *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int copy_ranges(struct ooh_tracker *t, const struct ooh_open_opts *o)
{
	if (!o->ranges || !o->nr_ranges) {
		if (o->ranges || o->nr_ranges)
			return -EINVAL;
		t->whole = true;
		t->ranges = calloc(1, sizeof(*t->ranges));
		if (!t->ranges)
			return -ENOMEM;
		t->ranges[0].start = OOH_PAGE_SIZE;
		t->ranges[0].end = OOH_USER_END;
		t->nr_ranges = 1;
		return 0;
	}
	if (o->nr_ranges > (1u << 20))
		return -EINVAL;
	t->ranges = calloc(o->nr_ranges, sizeof(*t->ranges));
	if (!t->ranges)
		return -ENOMEM;
	for (size_t i = 0; i < o->nr_ranges; i++) {
		uint64_t s = o->ranges[i].start, l = o->ranges[i].len;
		if (!l || (s | l) & ~OOH_PAGE_MASK || s + l < s || s + l > OOH_USER_END || !s)
			return -EINVAL;
		t->ranges[i].start = s;
		t->ranges[i].end = s + l;
	}
	qsort(t->ranges, o->nr_ranges, sizeof(*t->ranges), cmp_region);
	for (size_t i = 1; i < o->nr_ranges; i++)
		if (t->ranges[i].start < t->ranges[i - 1].end)
			return -EINVAL; /* overlapping ranges: ambiguous request */
	t->nr_ranges = o->nr_ranges;
	return 0;
}

static int check_target(pid_t pid)
{
	if (pid < 0)
		return -ESRCH;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return -ESRCH;
	/* Tracking needs ptrace-read access to the target's memory maps. */
	int fd = open_proc(pid, "pagemap", 0);
	if (fd < 0)
		return fd == -ENOENT ? -ESRCH : fd;
	close(fd);
	return 0;
}

static void tracker_free(struct ooh_tracker *t)
{
	if (t->pidfd >= 0)
		close(t->pidfd);
	if (t->mm_fd >= 0)
		close(t->mm_fd);
	region_list_free(&t->pending);
	region_list_free(&t->forced);
	free(t->ranges);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static int try_open(struct ooh_tracker *t, const struct backend_ops *ops)
{
	if (!(ops->caps & (t->self ? OOH_CAP_SELF : OOH_CAP_REMOTE)))
		return -EINVAL;
	if (t->whole && !(ops->caps & OOH_CAP_WHOLE))
		return -EINVAL;
	char reason[160];
	int err = ops->probe(reason, sizeof(reason));
	if (err)
		return -EOPNOTSUPP;
	t->ops = ops;
	err = ops->open(t);
	if (err)
		t->ops = NULL;
	return err;
}

int ooh_open(const struct ooh_open_opts *o, ooh_tracker **out)
{
	struct ooh_tracker *t;
	int err;

	if (!o || !out || o->size < sizeof(*o) || (unsigned)o->backend > OOH_BACKEND_MAX ||
	    (o->flags & ~OOH_OPEN_START))
		return -EINVAL;
	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->pidfd = t->mm_fd = -1;
	t->self = o->pid == 0 || o->pid == getpid();
	t->pid = t->self ? getpid() : o->pid;
	err = copy_ranges(t, o);
	if (!err)
		err = check_target(t->pid);
	if (!err && !t->self) {
		/* Holds on to this process, not to a pid that may be reused. */
		t->pidfd = pidfd_open_compat(t->pid);
		if (t->pidfd < 0)
			err = t->pidfd;
		t->mm_fd = open_proc(t->pid, "pagemap", O_RDONLY);
		if (!err && t->mm_fd < 0)
			err = t->mm_fd == -ENOENT ? -ESRCH : t->mm_fd;
	}
	if (err)
		goto fail;

	if (o->backend != OOH_BACKEND_AUTO) {
		if (!backends[o->backend]) {
			err = -EINVAL;
			goto fail;
		}
		err = try_open(t, backends[o->backend]);
	} else {
		err = -EOPNOTSUPP;
		for (size_t i = 0; i < sizeof(auto_order) / sizeof(auto_order[0]); i++) {
			int e = try_open(t, backends[auto_order[i]]);
			if (!e) {
				err = 0;
				break;
			}
			/* Report the most telling failure: a real error beats "unsupported". */
			if (e != -EOPNOTSUPP && e != -EINVAL)
				err = e;
		}
	}
	if (err)
		goto fail;

	if (o->flags & OOH_OPEN_START) {
		err = t->ops->start(t);
		if (err) {
			t->ops->close(t);
			goto fail;
		}
		t->started = true;
	}
	pthread_mutex_lock(&registry_lock);
	t->next = registry;
	registry = t;
	pthread_mutex_unlock(&registry_lock);
	*out = t;
	return 0;
fail:
	tracker_free(t);
	return err;
}

int ooh_close(ooh_tracker *handle)
{
	struct ooh_tracker *t, **pp;

	pthread_mutex_lock(&registry_lock);
	for (pp = &registry; (t = *pp); pp = &t->next)
		if (t == handle && !t->closing)
			break;
	if (!t) {
		pthread_mutex_unlock(&registry_lock);
		return -EBADF;
	}
	t->closing = true;
	*pp = t->next;
	while (t->users)
		pthread_cond_wait(&registry_cond, &registry_lock);
	pthread_mutex_unlock(&registry_lock);

	if (t->started)
		t->ops->stop(t);
	t->ops->close(t);
	tracker_free(t);
	return 0;
}

static void end_interval(struct ooh_tracker *t)
{
	t->in_interval = false;
	t->pending.n = 0;
	t->pending_idx = 0;
}

int ooh_start(ooh_tracker *handle)
{
	struct ooh_tracker *t = tracker_get(handle);
	int err;

	if (!t)
		return -EBADF;
	end_interval(t);
	err = t->ops->start(t);
	t->started = !err;
	if (!err)
		t->forced.n = 0; /* everything clean from now on */
	tracker_put(t);
	return err;
}

int ooh_stop(ooh_tracker *handle)
{
	struct ooh_tracker *t = tracker_get(handle);
	int err = -EINVAL;

	if (!t)
		return -EBADF;
	if (t->started) {
		end_interval(t);
		err = t->ops->stop(t);
		t->started = false;
	}
	tracker_put(t);
	return err;
}

int ooh_mark_dirty(ooh_tracker *handle, const struct ooh_range *ranges, size_t nr_ranges)
{
	struct region_list l = { 0 }, fresh = { 0 };
	struct ooh_tracker *t;
	int err = 0;

	if (!ranges || !nr_ranges)
		return nr_ranges || ranges ? -EINVAL : 0;
	for (size_t i = 0; i < nr_ranges; i++)
		if (!ranges[i].len || (ranges[i].start | ranges[i].len) % OOH_PAGE_SIZE ||
		    ranges[i].start + ranges[i].len < ranges[i].start)
			return -EINVAL;
	t = tracker_get(handle);
	if (!t)
		return -EBADF;
	if (!t->started) {
		err = -EINVAL;
		goto out;
	}
	for (size_t i = 0; !err && i < nr_ranges; i++)
		err = region_list_add(&l, ranges[i].start, ranges[i].start + ranges[i].len);
	if (err)
		goto out;
	region_list_normalize(&l);
	region_list_clip(&l, t->ranges, t->nr_ranges);
	/* Only what is not marked yet needs the backend (both lists sorted). */
	size_t k = 0;
	for (size_t i = 0; !err && i < l.n; i++) {
		uint64_t a = l.v[i].start;
		while (!err && a < l.v[i].end) {
			while (k < t->forced.n && t->forced.v[k].end <= a)
				k++;
			if (k < t->forced.n && t->forced.v[k].start <= a) {
				a = t->forced.v[k].end;
				continue;
			}
			uint64_t e = k < t->forced.n && t->forced.v[k].start < l.v[i].end ?
					     t->forced.v[k].start : l.v[i].end;
			err = region_list_add(&fresh, a, e);
			a = e;
		}
	}
	/* Record first: whatever the backend does, the pages are reported. */
	for (size_t i = 0; !err && i < fresh.n; i++)
		err = region_list_add(&t->forced, fresh.v[i].start, fresh.v[i].end);
	if (!err && fresh.n) {
		region_list_normalize(&t->forced);
		if (t->ops->unwatch)
			err = t->ops->unwatch(t, &fresh);
	}
out:
	region_list_free(&l);
	region_list_free(&fresh);
	tracker_put(t);
	return err;
}

int ooh_tracker_backend(ooh_tracker *handle)
{
	struct ooh_tracker *t = tracker_get(handle);
	int b;

	if (!t)
		return -EBADF;
	b = t->ops->id;
	tracker_put(t);
	return b;
}

int ooh_tracker_caps(ooh_tracker *handle)
{
	struct ooh_tracker *t = tracker_get(handle);
	int caps;

	if (!t)
		return -EBADF;
	caps = (int)t->ops->caps;
	tracker_put(t);
	return caps;
}

/* Hand out pages from the pending list, ascending. */
static size_t deliver(struct ooh_tracker *t, uint64_t *pages, size_t cap)
{
	size_t n = 0;

	while (n < cap && t->pending_idx < t->pending.n) {
		struct ooh_region *r = &t->pending.v[t->pending_idx];
		uint64_t a = t->pending_next;

		while (n < cap && a < r->end) {
			pages[n++] = a;
			a += OOH_PAGE_SIZE;
		}
		if (a >= r->end) {
			t->pending_idx++;
			if (t->pending_idx < t->pending.n)
				t->pending_next = t->pending.v[t->pending_idx].start;
		} else {
			t->pending_next = a;
		}
	}
	return n;
}

int ooh_collect(ooh_tracker *handle, uint64_t *pages, size_t cap, unsigned flags,
		struct ooh_collect_result *res)
{
	struct ooh_tracker *t;
	int err = 0;

	if (!res || (!pages && cap) || !cap ||
	    (flags & ~(OOH_COLLECT_REARM | OOH_COLLECT_FROZEN | OOH_COLLECT_KEEP_MARKED |
		       OOH_COLLECT_JOINED)))
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	t = tracker_get(handle);
	if (!t)
		return -EBADF;
	if (!t->started) {
		err = -EINVAL;
		goto out;
	}
	if (t->in_interval && flags != t->interval_flags) {
		err = -EINVAL;
		goto out;
	}
	if (!t->in_interval) {
		uint32_t rflags = 0;
		struct pollfd pf = { .fd = t->pidfd, .events = POLLIN };

		uint64_t entry;

		if (t->pidfd >= 0 && poll(&pf, 1, 0) > 0) {
			err = -ESRCH; /* exited: whatever we would read is stale */
			goto out;
		}
		/* After an execve the tracked address space is gone (a pagemap
		 * file opened before reads as empty): say so, never "clean". */
		if (t->mm_fd >= 0 && pread(t->mm_fd, &entry, sizeof(entry), 0) != sizeof(entry)) {
			err = -ESRCH;
			goto out;
		}

		t->pending.n = 0;
		t->collect_flags = flags;
		err = t->ops->snapshot(t, flags & OOH_COLLECT_REARM, &t->pending, &rflags);
		t->collect_flags = 0;
		for (size_t i = 0; !err && i < t->forced.n; i++)
			err = region_list_add(&t->pending, t->forced.v[i].start, t->forced.v[i].end);
		if (err)
			goto out;
		if ((flags & OOH_COLLECT_REARM) && !(flags & OOH_COLLECT_KEEP_MARKED))
			t->forced.n = 0; /* taken: tracked as usual from now on */
		region_list_normalize(&t->pending);
		region_list_clip(&t->pending, t->ranges, t->nr_ranges);
		t->in_interval = true;
		t->interval_flags = flags;
		t->interval_result = rflags;
		t->pending_idx = 0;
		t->pending_next = t->pending.n ? t->pending.v[0].start : 0;
	}
	res->count = deliver(t, pages, cap);
	res->flags = t->interval_result;
	if (t->pending_idx < t->pending.n)
		res->flags |= OOH_RESULT_MORE;
	else
		end_interval(t);
out:
	tracker_put(t);
	return err;
}
