// SPDX-License-Identifier: MIT
/*
 * ooh-fill: seeded data for disk integrity checks across a VM boundary.
 *
 *   ooh-fill write PATH MIB SEED   writes MIB MiB of data derived from SEED
 *                                  at the start of PATH (a file or a block
 *                                  device), fsyncs, then prints
 *                                  "ooh-fill: fsync done" (the moment a
 *                                  test may kill the VMM)
 *   ooh-fill check PATH MIB SEED   exit 0 if PATH starts with exactly that
 *                                  data; else names the first bad 4 KiB block
 *
 * Each 4 KiB block's bytes come from a xorshift64 seeded by SEED and the
 * block's index, so a block written to the wrong place is caught too.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 4096u
#define CHUNK (1u << 20)

static void fill_block(uint8_t *out, uint64_t seed, uint64_t index)
{
	uint64_t x = seed ^ (index * 0x9e3779b97f4a7c15ull) ^ 0x6a09e667f3bcc909ull;

	for (unsigned i = 0; i < BLOCK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(out + i, &x, 8);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: ooh-fill write|check PATH MIB SEED\n");
	return 2;
}

int main(int argc, char **argv)
{
	static uint8_t chunk[CHUNK], want[BLOCK];
	unsigned long long mib, seed;
	bool writing;
	char *end;
	int fd;

	if (argc != 5 || (strcmp(argv[1], "write") && strcmp(argv[1], "check")))
		return usage();
	writing = !strcmp(argv[1], "write");
	errno = 0;
	mib = strtoull(argv[3], &end, 10);
	if (errno || *end || mib == 0 || mib > (1ull << 20))
		return usage();
	seed = strtoull(argv[4], &end, 0);
	if (errno || *end)
		return usage();
	fd = open(argv[2], writing ? O_WRONLY : O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "ooh-fill: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	for (uint64_t c = 0; c < mib; c++) {
		uint64_t first = c * (CHUNK / BLOCK);
		ssize_t n;

		if (writing) {
			for (unsigned b = 0; b < CHUNK / BLOCK; b++)
				fill_block(chunk + b * BLOCK, seed, first + b);
			n = pwrite(fd, chunk, CHUNK, (off_t)(c * CHUNK));
		} else {
			n = pread(fd, chunk, CHUNK, (off_t)(c * CHUNK));
		}
		if (n != (ssize_t)CHUNK) {
			fprintf(stderr, "ooh-fill: %s at MiB %" PRIu64 ": %s\n", argv[1], c,
				n < 0 ? strerror(errno) : "short");
			return 1;
		}
		for (unsigned b = 0; !writing && b < CHUNK / BLOCK; b++) {
			fill_block(want, seed, first + b);
			if (memcmp(chunk + b * BLOCK, want, BLOCK)) {
				printf("ooh-fill: block %" PRIu64 " (byte %" PRIu64 ") differs\n",
				       first + b, (first + b) * BLOCK);
				return 1;
			}
		}
	}
	if (writing) {
		if (fsync(fd) != 0) {
			fprintf(stderr, "ooh-fill: fsync %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		printf("ooh-fill: fsync done\n");
		fflush(stdout);
	} else {
		printf("ooh-fill: %llu MiB as written with seed %llu\n", mib, seed);
	}
	close(fd);
	return 0;
}
