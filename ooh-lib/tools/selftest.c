/* SPDX-License-Identifier: MIT */
/*
 * ooh-lib-selftest: the core of the unit tests as one dependency-free
 * program, for machines without Check (the rig's L1 guest).  For every
 * backend: the probe verdict; when usable, a seeded differential test on
 * this process and on a child process (hash every page before an
 * interval, every changed page must be reported), and a "mapping
 * changes" test: memory dropped, replaced and moved without a store
 * (MADV_DONTNEED, munmap + mmap, mremap within, into and out of the
 * range, MADV_FREE discarded) between threaded writes: every page mapped
 * at the collect that was not mapped at the last one, or whose hash
 * differs, must be reported, on every usable backend.  And a "joined"
 * test: two trackers collected at one instant (OOH_COLLECT_JOINED on the
 * second) each report every page written to them or dropped (MADV_DONTNEED),
 * and a joined collect
 * with no collect before it may defer pages to the next interval but
 * loses none.
 *
 * Prints one line per check:  PASS|FAIL|SKIP <name> <detail>
 * Options:  --usable B[,B...]    these backends must be usable here
 *           --unusable B[,B...]  these must be refused, with a reason
 * Exit status 1 if any check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ooh.h"
#include "selftest-report.h"

#define PG 4096ul
#define PAGES 1024
#define ROUNDS 20


static uint64_t hash_page(const unsigned char *p)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < PG; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Collect a whole interval of t (collect flags cflags) into out[0..max),
 * the result flags ORed into *flags; returns the count or -errno. */
static long collect_all(ooh_tracker *t, unsigned cflags, uint64_t *out, size_t max, uint32_t *flags)
{
	uint64_t buf[100];
	struct ooh_collect_result res;
	size_t n = 0;
	*flags = 0;
	do {
		int err = ooh_collect(t, buf, 100, cflags, &res);
		if (err)
			return err;
		for (size_t i = 0; i < res.count && n < max; i++)
			out[n++] = buf[i];
		*flags |= res.flags;
	} while (res.flags & OOH_RESULT_MORE);
	return (long)n;
}

static int contains(const uint64_t *v, long n, uint64_t a)
{
	for (long i = 0; i < n; i++)
		if (v[i] == a)
			return 1;
	return 0;
}

/* The child for remote checks: writes seeded random pages on command. */
/* One round's writes: random ones, and the two pages around the VMA
 * boundary in the middle (a dirty run across it must be re-armed in both
 * VMAs: older kernels, e.g. 6.1, write-protect one VMA per call). */
static void round_writes(char *m, uint64_t s, uint64_t writes)
{
	for (uint64_t i = 0; i < writes; i++)
		m[(rnd(&s) % PAGES) * PG + rnd(&s) % PG] = (char)rnd(&s);
	m[(PAGES / 2 - 1) * PG + 7] = (char)rnd(&s);
	m[PAGES / 2 * PG + 7] = (char)rnd(&s);
}

static void child_loop(char *m, int in, int out)
{
	uint64_t cmd[2];
	while (read(in, cmd, sizeof(cmd)) == sizeof(cmd)) {
		round_writes(m, cmd[0], cmd[1]);
		if (write(out, "k", 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static void differential(enum ooh_backend b, int remote)
{
	char name[64];
	snprintf(name, sizeof(name), "%s-%s", ooh_backend_name(b), remote ? "remote" : "self");
	char *m = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE,
		       (remote ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	uint64_t *before = calloc(PAGES, sizeof(*before)), *got = calloc(PAGES * 2, sizeof(*got));
	int to[2] = { -1, -1 }, from[2] = { -1, -1 };
	pid_t pid = 0;

	if (m == MAP_FAILED || !before || !got) {
		result("FAIL", name, "setup: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < PAGES; i += 2)
		m[i * PG] = 1;
	/* two VMAs (their flags differ), tracked as one range */
	if (madvise(m + PAGES / 2 * PG, PAGES / 2 * PG, MADV_NOHUGEPAGE)) {
		result("FAIL", name, "madvise: %s", strerror(errno));
		return;
	}
	if (remote) {
		/* MAP_SHARED lets us hash the child's pages without /proc/PID/mem;
		 * its writes go through its own mapping, which is what is tracked. */
		if (pipe(to) || pipe(from)) {
			result("FAIL", name, "pipe: %s", strerror(errno));
			return;
		}
		pid = fork();
		if (pid == 0) {
			close(to[1]);
			close(from[0]);
			child_loop(m, to[0], from[1]);
		}
		close(to[0]);
		close(from[1]);
	}
	struct ooh_range r = { (uintptr_t)m, PAGES * PG };
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .pid = pid, .flags = OOH_OPEN_START,
				   .ranges = &r, .nr_ranges = 1 };
	ooh_tracker *t;
	int err = ooh_open(&o, &t);
	if (err) {
		result("FAIL", name, "open: %s", ooh_strerror(err));
		goto out;
	}
	uint64_t seed = 0x5e1f7e57 + (uint64_t)b * 7 + (uint64_t)remote, s = seed;
	size_t missed = 0, fp = 0, changed = 0, overflow = 0;
	for (int round = 0; round < ROUNDS && !err; round++) {
		for (size_t i = 0; i < PAGES; i++)
			before[i] = hash_page((unsigned char *)m + i * PG);
		uint64_t writes = rnd(&s) % 200;
		if (remote) {
			uint64_t cmd[2] = { rnd(&s), writes };
			char k;
			if (write(to[1], cmd, sizeof(cmd)) != sizeof(cmd) || read(from[0], &k, 1) != 1) {
				result("FAIL", name, "child did not answer");
				err = -EIO;
				break;
			}
		} else {
			round_writes(m, rnd(&s), writes);
		}
		uint32_t flags;
		long n = collect_all(t, OOH_COLLECT_REARM, got, PAGES * 2, &flags);
		if (n < 0) {
			result("FAIL", name, "collect: %s", ooh_strerror((int)n));
			err = (int)n;
			break;
		}
		overflow += !!(flags & OOH_RESULT_OVERFLOW);
		for (size_t i = 0; i < PAGES; i++) {
			int ch = hash_page((unsigned char *)m + i * PG) != before[i];
			int rep = contains(got, n, (uintptr_t)m + i * PG);
			changed += ch;
			missed += ch && !rep && !(flags & OOH_RESULT_OVERFLOW);
			fp += !ch && rep;
		}
	}
	if (!err) {
		if (missed)
			result("FAIL", name, "seed %#llx: %zu of %zu changed pages not reported",
			       (unsigned long long)seed, missed, changed);
		else
			result("PASS", name, "seed %#llx: %d rounds, %zu changed pages all reported, "
			       "%zu false positives, %zu overflowed intervals", (unsigned long long)seed, ROUNDS,
			       changed, fp, overflow);
	}
	ooh_close(t);
out:
	if (pid > 0) {
		close(to[1]);
		close(from[0]);
		waitpid(pid, NULL, 0);
	}
	munmap(m, PAGES * PG);
	free(before);
	free(got);
}

/* ---- mapping changes ---- */

#define MC_PAGES 384
#define MC_ROUNDS 12
#define MC_THREADS 4
/* Memory moved in from, or away to, outside the range comes from here: an
 * mmap(NULL) could land in a hole of the range itself. */
#define MC_SCRATCH 24

struct mc {
	char *m;
	unsigned char mapped[MC_PAGES];
	char *scratch;   /* MC_SCRATCH pages outside the range, kept reserved */
	uint64_t s;      /* the ops' random state */
	const char *err; /* set up failed: why */
};

struct mc_writer {
	struct mc *mc;
	uint64_t seed;
};

/* Random stores into mapped pages (the mapping does not change meanwhile). */
static void *mc_write(void *arg)
{
	struct mc_writer *w = arg;
	uint64_t s = w->seed;
	for (int i = 0; i < 40; i++) {
		size_t pg = rnd(&s) % MC_PAGES;
		if (w->mc->mapped[pg])
			w->mc->m[pg * PG + rnd(&s) % PG] = (char)(rnd(&s) | 1);
	}
	return NULL;
}

static int mc_writes(struct mc *mc, uint64_t seed)
{
	pthread_t th[MC_THREADS];
	struct mc_writer w[MC_THREADS];
	for (int i = 0; i < MC_THREADS; i++) {
		w[i] = (struct mc_writer){ mc, seed + (uint64_t)i * 0x9e3779b97f4a7c15ull };
		if (pthread_create(&th[i], NULL, mc_write, &w[i]))
			return -1;
	}
	for (int i = 0; i < MC_THREADS; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* A random run of 1..12 pages of the range, all mapped (want 1) or all
 * unmapped (want 0); -1 if none found. */
static long mc_pick(struct mc *mc, int want, size_t *len)
{
	for (int tries = 0; tries < 200; tries++) {
		size_t n = 1 + rnd(&mc->s) % 12, a = rnd(&mc->s) % (MC_PAGES - n + 1), i;
		for (i = a; i < a + n && mc->mapped[i] == want; i++)
			;
		if (i == a + n) {
			*len = n;
			return (long)a;
		}
	}
	return -1;
}

static char *mc_at(struct mc *mc, size_t pg)
{
	return mc->m + pg * PG;
}

static void mc_set(struct mc *mc, size_t a, size_t n, int v)
{
	memset(mc->mapped + a, v, n);
}

/* n <= MC_SCRATCH / 2 fresh pages outside the range, at scratch half h. */
static char *mc_outside(struct mc *mc, int h, size_t n, int prot)
{
	char *at = mc->scratch + (size_t)h * (MC_SCRATCH / 2) * PG;
	if (mmap(at, n * PG, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		return MAP_FAILED;
	return at;
}

/* Reserve the scratch area again (moves and munmap leave holes in it). */
static void mc_rereserve(struct mc *mc)
{
	if (mmap(mc->scratch, MC_SCRATCH * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	    MAP_FAILED)
		mc->err = "mmap(scratch)";
}

/* Fresh anonymous memory at page a (n pages), half the time with data. */
static void mc_map(struct mc *mc, size_t a, size_t n)
{
	if (mmap(mc_at(mc, a), n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	    MAP_FAILED) {
		mc->err = "mmap(MAP_FIXED)";
		return;
	}
	if (rnd(&mc->s) & 1)
		memset(mc_at(mc, a), 0x33, n * PG);
	mc_set(mc, a, n, 1);
}

/* mremap n pages from src (anywhere) to page a of the range; a source
 * spanning VMAs (the mprotect backend splits them) is moved in smaller
 * pieces.  Returns the pages moved. */
static size_t mc_move(struct mc *mc, char *src, size_t a, size_t n)
{
	size_t moved = 0;
	for (size_t len = n; len && !moved; len /= 2)
		if (mremap(src, len * PG, len * PG, MREMAP_MAYMOVE | MREMAP_FIXED, mc_at(mc, a)) != MAP_FAILED)
			moved = len;
	if (!moved)
		mc->err = "mremap";
	/* Linux < 6.3 unmaps the destination before it finds that the source
	 * spans VMAs: the tail of a failed longer attempt may be a hole now. */
	for (size_t i = moved; i < n; i++)
		if (mc->mapped[a + i] && msync(mc_at(mc, a + i), PG, MS_ASYNC) && errno == ENOMEM)
			mc->mapped[a + i] = 0;
	return moved;
}

/* What the mapping-changes test was doing, for a crash report. */
static volatile int mc_cur_op = -1, mc_cur_round = -1;
static char *volatile mc_base;

static void mc_on_segv(int sig, siginfo_t *si, void *uc)
{
	char msg[160];
	(void)uc;
	int n = snprintf(msg, sizeof(msg), "FAIL mapping-changes: signal %d at %p (range %p) in round %d, op %d\n",
			 sig, si->si_addr, (void *)mc_base, mc_cur_round, mc_cur_op);
	if (write(2, msg, (size_t)n) < 0 || write(1, msg, (size_t)n) < 0)
		_exit(139);
	static char maps[16384];
	int fd = open("/proc/self/maps", O_RDONLY);
	ssize_t got = fd >= 0 ? read(fd, maps, sizeof(maps)) : -1;
	if (got > 0 && write(1, maps, (size_t)got) < 0)
		_exit(139);
	_exit(139);
}

static void mc_op(struct mc *mc, int op)
{
	size_t n, n2;
	long a, b;

	mc_cur_op = op;
	switch (op) {
	case 0: /* dropped */
		if ((a = mc_pick(mc, 1, &n)) >= 0 && madvise(mc_at(mc, a), n * PG, MADV_DONTNEED))
			mc->err = "MADV_DONTNEED";
		break;
	case 1: /* dropped, then read: the zero page is mapped there */
		if ((a = mc_pick(mc, 1, &n)) >= 0) {
			if (madvise(mc_at(mc, a), n * PG, MADV_DONTNEED))
				mc->err = "MADV_DONTNEED";
			for (size_t i = 0; i < n; i++)
				if (*(volatile char *)mc_at(mc, a + i))
					mc->err = "a dropped page does not read zero";
		}
		break;
	case 2: /* replaced: munmap + mmap */
		if ((a = mc_pick(mc, 1, &n)) >= 0) {
			munmap(mc_at(mc, a), n * PG);
			mc_map(mc, a, n);
		}
		break;
	case 3: /* moved within the range onto mapped pages; source mapped again or left a hole */
		if ((a = mc_pick(mc, 1, &n)) >= 0 && (b = mc_pick(mc, 1, &n2)) >= 0 &&
		    (a + (long)n <= b || b + (long)n2 <= a)) {
			n = n < n2 ? n : n2;
			n = mc_move(mc, mc_at(mc, a), b, n);
			mc_set(mc, a, n, 0);
			if (rnd(&mc->s) & 1)
				mc_map(mc, a, n);
		}
		break;
	case 4: /* moved within the range into a hole */
		if ((b = mc_pick(mc, 0, &n2)) >= 0 && (a = mc_pick(mc, 1, &n)) >= 0) {
			n = n < n2 ? n : n2;
			n = mc_move(mc, mc_at(mc, a), b, n);
			mc_set(mc, a, n, 0);
			mc_set(mc, b, n, 1);
		}
		break;
	case 5: /* moved in from outside the range, onto mapped pages or a hole */
		if ((a = mc_pick(mc, rnd(&mc->s) & 1, &n)) >= 0) {
			char *out = mc_outside(mc, 0, n, PROT_READ | PROT_WRITE);
			if (out == MAP_FAILED) {
				mc->err = "mmap";
				break;
			}
			memset(out, 0x44, n * PG);
			size_t moved = mc_move(mc, out, a, n);
			mc_set(mc, a, moved, 1);
			mc_rereserve(mc);
		}
		break;
	case 6: /* moved away out of the range, something else mapped back */
		if ((a = mc_pick(mc, 1, &n)) >= 0) {
			char *away = mc_outside(mc, 1, n, PROT_NONE);
			if (away == MAP_FAILED) {
				mc->err = "mmap";
				break;
			}
			size_t len = n;
			while (len && mremap(mc_at(mc, a), len * PG, len * PG, MREMAP_MAYMOVE | MREMAP_FIXED, away) ==
					      MAP_FAILED)
				len /= 2;
			if (!len)
				mc->err = "mremap away";
			mc_rereserve(mc);
			mc_set(mc, a, len, 0);
			mc_map(mc, a, len);
		}
		break;
	case 7: /* MADV_FREE, then discarded as under memory pressure */
		if ((a = mc_pick(mc, 1, &n)) >= 0) {
			if (madvise(mc_at(mc, a), n * PG, MADV_FREE) || madvise(mc_at(mc, a), n * PG, MADV_PAGEOUT))
				mc->err = "MADV_FREE/MADV_PAGEOUT";
			/* The premise: MADV_PAGEOUT discards a lazily freed page. */
			for (size_t i = 0; i < n; i++)
				if (*(volatile char *)mc_at(mc, a + i))
					mc->err = "MADV_PAGEOUT did not discard a MADV_FREE page";
		}
		break;
	case 8: /* unmapped, left a hole */
		if ((a = mc_pick(mc, 1, &n)) >= 0) {
			munmap(mc_at(mc, a), n * PG);
			mc_set(mc, a, n, 0);
		}
		break;
	case 9: /* a hole mapped again */
		if ((a = mc_pick(mc, 0, &n)) >= 0)
			mc_map(mc, a, n);
		break;
	}
}

static void mc_hash(struct mc *mc, uint64_t *h)
{
	for (size_t i = 0; i < MC_PAGES; i++)
		h[i] = mc->mapped[i] ? hash_page((unsigned char *)mc_at(mc, i)) : 0;
}

static void mapping_changes(enum ooh_backend b)
{
	char name[64];
	snprintf(name, sizeof(name), "%s-mapping-changes", ooh_backend_name(b));
	struct mc mc = { .s = 0x3a9c0de5 + (uint64_t)b };
	uint64_t seed = mc.s, before[MC_PAGES], after[MC_PAGES], got[MC_PAGES + 1];
	unsigned char was[MC_PAGES];

	mc.m = mmap(NULL, MC_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mc.scratch = mmap(NULL, MC_SCRATCH * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mc.m == MAP_FAILED || mc.scratch == MAP_FAILED) {
		result("FAIL", name, "mmap: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < MC_PAGES; i++)
		mc.m[i * PG] = (char)(i | 1);
	mc_set(&mc, 0, MC_PAGES, 1);
	struct ooh_range r = { (uintptr_t)mc.m, MC_PAGES * PG };
	struct sigaction sa = { .sa_sigaction = mc_on_segv, .sa_flags = SA_SIGINFO };
	sigaction(SIGSEGV, &sa, NULL); /* before ooh_open: mprotect chains to it */
	mc_base = mc.m;
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .flags = OOH_OPEN_START,
				   .ranges = &r, .nr_ranges = 1 };
	ooh_tracker *t;
	int err = ooh_open(&o, &t);
	if (err) {
		result("FAIL", name, "open: %s", ooh_strerror(err));
		munmap(mc.m, MC_PAGES * PG);
		return;
	}
	size_t missed = 0, changed = 0, fp = 0, overflow = 0;
	static const unsigned char zero_page[PG];
	const uint64_t zero_hash = hash_page(zero_page);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int round = 0; round < MC_ROUNDS && !err && !mc.err; round++) {
		mc_cur_round = round;
		mc_cur_op = -1;
		mc_hash(&mc, before);
		memcpy(was, mc.mapped, sizeof(was));
		if (mc_writes(&mc, rnd(&mc.s))) {
			mc.err = "pthread_create";
			break;
		}
		/* every kind of change, in a random order */
		int order[10];
		for (int i = 0; i < 10; i++)
			order[i] = i;
		for (int i = 9; i > 0; i--) {
			int j = (int)(rnd(&mc.s) % (uint64_t)(i + 1)), x = order[i];
			order[i] = order[j];
			order[j] = x;
		}
		for (int i = 0; i < 10 && !mc.err; i++)
			mc_op(&mc, order[i]);
		if (mc.err || mc_writes(&mc, rnd(&mc.s)))
			break;
		uint32_t flags;
		long n = collect_all(t, OOH_COLLECT_REARM, got, MC_PAGES + 1, &flags);
		if (n < 0) {
			result("FAIL", name, "collect: %s", ooh_strerror((int)n));
			err = (int)n;
			break;
		}
		overflow += !!(flags & OOH_RESULT_OVERFLOW);
		mc_hash(&mc, after);
		for (size_t i = 0; i < MC_PAGES; i++) {
			/* a page mapped now whose content may differ: another hash, or
			 * newly mapped with data (mapped anew and untouched, it reads
			 * zero: reported once written, as ooh.h allows; a page no
			 * longer mapped is not the target's: reporting it is allowed,
			 * not required) */
			int ch = mc.mapped[i] && (was[i] ? before[i] != after[i] : after[i] != zero_hash);
			int rep = contains(got, n, (uintptr_t)mc_at(&mc, i));
			changed += ch;
			if (ch && !rep && !(flags & OOH_RESULT_OVERFLOW) && missed++ < 3)
				fprintf(stderr, "%s: round %d: page %zu (%s) not reported\n", name, round, i,
					was[i] ? "content" : "mapped");
			fp += !ch && rep && mc.mapped[i];
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (mc.err)
		result("FAIL", name, "seed %#llx: set-up step failed: %s (%s)", (unsigned long long)seed, mc.err,
		       strerror(errno));
	else if (!err && missed)
		result("FAIL", name, "seed %#llx: %zu of %zu changed pages not reported",
		       (unsigned long long)seed, missed, changed);
	else if (!err)
		result("PASS", name, "seed %#llx: %d rounds, %zu changed pages all reported, "
		       "%zu false positives, %zu overflowed intervals, %.0f ms", (unsigned long long)seed,
		       MC_ROUNDS, changed, fp, overflow, ms);
	ooh_close(t);
	munmap(mc.m, MC_PAGES * PG);
	munmap(mc.scratch, MC_SCRATCH * PG);
}

#define JP 64 /* pages per tracker */

static void joined(enum ooh_backend b)
{
	char name[64];
	snprintf(name, sizeof(name), "%s-joined", ooh_backend_name(b));
	char *m = mmap(NULL, 2 * JP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t got[2][2 * JP];
	ooh_tracker *t[2] = { NULL, NULL };
	const char *why = NULL;
	uint32_t rflags;
	long n[2];

	if (m == MAP_FAILED) {
		result("FAIL", name, "mmap: %s", strerror(errno));
		return;
	}
	memset(m, 1, 2 * JP * PG);
	for (int k = 0; k < 2; k++) {
		struct ooh_range r = { (uint64_t)(uintptr_t)(m + k * JP * PG), JP * PG };
		struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .flags = OOH_OPEN_START,
					   .ranges = &r, .nr_ranges = 1 };
		int err = ooh_open(&o, &t[k]);
		if (err == -EBUSY && k) { /* softdirty: one tracker per process */
			result("SKIP", name, "a second tracker refused: %s", ooh_strerror(err));
			goto out;
		}
		if (err) {
			result("FAIL", name, "ooh_open: %s", ooh_strerror(err));
			goto out;
		}
	}
	/* Two trackers at one instant: every written page reported. */
	for (int round = 0; round < 4 && !why; round++) {
		/* a page of the joined tracker dropped without a store */
		char *dropped = m + (JP + round + 1) * PG;
		if (madvise(dropped, PG, MADV_DONTNEED)) {
			why = "madvise(MADV_DONTNEED) failed";
			break;
		}
		for (int i = round; i < 2 * JP; i += 3)
			m[i * PG + round] = (char)(round + 2);
		n[0] = collect_all(t[0], OOH_COLLECT_REARM, got[0], 2 * JP, &rflags);
		n[1] = collect_all(t[1], OOH_COLLECT_REARM | OOH_COLLECT_JOINED, got[1], 2 * JP, &rflags);
		if (n[0] < 0 || n[1] < 0) {
			why = "collect failed";
			break;
		}
		for (int i = round; i < 2 * JP && !why; i += 3)
			if (!contains(got[i / JP], n[i / JP], (uint64_t)(uintptr_t)(m + i * PG)))
				why = i < JP ? "a page of the first tracker missing" :
					       "a page of the joined tracker missing";
		if (!why && !contains(got[1], n[1], (uint64_t)(uintptr_t)dropped))
			why = "a page dropped with MADV_DONTNEED missing from the joined collect";
	}
	/* Joined with no collect before it: deferred at most, never lost. */
	for (int i = 1; i < JP && !why; i += 2)
		m[(JP + i) * PG] = 9;
	n[0] = collect_all(t[1], OOH_COLLECT_REARM | OOH_COLLECT_JOINED, got[0], 2 * JP, &rflags);
	n[1] = collect_all(t[1], OOH_COLLECT_REARM, got[1], 2 * JP, &rflags);
	if (!why && (n[0] < 0 || n[1] < 0))
		why = "collect failed";
	for (int i = 1; i < JP && !why; i += 2) {
		uint64_t a = (uint64_t)(uintptr_t)(m + (JP + i) * PG);
		if (!contains(got[0], n[0], a) && !contains(got[1], n[1], a))
			why = "a page written before a joined collect reported by neither it nor the next";
	}
	if (why)
		result("FAIL", name, "%s", why);
	else
		result("PASS", name, "4 joined rounds and a deferral: every written or dropped page reported");
out:
	for (int k = 0; k < 2; k++)
		if (t[k])
			ooh_close(t[k]);
	munmap(m, 2 * JP * PG);
}

static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
			return 1;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *must_work = NULL, *must_fail = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--usable") && i + 1 < argc)
			must_work = argv[++i];
		else if (!strcmp(argv[i], "--unusable") && i + 1 < argc)
			must_fail = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--usable B,...] [--unusable B,...]\n", argv[0]);
			return 2;
		}
	}
	for (int b = 1; b <= OOH_BACKEND_MAX; b++) {
		struct ooh_backend_info info;
		const char *name = ooh_backend_name((enum ooh_backend)b);
		char probe[64];
		snprintf(probe, sizeof(probe), "%s-probe", name);
		ooh_probe((enum ooh_backend)b, &info);
		if (info.status == 0) {
			if (listed(must_fail, name))
				result("FAIL", probe, "usable, but expected to be refused here");
			else
				result("PASS", probe, "usable");
			differential((enum ooh_backend)b, 0);
			mapping_changes((enum ooh_backend)b);
			joined((enum ooh_backend)b);
			if (info.caps & OOH_CAP_REMOTE)
				differential((enum ooh_backend)b, 1);
			continue;
		}
		if (listed(must_work, name))
			result("FAIL", probe, "expected usable, refused: %s", info.reason);
		else if (!info.reason[0])
			result("FAIL", probe, "refused without a reason");
		else if (listed(must_fail, name))
			result("PASS", probe, "refused as expected: %s", info.reason);
		else
			result("SKIP", probe, "not usable here: %s", info.reason);
		/* A refused backend must not open either. */
		struct ooh_open_opts o = { .size = sizeof(o), .backend = (enum ooh_backend)b };
		ooh_tracker *t;
		char open_name[64];
		snprintf(open_name, sizeof(open_name), "%s-refuses-open", name);
		int err = ooh_open(&o, &t);
		if (err == -EOPNOTSUPP || (err == -EINVAL && b == OOH_BACKEND_MPROTECT))
			result("PASS", open_name, "ooh_open: %s", ooh_strerror(err));
		else {
			result("FAIL", open_name, "ooh_open returned %d", err);
			if (!err)
				ooh_close(t);
		}
	}
	return failures ? 1 : 0;
}
