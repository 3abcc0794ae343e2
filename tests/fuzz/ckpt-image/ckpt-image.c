// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ooh-ckpt's image-chain reader and restore
 * (examples/ckpt/ckpt-image.c: load_chain / load_img, which read the
 * files, check sizes, checksums and links; ckpt_match_regions and
 * ckpt_restore, which write the chosen checkpoint into the target), on
 * corrupted, truncated and reordered chains. The target is made of
 * buffers: two mappings (anonymous, file-backed) of a restarted process,
 * each an exact-size allocation, reached through a struct ckpt_target
 * whose writes are checked before they land.
 *
 * An input is one byte of options, then up to four images, each a 32-bit
 * length and its bytes, written as ckpt-0000.img... into a directory of
 * this process. Options: the number of images; whether the target first
 * puts a correct checksum in each trailer and links each image to the one
 * before (parent sequence and checksum), so that mutations get past the
 * checksum to the checks behind it; which checkpoint to restore; whether
 * opening the target's pagemap fails.
 *
 * Checked: a chain that loads has ascending pages and zero runs; every
 * write and zeroing of the restore lies inside a target mapping and inside
 * a region of the restored checkpoint that was matched to one.
 */
#include "ckpt-image.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__); \
	abort(); } } while (0)

#define MAX_IMAGES 4
#define NR_MAPPINGS 2

/* The restarted target's writable private mappings, as read_regions gives them. */
static const struct img_region now[NR_MAPPINGS] = {
	{ 0x10000000, 16 * PG, 3 },            /* anonymous, rw */
	{ 0x10100000, 8 * PG, 3 | REG_FILE },  /* a private file mapping, rw */
};

struct fake_target {
	uint8_t *mem[NR_MAPPINGS];
	const struct img *last;
	const bool *use;
	bool fail_pagemap;
	int zero_open;
};

static char dir[64];

/* Where [a, a + len) lands in the buffers; it must lie in a matched region. */
static uint8_t *target_bytes(const struct fake_target *t, uint64_t a, uint64_t len)
{
	bool in_region = false;

	for (uint64_t x = 0; x < t->last->h.nregions && !in_region; x++)
		in_region = t->use[x] && a >= t->last->reg[x].start &&
			    a + len <= t->last->reg[x].start + t->last->reg[x].len;
	CHECK(in_region && a + len > a);
	for (int m = 0; m < NR_MAPPINGS; m++)
		if (a >= now[m].start && a + len <= now[m].start + now[m].len)
			return t->mem[m] + (a - now[m].start);
	CHECK(!"a write outside the target's mappings");
	return NULL;
}

static int fake_write(void *opaque, const struct iovec *l, const struct iovec *r, size_t nv)
{
	struct fake_target *t = opaque;

	CHECK(nv > 0 && nv <= 1024);
	for (size_t i = 0; i < nv; i++) {
		CHECK(l[i].iov_len == PG && r[i].iov_len == PG);
		memcpy(target_bytes(t, (uintptr_t)r[i].iov_base, PG), l[i].iov_base, PG);
	}
	return 0;
}

static int fake_zero_begin(void *opaque)
{
	struct fake_target *t = opaque;

	CHECK(!t->zero_open);
	if (t->fail_pagemap) {
		fprintf(stderr, "ooh-ckpt: /proc/PID/pagemap: (the fuzzer's) No such file\n");
		return -1;
	}
	t->zero_open = 1;
	return 0;
}

static void fake_zero_end(void *opaque)
{
	struct fake_target *t = opaque;

	CHECK(t->zero_open);
	t->zero_open = 0;
}

static int fake_zero(void *opaque, uint64_t a, uint64_t len, uint64_t *zeroed)
{
	struct fake_target *t = opaque;

	CHECK(t->zero_open && len > 0 && a % PG == 0 && len % PG == 0);
	memset(target_bytes(t, a, len), 0, len);
	*zeroed += len / PG;
	return 0;
}

static void image_path(char *path, size_t size, int k)
{
	snprintf(path, size, "%s/ckpt-%04d.img", dir, k);
}

static void remove_images(void)
{
	char path[128];

	for (int k = 0; k < MAX_IMAGES; k++) {
		image_path(path, sizeof(path), k);
		unlink(path);
	}
}

static void remove_dir(void)
{
	remove_images();
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/tmp/fuzz-ckpt-image.XXXXXX");
	CHECK(mkdtemp(dir));
	atexit(remove_dir);
	return 0;
}

/* The image's own checksum in its trailer; with link, the parent's seq and checksum too. */
static uint64_t fix_image(uint8_t *img, size_t len, int k, bool link, uint64_t parent_hash)
{
	struct img_hdr h;
	struct img_end e = { END_MAGIC, 0 };
	struct hasher hs;

	if (len < sizeof(h) + sizeof(e))
		return 0;
	memcpy(&h, img, sizeof(h));
	if (link) {
		h.seq = (uint64_t)k;
		h.parent_seq = (uint64_t)k - 1;
		h.parent_hash = parent_hash;
		memcpy(img, &h, sizeof(h));
	}
	hash_init(&hs, h.version);
	hash_update(&hs, img, len - sizeof(e));
	e.hash = hash_final(&hs);
	memcpy(img + len - sizeof(e), &e, sizeof(e));
	return e.hash;
}

static int write_images(const uint8_t *data, size_t size, int n, bool fix, bool link)
{
	uint64_t parent = 0;
	int written = 0;
	char path[128];

	remove_images();
	for (int k = 0; k < n && size >= 4; k++) {
		uint32_t len;
		uint8_t *img;
		int fd;

		memcpy(&len, data, 4);
		data += 4;
		size -= 4;
		if (len > size)
			len = (uint32_t)size;
		img = malloc(len ? len : 1);
		CHECK(img);
		memcpy(img, data, len);
		if (fix)
			parent = fix_image(img, len, k, link && k > 0, parent);
		image_path(path, sizeof(path), k);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		CHECK(fd >= 0 && write(fd, img, len) == (ssize_t)len);
		close(fd);
		free(img);
		data += len;
		size -= len;
		written++;
	}
	return written;
}

static void check_chain(const struct img *v, long n)
{
	for (long k = 0; k < n; k++) {
		for (uint64_t i = 1; i < v[k].h.npages; i++)
			CHECK(v[k].addr[i] > v[k].addr[i - 1]);
		for (uint64_t i = 0; i < v[k].h.nzero; i++)
			CHECK(v[k].zero[i].len && !(v[k].zero[i].start % PG) && !(v[k].zero[i].len % PG));
	}
}

static void restore(const struct img *v, long n, bool fail_pagemap)
{
	const struct img *last = &v[n - 1];
	bool *use = calloc(last->h.nregions + 1, 1);
	struct fake_target t = { .last = last, .use = use, .fail_pagemap = fail_pagemap };
	const struct ckpt_target target = { fake_write, fake_zero_begin, fake_zero_end, fake_zero, &t };
	uint64_t written = 0, zeroed = 0;

	CHECK(use);
	for (int m = 0; m < NR_MAPPINGS; m++) {
		t.mem[m] = malloc(now[m].len); /* exact size: ASan sees a write past it */
		CHECK(t.mem[m]);
	}
	if (ckpt_match_regions(last, now, NR_MAPPINGS, use, 0) > 0) {
		int rc = ckpt_restore(v, n - 1, use, &target, &written, &zeroed);

		CHECK(rc == 0 || rc == 1);
		CHECK(!t.zero_open);
	}
	for (int m = 0; m < NR_MAPPINGS; m++)
		free(t.mem[m]);
	free(use);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img *v;
	long n, last;
	int images;

	if (size < 1)
		return 0;
	images = write_images(data + 1, size - 1, (data[0] & 3) + 1, data[0] & 4, data[0] & 8);
	/* bits 4-5: restore checkpoint k (3: the last there is) */
	last = ((data[0] >> 4) & 3) == 3 ? -1 : (data[0] >> 4) & 3;
	(void)images;
	if (load_chain(dir, last, &v, &n) != 0)
		return 0;
	CHECK(n >= 1 && n <= MAX_IMAGES && (last < 0 || n == last + 1));
	check_chain(v, n);
	restore(v, n, data[0] & 0x40);
	for (long k = 0; k < n; k++)
		free_img(&v[k]);
	free(v);
	return 0;
}
