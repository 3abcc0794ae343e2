/* SPDX-License-Identifier: MIT */
/*
 * ooh-ckpt-target: a cooperating checkpoint target.
 *
 * Its whole computation state lives in one arena mapped at a fixed address
 * (ARENA_ADDR), so a restarted instance has the same layout and
 * `ooh-ckpt restore` can fill it in.
 *
 *   ooh-ckpt-target [--steps N] [--size MiB] [--touch PAGES] [--delay US]
 *        compute: N steps, each rewriting PAGES pseudo-random pages of the
 *        arena, then print "result <hash> steps <N>"
 *   ooh-ckpt-target --wait ...
 *        map the arena, stop itself (SIGSTOP) and wait to be restored
 *        (ooh-ckpt restore ... PID continues it), then continue the
 *        computation from the restored step ("resumed at step S")
 *   ooh-ckpt-target --kick --size MiB --pct P
 *        benchmark target: write the whole arena, then on every SIGUSR1
 *        re-dirty P % of its pages (distinct pages); SIGTERM ends it
 *   ooh-ckpt-target --churn
 *        memory that changes without being written: maps a few regions
 *        in [CHURN_ADDR, CHURN_ADDR + 16 MiB), prints "ready", then on
 *        each SIGUSR1 runs the next of 4 phases of drops (MADV_DONTNEED),
 *        re-maps (munmap + mmap, MAP_FIXED over part of a region), moves
 *        and resizes (mremap) and a few writes; SIGTERM ends it
 *   ooh-ckpt-target --check REF
 *        map the regions of REF (ooh-ckpt dump --reference's ref-NNNN.mem),
 *        fill them with garbage, print "waiting", stop itself; once
 *        restored and continued, compare its memory with REF: "memory
 *        matches" (exit 0) or the first differing address (exit 1)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

#define ARENA_ADDR 0x6f0000000000ull
#define CHURN_ADDR 0x6e0000000000ull
#define MAGIC 0x6f6f682d636b7074ull

#define MAXTOUCH 64

/*
 * The state is crash-consistent: a checkpoint may freeze the target between
 * any two instructions.  A step first writes its effects into a journal,
 * commits it (commit = step + 1), applies it, then advances; redoing a
 * committed journal is idempotent, an uncommitted one is ignored.
 */
struct state {
	uint64_t magic;
	uint64_t step, total, rng, npages, touch;
	uint64_t commit, j_rng;
	uint64_t j_idx[MAXTOUCH], j_val[MAXTOUCH];
};

#define BARRIER() __asm__ __volatile__("" ::: "memory")

static void apply_journal(struct state *st, uint64_t *data)
{
	for (uint64_t k = 0; k < st->touch; k++)
		data[st->j_idx[k]] = st->j_val[k];
	st->rng = st->j_rng;
	BARRIER();
	st->step = st->commit;
	BARRIER();
}

static volatile sig_atomic_t kicks, stop;

static void on_usr1(int s)
{
	(void)s;
	kicks++;
}

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static uint64_t hash_arena(const struct state *st, const uint64_t *data)
{
	uint64_t h = 0xcbf29ce484222325ull ^ st->step;
	for (uint64_t i = 0; i < st->npages * 512; i++) {
		h ^= data[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ---- --churn / --check ---- */
#define PGSZ 4096ull
#define AT(off) ((char *)(uintptr_t)(CHURN_ADDR + (off)))
#define MIB (1ull << 20)

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* Fill pages [first, first + n) of the mapping at p with a pattern of the
 * address and a generation: every page and every phase's content differ. */
static void fill(char *p, uint64_t first, uint64_t n, uint64_t gen)
{
	for (uint64_t i = first; i < first + n; i++) {
		uint64_t *w = (uint64_t *)(p + i * PGSZ);
		for (uint64_t j = 0; j < PGSZ / 8; j++)
			w[j] = ((uint64_t)(uintptr_t)&w[j] ^ (gen * 0x9e3779b97f4a7c15ull)) | 1;
	}
}

static char *map_at(char *p, uint64_t len, int flags)
{
	void *m = mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (m != p)
		die("ooh-ckpt-target: churn mmap");
	madvise(m, len, MADV_NOHUGEPAGE); /* page-sized drops stay page-sized */
	return m;
}

static void drop(char *p, uint64_t first, uint64_t n)
{
	if (madvise(p + first * PGSZ, n * PGSZ, MADV_DONTNEED))
		die("ooh-ckpt-target: madvise");
}

static void move(char *from, uint64_t old_len, char *to, uint64_t new_len)
{
	if (mremap(from, old_len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED, to) != to)
		die("ooh-ckpt-target: mremap");
}

/*
 * Regions (pages): A at +0 (64), B at +1 MiB (32), C at +2 MiB (16),
 * D at +4 MiB (8, pages 0-3 written: the rest was never touched).
 * Each phase changes memory without writing it as well as by writing.
 */
static void churn_phase(int ph)
{
	char *a = AT(0), *b = AT(MIB), *c = AT(2 * MIB), *d = AT(4 * MIB);
	switch (ph) {
	case 0:
		fill(map_at(a, 64 * PGSZ, MAP_FIXED_NOREPLACE), 0, 64, 0);
		fill(map_at(b, 32 * PGSZ, MAP_FIXED_NOREPLACE), 0, 32, 0);
		fill(map_at(c, 16 * PGSZ, MAP_FIXED_NOREPLACE), 0, 16, 0);
		fill(map_at(d, 8 * PGSZ, MAP_FIXED_NOREPLACE), 0, 4, 0);
		break;
	case 1:
		drop(a, 8, 8);                         /* dropped: zero */
		fill(a, 20, 1, 1);
		if (munmap(b, 32 * PGSZ))              /* re-created: zero but page 3 */
			die("ooh-ckpt-target: munmap");
		fill(map_at(b, 32 * PGSZ, MAP_FIXED), 3, 1, 1);
		move(c, 16 * PGSZ, AT(3 * MIB), 16 * PGSZ); /* moved, not written */
		break;
	case 2:
		drop(a, 0, 4);                         /* dropped, page 1 written again */
		fill(a, 1, 1, 2);
		move(AT(3 * MIB), 16 * PGSZ, c, 24 * PGSZ); /* moved back, grown */
		fill(c, 23, 1, 2);
		if (munmap(b, 32 * PGSZ))              /* gone */
			die("ooh-ckpt-target: munmap");
		break;
	case 3:
		fill(map_at(b, 48 * PGSZ, MAP_FIXED_NOREPLACE), 0, 10, 3); /* back, larger */
		drop(a, 30, 10);
		map_at(d + 2 * PGSZ, 2 * PGSZ, MAP_FIXED); /* written pages replaced inside a region */
		break;
	case 4:
		drop(a, 0, 64);
		fill(a, 63, 1, 4);
		if (mremap(b, 48 * PGSZ, 64 * PGSZ, 0) != b) /* grown in place */
			die("ooh-ckpt-target: mremap grow");
		break;
	}
}

static int churn(void)
{
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	sigset_t blk, old;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR1);
	sigaddset(&blk, SIGTERM);
	sigprocmask(SIG_BLOCK, &blk, &old);
	churn_phase(0);
	printf("ready\n");
	fflush(stdout);
	sig_atomic_t seen = 0;
	while (!stop) {
		if (kicks == seen) {
			sigsuspend(&old);
			continue;
		}
		if (++seen <= 4)
			churn_phase((int)seen);
	}
	return 0;
}

/* The reference file: "OOHCKREF", u64 n, n x {start, len, prot}, region bytes. */
static int check(const char *ref)
{
	int fd = open(ref, O_RDONLY | O_CLOEXEC);
	char magic[8];
	uint64_t n;
	if (fd < 0 || read(fd, magic, 8) != 8 || memcmp(magic, "OOHCKREF", 8) || read(fd, &n, 8) != 8 ||
	    n > 4096) {
		fprintf(stderr, "ooh-ckpt-target: %s: not a reference file\n", ref);
		return 2;
	}
	uint64_t (*reg)[3] = calloc(n + 1, sizeof(*reg));
	if (!reg || read(fd, reg, n * sizeof(*reg)) != (ssize_t)(n * sizeof(*reg)))
		return 2;
	for (uint64_t r = 0; r < n; r++) {
		char *m = (char *)(uintptr_t)reg[r][0];
		if (mmap(m, reg[r][1], PROT_READ | PROT_WRITE | (reg[r][2] & 4 ? PROT_EXEC : 0),
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != m)
			die("ooh-ckpt-target: check mmap");
		memset(m, 0xa5, reg[r][1]); /* the restore must overwrite all of it */
	}
	printf("waiting\n");
	fflush(stdout);
	raise(SIGSTOP);
	char buf[4096];
	off_t off = 16 + (off_t)(n * sizeof(*reg));
	for (uint64_t r = 0; r < n; r++)
		for (uint64_t o = 0; o < reg[r][1]; o += sizeof(buf), off += sizeof(buf)) {
			const char *m = (const char *)(uintptr_t)(reg[r][0] + o);
			if (pread(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf))
				return 2;
			if (memcmp(m, buf, sizeof(buf))) {
				size_t i = 0;
				while (m[i] == buf[i])
					i++;
				printf("memory differs at %llx: %02x, reference %02x\n",
				       (unsigned long long)(reg[r][0] + o + i), (unsigned char)m[i],
				       (unsigned char)buf[i]);
				return 1;
			}
		}
	printf("memory matches (%llu regions)\n", (unsigned long long)n);
	free(reg);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t steps = 1500, size_mib = 8, touch = 16, delay_us = 1000;
	int wait = 0, kick = 0;
	double pct = 1.0;

	if (argc == 2 && !strcmp(argv[1], "--churn"))
		return churn();
	if (argc == 3 && !strcmp(argv[1], "--check"))
		return check(argv[2]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wait"))
			wait = 1;
		else if (!strcmp(argv[i], "--kick"))
			kick = 1;
		else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
			steps = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size_mib = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--touch") && i + 1 < argc)
			touch = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--delay") && i + 1 < argc)
			delay_us = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--pct") && i + 1 < argc)
			pct = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--wait] [--steps N] [--size MiB] [--touch PAGES] "
					"[--delay US] | --kick --size MiB --pct P | --churn | --check REF\n",
				argv[0]);
			return 2;
		}
	}
	if (!size_mib || size_mib > 65536 || !touch || touch > MAXTOUCH)
		return 2;
	size_t bytes = (size_t)size_mib << 20;
	void *m = mmap((void *)(uintptr_t)ARENA_ADDR, bytes + 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m != (void *)(uintptr_t)ARENA_ADDR) {
		perror("ooh-ckpt-target: arena");
		return 1;
	}
	madvise(m, bytes + 4096, MADV_NOHUGEPAGE);
	struct state *st = m;
	uint64_t *data = (uint64_t *)((char *)m + 4096);

	if (kick) {
		uint64_t np = bytes / 4096, n = (uint64_t)(np * pct / 100.0), x = 12345;
		signal(SIGUSR1, on_usr1);
		signal(SIGTERM, on_term);
		for (uint64_t p = 0; p < np; p++)
			data[p * 512] = p;
		printf("ready %llu pages\n", (unsigned long long)np);
		fflush(stdout);
		sig_atomic_t seen = 0;
		/* the signals wake sigsuspend() only: a kick between the test
		 * and the wait is not lost (pause() slept through it, and an
		 * interval went by without writes) */
		sigset_t blk, old;
		sigemptyset(&blk);
		sigaddset(&blk, SIGUSR1);
		sigaddset(&blk, SIGTERM);
		sigprocmask(SIG_BLOCK, &blk, &old);
		while (!stop) {
			if (kicks == seen) {
				sigsuspend(&old);
				continue;
			}
			seen = kicks;
			/* n distinct pages: a random start, an odd stride (np is a power of 2) */
			uint64_t start = next(&x) % np, stride = (next(&x) % np) | 1;
			for (uint64_t k = 0; k < n; k++)
				data[((start + k * stride) % np) * 512 + 1]++;
		}
		return 0;
	}

	if (wait) {
		raise(SIGSTOP); /* ooh-ckpt restore fills the arena and continues us */
		if (st->magic != MAGIC) {
			fprintf(stderr, "ooh-ckpt-target: no state was restored\n");
			return 3;
		}
		if (st->commit == st->step + 1)
			apply_journal(st, data); /* frozen after a commit: redo it */
		printf("resumed at step %llu\n", (unsigned long long)st->step);
		fflush(stdout);
	} else {
		st->step = 0;
		st->total = steps;
		st->rng = 0x9e3779b97f4a7c15ull;
		st->npages = bytes / 4096;
		st->touch = touch;
		for (uint64_t i = 0; i < st->npages * 512; i++)
			data[i] = i * 0x2545f4914f6cdd1dull;
		BARRIER();
		st->magic = MAGIC; /* last: a state checkpointed before this is "none" */
		BARRIER();
		printf("computing %llu steps\n", (unsigned long long)steps);
		fflush(stdout);
	}
	while (st->step < st->total) {
		uint64_t x = st->rng;
		for (uint64_t k = 0; k < st->touch; k++) {
			uint64_t r = next(&x);
			uint64_t idx = (r % st->npages) * 512 + (r >> 32) % 512, v = data[idx];
			for (uint64_t q = 0; q < k; q++) /* same word twice in a step */
				if (st->j_idx[q] == idx)
					v = st->j_val[q];
			st->j_idx[k] = idx;
			st->j_val[k] = (v ^ r) * 0x100000001b3ull + st->step;
		}
		st->j_rng = x;
		BARRIER();
		st->commit = st->step + 1;
		BARRIER();
		apply_journal(st, data);
		if (delay_us) {
			struct timespec ts = { 0, (long)delay_us * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	printf("result %016llx steps %llu\n", (unsigned long long)hash_arena(st, data),
	       (unsigned long long)st->step);
	return 0;
}
