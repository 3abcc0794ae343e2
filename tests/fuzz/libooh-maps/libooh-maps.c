// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: libooh's /proc/PID/maps reader (ooh-lib/src/util.c,
 * read_maps_fd and the line parser it calls), fed through a memfd so the
 * reader's own buffering (8 KiB reads, lines carried over, overlong lines
 * skipped) runs as it does on /proc. Checked after each input: the count
 * is bounded by the lines, names are NUL-terminated and anon agrees with
 * them, and a range filter keeps only VMAs that intersect its ranges.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static int maps_fd(const uint8_t *data, size_t size)
{
	static int fd = -1;

	if (fd < 0)
		fd = memfd_create("fuzz-maps", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

static void check_vmas(const struct vma *v, ssize_t n, size_t lines)
{
	CHECK(n >= 0 && (size_t)n <= lines);
	for (ssize_t i = 0; i < n; i++) {
		CHECK(memchr(v[i].name, '\0', sizeof(v[i].name)) != NULL);
		CHECK(v[i].anon == (v[i].name[0] != '/'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A few ranges: low pages, a typical heap, the top of user space. */
	static const struct ooh_region ranges[] = {
		{ 0x1000, 0x10000, 0 },
		{ 0x555555554000, 0x555555600000, 0 },
		{ 0x7ffff7f00000, OOH_USER_END, 0 },
	};
	size_t lines = 1;
	struct vma *all = NULL, *some = NULL;
	ssize_t n, m;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	n = read_maps_fd(maps_fd(data, size), NULL, 0, &all);
	check_vmas(all, n, lines);
	m = read_maps_fd(maps_fd(data, size), ranges, 3, &some);
	check_vmas(some, m, lines);
	CHECK(m <= n);
	for (ssize_t i = 0; i < m; i++)
		CHECK(ranges_intersect(ranges, 3, some[i].start, some[i].end));
	free(all);
	free(some);
	return 0;
}
