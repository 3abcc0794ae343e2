// SPDX-License-Identifier: MIT
/*
 * Cache of decompressed kernels (see kernel-cache.h). A cached file is only
 * used if it is a regular file owned by the caller's effective uid, in a
 * directory we create 0700; its content is still checked by the loader
 * like any kernel image. The key is the image's size, CRC-32 and Adler-32
 * (zlib: fast, and zlib is linked already): a cache, not a signature.
 */
#include "kernel-cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

int l0_kernel_cache_default_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg && xdg[0] == '/')
		n = snprintf(buf, len, "%s/ooh-l0", xdg);
	else if (home && home[0] == '/')
		n = snprintf(buf, len, "%s/.cache/ooh-l0", home);
	else
		return -1;
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* zlib's checksums take uInt lengths: feed them in chunks. */
static void checksums(const uint8_t *data, size_t size, uint32_t *crc, uint32_t *adler)
{
	uLong c = crc32(0, Z_NULL, 0), a = adler32(0, Z_NULL, 0);

	while (size) {
		uInt chunk = size > (1u << 30) ? (1u << 30) : (uInt)size;

		c = crc32(c, data, chunk);
		a = adler32(a, data, chunk);
		data += chunk;
		size -= chunk;
	}
	*crc = (uint32_t)c;
	*adler = (uint32_t)a;
}

void l0_kernel_cache_key(const uint8_t *image, size_t size, char *buf, size_t len)
{
	uint32_t crc, adler;

	checksums(image, size, &crc, &adler);
	snprintf(buf, len, "vmlinux-%zu-%08x%08x", size, crc, adler);
}

static int cache_path(const char *dir, const uint8_t *image, size_t size, char *path, size_t len)
{
	char key[64];
	int n;

	l0_kernel_cache_key(image, size, key, sizeof(key));
	n = snprintf(path, len, "%s/%s", dir, key);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

int l0_kernel_cache_get(const char *dir, const uint8_t *image, size_t size,
			const uint8_t **data, size_t *data_size)
{
	char path[PATH_MAX];
	struct stat st;
	void *p;
	int fd;

	*data = NULL;
	*data_size = 0;
	if (cache_path(dir, image, size, path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size <= 0) {
		close(fd);
		return -1;
	}
	/* Populated: the loader copies all of it into guest RAM at once. */
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	*data = p;
	*data_size = (size_t)st.st_size;
	return 0;
}

/* mkdir -p for the last two components ($HOME/.cache/ooh-l0), 0700. */
static int make_dir(const char *dir)
{
	char parent[PATH_MAX];
	char *slash;

	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT || strlen(dir) >= sizeof(parent))
		return -1;
	strcpy(parent, dir);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return -1;
	*slash = '\0';
	if (mkdir(parent, 0700) != 0 && errno != EEXIST)
		return -1;
	return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int l0_kernel_cache_put(const char *dir, const uint8_t *image, size_t size,
			const uint8_t *data, size_t data_size)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t done = 0;
	int fd, n, saved;

	if (make_dir(dir) != 0 || cache_path(dir, image, size, path, sizeof(path)) != 0)
		return -1;
	n = snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
	if (n <= 0 || (size_t)n >= sizeof(tmp))
		return -1;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (done < data_size) {
		ssize_t w = write(fd, data + done, data_size - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		done += (size_t)w;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return 0;
fail:
	saved = errno ? errno : EIO;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}
