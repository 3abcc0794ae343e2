/* SPDX-License-Identifier: MIT */
/*
 * ooh-lib-selftest: the core of the unit tests as one dependency-free
 * program, for machines without Check (the rig's L1 guest).  For every
 * backend: the probe verdict; when usable, a seeded differential test on
 * this process and on a child process (hash every page before an
 * interval, every changed page must be reported).
 *
 * Prints one line per check:  PASS|FAIL|SKIP <name> <detail>
 * Options:  --usable B[,B...]    these backends must be usable here
 *           --unusable B[,B...]  these must be refused, with a reason
 * Exit status 1 if any check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
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

/* All pages of one interval; returns count or -errno; *flags gets OR of results. */
static long collect_all(ooh_tracker *t, uint64_t *out, size_t max, uint32_t *flags)
{
	uint64_t buf[100];
	struct ooh_collect_result res;
	size_t n = 0;
	*flags = 0;
	do {
		int err = ooh_collect(t, buf, 100, OOH_COLLECT_REARM, &res);
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
		long n = collect_all(t, got, PAGES * 2, &flags);
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
