// SPDX-License-Identifier: MIT
/*
 * ooh-test-trace: ooh.ko's tracepoints (guest-module/ooh_trace.h), checked
 * against what the ioctls answered. Run as root in a guest under ooh-l0
 * with ooh.ko loaded and tracefs mounted (tests/l2/trace-suite.sh):
 *
 *   - each event's format file has the documented field layout (what a
 *     BPF program reading raw records by offset relies on);
 *   - EPML: one ooh_session_start; N COLLECTs (some in pieces, with
 *     OOH_COLLECT_F_CONTINUE) give N ooh_collect events in order, with the
 *     count, total, seq and flags each ioctl returned and one hypercall
 *     per harvest; while the target ping-pongs through a pipe,
 *     ooh_epml_switch "in" events equal the session's sched_in counter
 *     after STOP, "out" events its sched_out, both > 0;
 *   - SPML: one ooh_session_start, its collects, and a COLLECT after the
 *     target died: one ooh_collect with ret -ESRCH and no hypercall;
 *   - SPP: the file's first SPP ioctl is one ooh_session_start (mode SPP);
 *     one refused write is exactly one ooh_spp_violation with the refused
 *     byte's address, sub-page and guest-physical address (pagemap);
 *   - the ring buffer lost nothing (entries-in-buffer = entries-written).
 *
 * Prints tests/harness/result.sh lines (OOH-RESULT PASS|FAIL|SKIP).
 * OOH_TRACEFS names the tracefs mount (default /sys/kernel/tracing).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#define PAGE 4096ul
#define NPAGES 64
#define PINGS 200
#define MAX_EV 65536

static const char *tracefs = "/sys/kernel/tracing";
static int failures;

static void result(bool ok, const char *name, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	printf("OOH-RESULT %s l2-trace-%s %s\n", ok ? "PASS" : "FAIL", name, detail);
	fflush(stdout);
	if (!ok)
		failures++;
}

static void skip(const char *name, const char *why)
{
	printf("OOH-RESULT SKIP l2-trace-%s %s\n", name, why);
	fflush(stdout);
}

/* ---- tracefs ---- */

static int tfs_write(const char *file, const char *what)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", tracefs, file);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -errno;
	if (write(fd, what, strlen(what)) != (ssize_t)strlen(what))
		ret = -errno;
	close(fd);
	return ret;
}

/* The whole of a tracefs file (NUL-terminated, caller frees), or NULL. */
static char *tfs_read(const char *file)
{
	char path[256];
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tracefs, file);
	fd = open(path, O_RDONLY);
	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 4096) {
			char *n = realloc(buf, cap * 2);

			if (!n)
				break;
			buf = n;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = 0;
	return buf;
}

/* ---- the documented layouts (guest-module/ooh_trace.h, docs/abi.md) ---- */

struct field {
	const char *decl;	/* as the format file spells it */
	int offset, size, is_signed;
};

struct layout {
	const char *event;
	struct field f[8];
};

static const struct layout layouts[] = {
	{ "ooh_session_start", {
		{ "u64 log_bytes", 8, 8, 0 }, { "s32 tracker", 16, 4, 1 },
		{ "s32 target", 20, 4, 1 }, { "u32 session", 24, 4, 0 },
		{ "u32 mode", 28, 4, 0 } } },
	{ "ooh_collect", {
		{ "u64 count", 8, 8, 0 }, { "u64 total", 16, 8, 0 },
		{ "u64 seq", 24, 8, 0 }, { "u32 session", 32, 4, 0 },
		{ "s32 ret", 36, 4, 1 }, { "u32 flags", 40, 4, 0 },
		{ "u32 hypercalls", 44, 4, 0 } } },
	{ "ooh_epml_switch", {
		{ "u32 session", 8, 4, 0 }, { "s32 tid", 12, 4, 1 },
		{ "s32 tgid", 16, 4, 1 }, { "u32 cpu", 20, 4, 0 },
		{ "u32 in", 24, 4, 0 } } },
	{ "ooh_spp_violation", {
		{ "u64 addr", 8, 8, 0 }, { "u64 gpa", 16, 8, 0 },
		{ "s32 pid", 24, 4, 1 }, { "u32 subpage", 28, 4, 0 },
		{ "u32 action", 32, 4, 0 } } },
};

static void check_formats(void)
{
	char summary[1024] = "";
	bool ok = true;

	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout *l = &layouts[i];
		char file[128], *fmt;

		snprintf(file, sizeof(file), "events/ooh/%s/format", l->event);
		fmt = tfs_read(file);
		if (!fmt) {
			result(false, "formats", "no %s/%s", tracefs, file);
			return;
		}
		for (const struct field *f = l->f; f->decl; f++) {
			char want[160];

			snprintf(want, sizeof(want), "field:%s;\toffset:%d;\tsize:%d;\tsigned:%d;",
				 f->decl, f->offset, f->size, f->is_signed);
			if (!strstr(fmt, want)) {
				if (ok)
					snprintf(summary, sizeof(summary), "%s: no \"%s\"", l->event,
						 want);
				ok = false;
			}
		}
		free(fmt);
	}
	result(ok, "formats", "%s", ok ? "4 events, every field at its documented offset, size and sign" : summary);
}

/* ---- the trace, parsed ---- */

enum { EV_START, EV_COLLECT, EV_SWITCH, EV_SPP };

struct ev {
	int type;
	uint64_t session, mode, tracker, target, log_bytes;	/* start */
	int64_t ret;						/* collect */
	uint64_t count, total, seq, flags, hypercalls;
	uint64_t tid, tgid, cpu, in;				/* switch */
	uint64_t pid, addr, gpa, subpage, action;		/* spp */
};

static struct ev evs[MAX_EV];
static size_t nr_evs;
static unsigned long long in_buffer, written;

static uint64_t sym(const char *v)
{
	static const struct { const char *s; uint64_t v; } t[] = {
		{ "SPML", OOH_MODE_SPML }, { "EPML", OOH_MODE_EPML }, { "SPP", 0x100 },
		{ "signal", 0 }, { "emulated", 1 }, { "foreign", 2 }, { "stale", 3 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(v, t[i].s))
			return t[i].v;
	return ~0ull;
}

static uint64_t collect_flags(const char *v)
{
	uint64_t f = 0;

	if (strstr(v, "CONTINUE"))
		f |= OOH_COLLECT_F_CONTINUE;
	if (strstr(v, "MORE"))
		f |= OOH_COLLECT_F_MORE;
	if (strstr(v, "OVERFLOW"))
		f |= OOH_COLLECT_F_OVERFLOW;
	return f;
}

/* One "key=value ..." event body into e. */
static void parse_body(struct ev *e, char *body)
{
	for (char *save = NULL, *tok = strtok_r(body, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(tok, '=');
		const char *k = tok, *v;
		uint64_t n;

		if (!eq) {	/* ooh_epml_switch's last word */
			e->in = !strcmp(tok, "in");
			continue;
		}
		*eq = 0;
		v = eq + 1;
		n = strtoull(v, NULL, 0);
		if (!strcmp(k, "session"))
			e->session = n;
		else if (!strcmp(k, "mode"))
			e->mode = sym(v);
		else if (!strcmp(k, "tracker"))
			e->tracker = n;
		else if (!strcmp(k, "target"))
			e->target = n;
		else if (!strcmp(k, "log_bytes"))
			e->log_bytes = n;
		else if (!strcmp(k, "ret"))
			e->ret = strtoll(v, NULL, 0);
		else if (!strcmp(k, "count"))
			e->count = n;
		else if (!strcmp(k, "total"))
			e->total = n;
		else if (!strcmp(k, "seq"))
			e->seq = n;
		else if (!strcmp(k, "flags"))
			e->flags = collect_flags(v);
		else if (!strcmp(k, "hypercalls"))
			e->hypercalls = n;
		else if (!strcmp(k, "tid"))
			e->tid = n;
		else if (!strcmp(k, "tgid"))
			e->tgid = n;
		else if (!strcmp(k, "cpu"))
			e->cpu = n;
		else if (!strcmp(k, "pid"))
			e->pid = n;
		else if (!strcmp(k, "addr"))
			e->addr = n;
		else if (!strcmp(k, "gpa"))
			e->gpa = n;
		else if (!strcmp(k, "subpage"))
			e->subpage = n;
		else if (!strcmp(k, "action"))
			e->action = sym(v);
	}
}

static int parse_trace(void)
{
	static const char *names[] = { "ooh_session_start", "ooh_collect", "ooh_epml_switch",
				       "ooh_spp_violation" };
	char *text = tfs_read("trace"), *line, *save = NULL;

	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p;

		if (line[0] == '#') {
			p = strstr(line, "entries-in-buffer/entries-written:");
			if (p)
				sscanf(p, "entries-in-buffer/entries-written: %llu/%llu", &in_buffer,
				       &written);
			continue;
		}
		for (int t = 0; t < 4; t++) {
			char key[40];

			snprintf(key, sizeof(key), ": %s: ", names[t]);
			p = strstr(line, key);
			if (!p || nr_evs == MAX_EV)
				continue;
			memset(&evs[nr_evs], 0, sizeof(evs[nr_evs]));
			evs[nr_evs].type = t;
			parse_body(&evs[nr_evs], p + strlen(key));
			nr_evs++;
			break;
		}
	}
	free(text);
	return 0;
}

/* ---- the target: writes pages and answers pings through pipes ---- */

struct target {
	pid_t pid;
	int cmd, ack;
};

struct tcmd {
	char op;	/* 'w' write pages, 'p' ping */
	uint32_t first, count;
};

static uint8_t *region;

static void target_main(int cmd, int ack)
{
	struct tcmd c;
	uint8_t v = 1;

	for (;;) {
		if (read(cmd, &c, sizeof(c)) != (ssize_t)sizeof(c))
			_exit(0);
		if (c.op == 'w')
			for (uint32_t i = c.first; i < c.first + c.count && i < NPAGES; i++)
				region[i * PAGE + 8] = v;
		v++;
		if (write(ack, "k", 1) != 1)
			_exit(1);
	}
}

static int spawn(struct target *t)
{
	int cmd[2], ack[2];

	if (pipe(cmd) || pipe(ack))
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		target_main(cmd[0], ack[1]);
	}
	close(cmd[0]);
	close(ack[1]);
	t->cmd = cmd[1];
	t->ack = ack[0];
	return 0;
}

static int send_cmd(struct target *t, char op, uint32_t first, uint32_t count)
{
	struct tcmd c = { .op = op, .first = first, .count = count };
	char k;

	if (write(t->cmd, &c, sizeof(c)) != (ssize_t)sizeof(c) || read(t->ack, &k, 1) != 1)
		return -1;
	return 0;
}

/* ---- what the ioctls said ---- */

struct got {
	uint32_t session_mode;	/* the session's mode, to tell them apart */
	int ret;
	uint64_t count, total, seq, flags, hypercalls;
};

static struct got gots[64];
static size_t nr_gots;

/* One COLLECT ioctl into gots[]; the flags include F_CONTINUE if asked. */
static struct got *collect(int fd, uint32_t mode, uint64_t cap, bool cont)
{
	static uint64_t buf[4096];
	struct ooh_collect c = { .buf = (uintptr_t)buf, .count = cap };
	struct got *g = &gots[nr_gots++];

	c.flags = cont ? OOH_COLLECT_F_CONTINUE : 0;
	g->session_mode = mode;
	g->ret = ioctl(fd, OOH_IOC_COLLECT, &c) ? -errno : 0;
	if (g->ret == 0) {
		g->count = c.count;
		g->total = c.total;
		g->seq = c.seq;
		g->flags = c.flags | (cont ? OOH_COLLECT_F_CONTINUE : 0);
	}
	/* one SYNC per harvest of a started session, none otherwise */
	g->hypercalls = cont ? 0 : 1;
	return g;
}

/* Collects the whole interval in pieces of cap. */
static int collect_all(int fd, uint32_t mode, uint64_t cap)
{
	struct got *g = collect(fd, mode, cap, false);

	while (g->ret == 0 && (g->flags & OOH_COLLECT_F_MORE) && nr_gots < 60)
		g = collect(fd, mode, cap, true);
	return g->ret;
}

static int open_session(pid_t pid, uint32_t mode, uint32_t log_bytes)
{
	struct ooh_open_session o = { .pid = pid, .mode = mode, .log_bytes = log_bytes };
	int fd = open("/dev/ooh", O_RDWR | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, OOH_IOC_OPEN_SESSION, &o) || ioctl(fd, OOH_IOC_START)) {
		fprintf(stderr, "session mode %u: %s\n", mode, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* ---- SPP ---- */

static sigjmp_buf spp_jb;
static volatile uintptr_t spp_addr;
static volatile int spp_code;

static void spp_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	spp_addr = (uintptr_t)si->si_addr;
	spp_code = si->si_code;
	siglongjmp(spp_jb, 1);
}

struct spp_run {
	bool done;
	int signals;
	uintptr_t addr;		/* the refused byte */
	uint64_t gpa;		/* its guest-physical address, 0 if unknown */
};

static void spp_workload(struct spp_run *run)
{
	struct sigaction sa = { .sa_sigaction = spp_handler, .sa_flags = SA_SIGINFO };
	uint8_t *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* sub-page 5 refused, the others writable */
	struct ooh_spp_range r = { .addr = (uintptr_t)m, .nr_pages = 1, .mask = ~(1u << 5) };
	uint64_t entry = 0;
	int fd, pm;

	if (m == MAP_FAILED)
		return;
	memset(m, 0, PAGE);
	fd = open("/dev/ooh", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, OOH_IOC_SPP_PROTECT, &r)) {
		fprintf(stderr, "SPP_PROTECT: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	run->addr = (uintptr_t)m + 5 * OOH_SPP_SUBPAGE_SIZE + 3;
	pm = open("/proc/self/pagemap", O_RDONLY);
	if (pm >= 0 && pread(pm, &entry, 8, (off_t)((uintptr_t)m / PAGE * 8)) == 8 &&
	    (entry & (1ull << 63)) && (entry & ((1ull << 55) - 1)))
		run->gpa = (entry & ((1ull << 55) - 1)) * PAGE + (run->addr & (PAGE - 1));
	if (pm >= 0)
		close(pm);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	((volatile uint8_t *)m)[4 * OOH_SPP_SUBPAGE_SIZE] = 1;	/* allowed: no event */
	if (sigsetjmp(spp_jb, 1) == 0)
		((volatile uint8_t *)run->addr)[0] = 1;	/* refused: one event */
	else if (spp_code == OOH_SEGV_SPPERR && spp_addr == run->addr)
		run->signals++;
	signal(SIGSEGV, SIG_DFL);
	close(fd);
	munmap(m, PAGE);
	run->done = true;
}

/* ---- main ---- */

int main(void)
{
	struct ooh_session_stats st_e = { 0 };
	struct ooh_dev_info info = { 0 };
	struct spp_run spp = { 0 };
	struct target t;
	int fd, fe = -1, fs = -1, status;
	bool epml, spml, have_spp, sched_ok = false;
	char *old_clock = NULL;
	pid_t me = getpid();

	if (getenv("OOH_TRACEFS"))
		tracefs = getenv("OOH_TRACEFS");
	fd = open("/dev/ooh", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, OOH_IOC_GET_INFO, &info)) {
		result(false, "device", "/dev/ooh: %s", strerror(errno));
		return 1;
	}
	close(fd);
	epml = info.hv_features & OOH_FEAT_EPML;
	spml = info.hv_features & OOH_FEAT_SPML;
	have_spp = info.hv_features & OOH_FEAT_SPP;

	check_formats();

	region = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (region == MAP_FAILED) {
		result(false, "target", "mmap: %s", strerror(errno));
		return 1;
	}
	memset(region, 0, NPAGES * PAGE);
	if (spawn(&t)) {
		result(false, "target", "fork: %s", strerror(errno));
		return 1;
	}

	/* a clock every CPU agrees on: collects are compared in order */
	old_clock = tfs_read("trace_clock");
	if (tfs_write("tracing_on", "0") || tfs_write("trace", "") ||
	    tfs_write("trace_clock", "global") || tfs_write("events/ooh/enable", "1") ||
	    tfs_write("tracing_on", "1")) {
		result(false, "enable", "cannot enable %s/events/ooh: %s", tracefs, strerror(errno));
		kill(t.pid, SIGKILL);
		return 1;
	}

	if (epml) {
		fe = open_session(t.pid, OOH_MODE_EPML, 65536);
		if (fe >= 0) {
			/* intervals of 5, 17 and 40 written pages, then 30 in pieces of 8 */
			static const uint32_t sizes[] = { 5, 17, 40 };

			for (int i = 0; i < 3; i++) {
				send_cmd(&t, 'w', 0, sizes[i]);
				collect_all(fe, OOH_MODE_EPML, 4096);
			}
			send_cmd(&t, 'w', 10, 30);
			collect_all(fe, OOH_MODE_EPML, 8);
			/* the target sleeps in read() between pings: switches */
			for (int i = 0; i < PINGS; i++)
				send_cmd(&t, 'p', 0, 0);
			collect_all(fe, OOH_MODE_EPML, 4096);
			sched_ok = ioctl(fe, OOH_IOC_STOP) == 0 &&
				   ioctl(fe, OOH_IOC_STATS, &st_e) == 0;
		}
	}
	if (spml) {
		fs = open_session(t.pid, OOH_MODE_SPML, 0);
		if (fs >= 0) {
			send_cmd(&t, 'w', 3, 9);
			collect_all(fs, OOH_MODE_SPML, 4096);
			ioctl(fs, OOH_IOC_STOP);
		}
	}
	/* the target goes: a COLLECT then fails (ESRCH), without a harvest */
	close(t.cmd);
	waitpid(t.pid, &status, 0);
	if (fs >= 0) {
		struct got *g = collect(fs, OOH_MODE_SPML, 4096, false);

		g->hypercalls = 0; /* stopped: no SYNC */
	}
	if (have_spp)
		spp_workload(&spp);

	tfs_write("tracing_on", "0");
	tfs_write("events/ooh/enable", "0");
	if (parse_trace()) {
		result(false, "read", "cannot read %s/trace", tracefs);
		return 1;
	}
	if (old_clock) {
		/* "local [global] ...": the bracketed one was in use */
		char *b = strchr(old_clock, '['), *e = b ? strchr(b, ']') : NULL;

		if (b && e) {
			*e = 0;
			tfs_write("trace_clock", b + 1);
		}
		free(old_clock);
	}

	/* ---- the checks ---- */
	{
		uint64_t sid_e = 0, sid_s = 0;
		int starts = 0, bad = 0;
		char why[256] = "";

		for (size_t i = 0; i < nr_evs; i++) {
			struct ev *e = &evs[i];

			if (e->type != EV_START || e->tracker != (uint64_t)me)
				continue;
			starts++;
			if (e->mode == OOH_MODE_EPML && !sid_e && e->target == (uint64_t)t.pid &&
			    e->log_bytes == 65536 && e->session)
				sid_e = e->session;
			else if (e->mode == OOH_MODE_SPML && !sid_s && e->target == (uint64_t)t.pid &&
				 e->log_bytes == (1u << 20) && e->session)
				sid_s = e->session;
			else if (e->mode == 0x100 && e->session == 0 && e->target == (uint64_t)me &&
				 !e->log_bytes)
				;
			else if (!bad++)
				snprintf(why, sizeof(why), "unexpected start: session %" PRIu64
					 " mode %" PRIu64 " target %" PRIu64 " log_bytes %" PRIu64,
					 e->session, e->mode, e->target, e->log_bytes);
		}
		int want = (fe >= 0) + (fs >= 0) + spp.done;

		result(starts == want && !bad && (fe < 0 || sid_e) && (fs < 0 || sid_s),
		       "session-start", "%d starts (EPML session %" PRIu64 ", SPML session %" PRIu64
		       ", SPP %d), want %d %s", starts, sid_e, sid_s, spp.done, want, why);

		/* collects, in order, per session */
		size_t k = 0, seen = 0;
		bool ok = true;

		why[0] = 0;
		for (size_t i = 0; i < nr_evs && ok; i++) {
			struct ev *e = &evs[i];
			struct got *g;

			if (e->type != EV_COLLECT || (e->session != sid_e && e->session != sid_s))
				continue;
			seen++;
			if (k == nr_gots) {
				ok = false;
				snprintf(why, sizeof(why), "more events than COLLECTs (%zu)", nr_gots);
				break;
			}
			g = &gots[k++];
			if (e->session != (g->session_mode == OOH_MODE_EPML ? sid_e : sid_s) ||
			    e->ret != g->ret || e->count != g->count || e->total != g->total ||
			    e->seq != g->seq || e->flags != g->flags || e->hypercalls != g->hypercalls) {
				ok = false;
				snprintf(why, sizeof(why),
					 "COLLECT %zu: ioctl ret %d count %" PRIu64 " total %" PRIu64
					 " seq %" PRIu64 " flags %#" PRIx64 " hc %" PRIu64
					 "; event ret %" PRId64 " count %" PRIu64 " total %" PRIu64
					 " seq %" PRIu64 " flags %#" PRIx64 " hc %" PRIu64, k, g->ret,
					 g->count, g->total, g->seq, g->flags, g->hypercalls, e->ret,
					 e->count, e->total, e->seq, e->flags, e->hypercalls);
			}
		}
		if (ok && seen != nr_gots) {
			ok = false;
			snprintf(why, sizeof(why), "%zu events for %zu COLLECTs", seen, nr_gots);
		}
		if (!epml && !spml) {
			skip("collect", "no SPML or EPML below");
		} else {
			uint64_t pages = 0;
			int pieces = 0, errors = 0;

			for (size_t i = 0; i < nr_gots; i++) {
				pages += gots[i].count;
				pieces += !!(gots[i].flags & OOH_COLLECT_F_CONTINUE);
				errors += gots[i].ret != 0;
			}
			result(ok && nr_gots > 0, "collect",
			       "%zu COLLECTs -> %zu ooh_collect events, same count/total/seq/flags/hypercalls in order (%" PRIu64
			       " pages, %d continued pieces, %d failed as expected) %s",
			       nr_gots, seen, pages, pieces, errors, why);
		}

		/* EPML context switches */
		if (fe < 0) {
			skip("epml-switch", "no EPML session");
		} else {
			uint64_t in = 0, out = 0, other = 0;

			for (size_t i = 0; i < nr_evs; i++) {
				struct ev *e = &evs[i];

				if (e->type != EV_SWITCH || e->session != sid_e)
					continue;
				if (e->tgid != (uint64_t)t.pid || e->tid != (uint64_t)t.pid)
					other++;
				else if (e->in)
					in++;
				else
					out++;
			}
			result(sched_ok && in > 0 && in == st_e.sched_in && out == st_e.sched_out &&
			       !other, "epml-switch",
			       "%" PRIu64 " in / %" PRIu64 " out events for %d pings; session counters sched_in %"
			       PRIu64 " sched_out %" PRIu64 "; %" PRIu64 " of other threads",
			       in, out, PINGS, st_e.sched_in, st_e.sched_out, other);
		}

		/* SPP */
		if (!have_spp) {
			skip("spp-violation", "no SPP below");
		} else {
			int n = 0, right = 0;
			uint64_t addr = 0, gpa = 0, sub = 0, act = 0;

			for (size_t i = 0; i < nr_evs; i++) {
				struct ev *e = &evs[i];

				if (e->type != EV_SPP || e->pid != (uint64_t)me)
					continue;
				n++;
				addr = e->addr;
				gpa = e->gpa;
				sub = e->subpage;
				act = e->action;
				right += e->addr == spp.addr && e->subpage == 5 && e->action == 0 &&
					 (!spp.gpa || e->gpa == spp.gpa);
			}
			result(spp.done && spp.signals == 1 && n == 1 && right == 1, "spp-violation",
			       "%d event(s) for 1 refused write (SIGSEGV %d at %#" PRIxPTR
			       ", gpa %#" PRIx64 "); event addr %#" PRIx64 " gpa %#" PRIx64
			       " subpage %" PRIu64 " action %" PRIu64,
			       n, spp.signals, spp.addr, spp.gpa, addr, gpa, sub, act);
		}
		result(written > 0 && in_buffer == written, "no-loss",
		       "entries-in-buffer/entries-written %llu/%llu (%zu ooh events parsed)", in_buffer,
		       written, nr_evs);
	}
	if (fe >= 0)
		close(fe);
	if (fs >= 0)
		close(fs);
	return failures ? 1 : 0;
}
