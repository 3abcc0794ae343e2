// SPDX-License-Identifier: GPL-2.0
/*
 * ooh-guard-bench-mix: the workload driver of the heap-guard benchmark
 * (examples/guard/guard-bench.sh). It only calls malloc/calloc/realloc/
 * posix_memalign/free, so that the allocator under test is whatever the
 * runner preloads: glibc (nothing), Electric Fence, libooh-guard.
 *
 *   mix --objects N [--seed S] [--free-ratio R]
 *	Grow to N live objects. After each new object, with probability R
 *	(default 0.25) one random live object is churned: freed and replaced
 *	by a fresh allocation (half the time) or realloc()ed to a new size
 *	(the other half). Every allocation is written whole once (memset
 *	with a byte derived from slot and generation); at the end every byte
 *	of every live object is read back and checked, a checksum over all
 *	of them is printed (it depends only on N, S and R: every allocator
 *	must print the same), and everything is freed.
 *	Prints: "mix objects N allocs A frees F reallocs X bytes B checksum C".
 *	Exit 0, or 3 if an object did not hold what was written into it.
 *
 *   maxlive --limit N [--size B | --size-mix | --size-small]
 *	Allocate objects and write each whole, never freeing, until N are
 *	live (exit 0), malloc returns NULL (exit 2) or the process dies.
 *	Prints "live K" after every 10 000 objects, flushed, so that the
 *	runner knows how far a process got that a signal killed; then
 *	"maxlive K limit|null". Sizes: --size-small (default): the 16-256 B
 *	part of the distribution below; --size-mix: the whole distribution;
 *	--size B: every object B bytes. The pointer array is mmap()ed, not
 *	malloc()ed, and nothing is freed at the end (exit is the free).
 *
 *   --progress FILE (mix, maxlive): FILE holds, as one native uint64 updated
 *	after every object, how many objects are live (mix: grown so far):
 *	the exact count at which a killed process died (od -An -t u8 FILE).
 *
 *   gen-lines --lines N [--seed S]	N random text lines on stdout (sort input)
 *   gen-text --bytes N [--seed S]	N bytes of word-like text on stdout (xz input)
 *	Deterministic for a given seed on every machine (own PRNG).
 *
 * Size distribution (piecewise log-uniform, uniform within each bucket;
 * inclusive bounds), chosen to look like the malloc size histograms of real
 * C programs -- mostly small objects, a thin tail of large buffers:
 *	  16 -    31 B  25.0 %  \
 *	  32 -    63 B  25.0 %   |  85 % in 16 B - 256 B
 *	  64 -   127 B  20.0 %   |
 *	 128 -   256 B  15.0 %  /
 *	 257 -  1024 B   9.0 %  \  13 % in 256 B - 4 KiB
 *	1025 -  4096 B   4.0 %  /
 *	4097 - 16384 B   1.5 %  \   2 % in 4 KiB - 64 KiB
 *     16385 - 65536 B   0.5 %  /
 * (mean 584 B; 77 B in the 16-256 B part). 1 allocation in 16 is made with calloc(), 1 in 64
 * with posix_memalign(64); the rest with malloc(). No size is ever 0 (Electric
 * Fence aborts on malloc(0)), aligned_alloc() is not used (Electric Fence
 * does not interpose it), and nothing relies on malloc_usable_size() or on
 * more alignment than EF_ALIGNMENT gives: objects are only touched bytewise.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* With ooh-guard's header at hand (examples/guard), mix and maxlive end by
 * printing the preloaded ooh-guard's own counts, if it is there: the runner
 * shows whether the objects really were guarded (and not degraded to plain). */
#if defined(__has_include)
#if __has_include("ooh-guard.h")
#include "ooh-guard.h"
#define HAVE_OOH_GUARD_STATS 1
#endif
#endif

static void print_guard_stats(void)
{
#ifdef HAVE_OOH_GUARD_STATS
	int (*stats)(struct ooh_guard_stats *) =
		(int (*)(struct ooh_guard_stats *))dlsym(RTLD_DEFAULT, "ooh_guard_stats");
	struct ooh_guard_stats st;

	if (!stats || stats(&st))
		return;
	printf("guard-stats guarded %" PRIu64 " plain %" PRIu64 " live %" PRIu64
	       " heap_bytes %" PRIu64 " backend %d degraded %d sample %u\n",
	       st.guarded_allocs, st.plain_allocs, st.live_objects, st.heap_bytes,
	       st.backend, st.degraded, st.sample);
	fflush(stdout);
#endif
}

/* OOH_BENCH_SMAPS=FILE: a copy of /proc/self/smaps with every object live,
 * so that the peak's resident memory can be broken down by mapping. */
static void save_smaps(void)
{
	const char *path = getenv("OOH_BENCH_SMAPS");
	char buf[65536];
	ssize_t n;
	int in, out;

	if (!path)
		return;
	in = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			break;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

static uint64_t rng_state;
static uint64_t progress_dummy;
static volatile uint64_t *progress = &progress_dummy;

static uint64_t rng(void)
{
	/* splitmix64: small, good enough, identical everywhere */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
	return rng() % n;
}

struct bucket {
	size_t lo, hi;		/* inclusive */
	unsigned permille;	/* tenths of a percent */
};

static const struct bucket size_buckets[] = {
	{ 16, 31, 250 }, { 32, 63, 250 }, { 64, 127, 200 }, { 128, 256, 150 },
	{ 257, 1024, 90 }, { 1025, 4096, 40 },
	{ 4097, 16384, 15 }, { 16385, 65536, 5 },
};
#define N_BUCKETS (sizeof(size_buckets) / sizeof(size_buckets[0]))
#define N_SMALL_BUCKETS 4	/* 16 - 256 B: 850 permille */

static size_t draw_size(unsigned nbuckets)
{
	unsigned total = 0, i, u;

	for (i = 0; i < nbuckets; i++)
		total += size_buckets[i].permille;
	u = (unsigned)rng_below(total);
	for (i = 0; i < nbuckets - 1; i++) {
		if (u < size_buckets[i].permille)
			break;
		u -= size_buckets[i].permille;
	}
	return size_buckets[i].lo + rng_below(size_buckets[i].hi - size_buckets[i].lo + 1);
}

static void *bench_alloc(size_t size)
{
	uint64_t how = rng_below(64);
	void *p = NULL;

	if (how < 4) {
		p = calloc(1, size);
	} else if (how == 4) {
		if (posix_memalign(&p, 64, size))
			p = NULL;
	} else {
		p = malloc(size);
	}
	return p;
}

static void die_oom(const char *what, size_t size, uint64_t done)
{
	printf("%s(%zu) returned NULL after %" PRIu64 " objects\n", what, size, done);
	fflush(stdout);
	exit(2);
}

static unsigned char fill_byte(uint64_t slot, uint64_t gen)
{
	uint64_t h = (slot + 1) * 0x9E3779B97F4A7C15ull ^ (gen + 1) * 0xC2B2AE3D27D4EB4Full;

	return (unsigned char)((h >> 56) | 1);	/* never 0: calloc's zeros would pass */
}

static void *map_array(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static void map_progress(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	void *p;

	if (fd < 0 || ftruncate(fd, sizeof(uint64_t))) {
		perror(path);
		exit(1);
	}
	p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap progress");
		exit(1);
	}
	close(fd);
	progress = p;
}

static int run_mix(uint64_t n, double free_ratio)
{
	unsigned char **obj = map_array(n * sizeof(*obj) + 1);
	size_t *size = map_array(n * sizeof(*size) + 1);
	uint32_t *gen = map_array(n * sizeof(*gen) + 1);
	uint64_t churn_threshold = (uint64_t)(free_ratio * 1048576.0);
	uint64_t live = 0, allocs = 0, frees = 0, reallocs = 0, bytes = 0;
	uint64_t checksum = 0xcbf29ce484222325ull, bad = 0, i;

	while (live < n) {
		size[live] = draw_size(N_BUCKETS);
		obj[live] = bench_alloc(size[live]);
		if (!obj[live])
			die_oom("malloc", size[live], live);
		allocs++;
		gen[live] = 0;
		memset(obj[live], fill_byte(live, 0), size[live]);
		live++;
		*progress = live;
		if (rng_below(1048576) < churn_threshold) {
			uint64_t j = rng_below(live);
			size_t ns = draw_size(N_BUCKETS);

			gen[j]++;
			if (rng() & 1) {
				free(obj[j]);
				frees++;
				obj[j] = bench_alloc(ns);
				if (!obj[j])
					die_oom("malloc", ns, live);
				allocs++;
			} else {
				unsigned char *q = realloc(obj[j], ns);

				if (!q)
					die_oom("realloc", ns, live);
				obj[j] = q;
				reallocs++;
			}
			size[j] = ns;
			memset(obj[j], fill_byte(j, gen[j]), ns);
		}
	}

	for (i = 0; i < n; i++) {
		const unsigned char *p = obj[i];
		unsigned char want = fill_byte(i, gen[i]);
		uint64_t sum = 0;
		size_t k, wrong = 0;

		for (k = 0; k < size[i]; k++) {
			sum += p[k];
			wrong += p[k] != want;
		}
		if (wrong) {
			if (bad < 5)
				fprintf(stderr, "object %" PRIu64 " (%zu B at %p): %zu bytes differ\n",
					i, size[i], (void *)p, wrong);
			bad++;
		}
		bytes += size[i];
		checksum = (checksum ^ (sum + size[i])) * 0x100000001b3ull;
	}
	print_guard_stats();	/* all N live */
	save_smaps();
	for (i = 0; i < n; i++) {
		free(obj[i]);
		frees++;
	}
	printf("mix objects %" PRIu64 " allocs %" PRIu64 " frees %" PRIu64 " reallocs %" PRIu64
	       " bytes %" PRIu64 " checksum %016" PRIx64 "\n",
	       n, allocs, frees, reallocs, bytes, checksum);
	if (bad) {
		printf("CORRUPT: %" PRIu64 " objects did not hold what was written\n", bad);
		return 3;
	}
	return 0;
}

static int run_maxlive(uint64_t limit, size_t fixed, unsigned nbuckets)
{
	void **obj = map_array(limit * sizeof(*obj) + 1);
	uint64_t live;

	for (live = 0; live < limit; live++) {
		size_t sz = fixed ? fixed : draw_size(nbuckets);
		unsigned char *p = malloc(sz);

		if (!p) {
			print_guard_stats();
			printf("maxlive %" PRIu64 " null\n", live);
			fflush(stdout);
			return 2;
		}
		memset(p, (int)(live | 1), sz);
		obj[live] = p;
		*progress = live + 1;
		if ((live + 1) % 10000 == 0) {
			printf("live %" PRIu64 "\n", live + 1);
			fflush(stdout);
		}
	}
	print_guard_stats();
	printf("maxlive %" PRIu64 " limit\n", live);
	fflush(stdout);
	return 0;
}

/* Output via a fixed static buffer: the generators allocate nothing. */
static char outbuf[1 << 16];
static size_t outlen;

static void out_flush(void)
{
	size_t off = 0;

	while (off < outlen) {
		ssize_t w = write(1, outbuf + off, outlen - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("write");
			exit(1);
		}
		off += (size_t)w;
	}
	outlen = 0;
}

static void out_char(char c)
{
	if (outlen == sizeof(outbuf))
		out_flush();
	outbuf[outlen++] = c;
}

static void gen_lines(uint64_t lines)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	uint64_t i;

	for (i = 0; i < lines; i++) {
		uint64_t len = 8 + rng_below(56), k;

		for (k = 0; k < len; k++)
			out_char(alpha[rng_below(sizeof(alpha) - 1)]);
		out_char('\n');
	}
	out_flush();
}

/* Text from a 512-word vocabulary with a skewed (Zipf-like) choice, and
 * numbers: compresses roughly like real text (xz -6: a few to one). */
static void gen_text(uint64_t bytes)
{
	char vocab[512][12];
	uint64_t n = 0;
	unsigned i, col = 0;

	for (i = 0; i < 512; i++) {
		unsigned len = 2 + (unsigned)rng_below(9), k;

		for (k = 0; k < len; k++)
			vocab[i][k] = (char)('a' + rng_below(26));
		vocab[i][len] = 0;
	}
	while (n < bytes) {
		char word[24];
		uint64_t r = rng_below(100);
		size_t k, len;

		if (r < 5) {
			len = (size_t)snprintf(word, sizeof(word), "%" PRIu64, rng_below(100000));
		} else {
			/* two uniform draws multiplied: small indices much more often */
			uint64_t idx = rng_below(512) * rng_below(512) / 512;

			len = strlen(vocab[idx]);
			memcpy(word, vocab[idx], len);
		}
		for (k = 0; k < len && n < bytes; k++, n++)
			out_char(word[k]);
		col += (unsigned)len + 1;
		if (n < bytes) {
			out_char(col > 72 ? '\n' : ' ');
			n++;
			if (col > 72)
				col = 0;
		}
	}
	out_flush();
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ooh-guard-bench-mix mix --objects N [--seed S] [--free-ratio R] [--progress FILE]\n"
		"       ooh-guard-bench-mix maxlive --limit N [--size B | --size-mix | --size-small]\n"
		"                                   [--seed S] [--progress FILE]\n"
		"       ooh-guard-bench-mix gen-lines --lines N [--seed S]\n"
		"       ooh-guard-bench-mix gen-text --bytes N [--seed S]\n");
	exit(1);
}

static uint64_t num_arg(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	uint64_t count = 0, seed = 1;
	double free_ratio = 0.25;
	size_t fixed = 0;
	unsigned nbuckets = N_SMALL_BUCKETS;
	const char *mode, *progress_path = NULL;
	int i;

	if (argc < 2)
		usage();
	mode = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--size-mix")) {
			nbuckets = N_BUCKETS;
			continue;
		}
		if (!strcmp(a, "--size-small")) {
			nbuckets = N_SMALL_BUCKETS;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "--objects") || !strcmp(a, "--limit") ||
		    !strcmp(a, "--lines") || !strcmp(a, "--bytes")) {
			count = num_arg(argv[++i]);
		} else if (!strcmp(a, "--progress")) {
			progress_path = argv[++i];
		} else if (!strcmp(a, "--seed")) {
			seed = num_arg(argv[++i]);
		} else if (!strcmp(a, "--size")) {
			fixed = num_arg(argv[++i]);
			if (!fixed)
				usage();
		} else if (!strcmp(a, "--free-ratio")) {
			char *end;

			free_ratio = strtod(argv[++i], &end);
			if (*end || free_ratio < 0 || free_ratio > 1)
				usage();
		} else {
			usage();
		}
	}
	rng_state = seed;
	if (!count)
		usage();
	if (progress_path)
		map_progress(progress_path);
	if (!strcmp(mode, "mix"))
		return run_mix(count, free_ratio);
	if (!strcmp(mode, "maxlive"))
		return run_maxlive(count, fixed, nbuckets);
	if (!strcmp(mode, "gen-lines")) {
		gen_lines(count);
		return 0;
	}
	if (!strcmp(mode, "gen-text")) {
		gen_text(count);
		return 0;
	}
	usage();
	return 1;
}
