/* SPDX-License-Identifier: MIT */
/*
 * ooh-ckpt: incremental checkpoints of a running process's memory, with
 * libooh telling which pages changed.
 *
 *   ooh-ckpt dump PID DIR [-n N] [-i MS] [-r START-END]... [--kick SIG] [-b BACKEND]
 *                [--allow-lossy-backend] [--reference]
 *       N checkpoints (default 1), MS apart (default 1000): ckpt-0000.img is
 *       a full image, every following one holds only the pages libooh
 *       reports changed since the previous checkpoint (kind "incr"; "ovfl"
 *       when libooh reported an overflow and every page was saved instead).
 *       The target is frozen (SIGSTOP) while each checkpoint is taken, so
 *       each image is consistent.  --kick sends SIG to the target after each
 *       checkpoint (benchmarks, tests).  A backend without
 *       OOH_CAP_MAPPING_CHANGES is refused unless --allow-lossy-backend
 *       (then pages dropped or re-mapped without a later write are restored
 *       with stale contents; verify flags such images).  --reference also
 *       copies all selected memory through /proc/PID/mem while frozen, to
 *       ref-NNNN.mem (tests: the ground truth).
 *   ooh-ckpt restore DIR PID [-k K] [--no-resume]
 *       write the memory state of checkpoint K (default: the last) into the
 *       (restarted, stopped) process PID and continue it with SIGCONT.
 *   ooh-ckpt verify DIR
 *       check the chain (sizes, checksums, links) and list it.
 *   ooh-ckpt materialize DIR OUT [-k K]
 *       write the memory checkpoint K gives, in ref-NNNN.mem's format.
 *
 * What is captured: the contents of the target's private writable mappings
 * (anonymous memory, heap, stack, data/bss, written pages of private file
 * mappings), or of those inside the -r ranges, page by page, and their
 * layout (addresses, sizes, protections, anonymous or file) as metadata of
 * each image.  Memory that changes without a store is captured too, as
 * CRIU does: anonymous pages dropped (MADV_DONTNEED; MADV_FREE pages the
 * kernel discarded, as far as libooh reports those: not tested, since when
 * they go is up to memory pressure), re-created (munmap + mmap) or newly
 * mapped are recorded as
 * zero runs and restored as zero; moved memory (mremap) is taken at its new
 * place; regions that disappeared are absent from the next image's layout
 * and not restored.  libooh reports such pages (OOH_CAP_MAPPING_CHANGES);
 * /proc/PID/pagemap tells which of them are no longer present.
 * What is NOT captured: registers and CPU state, threads, file descriptors
 * and offsets, sockets, pipes, signal handlers and masks, timers, shared
 * mappings (MAP_SHARED, SysV/POSIX shm), read-only mappings (code: the
 * restarted program must be the same binary), file contents (a page of a
 * private file mapping never written is the file's), kernel state.
 * Hence the target cooperates: on restart it recreates the mappings whose
 * contents it needs at the same addresses (e.g. MAP_FIXED_NOREPLACE), stops
 * itself (raise(SIGSTOP)) and, once continued, carries on from the state it
 * finds in memory; and that state is consistent at any instruction (a
 * journal, see ckpt-target.c), because a checkpoint may freeze it anywhere.
 * restore fills only the image regions that lie inside a writable private
 * mapping of the same kind (anonymous / file) of the restarted process, and
 * lists the others.
 *
 * Image file ckpt-NNNN.img (little-endian), version 3:
 *   header (struct img_hdr), region table (struct img_region x nregions),
 *   page addresses (u64 x npages, ascending), zero runs (struct img_run x
 *   nzero, ascending: pages that read as zero), page data (4096 x npages),
 *   trailer "OOHCKEND" + 64-bit checksum of everything before it.
 *   Versions 1 and 2 (no zero runs) are still read.
 *   An incremental image names its parent by sequence number and by the
 *   parent's checksum, so a replaced, reordered or missing link is caught.
 *   The format's structures, the checksum, the chain reader and the
 *   restore's writes are in ckpt-image.c (fuzzed: tests/fuzz/ckpt-image).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ckpt-image.h"
#include "ooh.h"

#define MAX_RANGES 64
#define SNAP_MAX (256ull << 20) /* copy up to this much while frozen, write after */
/*
 * Checksum in a second thread (while this one writes) only from this size
 * on: for an incremental image of a few MiB, starting and joining a thread
 * costs more than the checksum itself (1.3 MiB: ~1 ms to checksum in the
 * rig's L2; with the thread, incremental checkpoints took ~20 % longer in
 * L1 and L2).
 */
#define HASH_THREAD_MIN (16ull << 20)

struct runv {
	struct img_run *v;
	size_t n, cap;
};

/* Append [start, start + len), merged with the last run when they touch. */
static int run_add(struct runv *r, uint64_t start, uint64_t len)
{
	if (r->n && r->v[r->n - 1].start + r->v[r->n - 1].len == start) {
		r->v[r->n - 1].len += len;
		return 0;
	}
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		struct img_run *nv = realloc(r->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		r->v = nv;
		r->cap = nc;
	}
	r->v[r->n++] = (struct img_run){ start, len };
	return 0;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- target memory layout ---- */
struct region_set {
	struct img_region *v;
	size_t n;
};

/*
 * The target's /proc files, opened once and re-read (pread from 0) at every
 * checkpoint: /proc/PID/stat for the stop, /proc/PID/maps for the layout.
 */
struct procf {
	int stat, maps, polls;
	char *buf; /* the last /proc/PID/maps text */
	size_t cap;
};
#define PROCF_INIT { -1, -1, 0, NULL, 0 }

/* how long wait_stopped() polls with sched_yield() before it sleeps between polls */
#define SPIN_MS 20.0

static void procf_close(struct procf *pf)
{
	if (pf->stat >= 0)
		close(pf->stat);
	if (pf->maps >= 0)
		close(pf->maps);
	free(pf->buf);
	*pf = (struct procf)PROCF_INIT;
}

/* Read all of fd (from offset 0) into pf->buf, NUL-terminated: bytes read, or -errno. */
static long read_whole(int fd, struct procf *pf)
{
	size_t len = 0;
	for (;;) {
		if (pf->cap - len < 4097) {
			size_t nc = pf->cap ? pf->cap * 2 : 65536;
			char *nb = realloc(pf->buf, nc);
			if (!nb)
				return -ENOMEM;
			pf->buf = nb;
			pf->cap = nc;
		}
		ssize_t r = pread(fd, pf->buf + len, pf->cap - len - 1, (off_t)len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == ESRCH ? -ESRCH : -errno;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	pf->buf[len] = 0;
	return (long)len;
}

static int read_regions(pid_t pid, const struct img_region *filt, size_t nfilt, struct region_set *out,
			struct procf *pf)
{
	if (pf->maps < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
		pf->maps = open(path, O_RDONLY | O_CLOEXEC);
		if (pf->maps < 0)
			return errno == ENOENT ? -ESRCH : -errno;
	}
	long got = read_whole(pf->maps, pf);
	if (got <= 0)
		return got < 0 ? (int)got : -ESRCH; /* no mappings: the process is gone */
	out->v = NULL;
	out->n = 0;
	size_t cap = 0;
	for (char *line = pf->buf, *nl; *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = 0;
		else
			nl = line + strlen(line);
		unsigned long s, e, inode;
		char perm[8];
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &s, &e, perm, &inode) != 4)
			continue;
		if (perm[1] != 'w' || perm[3] != 'p' || strstr(line, "[vsyscall]"))
			continue;
		/* file-backed: a page not present reads as the file's, not as zero */
		uint64_t prot = (perm[0] == 'r') | (perm[1] == 'w') << 1 | (perm[2] == 'x') << 2 |
				(inode ? REG_FILE : 0);
		for (size_t k = 0; k < (nfilt ? nfilt : 1); k++) {
			uint64_t a = s, b = e;
			if (nfilt) {
				a = a > filt[k].start ? a : filt[k].start;
				b = b < filt[k].start + filt[k].len ? b : filt[k].start + filt[k].len;
			}
			if (a >= b)
				continue;
			if (out->n == cap) {
				cap = cap ? cap * 2 : 64;
				struct img_region *nv = realloc(out->v, cap * sizeof(*nv));
				if (!nv)
					return -ENOMEM;
				out->v = nv;
			}
			out->v[out->n++] = (struct img_region){ a, b - a, prot };
		}
	}
	return 0;
}

/* Pagemap entries: bit 63 present, bit 62 swapped (or another swap-type entry). */
#define PM_THERE(e) ((e) >> 62)

/*
 * Present (or swapped) pages of the regions, appended to *pages; with zr,
 * the runs of pages of anonymous regions that are neither are appended to
 * *zr: they read as zero, and an image says so instead of storing them.
 */
static int present_pages(pid_t pid, const struct region_set *rs, uint64_t **pages, size_t *n, size_t *cap,
			 struct runv *zr)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t *ent = malloc(BATCH_PAGES * 8);
	int err = ent ? 0 : -ENOMEM;
	for (size_t r = 0; r < rs->n && !err; r++) {
		bool anon = !(rs->v[r].prot & REG_FILE);
		for (uint64_t a = rs->v[r].start; a < rs->v[r].start + rs->v[r].len && !err;) {
			size_t cnt = (size_t)((rs->v[r].start + rs->v[r].len - a) / PG);
			if (cnt > BATCH_PAGES)
				cnt = BATCH_PAGES;
			ssize_t got = pread(fd, ent, cnt * 8, (off_t)(a / PG * 8));
			if (got <= 0) {
				err = got < 0 ? -errno : -EIO;
				break;
			}
			cnt = (size_t)got / 8;
			for (size_t i = 0; i < cnt && !err; i++) {
				if (!PM_THERE(ent[i])) {
					if (zr && anon)
						err = run_add(zr, a + i * PG, PG);
					continue;
				}
				if (*n == *cap) {
					*cap = *cap ? *cap * 2 : 4096;
					uint64_t *np = realloc(*pages, *cap * 8);
					if (!np) {
						err = -ENOMEM;
						break;
					}
					*pages = np;
				}
				(*pages)[(*n)++] = a + i * PG;
			}
			a += cnt * PG;
		}
	}
	free(ent);
	close(fd);
	return err;
}

static const struct img_region *region_of(const struct region_set *rs, uint64_t a)
{
	for (size_t i = 0; i < rs->n; i++)
		if (a >= rs->v[i].start && a < rs->v[i].start + rs->v[i].len)
			return &rs->v[i];
	return NULL;
}

/*
 * Of the pages libooh reported (ascending, each in a region of rs), move
 * those that are neither present nor swapped in an anonymous region to *zr:
 * dropped (MADV_DONTNEED) or freshly (re)mapped memory, whose content is
 * now zero.  They are not read (reading would fault them in, and a page
 * registered for missing-page userfaults cannot be read from outside).
 * The pagemap is read in windows of 512 entries around the pages.
 */
static int split_absent(pid_t pid, const struct region_set *rs, uint64_t *pages, size_t *n, struct runv *zr)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t ent[512], wbase = 0, wn = 0;
	size_t m = 0;
	int err = 0;
	for (size_t i = 0; i < *n && !err; i++) {
		uint64_t a = pages[i];
		const struct img_region *r = region_of(rs, a);
		if (r && !(r->prot & REG_FILE)) {
			if (a < wbase || a >= wbase + wn * PG) {
				ssize_t got = pread(fd, ent, sizeof(ent), (off_t)(a / PG * 8));
				if (got < 8) {
					err = got < 0 ? -errno : -EIO;
					break;
				}
				wbase = a;
				wn = (uint64_t)got / 8;
			}
			if (!PM_THERE(ent[(a - wbase) / PG])) {
				err = run_add(zr, a, PG);
				continue;
			}
		}
		pages[m++] = a;
	}
	close(fd);
	*n = m;
	return err;
}

static int cmp_run(const void *a, const void *b)
{
	uint64_t x = ((const struct img_run *)a)->start, y = ((const struct img_run *)b)->start;
	return x < y ? -1 : x > y;
}

/* Sort runs and merge those that overlap or touch. */
static void runs_normalize(struct runv *r)
{
	if (!r->n)
		return;
	qsort(r->v, r->n, sizeof(*r->v), cmp_run);
	size_t m = 0;
	for (size_t i = 1; i < r->n; i++) {
		struct img_run *l = &r->v[m];
		if (r->v[i].start <= l->start + l->len) {
			uint64_t e = r->v[i].start + r->v[i].len;
			if (e > l->start + l->len)
				l->len = e - l->start;
		} else {
			r->v[++m] = r->v[i];
		}
	}
	r->n = m + 1;
}

/*
 * Poll the stat file fd until its task is in a stop state (after SIGSTOP):
 * at once, then with sched_yield() for SPIN_MS (the target usually stops
 * within its next time slice; a sleep costs timer exits in a guest), then
 * every 100 us.  1: stopped (buf holds the stat line), 0: gone, -EIO,
 * -ETIMEDOUT.  *polls counts the reads.
 */
static int poll_stopped(int fd, char *buf, size_t cap, int *polls)
{
	double spin_end = mono_ms() + SPIN_MS;
	for (int k = 0; k < 20000; k++) {
		*polls = k + 1;
		ssize_t n = pread(fd, buf, cap - 1, 0);
		if (n <= 0)
			return 0;
		buf[n] = 0;
		char *p = strrchr(buf, ')');
		if (!p || p[1] != ' ')
			return -EIO;
		if (p[2] == 'Z' || p[2] == 'X')
			return 0;
		if (p[2] == 'T' || p[2] == 't')
			return 1;
		if (mono_ms() < spin_end)
			sched_yield();
		else
			usleep(100);
	}
	return -ETIMEDOUT;
}

/* Wait until task tid of pid is stopped: 1, 0 (a thread that exited) or
 * -ESRCH (the main thread gone), -EIO, -ETIMEDOUT. */
static int wait_task_stopped(pid_t pid, pid_t tid)
{
	char path[96], buf[512];
	int polls;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pid == tid ? -ESRCH : 0;
	int rc = poll_stopped(fd, buf, sizeof(buf), &polls);
	close(fd);
	return rc == 0 && pid == tid ? -ESRCH : rc;
}

/*
 * Wait until every thread of pid is stopped (after SIGSTOP: the group stop
 * reaches each thread on its own), so that nothing writes while we collect
 * (libooh is told so: OOH_COLLECT_FROZEN) and copy.  /proc/PID/stat (kept
 * open in pf) gives the main thread's state and the number of threads: a
 * single-threaded target is done once its main thread is seen stopped (no
 * thread can be created during a group stop); otherwise every task of
 * /proc/PID/task is waited for.
 */
static int wait_stopped(pid_t pid, struct procf *pf)
{
	char buf[1024];
	if (pf->stat < 0) {
		snprintf(buf, sizeof(buf), "/proc/%d/stat", (int)pid);
		pf->stat = open(buf, O_RDONLY | O_CLOEXEC);
		if (pf->stat < 0)
			return -ESRCH;
	}
	int rc = poll_stopped(pf->stat, buf, sizeof(buf), &pf->polls);
	if (rc <= 0)
		return rc == 0 ? -ESRCH : rc;
	/* num_threads: the 18th field after the state */
	char *q = strrchr(buf, ')') + 2;
	for (int f = 0; f < 17 && q; f++)
		q = strchr(q + 1, ' ');
	if (q && strtol(q + 1, NULL, 10) == 1)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -ESRCH;
	struct dirent *de;
	rc = 0;
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		if (tid > 0 && tid != pid && (rc = wait_task_stopped(pid, tid)) < 0)
			break;
	}
	closedir(d);
	return rc < 0 ? rc : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool write_all(int fd, const void *p, size_t len, struct hasher *hs)
{
	const char *c = p;
	if (hs)
		hash_update(hs, p, len);
	while (len) {
		ssize_t w = write(fd, c, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		len -= (size_t)w;
	}
	return true;
}

/* Checksum parts of an image in order (run in a thread while they are written). */
#define IMG_PARTS 5 /* header, regions, page addresses, zero runs, page data */
struct hash_job {
	struct hasher *hs;
	struct iovec part[IMG_PARTS];
};

static void *hash_parts(void *arg)
{
	struct hash_job *j = arg;
	for (int i = 0; i < IMG_PARTS; i++)
		hash_update(j->hs, j->part[i].iov_base, j->part[i].iov_len);
	return NULL;
}

/* writev() all of v[0..n) (the array is not modified). */
static bool writev_all(int fd, const struct iovec *v, int n)
{
	struct iovec cur[IMG_PARTS];
	int k = 0;
	if (n > IMG_PARTS)
		return false;
	memcpy(cur, v, (size_t)n * sizeof(*v));
	while (k < n) {
		if (!cur[k].iov_len) {
			k++;
			continue;
		}
		ssize_t w = writev(fd, cur + k, n - k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		while (w > 0 && k < n) {
			size_t t = (size_t)w < cur[k].iov_len ? (size_t)w : cur[k].iov_len;
			cur[k].iov_base = (char *)cur[k].iov_base + t;
			cur[k].iov_len -= t;
			w -= (ssize_t)t;
			if (!cur[k].iov_len)
				k++;
		}
	}
	return true;
}

/*
 * Read pages[0..n) of pid (ascending) into dst, at most BATCH_PAGES and
 * 1024 runs at a time: returns how many pages were read, or -errno.
 */
static long read_batch(pid_t pid, const uint64_t *pages, size_t n, char *dst)
{
	struct iovec liov[1], riov[1024];
	size_t take = n > BATCH_PAGES ? BATCH_PAGES : n, nr = 0;
	for (size_t k = 0; k < take; k++) {
		if (nr && (uint64_t)(uintptr_t)riov[nr - 1].iov_base + riov[nr - 1].iov_len == pages[k]) {
			riov[nr - 1].iov_len += PG;
			continue;
		}
		if (nr == 1024) {
			take = k;
			break;
		}
		riov[nr].iov_base = (void *)(uintptr_t)pages[k];
		riov[nr].iov_len = PG;
		nr++;
	}
	liov[0].iov_base = dst;
	liov[0].iov_len = take * PG;
	ssize_t got = process_vm_readv(pid, liov, 1, riov, nr, 0);
	if (got < 0 && errno != EFAULT)
		return -errno;
	/*
	 * The read stops at the first page that cannot be read (e.g. of a
	 * private file mapping beyond the file's end: the target itself would
	 * fault there): read the rest page by page, so that one such page
	 * does not blank the pages after it; it is saved as zeros.
	 */
	for (size_t k = got < 0 ? 0 : (size_t)got / PG; k < take; k++) {
		struct iovec l1 = { dst + k * PG, PG }, r1 = { (void *)(uintptr_t)pages[k], PG };
		if (process_vm_readv(pid, &l1, 1, &r1, 1, 0) != (ssize_t)PG)
			memset(dst + k * PG, 0, PG);
	}
	return (long)take;
}

/* Read pages[0..n) of pid and append them to fd. */
static int copy_pages(pid_t pid, const uint64_t *pages, size_t n, int fd, struct hasher *hs, char *buf)
{
	for (size_t i = 0; i < n;) {
		long take = read_batch(pid, pages + i, n - i, buf);
		if (take < 0)
			return (int)take;
		if (!write_all(fd, buf, (size_t)take * PG, hs))
			return -EIO;
		i += (size_t)take;
	}
	return 0;
}

/* Read pages[0..n) of pid into memory (snapshot while frozen). */
static int snap_pages(pid_t pid, const uint64_t *pages, size_t n, char *dst)
{
	for (size_t i = 0; i < n;) {
		long take = read_batch(pid, pages + i, n - i, dst + i * PG);
		if (take < 0)
			return (int)take;
		i += (size_t)take;
	}
	return 0;
}

static bool page_is_zero(const char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return !w && !memcmp(p, p + 8, PG - 8); /* all words equal the first */
}

/*
 * Pages of anonymous regions that read as zero (e.g. dropped, then read
 * through a write-protect marker that pagemap shows as swapped) become
 * zero runs: nothing to store.  Not for file-backed regions: there, a page
 * not present reads as the file's, so a restore could not skip it.
 * pages[] and snap shrink in place.
 */
static void compact_zero(uint64_t *pages, size_t *n, char *snap, const struct region_set *rs, struct runv *zr)
{
	size_t m = 0;
	for (size_t i = 0; i < *n; i++) {
		const struct img_region *r = NULL;
		if (page_is_zero(snap + i * PG) && (r = region_of(rs, pages[i])) && !(r->prot & REG_FILE) &&
		    !run_add(zr, pages[i], PG))
			continue;
		if (m != i)
			memcpy(snap + m * PG, snap + i * PG, PG);
		pages[m++] = pages[i];
	}
	*n = m;
	runs_normalize(zr);
}

static bool same_layout(const struct region_set *a, const struct region_set *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].start != b->v[i].start || a->v[i].len != b->v[i].len)
			return false;
	return true;
}

static bool covered_by(const struct region_set *rs, uint64_t a)
{
	for (size_t i = 0; i < rs->n; i++)
		if (a >= rs->v[i].start && a < rs->v[i].start + rs->v[i].len)
			return true;
	return false;
}

static ooh_tracker *open_tracker(pid_t pid, enum ooh_backend b, const struct region_set *rs, int *err)
{
	struct ooh_range *r = calloc(rs->n ? rs->n : 1, sizeof(*r));
	ooh_tracker *t = NULL;
	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < rs->n; i++)
		r[i] = (struct ooh_range){ rs->v[i].start, rs->v[i].len };
	struct ooh_open_opts o = { .size = sizeof(o), .backend = b, .pid = pid,
				   .flags = OOH_OPEN_START, .ranges = r, .nr_ranges = rs->n };
	*err = ooh_open(&o, &t);
	free(r);
	return *err ? NULL : t;
}

static const char *errtext(int err)
{
	if (err == -ESRCH)
		return "no such process";
	if (err == -EPERM || err == -EACCES)
		return "permission denied (need ptrace rights over the target)";
	return ooh_strerror(err);
}

/*
 * Whether the tracker reports pages that change without a write (dropped,
 * re-mapped, moved).  OOH_CKPT_ASSUME_LOSSY=1 pretends it does not: every
 * backend that can track another process here has the capability, so the
 * refusal could not be tested otherwise.
 */
static bool tracker_lossy(ooh_tracker *t)
{
	const char *e = getenv("OOH_CKPT_ASSUME_LOSSY");
	int caps = ooh_tracker_caps(t);
	return (e && *e && strcmp(e, "0")) || caps < 0 || !(caps & OOH_CAP_MAPPING_CHANGES);
}

static void lossy_refusal(int backend)
{
	fprintf(stderr, "ooh-ckpt: backend %s does not report pages whose content changes without a "
			"write (dropped with MADV_DONTNEED, re-mapped, moved with mremap; no "
			"OOH_CAP_MAPPING_CHANGES): such pages would be restored with stale contents. "
			"Use another backend, or --allow-lossy-backend to accept that\n",
		ooh_backend_name((enum ooh_backend)backend) ? ooh_backend_name((enum ooh_backend)backend) : "?");
}

/*
 * Reference ref-NNNN.mem (dump --reference, for tests): "OOHCKREF", the
 * region count (u64), the region table, then every byte of each region,
 * read through /proc/PID/mem while the target is frozen: the memory a
 * restore of checkpoint NNNN must reproduce (`materialize` writes the same
 * format from the images).  A page that cannot be read from outside and
 * is not present in an anonymous region is zero (what the target reads).
 */
#define REF_MAGIC "OOHCKREF"

static int write_reference(pid_t pid, const char *path, const struct region_set *rs, char *buf)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/mem", (int)pid);
	int mem = open(p, O_RDONLY | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/%d/pagemap", (int)pid);
	int pm = open(p, O_RDONLY | O_CLOEXEC);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint64_t nr = rs->n;
	int err = mem < 0 || pm < 0 || fd < 0 ? -errno : 0;
	if (!err && !(write_all(fd, REF_MAGIC, 8, NULL) && write_all(fd, &nr, 8, NULL) &&
		      write_all(fd, rs->v, rs->n * sizeof(*rs->v), NULL)))
		err = -EIO;
	for (size_t r = 0; r < rs->n && !err; r++) {
		for (uint64_t a = rs->v[r].start; a < rs->v[r].start + rs->v[r].len && !err;) {
			uint64_t len = rs->v[r].start + rs->v[r].len - a;
			if (len > BATCH_PAGES * PG)
				len = BATCH_PAGES * PG;
			if (pread(mem, buf, len, (off_t)a) != (ssize_t)len) {
				for (uint64_t o = 0; o < len && !err; o += PG) { /* page by page */
					uint64_t e = 0;
					if (pread(mem, buf + o, PG, (off_t)(a + o)) == (ssize_t)PG)
						continue;
					memset(buf + o, 0, PG);
					if (pread(pm, &e, 8, (off_t)((a + o) / PG * 8)) != 8 || PM_THERE(e) ||
					    (rs->v[r].prot & REG_FILE))
						err = -EIO; /* no ground truth for this page */
				}
			}
			if (!err && !write_all(fd, buf, len, NULL))
				err = -EIO;
			a += len;
		}
	}
	if (mem >= 0)
		close(mem);
	if (pm >= 0)
		close(pm);
	if (fd >= 0 && close(fd) < 0 && !err)
		err = -EIO;
	return err;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option lo[] = { { "count", 1, 0, 'n' }, { "interval", 1, 0, 'i' },
					    { "range", 1, 0, 'r' }, { "kick", 1, 0, 'K' },
					    { "backend", 1, 0, 'b' }, { "allow-lossy-backend", 0, 0, 'L' },
					    { "reference", 0, 0, 'F' }, { 0, 0, 0, 0 } };
	long count = 1, interval = 1000;
	int kick = 0, c;
	bool allow_lossy = false, reference = false;
	enum ooh_backend backend = OOH_BACKEND_AUTO;
	struct img_region filt[MAX_RANGES];
	size_t nfilt = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:i:r:b:", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'n': count = strtol(optarg, &end, 10); break;
		case 'i': interval = strtol(optarg, &end, 10); break;
		case 'K': kick = (int)strtol(optarg, &end, 10); break;
		case 'L': allow_lossy = true; break;
		case 'F': reference = true; break;
		case 'b': {
			int v = ooh_backend_from_name(optarg);
			if (v < 0) {
				fprintf(stderr, "ooh-ckpt: unknown backend %s\n", optarg);
				return 2;
			}
			backend = (enum ooh_backend)v;
			break;
		}
		case 'r': {
			unsigned long long s, e;
			if (nfilt == MAX_RANGES || sscanf(optarg, "%llx-%llx", &s, &e) != 2 || s >= e ||
			    (s | e) % PG) {
				fprintf(stderr, "ooh-ckpt: bad range %s (hex START-END, page aligned)\n", optarg);
				return 2;
			}
			for (size_t i = 0; i < nfilt; i++)
				if (s < filt[i].start + filt[i].len && filt[i].start < e) {
					fprintf(stderr, "ooh-ckpt: range %s overlaps another -r range\n", optarg);
					return 2;
				}
			/* kept sorted: regions (and their pages) come out ascending */
			size_t at = nfilt++;
			for (; at && filt[at - 1].start > s; at--)
				filt[at] = filt[at - 1];
			filt[at] = (struct img_region){ s, e - s, 0 };
			break;
		}
		default: return 2;
		}
		if (end && *end) {
			fprintf(stderr, "ooh-ckpt: bad number %s\n", optarg);
			return 2;
		}
	}
	if (argc - optind != 2 || count < 1 || interval < 0 || kick < 0 || kick >= 65) {
		fprintf(stderr, "usage: ooh-ckpt dump PID DIR [-n N] [-i MS] [-r START-END]... "
				"[--kick SIGNO] [-b BACKEND] [--allow-lossy-backend] [--reference]\n");
		return 2;
	}
	struct ooh_backend_info bi;
	if (!allow_lossy && backend != OOH_BACKEND_AUTO && count > 1 && !ooh_probe(backend, &bi) &&
	    (bi.caps & OOH_CAP_REMOTE) && !(bi.caps & OOH_CAP_MAPPING_CHANGES)) {
		lossy_refusal(backend); /* before the full image: a chain could not be extended */
		return 1;
	}
	char *end;
	long lpid = strtol(argv[optind], &end, 10);
	if (*end || lpid <= 0 || lpid > 0x3fffffff) {
		fprintf(stderr, "ooh-ckpt: bad PID %s\n", argv[optind]);
		return 2;
	}
	pid_t pid = (pid_t)lpid;
	const char *dir = argv[optind + 1];
	if (kill(pid, 0) < 0) {
		fprintf(stderr, "ooh-ckpt: %ld: %s\n", lpid, errtext(-errno));
		return 1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "ooh-ckpt: %s: %s\n", dir, strerror(errno));
		return 1;
	}

	char *buf = malloc(BATCH_PAGES * PG);
	uint64_t *pages = NULL, parent_hash = 0;
	/* The frozen-time copy goes to a buffer kept across checkpoints (mapped
	 * populated once: no page faults while the target is frozen). */
	char *snapbuf = NULL;
	size_t snapcap = 0;
	const char *pe = getenv("OOH_CKPT_PROFILE");
	bool profile = pe && *pe && strcmp(pe, "0");
	size_t cap = 0;
	struct region_set tracked = { 0 };
	struct procf pf = PROCF_INIT;
	ooh_tracker *t = NULL;
	int rc = 0;
	printf("%4s %-5s %9s %10s %12s %10s %10s %10s %10s\n", "ckpt", "kind", "pages", "MiB", "bytes",
	       "dirty_ms", "frozen_ms", "total_ms", "zero_pages");
	for (long k = 0; k < count && buf && !rc; k++) {
		if (k)
			usleep((useconds_t)interval * 1000);
		double t0 = mono_ms(), tp[8] = { 0 };
		int err = 0;
		if (kill(pid, SIGSTOP) < 0 || (err = wait_stopped(pid, &pf)) < 0) {
			err = err ? err : -errno;
			if (err == -ETIMEDOUT || err == -EIO)
				kill(pid, SIGCONT); /* do not leave it half-frozen */
			fprintf(stderr, "ooh-ckpt: freeze %d: %s\n", (int)pid, errtext(err));
			rc = 1;
			break;
		}
		struct region_set now = { 0 };
		struct runv zr = { 0 }; /* zero runs of this image */
		size_t n = 0;
		bool full = k == 0, lost = false;
		double tc = mono_ms();
		tp[0] = tc - t0; /* stop */
		err = read_regions(pid, filt, nfilt, &now, &pf);
		tp[1] = mono_ms() - tc; /* maps */
		if (!err && !full) {
			struct ooh_collect_result res;
			bool overflow = false;
			do {
				if (n + 65536 > cap) {
					cap = n + 65536 * 2;
					uint64_t *np = realloc(pages, cap * 8);
					if (!np) {
						err = -ENOMEM;
						break;
					}
					pages = np;
				}
				/* every thread is stopped (wait_stopped): libooh
				 * need not freeze the target once more */
				err = ooh_collect(t, pages + n, 65536,
						  OOH_COLLECT_REARM | OOH_COLLECT_FROZEN, &res);
				if (!err) {
					n += res.count;
					overflow |= !!(res.flags & OOH_RESULT_OVERFLOW);
				}
			} while (!err && (res.flags & OOH_RESULT_MORE));
			tp[2] = mono_ms() - tc - tp[1]; /* libooh collect */
			/*
			 * Regions that were not tracked (appeared, moved, grew, or
			 * all of them after an overflow) are taken whole; of the
			 * reported pages, those still mapped in the others.
			 */
			lost = overflow; /* libooh lost precision: every page */
			struct region_set fresh = { .v = malloc((now.n ? now.n : 1) * sizeof(*now.v)) };
			if (!fresh.v && !err)
				err = -ENOMEM;
			for (size_t i = 0; fresh.v && i < now.n; i++) {
				bool old = false;
				for (size_t j = 0; j < tracked.n && !overflow; j++)
					old |= tracked.v[j].start <= now.v[i].start &&
					       tracked.v[j].start + tracked.v[j].len >= now.v[i].start + now.v[i].len;
				if (!old)
					fresh.v[fresh.n++] = now.v[i];
			}
			size_t m = 0;
			for (size_t i = 0; i < n && !overflow && fresh.v; i++)
				if (covered_by(&now, pages[i]) && !covered_by(&fresh, pages[i]))
					pages[m++] = pages[i];
			n = m;
			/* dropped or (re)mapped memory reads as zero: a zero run */
			if (!err)
				err = split_absent(pid, &now, pages, &n, &zr);
			if (!err && fresh.n)
				err = present_pages(pid, &fresh, &pages, &n, &cap, &zr);
			free(fresh.v);
			if (!err) {
				qsort(pages, n, 8, cmp_u64);
				size_t u = 0;
				for (size_t i = 0; i < n; i++)
					if (!u || pages[u - 1] != pages[i])
						pages[u++] = pages[i];
				n = u;
				runs_normalize(&zr);
			}
		} else if (!err) {
			/* a full image: every page, present ones as data, the
			 * anonymous others as zero runs (a restore must not leave
			 * what the restarted process had there) */
			err = present_pages(pid, &now, &pages, &n, &cap, &zr);
		}
		tc = mono_ms() - tc; /* finding what to save: maps + libooh (or pagemap) */
		if (!err && (!t || !same_layout(&now, &tracked))) {
			if (t)
				ooh_close(t);
			t = open_tracker(pid, backend, &now, &err);
			if (t && count > 1 && !allow_lossy && tracker_lossy(t)) {
				kill(pid, SIGCONT);
				lossy_refusal(ooh_tracker_backend(t));
				free(now.v);
				free(zr.v);
				rc = 1;
				break;
			}
		}
		if (err) {
			kill(pid, SIGCONT);
			fprintf(stderr, "ooh-ckpt: checkpoint %ld of %d: %s\n", k, (int)pid, errtext(err));
			free(now.v);
			free(zr.v);
			rc = 1;
			break;
		}
		/* the image's layout is the current one (same extents as tracked,
		 * unless the tracker was just re-opened on it) */
		free(tracked.v);
		tracked = now;
		now.v = NULL;
		bool lossy = t && tracker_lossy(t);

		char path[4096], tmp[4200];
		snprintf(path, sizeof(path), "%s/ckpt-%04ld.img", dir, k);
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		struct hasher hs;
		hash_init(&hs, IMG_VERSION);
		struct img_hdr h = { .version = IMG_VERSION,
				     .flags = full ? FLAG_FULL : lossy ? FLAG_LOSSY : 0, .seq = (uint64_t)k,
				     .parent_seq = full ? UINT64_MAX : (uint64_t)k - 1,
				     .parent_hash = full ? 0 : parent_hash, .pid = (uint64_t)pid,
				     .nregions = tracked.n, .npages = n, .page_size = PG, .nzero = zr.n };
		memcpy(h.magic, IMG_MAGIC, 8);
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		h.time_ns = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
		/*
		 * Up to SNAP_MAX, copy the pages while frozen and write them after
		 * the target runs again; beyond, stream them to the file frozen.
		 */
		char *snap = NULL;
		if (n * PG <= SNAP_MAX) {
			if (n * PG > snapcap || (snapcap > (64u << 20) && n * PG < snapcap / 8)) {
				/* grow; or give back most of a full image's buffer */
				if (snapbuf)
					munmap(snapbuf, snapcap);
				size_t want = (n * PG + (1u << 20)) & ~(size_t)((1u << 20) - 1);
				snapbuf = mmap(NULL, want, PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
				snapcap = snapbuf == MAP_FAILED ? 0 : want;
				if (snapbuf == MAP_FAILED)
					snapbuf = NULL;
			}
			snap = snapbuf;
		}
		double frozen = 0, tw = mono_ms();
		tp[3] = tw - t0 - tp[0] - tp[1] - tp[2]; /* rest of finding + open */
		bool ok = fd >= 0;
		if (snap) {
			if ((err = snap_pages(pid, pages, n, snap)) < 0)
				ok = false;
			if (ok && reference) {
				char rp[4096];
				snprintf(rp, sizeof(rp), "%s/ref-%04ld.mem", dir, k);
				if ((err = write_reference(pid, rp, &tracked, buf)) < 0)
					ok = false;
			}
			frozen = mono_ms() - t0;
			tp[4] = mono_ms() - tw; /* copy out */
			kill(pid, SIGCONT);
			tw = mono_ms();
		}
		if (ok && snap) {
			compact_zero(pages, &n, snap, &tracked, &zr);
			h.npages = n;
			h.nzero = zr.n;
			/* Everything is in memory: one writev; a large image is
			 * checksummed in a second thread meanwhile, a small one
			 * first, in this thread (HASH_THREAD_MIN). */
			struct hash_job job = { .hs = &hs, .part = {
				{ &h, sizeof(h) }, { tracked.v, tracked.n * sizeof(*tracked.v) },
				{ pages, n * 8 }, { zr.v, zr.n * sizeof(*zr.v) }, { snap, n * PG } } };
			pthread_t th;
			bool threaded = n * PG >= HASH_THREAD_MIN &&
					pthread_create(&th, NULL, hash_parts, &job) == 0;
			if (!threaded)
				hash_parts(&job);
			ok = writev_all(fd, job.part, IMG_PARTS);
			if (threaded)
				pthread_join(th, NULL);
		} else {
			ok = ok && write_all(fd, &h, sizeof(h), &hs) &&
			     write_all(fd, tracked.v, tracked.n * sizeof(*tracked.v), &hs) &&
			     write_all(fd, pages, n * 8, &hs) && write_all(fd, zr.v, zr.n * sizeof(*zr.v), &hs);
			if (ok && (err = copy_pages(pid, pages, n, fd, &hs, buf)) < 0)
				ok = false;
			if (ok && reference) {
				char rp[4096];
				snprintf(rp, sizeof(rp), "%s/ref-%04ld.mem", dir, k);
				if ((err = write_reference(pid, rp, &tracked, buf)) < 0)
					ok = false;
			}
		}
		if (!snap) {
			frozen = mono_ms() - t0;
			kill(pid, SIGCONT);
		}
		struct img_end e = { .hash = hash_final(&hs) };
		memcpy(e.magic, END_MAGIC, 8);
		ok = ok && write_all(fd, &e, sizeof(e), NULL);
		if (fd >= 0 && close(fd) < 0)
			ok = false;
		tp[5] = mono_ms() - tw; /* hash + write (+ copy when streamed) */
		if (snapbuf && snapcap > (64u << 20)) {
			/* a full image's buffer: give it back now, not while frozen,
			 * and have a small one ready for the incremental ones */
			munmap(snapbuf, snapcap);
			snapcap = 8u << 20;
			snapbuf = mmap(NULL, snapcap, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
			if (snapbuf == MAP_FAILED) {
				snapbuf = NULL;
				snapcap = 0;
			}
		}
		uint64_t bytes = sizeof(h) + tracked.n * sizeof(struct img_region) + n * (8 + PG) +
				 zr.n * sizeof(*zr.v) + sizeof(e), zpages = 0;
		for (size_t i = 0; i < zr.n; i++)
			zpages += zr.v[i].len / PG;
		free(zr.v);
		if (!ok || rename(tmp, path) < 0) {
			fprintf(stderr, "ooh-ckpt: writing %s: %s\n", path,
				err ? errtext(err) : strerror(errno ? errno : EIO));
			unlink(tmp);
			rc = 1;
			break;
		}
		parent_hash = e.hash;
		printf("%4ld %-5s %9zu %10.1f %12llu %10.2f %10.2f %10.2f %10llu\n", k,
		       full ? "full" : lost ? "ovfl" : "incr", n,
		       n * PG / 1048576.0, (unsigned long long)bytes, tc, frozen, mono_ms() - t0,
		       (unsigned long long)zpages);
		fflush(stdout);
		if (profile)
			fprintf(stderr, "ooh-ckpt: profile %ld: stop %.2f maps %.2f collect %.2f prep %.2f "
				"copy %.2f write %.2f ms (%d polls)\n", k, tp[0], tp[1], tp[2], tp[3], tp[4],
				tp[5], pf.polls);
		if (kick)
			kill(pid, kick);
	}
	if (t)
		ooh_close(t);
	free(tracked.v);
	free(pages);
	free(buf);
	if (snapbuf)
		munmap(snapbuf, snapcap);
	procf_close(&pf);
	return rc;
}

static int cmd_verify(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ooh-ckpt verify DIR\n");
		return 2;
	}
	struct img *v;
	long n;
	if (load_chain(argv[1], -1, &v, &n))
		return 1;
	uint64_t total = 0;
	for (long k = 0; k < n; k++) {
		uint64_t zp = 0;
		for (uint64_t i = 0; i < v[k].h.nzero; i++)
			zp += v[k].zero[i].len / PG;
		printf("%s: %s, seq %llu, pid %llu, %llu regions, %llu pages, %llu zero pages, "
		       "checksum %016llx%s\n",
		       v[k].path, v[k].h.flags & FLAG_FULL ? "full" : "incremental",
		       (unsigned long long)v[k].h.seq, (unsigned long long)v[k].h.pid,
		       (unsigned long long)v[k].h.nregions, (unsigned long long)v[k].h.npages,
		       (unsigned long long)zp, (unsigned long long)v[k].hash,
		       v[k].h.flags & FLAG_LOSSY ? " (lossy backend: pages dropped or re-mapped without "
						   "a write may be stale)" : "");
		total += v[k].h.npages;
		free_img(&v[k]);
	}
	printf("chain ok: %ld images, %llu pages\n", n, (unsigned long long)total);
	free(v);
	return 0;
}

/*
 * Write zeros over the pages of [a, a + len) that are present or swapped
 * in pid; the others read as zero already (anonymous memory; zero runs are
 * only restored into anonymous regions), and writing them would populate
 * what may be a huge sparse reservation.  pm: pid's pagemap.
 */
static int zero_present(pid_t pid, int pm, uint64_t a, uint64_t len, uint64_t *written)
{
	static const char zpage[PG];
	static uint64_t ent[BATCH_PAGES];
	struct iovec l[1024], r[1024];
	size_t nv = 0;
	for (uint64_t end = a + len; a < end;) {
		uint64_t cnt = (end - a) / PG > BATCH_PAGES ? BATCH_PAGES : (end - a) / PG;
		ssize_t got = pread(pm, ent, cnt * 8, (off_t)(a / PG * 8));
		if (got < 8)
			return got < 0 ? -errno : -EIO;
		cnt = (uint64_t)got / 8;
		for (uint64_t i = 0; i <= cnt; i++) {
			if (i < cnt && PM_THERE(ent[i])) {
				l[nv] = (struct iovec){ (void *)zpage, PG };
				r[nv] = (struct iovec){ (void *)(uintptr_t)(a + i * PG), PG };
				nv++;
			}
			if (nv == 1024 || (i == cnt && nv)) {
				ssize_t w = process_vm_writev(pid, l, nv, r, nv, 0);
				if (w != (ssize_t)(nv * PG))
					return w < 0 ? -errno : -EIO;
				*written += nv;
				nv = 0;
			}
		}
		a += cnt * PG;
	}
	return 0;
}

/* ckpt_restore's writes into the stopped process pid (pm: its pagemap). */
struct restore_into {
	pid_t pid;
	int pm;
};

static int into_write(void *opaque, const struct iovec *l, const struct iovec *r, size_t nv)
{
	struct restore_into *t = opaque;
	ssize_t w = process_vm_writev(t->pid, l, nv, r, nv, 0);
	if (w != (ssize_t)(nv * PG)) {
		fprintf(stderr, "ooh-ckpt: writing into %d: %s\n", (int)t->pid,
			errtext(w < 0 ? -errno : -EIO));
		return -1;
	}
	return 0;
}

static int into_zero_begin(void *opaque)
{
	struct restore_into *t = opaque;
	char pp[64];
	snprintf(pp, sizeof(pp), "/proc/%d/pagemap", (int)t->pid);
	t->pm = open(pp, O_RDONLY | O_CLOEXEC);
	if (t->pm < 0) {
		fprintf(stderr, "ooh-ckpt: %s: %s\n", pp, strerror(errno));
		return -1;
	}
	return 0;
}

static void into_zero_end(void *opaque)
{
	struct restore_into *t = opaque;
	if (t->pm >= 0)
		close(t->pm);
	t->pm = -1;
}

static int into_zero(void *opaque, uint64_t a, uint64_t len, uint64_t *zeroed)
{
	struct restore_into *t = opaque;
	int e = zero_present(t->pid, t->pm, a, len, zeroed);
	if (e) {
		fprintf(stderr, "ooh-ckpt: zeroing in %d: %s\n", (int)t->pid, errtext(e));
		return -1;
	}
	return 0;
}

static int cmd_restore(int argc, char **argv)
{
	static const struct option lo[] = { { "checkpoint", 1, 0, 'k' }, { "no-resume", 0, 0, 'R' },
					    { 0, 0, 0, 0 } };
	long k = -1;
	bool resume = true;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:", lo, NULL)) != -1) {
		char *end = NULL;
		if (c == 'k')
			k = strtol(optarg, &end, 10);
		else if (c == 'R')
			resume = false;
		else
			return 2;
		if (end && (*end || k < 0)) {
			fprintf(stderr, "ooh-ckpt: bad checkpoint number %s\n", optarg);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: ooh-ckpt restore DIR PID [-k K] [--no-resume]\n");
		return 2;
	}
	const char *dir = argv[optind];
	char *end;
	long lpid = strtol(argv[optind + 1], &end, 10);
	if (*end || lpid <= 0 || lpid > 0x3fffffff) {
		fprintf(stderr, "ooh-ckpt: bad PID %s\n", argv[optind + 1]);
		return 2;
	}
	pid_t pid = (pid_t)lpid;

	struct img *v;
	long n;
	if (k >= 0) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/ckpt-%04ld.img", dir, k);
		if (access(p, F_OK) < 0) {
			fprintf(stderr, "ooh-ckpt: no checkpoint %ld in %s\n", k, dir);
			return 1;
		}
	}
	if (load_chain(dir, k, &v, &n))
		return 1;
	k = n - 1;
	if (kill(pid, 0) < 0) {
		fprintf(stderr, "ooh-ckpt: %ld: %s\n", lpid, errtext(-errno));
		return 1;
	}
	int err = 0;
	struct procf pf = PROCF_INIT;
	if (kill(pid, SIGSTOP) < 0 || (err = wait_stopped(pid, &pf)) < 0) {
		fprintf(stderr, "ooh-ckpt: freeze %d: %s\n", (int)pid, errtext(err ? err : -errno));
		procf_close(&pf);
		return 1;
	}
	struct region_set now;
	err = read_regions(pid, NULL, 0, &now, &pf);
	procf_close(&pf);
	if (err) {
		fprintf(stderr, "ooh-ckpt: %d: %s\n", (int)pid, errtext(err));
		return 1;
	}
	/* regions of checkpoint k that lie inside a writable private mapping
	 * of the target */
	struct img *last = &v[k];
	bool *use = calloc(last->h.nregions + 1, 1);
	size_t matched = use ? ckpt_match_regions(last, now.v, now.n, use, (int)pid) : 0;
	if (!matched) {
		fprintf(stderr, "ooh-ckpt: no region of checkpoint %ld is mapped in %d: "
				"the restarted target must recreate its mappings first\n", k, (int)pid);
		return 1;
	}
	struct restore_into into = { pid, -1 };
	const struct ckpt_target target = { into_write, into_zero_begin, into_zero_end, into_zero, &into };
	uint64_t written = 0, zeroed = 0;
	int rc = ckpt_restore(v, k, use, &target, &written, &zeroed);
	if (!rc) {
		printf("restored checkpoint %ld (%ld images, %llu page writes, %llu pages zeroed, "
		       "%zu of %llu regions) into %d\n",
		       k, n, (unsigned long long)written, (unsigned long long)zeroed, matched,
		       (unsigned long long)last->h.nregions, (int)pid);
		if (resume)
			kill(pid, SIGCONT);
	}
	free(use);
	free(now.v);
	for (long j = 0; j < n; j++)
		free_img(&v[j]);
	free(v);
	return rc;
}

/*
 * materialize: the memory checkpoint K gives each region of its layout, in
 * the reference format (see write_reference): image data, zero runs, and
 * zero for pages no image holds (what a restore into freshly mapped
 * anonymous memory leaves).  Compared with dump --reference's copy by tests.
 */
static int cmd_materialize(int argc, char **argv)
{
	long k = -1;
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "k:")) != -1) {
		char *end;
		if (c != 'k')
			return 2;
		k = strtol(optarg, &end, 10);
		if (*end || k < 0) {
			fprintf(stderr, "ooh-ckpt: bad checkpoint number %s\n", optarg);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: ooh-ckpt materialize DIR OUT [-k K]\n");
		return 2;
	}
	const char *dir = argv[optind], *outp = argv[optind + 1];
	struct img *v;
	long n;
	if (load_chain(dir, k, &v, &n))
		return 1;
	struct img *last = &v[n - 1];
	uint64_t hdr = 16 + last->h.nregions * sizeof(struct img_region), *off;
	off = malloc((last->h.nregions + 1) * 8);
	char *buf = malloc(PG);
	int out = open(outp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = !off || !buf || out < 0;
	if (out < 0)
		fprintf(stderr, "ooh-ckpt: %s: %s\n", outp, strerror(errno));
	uint64_t total = hdr;
	for (uint64_t x = 0; off && x < last->h.nregions; x++) {
		off[x] = total; /* file offset of region x's first byte */
		total += last->reg[x].len;
	}
	uint64_t nr = last->h.nregions;
	/* a sparse file of zeros, then what each image says, in order */
	if (!rc && (ftruncate(out, (off_t)total) < 0 || pwrite(out, REF_MAGIC, 8, 0) != 8 ||
		    pwrite(out, &nr, 8, 8) != 8 ||
		    pwrite(out, last->reg, nr * sizeof(*last->reg), 16) != (ssize_t)(nr * sizeof(*last->reg))))
		rc = 1;
	for (long j = 0; j < n && !rc; j++) {
		int fd = open(v[j].path, O_RDONLY | O_CLOEXEC);
		rc = fd < 0;
		for (uint64_t i = 0; i < v[j].h.npages && !rc; i++) {
			uint64_t a = v[j].addr[i], len = PG;
			for (uint64_t x = 0; x < nr && !rc; x++)
				if (clip(&last->reg[x], &a, &len))
					rc = pread(fd, buf, PG, (off_t)(v[j].data_off + i * PG)) != (ssize_t)PG ||
					     pwrite(out, buf, PG, (off_t)(off[x] + a - last->reg[x].start)) !=
						     (ssize_t)PG;
		}
		if (fd >= 0)
			close(fd);
		memset(buf, 0, PG);
		for (uint64_t z = 0; z < v[j].h.nzero && !rc; z++)
			for (uint64_t x = 0; x < nr && !rc; x++) {
				uint64_t a = v[j].zero[z].start, len = v[j].zero[z].len;
				if (!clip(&last->reg[x], &a, &len))
					continue;
				off_t o = (off_t)(off[x] + a - last->reg[x].start);
				/* a hole reads as zeros; write them where holes are not had */
				if (fallocate(out, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, o, (off_t)len) < 0)
					for (uint64_t q = 0; q < len && !rc; q += PG)
						rc = pwrite(out, buf, PG, o + (off_t)q) != (ssize_t)PG;
			}
	}
	if (out >= 0 && close(out) < 0)
		rc = 1;
	if (rc)
		fprintf(stderr, "ooh-ckpt: materialize %s: %s\n", outp, strerror(errno ? errno : EIO));
	else
		printf("checkpoint %ld: %llu regions, %llu bytes of memory in %s\n", n - 1,
		       (unsigned long long)nr, (unsigned long long)(total - hdr), outp);
	free(off);
	free(buf);
	for (long j = 0; j < n; j++)
		free_img(&v[j]);
	free(v);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "dump"))
		return cmd_dump(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "restore"))
		return cmd_restore(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "verify"))
		return cmd_verify(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "materialize"))
		return cmd_materialize(argc - 1, argv + 1);
	fprintf(argc >= 2 && strcmp(argv[1], "--help") ? stderr : stdout,
		"usage: ooh-ckpt dump PID DIR [-n N] [-i MS] [-r START-END]... [--kick SIGNO] [-b BACKEND]\n"
		"                     [--allow-lossy-backend] [--reference]\n"
		"       ooh-ckpt restore DIR PID [-k K] [--no-resume]\n"
		"       ooh-ckpt verify DIR\n"
		"       ooh-ckpt materialize DIR OUT [-k K]\n"
		"A backend that does not report pages changed without a write (dropped with\n"
		"MADV_DONTNEED, re-mapped, moved: no OOH_CAP_MAPPING_CHANGES) is refused unless\n"
		"--allow-lossy-backend: with it, such pages are restored with stale contents.\n"
		"--reference also writes DIR/ref-NNNN.mem, a full copy of the selected memory\n"
		"read while the target is frozen; materialize writes checkpoint K's memory in\n"
		"the same format (for tests: the two must be identical).\n");
	return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
