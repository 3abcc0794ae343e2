/* SPDX-License-Identifier: MIT */
/*
 * ooh-ckpt's image files and their reading (see ooh-ckpt.c for the
 * format): the chain reader and the restore's writes, apart from the
 * process they restore into, so that tests/fuzz/ckpt-image can run them
 * on corrupted images against a target made of buffers.
 */
#ifndef OOH_CKPT_IMAGE_H
#define OOH_CKPT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define PG 4096ull
#define IMG_MAGIC "OOHCKPT1"
#define END_MAGIC "OOHCKEND"
#define IMG_VERSION 3 /* 2: no zero runs; 1: also a single-lane checksum (both still read) */
#define FLAG_FULL 1u
#define FLAG_LOSSY 2u /* taken with a backend without OOH_CAP_MAPPING_CHANGES */
#define REG_FILE 8u   /* img_region.prot bit 3 (version 3): a file-backed mapping */
#define BATCH_PAGES 2048 /* 8 MiB per read/write batch */

struct img_hdr {
	char magic[8];
	uint32_t version, flags;
	uint64_t seq, parent_seq, parent_hash;
	uint64_t pid, time_ns, nregions, npages, page_size;
	uint64_t nzero;    /* version 3: zero runs (before: reserved, 0) */
	uint64_t reserved;
};

struct img_region {
	uint64_t start, len, prot; /* prot: bit0 r, bit1 w, bit2 x, bit3 REG_FILE */
};

/* Pages [start, start + len) read as zero (anonymous memory not present). */
struct img_run {
	uint64_t start, len;
};

struct img_end {
	char magic[8];
	uint64_t hash;
};

/*
 * ---- streaming checksum over 8-byte words ----
 * Image version 2: four independent lanes (word i goes to lane i % 4), each
 * h = rotl(h ^ w, 29) * K, mixed at the end: about four instructions per
 * word and no serial dependency between neighbouring words, so checksumming
 * costs a fraction of copying.  Version 1 (one lane, h = (h ^ w) * K,
 * h ^= h >> 29) is still read.
 */
#define HASH_K 0x9e3779b97f4a7c15ull
struct hasher {
	uint64_t h[4], n;
	uint32_t version;
};

void hash_init(struct hasher *hs, uint32_t version);
void hash_update(struct hasher *hs, const void *p, size_t len);
uint64_t hash_final(const struct hasher *hs);

/* ---- reading the chain ---- */
struct img {
	char path[4096];
	struct img_hdr h;
	struct img_region *reg;
	uint64_t *addr;
	struct img_run *zero;
	uint64_t data_off, hash;
};

/* Load and check image k of dir: 0, or -1 with why. */
int load_img(const char *dir, long k, struct img *im, char *why, size_t wl);
void free_img(struct img *im);
/* Load and check images 0..last (-1: all there are); *n = number loaded. */
int load_chain(const char *dir, long last, struct img **out, long *n);
/* Clip [s, s + len) to region x: false if they do not meet. */
bool clip(const struct img_region *x, uint64_t *s, uint64_t *len);

/* ---- restoring ---- */
/*
 * Where a restore writes: the stopped target process in ooh-ckpt
 * (process_vm_writev, its pagemap), buffers in tests/fuzz/ckpt-image.
 * Each returns 0, or -1 after saying why on stderr.
 */
struct ckpt_target {
	/* nv pages of PG bytes: l[i] to the target's address r[i].iov_base */
	int (*write)(void *opaque, const struct iovec *l, const struct iovec *r, size_t nv);
	/* before the zero runs of an image that has some, and after them */
	int (*zero_begin)(void *opaque);
	void (*zero_end)(void *opaque);
	/* zeros over the pages of [a, a + len) that hold data; *zeroed += their number */
	int (*zero)(void *opaque, uint64_t a, uint64_t len, uint64_t *zeroed);
	void *opaque;
};

/*
 * Which regions of last lie inside one of the target's writable private
 * mappings now[0..n_now) of the same kind (use[r]); the others are listed
 * on stdout (pid names the target). Returns how many do.
 */
size_t ckpt_match_regions(const struct img *last, const struct img_region *now, size_t n_now,
			  bool *use, int pid);
/*
 * Writes what images v[0..k] say of the regions use[] of v[k] into the
 * target, image by image, each one's zero runs after its pages. 0, or 1
 * once a write or read failed (said on stderr).
 */
int ckpt_restore(const struct img *v, long k, const bool *use, const struct ckpt_target *t,
		 uint64_t *written, uint64_t *zeroed);

#endif
