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
 */
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

#define ARENA_ADDR 0x6f0000000000ull
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

int main(int argc, char **argv)
{
	uint64_t steps = 1500, size_mib = 8, touch = 16, delay_us = 1000;
	int wait = 0, kick = 0;
	double pct = 1.0;

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
					"[--delay US] | --kick --size MiB --pct P\n", argv[0]);
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
