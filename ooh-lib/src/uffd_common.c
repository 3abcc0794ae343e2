/* SPDX-License-Identifier: MIT */
/* Creating a userfaultfd for the target (self or, via ptrace, another pid). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "kabi.h"
#include "uffd_common.h"

int uffd_create(pid_t pid, bool self)
{
	/* Without UFFD_USER_MODE_ONLY, kernel-mode writes (read(2) into a
	 * tracked buffer) are tracked too; that needs privilege, so fall back. */
	const int base = O_CLOEXEC | O_NONBLOCK;
	int fd;

	if (self) {
		fd = (int)syscall(SYS_userfaultfd, base);
		if (fd < 0)
			fd = (int)syscall(SYS_userfaultfd, base | UFFD_USER_MODE_ONLY);
		return fd < 0 ? -errno : fd;
	}
	fd = remote_userfaultfd(pid, base);
	if (fd < 0 && fd != -ESRCH)
		fd = remote_userfaultfd(pid, base | UFFD_USER_MODE_ONLY);
	return fd;
}

int uffd_api(int fd, uint64_t want, uint64_t *got)
{
	struct uffdio_api api = { .api = UFFD_API, .features = want };

	if (ioctl(fd, UFFDIO_API, &api) < 0)
		return -errno;
	if (got)
		*got = api.features;
	return 0;
}

int uffd_register(int fd, uint64_t start, uint64_t end, uint64_t mode)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = end - start },
		.mode = mode,
	};
	return ioctl(fd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

int uffd_unregister(int fd, uint64_t start, uint64_t end)
{
	struct uffdio_range r = { .start = start, .len = end - start };
	return ioctl(fd, UFFDIO_UNREGISTER, &r) < 0 ? -errno : 0;
}

int uffd_wp_once(int fd, uint64_t start, uint64_t end, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = end - start },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	for (;;) {
		if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int uffd_wp(int fd, uint64_t start, uint64_t end, bool protect)
{
	int err;

	while ((err = uffd_wp_once(fd, start, end, protect)) == -EAGAIN)
		;
	return err;
}

/* Register every VMA of pid overlapping [start, end); VMAs that cannot be
 * registered are added to skipped (non-writable) or untracked (writable). */
int uffd_register_vmas(int fd, pid_t pid, uint64_t start, uint64_t end, uint64_t mode,
		       uint64_t big_mode, struct region_list *skipped, struct region_list *untracked,
		       struct region_list *newly)
{
	struct vma *v;
	struct ooh_region want = { start, end, 0 };
	ssize_t n = read_maps(pid, &want, 1, &v);
	int err = 0;

	if (n < 0)
		return (int)n;
	for (ssize_t i = 0; i < n && !err; i++) {
		uint64_t s = v[i].start > start ? v[i].start : start;
		uint64_t e = v[i].end < end ? v[i].end : end;
		if (s >= e)
			continue;
		uint64_t m = mode;
		if (big_mode && v[i].end - v[i].start >= UFFD_BIG_VMA && v[i].anon && !v[i].shared)
			m = big_mode;
		/* MISSING mode only exists for anonymous, shmem and hugetlbfs
		 * memory: elsewhere fall back to write-protect alone. */
		if (uffd_register(fd, s, e, m) == 0 ||
		    ((m & UFFDIO_REGISTER_MODE_MISSING) &&
		     uffd_register(fd, s, e, m & ~(uint64_t)UFFDIO_REGISTER_MODE_MISSING) == 0)) {
			if (newly)
				err = region_list_add(newly, s, e);
		} else if (v[i].write) {
			if (untracked)
				err = region_list_add(untracked, s, e);
		} else if (skipped) {
			err = region_list_add(skipped, s, e);
		}
	}
	free(v);
	return err;
}
