// SPDX-License-Identifier: MIT
/*
 * ooh-ckpt's image chain: checksum, reading and checking the images, and
 * the restore's writes through a struct ckpt_target (see ckpt-image.h).
 */
#include "ckpt-image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void hash_init(struct hasher *hs, uint32_t version)
{
	memset(hs, 0, sizeof(*hs));
	hs->version = version;
	hs->h[0] = 0x4f6f48436b707421ull;
	for (int l = 1; l < 4; l++)
		hs->h[l] = hs->h[l - 1] * HASH_K + (uint64_t)l;
}

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

void hash_update(struct hasher *hs, const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t nw = len / 8, i = 0;
	uint64_t w;

	if (hs->version == 1) {
		uint64_t h = hs->h[0];
		for (; i < nw; i++) {
			memcpy(&w, c + i * 8, 8);
			h ^= w;
			h *= HASH_K;
			h ^= h >> 29;
		}
		hs->h[0] = h;
		hs->n += len;
		return;
	}
	unsigned lane = (unsigned)(hs->n / 8) & 3;
	for (; i < nw && lane; i++, lane = (lane + 1) & 3) {
		memcpy(&w, c + i * 8, 8);
		hs->h[lane] = rotl64(hs->h[lane] ^ w, 29) * HASH_K;
	}
	uint64_t a = hs->h[0], b = hs->h[1], d = hs->h[2], e = hs->h[3], w4[4];
	for (; i + 4 <= nw; i += 4) {
		memcpy(w4, c + i * 8, 32);
		a = rotl64(a ^ w4[0], 29) * HASH_K;
		b = rotl64(b ^ w4[1], 29) * HASH_K;
		d = rotl64(d ^ w4[2], 29) * HASH_K;
		e = rotl64(e ^ w4[3], 29) * HASH_K;
	}
	hs->h[0] = a;
	hs->h[1] = b;
	hs->h[2] = d;
	hs->h[3] = e;
	for (; i < nw; i++, lane++) {
		memcpy(&w, c + i * 8, 8);
		hs->h[lane] = rotl64(hs->h[lane] ^ w, 29) * HASH_K;
	}
	hs->n += len;
}

uint64_t hash_final(const struct hasher *hs)
{
	if (hs->version == 1)
		return hs->h[0] ^ hs->n;
	uint64_t h = hs->n * HASH_K;
	for (int l = 0; l < 4; l++) {
		h = rotl64(h ^ hs->h[l], 31) * HASH_K;
		h ^= h >> 32;
	}
	return h;
}

int load_img(const char *dir, long k, struct img *im, char *why, size_t wl)
{
	memset(im, 0, sizeof(*im));
	snprintf(im->path, sizeof(im->path), "%s/ckpt-%04ld.img", dir, k);
	int fd = open(im->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, wl, "%s: %s", im->path, strerror(errno));
		return -1;
	}
	struct stat sb;
	fstat(fd, &sb);
	uint64_t size = (uint64_t)sb.st_size;
	struct hasher hs;
	int rc = -1;
	char *buf = NULL;
	if (size < sizeof(im->h) + sizeof(struct img_end) ||
	    pread(fd, &im->h, sizeof(im->h), 0) != (ssize_t)sizeof(im->h)) {
		snprintf(why, wl, "%s: truncated (%llu bytes, no complete header)", im->path,
			 (unsigned long long)size);
		goto out;
	}
	if (memcmp(im->h.magic, IMG_MAGIC, 8) || im->h.version < 1 || im->h.version > IMG_VERSION ||
	    im->h.page_size != PG) {
		snprintf(why, wl, "%s: not an ooh-ckpt image (bad magic/version)", im->path);
		goto out;
	}
	hash_init(&hs, im->h.version);
	if (im->h.version < 3)
		im->h.nzero = 0; /* reserved then (written as 0) */
	if (im->h.nregions > (1u << 24) || im->h.npages > (1ull << 40) / PG || im->h.nzero > (1ull << 32)) {
		snprintf(why, wl, "%s: corrupt header", im->path);
		goto out;
	}
	uint64_t zoff = sizeof(im->h) + im->h.nregions * sizeof(struct img_region) + im->h.npages * 8;
	uint64_t want = zoff + im->h.nzero * sizeof(struct img_run) + im->h.npages * PG + sizeof(struct img_end);
	if (size != want) {
		snprintf(why, wl, "%s: %s (%llu bytes, header says %llu)", im->path,
			 size < want ? "truncated" : "trailing garbage", (unsigned long long)size,
			 (unsigned long long)want);
		goto out;
	}
	im->reg = malloc(im->h.nregions * sizeof(*im->reg) + 1);
	im->addr = malloc(im->h.npages * 8 + 1);
	im->zero = malloc(im->h.nzero * sizeof(*im->zero) + 1);
	buf = malloc(BATCH_PAGES * PG);
	if (!im->reg || !im->addr || !im->zero || !buf ||
	    pread(fd, im->zero, im->h.nzero * sizeof(*im->zero), (off_t)zoff) !=
		    (ssize_t)(im->h.nzero * sizeof(*im->zero)) ||
	    pread(fd, im->reg, im->h.nregions * sizeof(*im->reg), sizeof(im->h)) !=
		    (ssize_t)(im->h.nregions * sizeof(*im->reg)) ||
	    pread(fd, im->addr, im->h.npages * 8, (off_t)(sizeof(im->h) + im->h.nregions * sizeof(*im->reg))) !=
		    (ssize_t)(im->h.npages * 8)) {
		snprintf(why, wl, "%s: read error", im->path);
		goto out;
	}
	im->data_off = zoff + im->h.nzero * sizeof(struct img_run);
	/* checksum everything before the trailer */
	for (uint64_t off = 0; off < want - sizeof(struct img_end);) {
		uint64_t len = want - sizeof(struct img_end) - off;
		if (len > BATCH_PAGES * PG)
			len = BATCH_PAGES * PG;
		if (pread(fd, buf, len, (off_t)off) != (ssize_t)len) {
			snprintf(why, wl, "%s: read error", im->path);
			goto out;
		}
		hash_update(&hs, buf, len);
		off += len;
	}
	struct img_end e;
	if (pread(fd, &e, sizeof(e), (off_t)(want - sizeof(e))) != (ssize_t)sizeof(e) ||
	    memcmp(e.magic, END_MAGIC, 8)) {
		snprintf(why, wl, "%s: corrupt (bad trailer)", im->path);
		goto out;
	}
	im->hash = hash_final(&hs);
	if (e.hash != im->hash) {
		snprintf(why, wl, "%s: corrupt (checksum mismatch)", im->path);
		goto out;
	}
	for (uint64_t i = 1; i < im->h.npages; i++)
		if (im->addr[i] <= im->addr[i - 1]) {
			snprintf(why, wl, "%s: corrupt (page list not ascending)", im->path);
			goto out;
		}
	/*
	 * Whole pages in whole-page regions, as dump writes them: a page is
	 * written PG bytes long where it starts inside a region, so an
	 * unaligned page or region would let the write run past the region,
	 * and past the target's mapping that holds it.
	 */
	for (uint64_t i = 0; i < im->h.npages; i++)
		if (im->addr[i] % PG) {
			snprintf(why, wl, "%s: corrupt (page address unaligned)", im->path);
			goto out;
		}
	for (uint64_t r = 0; r < im->h.nregions; r++)
		if ((im->reg[r].start | im->reg[r].len) % PG || !im->reg[r].len ||
		    im->reg[r].start + im->reg[r].len < im->reg[r].start) {
			snprintf(why, wl, "%s: corrupt (region unaligned, empty or past the address space)",
				 im->path);
			goto out;
		}
	for (uint64_t i = 0; i < im->h.nzero; i++)
		if ((im->zero[i].start | im->zero[i].len) % PG || !im->zero[i].len ||
		    im->zero[i].start + im->zero[i].len < im->zero[i].start ||
		    (i && im->zero[i].start <= im->zero[i - 1].start + im->zero[i - 1].len - 1)) {
			snprintf(why, wl, "%s: corrupt (zero runs unaligned or not ascending)", im->path);
			goto out;
		}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

void free_img(struct img *im)
{
	free(im->reg);
	free(im->addr);
	free(im->zero);
	im->reg = NULL;
	im->addr = NULL;
	im->zero = NULL;
}

int load_chain(const char *dir, long last, struct img **out, long *n)
{
	char why[8192];
	struct img *v = NULL;
	long k;
	for (k = 0; last < 0 || k <= last; k++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/ckpt-%04ld.img", dir, k);
		if (access(p, F_OK) < 0) {
			if (last < 0 && k > 0)
				break;
			if (k > 0) {
				fprintf(stderr, "ooh-ckpt: chain broken: %s is missing\n", p);
				goto fail;
			}
		}
		struct img *nv = realloc(v, (size_t)(k + 1) * sizeof(*v));
		if (!nv)
			return -1;
		v = nv;
		if (load_img(dir, k, &v[k], why, sizeof(why))) {
			fprintf(stderr, "ooh-ckpt: %s\n", why);
			free_img(&v[k]);
			goto fail;
		}
		struct img_hdr *h = &v[k].h;
		if (h->seq != (uint64_t)k || (k == 0) != !!(h->flags & FLAG_FULL) ||
		    (k > 0 && (h->parent_seq != (uint64_t)k - 1 || h->parent_hash != v[k - 1].hash))) {
			fprintf(stderr, "ooh-ckpt: chain broken at %s: %s\n", v[k].path,
				k == 0 ? "the first image is not a full image" :
					 "it does not follow the previous image (wrong parent)");
			k++;
			goto fail;
		}
	}
	if (k == 0) {
		fprintf(stderr, "ooh-ckpt: %s: no checkpoint images\n", dir);
		free(v);
		return -1;
	}
	*out = v;
	*n = k;
	return 0;
fail:
	for (long i = 0; i < k; i++)
		free_img(&v[i]);
	free(v);
	return -1;
}

bool clip(const struct img_region *x, uint64_t *s, uint64_t *len)
{
	uint64_t a = *s > x->start ? *s : x->start;
	uint64_t b = *s + *len < x->start + x->len ? *s + *len : x->start + x->len;
	if (a >= b)
		return false;
	*s = a;
	*len = b - a;
	return true;
}


size_t ckpt_match_regions(const struct img *last, const struct img_region *now, size_t n_now,
			  bool *use, int pid)
{
	size_t matched = 0;

	/* inside, not equal: the kernel merges adjacent mappings */
	for (uint64_t r = 0; r < last->h.nregions; r++) {
		/* (version 3 knows anonymous from file-backed: they must agree,
		 * a page absent from one does not read as absent from the other) */
		uint64_t kind = last->h.version >= 3 ? REG_FILE : 0;
		for (size_t i = 0; i < n_now; i++)
			if (now[i].start <= last->reg[r].start &&
			    now[i].start + now[i].len >= last->reg[r].start + last->reg[r].len &&
			    (now[i].prot & kind) == (last->reg[r].prot & kind))
				use[r] = true;
		if (use[r])
			matched++;
		else
			printf("skipped region %llx-%llx (not inside a writable private mapping of the "
			       "same kind in %d)\n",
			       (unsigned long long)last->reg[r].start,
			       (unsigned long long)(last->reg[r].start + last->reg[r].len), pid);
	}
	return matched;
}

/* Image im's pages that lie in the regions use[] of last, in batches. */
static int restore_pages(const struct img *im, const struct img *last, const bool *use,
			 const struct ckpt_target *t, char *buf, uint64_t *written)
{
	int fd = open(im->path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return 1;
	for (uint64_t i = 0; i < im->h.npages && !rc;) {
		uint64_t take = im->h.npages - i > BATCH_PAGES ? BATCH_PAGES : im->h.npages - i;
		if (pread(fd, buf, take * PG, (off_t)(im->data_off + i * PG)) != (ssize_t)(take * PG)) {
			fprintf(stderr, "ooh-ckpt: %s: read error\n", im->path);
			rc = 1;
			break;
		}
		struct iovec l[1024], r[1024];
		size_t nv = 0;
		for (uint64_t q = 0; q <= take; q++) {
			bool ok = false;
			if (q < take) {
				uint64_t a = im->addr[i + q];
				for (uint64_t x = 0; x < last->h.nregions && !ok; x++)
					ok = use[x] && a >= last->reg[x].start &&
					     a < last->reg[x].start + last->reg[x].len;
				if (ok) {
					l[nv] = (struct iovec){ buf + q * PG, PG };
					r[nv] = (struct iovec){ (void *)(uintptr_t)a, PG };
					nv++;
				}
			}
			if (nv == 1024 || (q == take && nv)) {
				if (t->write(t->opaque, l, r, nv) != 0) {
					rc = 1;
					break;
				}
				*written += nv;
				nv = 0;
			}
		}
		i += take;
	}
	close(fd);
	return rc;
}

/* Image im's zero runs, clipped to the regions use[] of last. */
static int restore_zero(const struct img *im, const struct img *last, const bool *use,
			const struct ckpt_target *t, uint64_t *zeroed)
{
	int rc = 0;

	if (t->zero_begin(t->opaque) != 0)
		return 1;
	for (uint64_t z = 0; z < im->h.nzero && !rc; z++) {
		for (uint64_t x = 0; x < last->h.nregions && !rc; x++) {
			uint64_t a = im->zero[z].start, len = im->zero[z].len;
			if (!use[x] || !clip(&last->reg[x], &a, &len))
				continue;
			if (t->zero(t->opaque, a, len, zeroed) != 0)
				rc = 1;
		}
	}
	t->zero_end(t->opaque);
	return rc;
}

int ckpt_restore(const struct img *v, long k, const bool *use, const struct ckpt_target *t,
		 uint64_t *written, uint64_t *zeroed)
{
	char *buf = malloc(BATCH_PAGES * PG);
	int rc = buf ? 0 : 1;

	if (!buf)
		fprintf(stderr, "ooh-ckpt: out of memory\n");
	for (long j = 0; j <= k && !rc; j++) {
		rc = restore_pages(&v[j], &v[k], use, t, buf, written);
		/* zero runs last: they replace what earlier images put there */
		if (!rc && v[j].h.nzero)
			rc = restore_zero(&v[j], &v[k], use, t, zeroed);
	}
	free(buf);
	return rc;
}
