/* SPDX-License-Identifier: MIT */
/* Region lists, /proc parsing, small helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

int region_list_reserve(struct region_list *l, size_t cap)
{
	if (cap <= l->cap)
		return 0;
	size_t ncap = l->cap ? l->cap : 64;
	while (ncap < cap)
		ncap *= 2;
	struct ooh_region *v = realloc(l->v, ncap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->cap = ncap;
	return 0;
}

int region_list_add(struct region_list *l, uint64_t start, uint64_t end)
{
	if (start >= end)
		return 0;
	if (l->n && l->v[l->n - 1].end == start) { /* common case: extend */
		l->v[l->n - 1].end = end;
		return 0;
	}
	int err = region_list_reserve(l, l->n + 1);
	if (err)
		return err;
	l->v[l->n++] = (struct ooh_region){ start, end, 0 };
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct ooh_region *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

void region_list_normalize(struct region_list *l)
{
	bool sorted = true;
	for (size_t i = 1; i < l->n && sorted; i++)
		sorted = l->v[i].start >= l->v[i - 1].end;
	if (sorted)
		return; /* the usual case: touching runs are fine for hand-out */
	qsort(l->v, l->n, sizeof(*l->v), cmp_start);
	size_t o = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (o && l->v[i].start <= l->v[o - 1].end) {
			if (l->v[i].end > l->v[o - 1].end)
				l->v[o - 1].end = l->v[i].end;
		} else {
			l->v[o++] = l->v[i];
		}
	}
	l->n = o;
}

void region_list_clip(struct region_list *l, const struct ooh_region *r, size_t n)
{
	/* Fast path: everything inside one range (the usual case). */
	if (!l->n)
		return;
	for (size_t k = 0; k < n; k++)
		if (l->v[0].start >= r[k].start && l->v[l->n - 1].end <= r[k].end)
			return;

	struct region_list out = { 0 };
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		while (k < n && r[k].end <= l->v[i].start)
			k++;
		for (size_t j = k; j < n && r[j].start < l->v[i].end; j++) {
			uint64_t s = l->v[i].start > r[j].start ? l->v[i].start : r[j].start;
			uint64_t e = l->v[i].end < r[j].end ? l->v[i].end : r[j].end;
			if (region_list_add(&out, s, e))
				return; /* out of memory: keep the unclipped superset */
		}
	}
	free(l->v);
	*l = out;
}

void region_list_free(struct region_list *l)
{
	free(l->v);
	*l = (struct region_list){ 0 };
}

bool ranges_intersect(const struct ooh_region *r, size_t n, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].start < end && start < r[i].end)
			return true;
	return false;
}

int open_proc(pid_t pid, const char *file, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * One line of /proc/PID/maps, "START-END PERMS OFFSET DEV INODE [NAME]",
 * into *m; false if it is not one.  Parsed by hand: sscanf and stdio cost
 * about a millisecond per read of a small process's maps in the nested rig
 * (7 ms the first time), and softdirty/uffd/pagemap read it at every collect.
 */
static bool parse_maps_line(char *line, struct vma *m)
{
	char *p = line, *e;

	memset(m, 0, sizeof(*m));
	m->start = strtoull(p, &e, 16);
	if (e == p || *e != '-')
		return false;
	p = e + 1;
	m->end = strtoull(p, &e, 16);
	if (e == p || *e != ' ' || strnlen(e + 1, 4) < 4)
		return false;
	p = e + 1;
	m->read = p[0] == 'r';
	m->write = p[1] == 'w';
	m->exec = p[2] == 'x';
	m->shared = p[3] == 's';
	/* PERMS OFFSET MAJOR:MINOR INODE [NAME] */
	p = strchr(p, ' ');
	if (!p)
		return false;
	m->offset = strtoull(p + 1, &e, 16);
	if (e == p + 1 || *e != ' ')
		return false;
	p = e + 1;
	uint64_t major = strtoull(p, &e, 16);
	if (e == p || *e != ':')
		return false;
	p = e + 1;
	uint64_t minor = strtoull(p, &e, 16);
	if (e == p || *e != ' ')
		return false;
	m->dev = major << 32 | minor;
	p = e + 1;
	m->ino = strtoull(p, &e, 10);
	if (e == p)
		return false;
	p = strchr(e, ' ');
	while (p && *p == ' ')
		p++;
	const char *name = p ? p : "";
	m->anon = name[0] != '/';
	snprintf(m->name, sizeof(m->name), "%s", name);
	return true;
}

ssize_t read_maps(pid_t pid, const struct ooh_region *r, size_t nr, struct vma **out)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	ssize_t n = read_maps_fd(fd, r, nr, out);
	close(fd);
	return n;
}

ssize_t read_maps_fd(int fd, const struct ooh_region *r, size_t nr, struct vma **out)
{
	/* A fixed buffer, lines carried over between reads: little memory,
	 * which matters when the process is out of VMAs and cannot mmap. */
	char buf[8192];
	size_t len = 0, n = 0, cap = 0;
	struct vma *v = NULL, m;
	bool eof = false, skip = false;
	int err = 0;
	while (!eof && !err) {
		ssize_t got = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			break;
		}
		eof = got == 0;
		len += (size_t)got;
		buf[len] = '\0';
		char *line = buf;
		for (;;) {
			char *nl = memchr(line, '\n', (size_t)(buf + len - line));
			bool last = !nl && eof && line < buf + len;
			bool full = !nl && line == buf && len == sizeof(buf) - 1;
			if (!nl && !last && !full)
				break;
			/* an overlong line (a long path): its start, then skip the rest */
			if (nl)
				*nl = '\0';
			bool take = !skip && parse_maps_line(line, &m) && (!r || ranges_intersect(r, nr, m.start, m.end));
			skip = full;
			line = nl ? nl + 1 : buf + len;
			if (take) {
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					struct vma *nv = realloc(v, cap * sizeof(*v));
					if (!nv) {
						err = -ENOMEM;
						break;
					}
					v = nv;
				}
				v[n++] = m;
			}
			if (!nl)
				break;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
	}
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	return (ssize_t)n;
}

int write_file_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t len = (ssize_t)strlen(s);
	ssize_t w = write(fd, s, (size_t)len);
	int err = w == len ? 0 : (w < 0 ? -errno : -EIO);
	close(fd);
	return err;
}

int proc_thread_count(pid_t pid)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	int n = -ESRCH;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

int pidfd_open_compat(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : (int)fd;
}

void set_reason(char *reason, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!reason || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, len, fmt, ap);
	va_end(ap);
}
