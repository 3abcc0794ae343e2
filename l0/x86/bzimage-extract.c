// SPDX-License-Identifier: MIT
/*
 * Host-side decompression of a bzImage's payload into the ELF vmlinux the
 * in-guest decompressor would produce. Booting that ELF directly skips the
 * guest's decompressor, which runs an order of magnitude slower than the
 * host under nested virtualization. xz and gzip payloads (what distribution
 * kernels use); anything else falls back to booting the bzImage as is.
 * The payload is untrusted: output is capped, errors are reported.
 */
#include "x86.h"
#include "../exit-codes.h"

#include <asm/bootparam.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SETUP_HEADER_OFFSET 0x1f1
#define MAX_VMLINUX_SIZE    (512ull << 20) /* decompression bomb guard */

struct growing_buffer {
	uint8_t *data;
	size_t size, used;
};

static int grow(struct growing_buffer *out)
{
	size_t size = out->size ? out->size * 2 : 64ull << 20;
	uint8_t *data;

	if (out->size >= MAX_VMLINUX_SIZE)
		return -1;
	if (size > MAX_VMLINUX_SIZE)
		size = MAX_VMLINUX_SIZE;
	data = realloc(out->data, size);
	if (!data)
		return -1;
	out->data = data;
	out->size = size;
	return 0;
}

static int unxz(const uint8_t *in, size_t in_size, struct growing_buffer *out)
{
	lzma_stream strm = LZMA_STREAM_INIT;
	lzma_ret ret;

	if (lzma_stream_decoder(&strm, UINT64_MAX, 0) != LZMA_OK)
		return -1;
	strm.next_in = in;
	strm.avail_in = in_size;
	do {
		if (out->used == out->size && grow(out) != 0)
			break;
		strm.next_out = out->data + out->used;
		strm.avail_out = out->size - out->used;
		ret = lzma_code(&strm, LZMA_FINISH);
		out->used = out->size - strm.avail_out;
	} while (ret == LZMA_OK || (ret == LZMA_BUF_ERROR && strm.avail_out == 0));
	lzma_end(&strm);
	return ret == LZMA_STREAM_END ? 0 : -1; /* trailing size word is ignored */
}

static int gunzip(const uint8_t *in, size_t in_size, struct growing_buffer *out)
{
	z_stream strm = { 0 };
	int ret;

	if (in_size > UINT32_MAX || inflateInit2(&strm, 16 + MAX_WBITS) != Z_OK)
		return -1;
	strm.next_in = (Bytef *)in;
	strm.avail_in = (uInt)in_size;
	do {
		if (out->used == out->size && grow(out) != 0)
			break;
		strm.next_out = out->data + out->used;
		strm.avail_out = (uInt)(out->size - out->used);
		ret = inflate(&strm, Z_NO_FLUSH);
		out->used = out->size - strm.avail_out;
	} while (ret == Z_OK || (ret == Z_BUF_ERROR && strm.avail_out == 0));
	inflateEnd(&strm);
	return ret == Z_STREAM_END ? 0 : -1;
}

int l0_x86_bzimage_extract(const uint8_t *kernel, size_t kernel_size, uint8_t **vmlinux,
			   size_t *vmlinux_size)
{
	struct setup_header hdr;
	struct growing_buffer out = { 0 };
	const uint8_t *payload;
	size_t setup_size;
	int ret;

	*vmlinux = NULL;
	*vmlinux_size = 0;
	if (kernel_size < SETUP_HEADER_OFFSET + sizeof(hdr))
		return 1;
	memcpy(&hdr, kernel + SETUP_HEADER_OFFSET, sizeof(hdr));
	if (hdr.header != 0x53726448 || hdr.version < 0x0208 || hdr.payload_length < 6)
		return 1; /* no payload fields: let the guest decompress */
	setup_size = ((size_t)(hdr.setup_sects ? hdr.setup_sects : 4) + 1) * 512;
	if (setup_size > kernel_size || hdr.payload_offset > kernel_size - setup_size ||
	    hdr.payload_length > kernel_size - setup_size - hdr.payload_offset)
		return 1; /* malformed: the loader proper will say so */
	payload = kernel + setup_size + hdr.payload_offset;
	if (memcmp(payload, "\xfd" "7zXZ\0", 6) == 0)
		ret = unxz(payload, hdr.payload_length, &out);
	else if (payload[0] == 0x1f && payload[1] == 0x8b)
		ret = gunzip(payload, hdr.payload_length, &out);
	else
		return 1; /* zstd, lz4, ...: not here */
	if (ret != 0) {
		free(out.data);
		fprintf(stderr, "ooh-l0: kernel image corrupt: its compressed payload does not decompress\n");
		return L0_EXIT_BAD_KERNEL;
	}
	*vmlinux = out.data;
	*vmlinux_size = out.used;
	return 0;
}
