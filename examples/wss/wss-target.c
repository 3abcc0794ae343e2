/* SPDX-License-Identifier: MIT */
/*
 * ooh-wss-target: a process with a known working set, in phases.
 *
 *   ooh-wss-target PHASE[,PHASE...]      PHASE = write|read|idle:SIZE:SECONDS
 *   e.g. ooh-wss-target write:24M:2.5,read:40M:2.5,write:8M:2.5
 *
 * Each phase has its own buffer (all buffers are allocated and written once
 * before the first phase, then the target sleeps 0.3 s).  During a phase
 * every page of its buffer is written (write) or read (read) once every
 * 20 ms; idle touches nothing.  So over any interval longer than 20 ms the
 * write working set is exactly SIZE (write phases) and the referenced one
 * SIZE (read and write phases), plus the target's few own pages.
 * Prints "phase N start" lines on stdout when -v is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define MAXPH 16

struct phase {
	char kind; /* 'w', 'r', 'i' */
	size_t bytes;
	double secs;
	volatile unsigned char *buf;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse(char *spec, struct phase *ph)
{
	int n = 0;
	for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
		char kind[16], unit = 0;
		double size, secs;
		if (n == MAXPH || sscanf(tok, "%15[a-z]:%lf%c:%lf", kind, &size, &unit, &secs) != 4)
			return -1;
		double mul = unit == 'K' ? 1024.0 : unit == 'M' ? 1048576.0 : unit == 'G' ? 1073741824.0 : 0;
		if (!mul || size < 0 || secs <= 0)
			return -1;
		ph[n].kind = !strcmp(kind, "write") ? 'w' : !strcmp(kind, "read") ? 'r' :
			     !strcmp(kind, "idle") ? 'i' : 0;
		if (!ph[n].kind)
			return -1;
		ph[n].bytes = ((size_t)(size * mul) + 4095) & ~(size_t)4095;
		ph[n].secs = secs;
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct phase ph[MAXPH];
	int verbose = argc > 2 && !strcmp(argv[1], "-v");
	int n = argc >= 2 ? parse(argv[argc - 1], ph) : -1;
	volatile unsigned sink = 0;

	if (n <= 0) {
		fprintf(stderr, "usage: %s [-v] write|read|idle:SIZE{K,M,G}:SECONDS[,...]\n", argv[0]);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		if (!ph[i].bytes)
			continue;
		ph[i].buf = mmap(NULL, ph[i].bytes, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ph[i].buf == MAP_FAILED)
			return 1;
		madvise((void *)ph[i].buf, ph[i].bytes, MADV_NOHUGEPAGE);
		for (size_t o = 0; o < ph[i].bytes; o += 4096)
			ph[i].buf[o] = 1;
	}
	struct timespec settle = { 0, 300 * 1000 * 1000 };
	nanosleep(&settle, NULL);
	for (int i = 0; i < n; i++) {
		double end = now() + ph[i].secs;
		if (verbose) {
			printf("phase %d start %c %zu\n", i, ph[i].kind, ph[i].bytes);
			fflush(stdout);
		}
		while (now() < end) {
			double t0 = now();
			if (ph[i].kind == 'w')
				for (size_t o = 0; o < ph[i].bytes; o += 4096)
					ph[i].buf[o]++;
			else if (ph[i].kind == 'r')
				for (size_t o = 0; o < ph[i].bytes; o += 4096)
					sink += ph[i].buf[o];
			double left = 0.020 - (now() - t0);
			if (left > 0) {
				struct timespec ts = { 0, (long)(left * 1e9) };
				nanosleep(&ts, NULL);
			}
		}
	}
	return (int)(sink & 0);
}
