// SPDX-License-Identifier: MIT
/*
 * ooh-diskbench: O_DIRECT throughput of a block device, run inside a guest
 * (bench/virtio-l1.sh: the same program under ooh-l0 and under QEMU).
 *
 *   ooh-diskbench DEVICE SECONDS
 *
 * Four phases of SECONDS each, one request in flight, in this order:
 *   seq-write   1 MiB writes from offset 0 on, wrapping at the end
 *   seq-read    1 MiB reads, likewise
 *   rand-write  4 KiB writes at 4 KiB-aligned offsets from a xorshift64
 *               with a fixed seed (the same offsets in every run)
 *   rand-read   4 KiB reads, likewise
 * Each write phase ends with an fdatasync, counted in its time. Written
 * data is a fixed pattern. Prints one line:
 *   OOH-DISKBENCH seq-write-MBps=X seq-read-MBps=X rand-write-IOPS=X
 *                 rand-read-IOPS=X rand-write-MBps=X rand-read-MBps=X
 * (MB = 10^6 bytes). Exit 1 on any I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define SEQ_BS (1u << 20)
#define RAND_BS 4096u
#define SEED 0x2023000523ull

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

struct phase {
	const char *name;
	unsigned bs;
	int write, random;
	double seconds;
	uint64_t ops;
};

static int run(int fd, uint64_t size, uint8_t *buf, struct phase *p, double seconds)
{
	uint64_t x = SEED, off = 0, blocks = size / p->bs;
	double start = now(), end = start + seconds, t;

	do {
		if (p->random)
			off = (xorshift64(&x) % blocks) * p->bs;
		else if (off + p->bs > size)
			off = 0;
		ssize_t n = p->write ? pwrite(fd, buf, p->bs, (off_t)off)
				     : pread(fd, buf, p->bs, (off_t)off);
		if (n != (ssize_t)p->bs) {
			fprintf(stderr, "ooh-diskbench: %s at %" PRIu64 ": %s\n", p->name, off,
				n < 0 ? strerror(errno) : "short transfer");
			return -1;
		}
		if (!p->random)
			off += p->bs;
		p->ops++;
		t = now();
	} while (t < end);
	if (p->write && fdatasync(fd) < 0) {
		fprintf(stderr, "ooh-diskbench: fdatasync: %s\n", strerror(errno));
		return -1;
	}
	p->seconds = now() - start;
	return 0;
}

int main(int argc, char **argv)
{
	struct phase phases[] = {
		{ "seq-write", SEQ_BS, 1, 0, 0, 0 },
		{ "seq-read", SEQ_BS, 0, 0, 0, 0 },
		{ "rand-write", RAND_BS, 1, 1, 0, 0 },
		{ "rand-read", RAND_BS, 0, 1, 0, 0 },
	};
	uint64_t size = 0;
	double seconds;
	uint8_t *buf;
	int fd;

	if (argc != 3 || (seconds = strtod(argv[2], NULL)) <= 0) {
		fprintf(stderr, "usage: ooh-diskbench DEVICE SECONDS\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < SEQ_BS) {
		fprintf(stderr, "ooh-diskbench: %s: %s\n", argv[1],
			fd < 0 || !size ? strerror(errno) : "smaller than 1 MiB");
		return 1;
	}
	size -= size % SEQ_BS;
	if (posix_memalign((void **)&buf, 4096, SEQ_BS)) {
		fprintf(stderr, "ooh-diskbench: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < SEQ_BS; i++)
		buf[i] = (uint8_t)(i * 131u + 7u);
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (run(fd, size, buf, &phases[i], seconds) < 0)
			return 1;
	printf("OOH-DISKBENCH seq-write-MBps=%.1f seq-read-MBps=%.1f rand-write-IOPS=%.0f "
	       "rand-read-IOPS=%.0f rand-write-MBps=%.2f rand-read-MBps=%.2f\n",
	       (double)phases[0].ops * SEQ_BS / phases[0].seconds / 1e6,
	       (double)phases[1].ops * SEQ_BS / phases[1].seconds / 1e6,
	       (double)phases[2].ops / phases[2].seconds, (double)phases[3].ops / phases[3].seconds,
	       (double)phases[2].ops * RAND_BS / phases[2].seconds / 1e6,
	       (double)phases[3].ops * RAND_BS / phases[3].seconds / 1e6);
	return 0;
}
