// SPDX-License-Identifier: MIT
/*
 * ooh-test-wss-workload MIB:SECONDS...: a guest workload with a known,
 * phase-changing write working set. Each phase writes every 4 KiB page of
 * a MIB-sized buffer over and over for SECONDS (0 MiB: idle), so a monitor
 * outside the VM should see MIB of dirty memory per interval plus what the
 * guest kernel itself dirties.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: ooh-test-wss-workload MIB:SECONDS...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		unsigned long mib, secs;
		unsigned char *buf = NULL;
		size_t len;

		if (sscanf(argv[i], "%lu:%lu", &mib, &secs) != 2 || mib > 4096) {
			fprintf(stderr, "bad phase '%s'\n", argv[i]);
			return 2;
		}
		len = mib << 20;
		printf("OOH-WSS-PHASE %d %lu MiB for %lu s\n", i, mib, secs);
		fflush(stdout);
		if (len) {
			buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
			if (buf == MAP_FAILED) {
				perror("mmap");
				return 1;
			}
		}
		double start = now(), end = start + (double)secs;
		unsigned long long pages_written = 0;
		unsigned char v = 0;

		while (now() < end) {
			if (!len) {
				usleep(100000);
				continue;
			}
			v++;
			for (size_t off = 0; off < len; off += PAGE)
				buf[off] = v;
			pages_written += len / PAGE;
			/* A pass every ~10 ms is plenty to keep every page dirty. */
			usleep(10000);
		}
		/* Throughput, so a benchmark can see what monitoring costs the VM. */
		printf("OOH-WSS-RATE %d %.0f pages/s\n", i,
		       (double)pages_written / (now() - start));
		fflush(stdout);
		if (len)
			munmap(buf, len);
	}
	printf("OOH-WSS-DONE\n");
	return 0;
}
