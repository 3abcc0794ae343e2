/* SPDX-License-Identifier: MIT */
/*
 * Cache of decompressed kernels: a bzImage's vmlinux, stored once per
 * distinct image (keyed by its size and two checksums of its bytes), so a
 * VMM booting the same bzImage again skips the decompression (seconds
 * when the VMM itself runs under emulation).
 */
#ifndef L0_KERNEL_CACHE_H
#define L0_KERNEL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes $XDG_CACHE_HOME/ooh-l0 or $HOME/.cache/ooh-l0; -1 if neither is set. */
int l0_kernel_cache_default_dir(char *buf, size_t len);

/* The cache file's name for an image: "vmlinux-<size>-<crc32><adler32>". */
void l0_kernel_cache_key(const uint8_t *image, size_t size, char *buf, size_t len);

/*
 * Maps the cached vmlinux for image (read-only, populated) into *data and
 * *data_size. 0 on a hit; -1 on a miss (nothing cached, or a cached file
 * that is not a regular file owned by us). Unmap with munmap.
 */
int l0_kernel_cache_get(const char *dir, const uint8_t *image, size_t size,
			const uint8_t **data, size_t *data_size);

/*
 * Stores data as image's vmlinux: written to a temporary file in dir
 * (created 0700 if missing), then renamed, so readers never see a partial
 * file. 0 or -1 (errno set; the caller carries on without the cache).
 */
int l0_kernel_cache_put(const char *dir, const uint8_t *image, size_t size,
			const uint8_t *data, size_t data_size);

#endif
