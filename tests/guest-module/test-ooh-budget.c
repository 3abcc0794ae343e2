// SPDX-License-Identifier: MIT
/*
 * ooh-test-budget: what an unprivileged process may take through /dev/ooh
 * (issue 17), in L2 under ooh-l0 with ooh.ko loaded. Runs as root and does
 * the work in children that drop to uids 65534 and 65533 (no capabilities):
 *   - SPP pins are charged to VmPin (mm->pinned_vm) against RLIMIT_MEMLOCK:
 *     -ENOMEM past it, with nothing of the call protected; CAP_IPC_LOCK is
 *     exempt; closing uncharges;
 *   - per-user budgets (module parameters max_user_sessions and
 *     max_user_spp_pages): -EDQUOT past them, another user unaffected,
 *     root exempt, given back at close, exit and SIGKILL;
 *   - a session's log is charged to the opener's memory cgroup (cgroup v2
 *     memory.current of a child cgroup) and uncharged at close;
 *   - OOH_BUDGET_CYCLES (default 10000) open/protect/close cycles and
 *     killed processes leave VmPin, memory.current, the kmalloc slabs,
 *     l0's SPP pages and slots and l0's 64 sessions where they started.
 * Run it when nothing else in the guest uses OoH (it counts l0's sessions).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "../harness/ooh_check.h"

#include "user-hc.h"

#define DEV "/dev/" OOH_DEV_NAME
#define PARAMS "/sys/module/ooh/parameters/"
#define CG_ROOT "/sys/fs/cgroup"
#define CG CG_ROOT "/ooh-budget"
#define UID_A 65534
#define UID_B 65533
#define MASK 0xfffffffeu	/* sub-page 0 refused */
/*
 * memory.current moves in steps of the memcg's per-CPU charge stock
 * (MEMCG_CHARGE_BATCH, 64 pages, on each CPU): what a comparison allows.
 */
#define MEMCG_SLACK (64 * PAGE * sysconf(_SC_NPROCESSORS_ONLN))

/* ---- children ---- */

struct kid {
	pid_t pid;
	int to, from;	/* our ends: commands to it, results from it */
};

struct kid_opts {
	uid_t uid;		/* 0: stays root */
	long memlock_pages;	/* RLIMIT_MEMLOCK, -1: unchanged */
	int cgroup;		/* joins CG first */
};

typedef void (*kid_fn)(int in, int out, void *arg);

static void put(int fd, int64_t v)
{
	if (write(fd, &v, sizeof(v)) != sizeof(v))
		_exit(90);
}

static int64_t get_or(int fd, int64_t dflt)
{
	int64_t v;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : dflt;
}

/* In the parent: a result, or the test fails (the child died). */
static int64_t got(struct kid *k)
{
	int64_t v;

	ck_assert_int_eq(read(k->from, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}

static void progress(const char *what)
{
	/* where a hung guest was (Check prints its lines at the end) */
	fprintf(stderr, "ooh-test-budget: %s\n", what);
}

static void kid_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		_exit(91);
	close(fd);
}

static struct kid spawn(const struct kid_opts *o, kid_fn fn, void *arg)
{
	int a[2], b[2];
	struct kid k;

	ck_assert_int_eq(pipe(a), 0);
	ck_assert_int_eq(pipe(b), 0);
	k.pid = fork();
	ck_assert_int_ge(k.pid, 0);
	if (k.pid == 0) {
		/*
		 * Only its own ends: a copy of a sibling's command pipe would
		 * keep that sibling from seeing the end of its commands.
		 */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != a[0] && fd != b[1])
				close(fd);
		if (o->cgroup)
			kid_write_file(CG "/cgroup.procs", "0");
		if (o->memlock_pages >= 0) {
			struct rlimit r = { o->memlock_pages * PAGE, o->memlock_pages * PAGE };

			if (setrlimit(RLIMIT_MEMLOCK, &r))
				_exit(92);
		}
		/* a plain user: no capability left after the uid change */
		if (o->uid && (setgroups(0, NULL) || setresgid(o->uid, o->uid, o->uid) ||
			       setresuid(o->uid, o->uid, o->uid)))
			_exit(93);
		fn(a[0], b[1], arg);
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	k.to = a[1];
	k.from = b[0];
	return k;
}

static void tell(struct kid *k, int64_t v)
{
	ck_assert_int_eq(write(k->to, &v, sizeof(v)), (ssize_t)sizeof(v));
}

/* Waits for the child; its exit status (128 + signal if killed). */
/* Tells k v and returns its answer. */
static int64_t ask(struct kid *k, int64_t v)
{
	tell(k, v);
	return got(k);
}

static int reap(struct kid *k)
{
	int st;

	close(k->to);
	ck_assert_int_eq(waitpid(k->pid, &st, 0), k->pid);
	close(k->from);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void kill_kid(struct kid *k)
{
	ck_assert_int_eq(kill(k->pid, SIGKILL), 0);
	ck_assert_int_eq(reap(k), 128 + SIGKILL);
}

/* ---- what children do ---- */

static int64_t vm_pin_kb(void)
{
	char line[256];
	int64_t kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int64_t protect(int fd, void *addr, uint64_t n, uint32_t mask)
{
	struct ooh_spp_range r = { .addr = (uintptr_t)addr, .nr_pages = n, .mask = mask };

	return ioctl(fd, OOH_IOC_SPP_PROTECT, &r) ? -errno : 0;
}

static int64_t release(int fd, void *addr, uint64_t n)
{
	struct ooh_spp_range r = { .addr = (uintptr_t)addr, .nr_pages = n };

	return ioctl(fd, OOH_IOC_SPP_RELEASE, &r) ? -errno : 0;
}

/* How many of the n pages at addr have vector mask (-errno on error). */
static int64_t count_mask(int fd, void *addr, uint64_t n, uint32_t mask)
{
	uint32_t *m = calloc(n, sizeof(*m));
	struct ooh_spp_range r = { .addr = (uintptr_t)addr, .nr_pages = n,
				   .masks = (uintptr_t)m };
	int64_t c = 0;

	if (!m)
		return -ENOMEM;
	if (ioctl(fd, OOH_IOC_SPP_GET, &r)) {
		free(m);
		return -errno;
	}
	for (uint64_t i = 0; i < n; i++)
		c += m[i] == mask;
	free(m);
	return c;
}

static uint8_t *kid_map(size_t pages)
{
	uint8_t *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(94);
	memset(p, 1, pages * PAGE);
	return p;
}

static uint32_t session_mode(void)
{
	struct ooh_dev_info info = { 0 };
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ioctl(fd, OOH_IOC_GET_INFO, &info), 0);
	close(fd);
	if (info.hv_features & OOH_FEAT_SPML)
		return OOH_MODE_SPML;
	ck_assert_msg(info.hv_features & OOH_FEAT_EPML, "no tracking mode below");
	return OOH_MODE_EPML;
}

/* A session on ourselves in a new file: the fd, or -errno. */
static int open_session(uint32_t mode, uint32_t log_bytes)
{
	struct ooh_open_session o = { .pid = getpid(), .mode = mode, .log_bytes = log_bytes };
	int fd = open(DEV, O_RDWR | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, OOH_IOC_OPEN_SESSION, &o)) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* ---- the parent's view ---- */

static void param_set(const char *name, unsigned long v)
{
	char path[128], buf[32];
	int fd;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	snprintf(buf, sizeof(buf), "%lu", v);
	fd = open(path, O_WRONLY);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, buf, strlen(buf)), (ssize_t)strlen(buf));
	close(fd);
}

static unsigned long read_ulong(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_gt(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	return strtoul(buf, NULL, 10);
}

static unsigned long param_get(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), PARAMS "%s", name);
	return read_ulong(path);
}

/* Defaults of the module, restored after each test that changes them. */
static unsigned long saved_sessions, saved_pages, saved_reserved, saved_reserved_pages;

static void save_params(void)
{
	saved_sessions = param_get("max_user_sessions");
	saved_pages = param_get("max_user_spp_pages");
	saved_reserved = param_get("reserved_sessions");
	saved_reserved_pages = param_get("reserved_spp_pages");
}

static void restore_params(void)
{
	param_set("max_user_sessions", saved_sessions);
	param_set("max_user_spp_pages", saved_pages);
	param_set("reserved_sessions", saved_reserved);
	param_set("reserved_spp_pages", saved_reserved_pages);
}

static void cgroup_setup(void)
{
	struct stat st;
	int fd;

	if (stat(CG_ROOT "/cgroup.controllers", &st))
		ck_assert_msg(mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL) == 0,
			      "mount cgroup2: %s", strerror(errno));
	fd = open(CG_ROOT "/cgroup.subtree_control", O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(write(fd, "+memory", 7) == 7, "+memory: %s", strerror(errno));
	close(fd);
	ck_assert(mkdir(CG, 0755) == 0 || errno == EEXIST);
}

static long memcg_current(void)
{
	return (long)read_ulong(CG "/memory.current");
}

/* Active objects of the generic kmalloc caches (the module's allocations). */
static long kmalloc_objs(void)
{
	char line[512], name[64];
	long active, sum = 0;
	FILE *f = fopen("/proc/slabinfo", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", name, &active) == 2 &&
		    !strncmp(name, "kmalloc-", 8))
			sum += active;
	fclose(f);
	return sum;
}

struct hv_view {
	struct gpage req, st;
};

static struct hv_view hv_view(void)
{
	struct hv_view v;

	pin_cpu0();
	hc_port_access();
	v.req = gpage();
	v.st = gpage();
	/*
	 * Not shared copy-on-write with the children: our next store would
	 * move the page to another frame, away from the address l0 is told.
	 */
	ck_assert_int_eq(madvise(v.req.va, PAGE, MADV_DONTFORK), 0);
	ck_assert_int_eq(madvise(v.st.va, PAGE, MADV_DONTFORK), 0);
	return v;
}

static struct ooh_hv_stats hv_stats(struct hv_view *v)
{
	ck_assert_int_eq(hc_at(v->req, 0, OOH_HC_STATS, 0, 0, v->st.gpa,
			       sizeof(struct ooh_hv_stats), 0, 0), 0);
	return *(struct ooh_hv_stats *)v->st.va;
}

/*
 * l0's SPP pages once ooh.ko has removed released frames from its set (it
 * does so in batches, within half a second): waits for want, up to 10 s.
 */
static uint64_t hv_spp_pages_settled(struct hv_view *v, uint64_t want)
{
	uint64_t now = hv_stats(v).spp_pages;

	for (int i = 0; i < 100 && now != want; i++) {
		usleep(100000);
		now = hv_stats(v).spp_pages;
	}
	return now;
}

/* How many sessions l0 still gives (as root, past every user budget). */
static int hv_free_sessions(uint32_t mode)
{
	int fds[OOH_MAX_SESSIONS + 1], n = 0, fd;

	while (n <= (int)OOH_MAX_SESSIONS) {
		fd = open_session(mode, OOH_LOG_MIN_BYTES);
		if (fd < 0) {
			ck_assert_int_eq(fd, -ENOSPC);
			break;
		}
		fds[n++] = fd;
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return n;
}

/* ---- SPP pins against RLIMIT_MEMLOCK ---- */

#define LIMIT 300	/* pages of RLIMIT_MEMLOCK */

static void kid_memlock(int in, int out, void *arg)
{
	uint8_t *p = kid_map(512);
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	(void)in;
	(void)arg;
	put(out, vm_pin_kb());				/* 0 */
	put(out, protect(fd, p, LIMIT - 4, MASK));	/* 0 */
	put(out, vm_pin_kb());				/* (LIMIT-4) * 4 */
	/* 400 pages over two batches of 256, 4 already ours: over by 100 */
	put(out, protect(fd, p, 400, MASK & ~2u));	/* -ENOMEM */
	put(out, count_mask(fd, p, 400, MASK));		/* LIMIT - 4: unchanged */
	put(out, count_mask(fd, p, 400, OOH_SPP_MASK_ALL)); /* 104 */
	put(out, vm_pin_kb());				/* unchanged */
	/* exactly up to the limit, then one more page */
	put(out, protect(fd, p + (LIMIT - 4) * PAGE, 4, MASK)); /* 0 */
	put(out, protect(fd, p + LIMIT * PAGE, 1, MASK));	 /* -ENOMEM */
	/* new vectors for protected pages cost nothing */
	put(out, protect(fd, p, LIMIT, MASK & ~4u));	/* 0 */
	put(out, vm_pin_kb());				/* LIMIT * 4 */
	/* released pages are uncharged at once */
	put(out, release(fd, p, 100));			/* 0 */
	put(out, vm_pin_kb());				/* (LIMIT-100) * 4 */
	put(out, protect(fd, p + LIMIT * PAGE, 100, MASK)); /* 0 */
	put(out, vm_pin_kb());				/* LIMIT * 4 */
	close(fd);
	put(out, vm_pin_kb());				/* 0 */
	/* the mapping itself is untouched by the failed calls */
	put(out, p[LIMIT * PAGE + 3]);			/* 1 */
}

START_TEST(spp_pins_count_against_rlimit_memlock)
{
	struct kid_opts o = { .uid = UID_A, .memlock_pages = LIMIT };
	struct kid k = spawn(&o, kid_memlock, NULL);

	progress("spp_pins_count_against_rlimit_memlock");
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(got(&k), (LIMIT - 4) * 4);
	ck_assert_int_eq(got(&k), -ENOMEM);
	ck_assert_int_eq(got(&k), LIMIT - 4);
	ck_assert_int_eq(got(&k), 400 - (LIMIT - 4));
	ck_assert_int_eq(got(&k), (LIMIT - 4) * 4);
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(got(&k), -ENOMEM);
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(got(&k), LIMIT * 4);
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(got(&k), (LIMIT - 100) * 4);
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(got(&k), LIMIT * 4);
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(got(&k), 1);
	ck_assert_int_eq(reap(&k), 0);
}
END_TEST

static void kid_ipc_lock(int in, int out, void *arg)
{
	uint8_t *p = kid_map(64);
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	(void)in;
	(void)arg;
	put(out, protect(fd, p, 64, MASK));	/* 0: CAP_IPC_LOCK */
	put(out, vm_pin_kb());			/* 256: counted all the same */
	close(fd);
	put(out, vm_pin_kb());			/* 0 */
}

START_TEST(cap_ipc_lock_is_not_limited_but_counted)
{
	struct kid_opts o = { .uid = 0, .memlock_pages = 8 };
	struct kid k = spawn(&o, kid_ipc_lock, NULL);

	progress("cap_ipc_lock_is_not_limited_but_counted");
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(got(&k), 256);
	ck_assert_int_eq(got(&k), 0);
	ck_assert_int_eq(reap(&k), 0);
}
END_TEST

/* ---- per-user budget of protected pages ---- */

/* Protects the number of pages it is told, in a new file, until told 0. */
static void kid_protector(int in, int out, void *arg)
{
	uint8_t *p = kid_map(256);
	int fd = open(DEV, O_RDWR | O_CLOEXEC);
	int64_t n, done = 0;

	(void)arg;
	while ((n = get_or(in, 0)) != 0) {
		if (n > 0) {
			int64_t r = protect(fd, p + done * PAGE, (uint64_t)n, MASK);

			if (!r)
				done += n;
			put(out, r);
		} else {
			done += n; /* release the last -n */
			put(out, release(fd, p + done * PAGE, (uint64_t)-n));
		}
	}
	close(fd);
}

START_TEST(spp_pages_budget_is_per_user)
{
	struct kid_opts a = { .uid = UID_A, .memlock_pages = 1024 };
	struct kid_opts b = { .uid = UID_B, .memlock_pages = 1024 };
	struct kid_opts r = { .uid = 0, .memlock_pages = 1024 };
	struct kid a1, a2, b1, root;

	progress("spp_pages_budget_is_per_user");
	save_params();
	param_set("max_user_spp_pages", 64);
	a1 = spawn(&a, kid_protector, NULL);
	a2 = spawn(&a, kid_protector, NULL);
	b1 = spawn(&b, kid_protector, NULL);
	ck_assert_int_eq(ask(&a1, 40), 0);
	ck_assert_int_eq(ask(&a2, 25), -EDQUOT); /* 65 for the user: nothing done */
	ck_assert_int_eq(ask(&a2, 24), 0); /* exactly 64 */
	ck_assert_int_eq(ask(&a1, 1), -EDQUOT);
	ck_assert_int_eq(ask(&b1, 64), 0); /* another user: a budget of its own */
	ck_assert_int_eq(ask(&a1, -10), 0); /* a release gives back at once */
	ck_assert_int_eq(ask(&a2, 10), 0);
	ck_assert_int_eq(ask(&a2, 1), -EDQUOT);
	kill_kid(&a2);			/* a killed process gives back its 34 */
	ck_assert_int_eq(ask(&a1, 34), 0);
	ck_assert_int_eq(ask(&a1, 1), -EDQUOT);
	/* root is never refused */
	param_set("max_user_spp_pages", 0);
	root = spawn(&r, kid_protector, NULL);
	ck_assert_int_eq(ask(&root, 16), 0);
	ck_assert_int_eq(ask(&b1, -1), 0);
	ck_assert_int_eq(ask(&b1, 1), -EDQUOT); /* lowered below use: refused, kept */
	ck_assert_int_eq(reap(&root), 0);
	ck_assert_int_eq(reap(&b1), 0);
	ck_assert_int_eq(reap(&a1), 0);
	restore_params();
}
END_TEST

/*
 * Users together protect at most all but reserved_spp_pages of l0's
 * nominal 16384: with the reserve set so that 100 are left to users, two
 * users share those 100, root's file still gets pages, and a user's
 * release makes room for a user.
 */
START_TEST(reserved_spp_pages_are_roots)
{
	struct kid_opts a = { .uid = UID_A, .memlock_pages = 1024 };
	struct kid_opts b = { .uid = UID_B, .memlock_pages = 1024 };
	struct kid_opts r = { .uid = 0, .memlock_pages = 1024 };
	struct kid a1, b1, root;

	progress("reserved_spp_pages_are_roots");
	save_params();
	ck_assert_uint_eq(saved_reserved_pages, 4096);
	param_set("reserved_spp_pages", 16384 - 100);
	a1 = spawn(&a, kid_protector, NULL);
	b1 = spawn(&b, kid_protector, NULL);
	root = spawn(&r, kid_protector, NULL);
	ck_assert_int_eq(ask(&a1, 60), 0);
	ck_assert_int_eq(ask(&b1, 41), -EDQUOT); /* 101 for users: nothing done */
	ck_assert_int_eq(ask(&b1, 40), 0);
	ck_assert_int_eq(ask(&root, 50), 0); /* root's share */
	ck_assert_int_eq(ask(&a1, -10), 0);
	ck_assert_int_eq(ask(&b1, 10), 0);
	ck_assert_int_eq(ask(&b1, 1), -EDQUOT);
	ck_assert_int_eq(reap(&root), 0);
	ck_assert_int_eq(reap(&b1), 0);
	ck_assert_int_eq(reap(&a1), 0);
	restore_params();
}
END_TEST

/* ---- per-user budget of sessions ---- */

/* Opens sessions when told 1, closes the last when told -1, until 0. */
static void kid_sessions(int in, int out, void *arg)
{
	uint32_t mode = *(uint32_t *)arg;
	int fds[64], n = 0;
	int64_t c;

	while ((c = get_or(in, 0)) != 0) {
		if (c > 0) {
			int fd = open_session(mode, OOH_LOG_MIN_BYTES);

			if (fd >= 0 && n < 64)
				fds[n++] = fd;
			put(out, fd < 0 ? fd : 0);
		} else {
			put(out, n ? close(fds[--n]) : -1);
		}
	}
}

static void open_n(struct kid *k, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(ask(k, 1), 0);
}

START_TEST(sessions_budget_is_per_user)
{
	uint32_t mode = session_mode();
	struct kid_opts a = { .uid = UID_A, .memlock_pages = -1 };
	struct kid_opts b = { .uid = UID_B, .memlock_pages = -1 };
	struct kid_opts r = { .uid = 0, .memlock_pages = -1 };
	struct kid a1, a2, b1, root;

	progress("sessions_budget_is_per_user");
	save_params();
	param_set("max_user_sessions", 3);
	a1 = spawn(&a, kid_sessions, &mode);
	a2 = spawn(&a, kid_sessions, &mode);
	b1 = spawn(&b, kid_sessions, &mode);
	open_n(&a1, 2);
	open_n(&a2, 1);
	ck_assert_int_eq(ask(&a1, 1), -EDQUOT);
	ck_assert_int_eq(ask(&a2, 1), -EDQUOT);
	open_n(&b1, 3);			/* another user still gets its own */
	ck_assert_int_eq(ask(&b1, 1), -EDQUOT);
	ck_assert_int_eq(ask(&a2, -1), 0); /* close gives back */
	open_n(&a1, 1);
	ck_assert_int_eq(ask(&a1, 1), -EDQUOT);
	kill_kid(&a1);			/* SIGKILL gives back all three */
	a1 = spawn(&a, kid_sessions, &mode);
	open_n(&a1, 3);
	ck_assert_int_eq(ask(&a1, 1), -EDQUOT);
	tell(&a1, 0);			/* exit gives back too */
	ck_assert_int_eq(reap(&a1), 0);
	ck_assert_int_eq(reap(&a2), 0);
	a1 = spawn(&a, kid_sessions, &mode);
	open_n(&a1, 3);
	/* root is never refused, even with a budget of 0 */
	param_set("max_user_sessions", 0);
	root = spawn(&r, kid_sessions, &mode);
	open_n(&root, 2);
	ck_assert_int_eq(ask(&a1, -1), 0);
	ck_assert_int_eq(ask(&a1, 1), -EDQUOT); /* lowered below use: refused */
	ck_assert_int_eq(reap(&root), 0);
	ck_assert_int_eq(reap(&a1), 0);
	ck_assert_int_eq(reap(&b1), 0);
	restore_params();
}
END_TEST

/*
 * However many users fill their budgets, they hold together at most all
 * but reserved_sessions of l0's sessions: users get -EDQUOT, root gets the
 * rest, and only then l0's own -ENOSPC; root's sessions are not the users'.
 */
START_TEST(reserved_sessions_are_roots)
{
	uint32_t mode = session_mode();
	struct kid_opts a = { .uid = UID_A, .memlock_pages = -1 };
	struct kid_opts b = { .uid = UID_B, .memlock_pages = -1 };
	struct kid_opts r = { .uid = 0, .memlock_pages = -1 };
	struct kid a1, b1, root;

	progress("reserved_sessions_are_roots");
	ck_assert_int_eq(hv_free_sessions(mode), (int)OOH_MAX_SESSIONS);
	save_params();
	ck_assert_uint_eq(saved_reserved, 8);
	param_set("max_user_sessions", OOH_MAX_SESSIONS);
	a1 = spawn(&a, kid_sessions, &mode);
	b1 = spawn(&b, kid_sessions, &mode);
	open_n(&a1, OOH_MAX_SESSIONS - 8 - 1);
	open_n(&b1, 1);
	ck_assert_int_eq(ask(&a1, 1), -EDQUOT);
	ck_assert_int_eq(ask(&b1, 1), -EDQUOT);
	root = spawn(&r, kid_sessions, &mode);
	open_n(&root, 8);
	ck_assert_int_eq(ask(&root, 1), -ENOSPC); /* l0 has no more */
	ck_assert_int_eq(ask(&b1, -1), 0); /* a user's close makes room for a user */
	open_n(&a1, 1);
	ck_assert_int_eq(ask(&root, -1), 0); /* root's does not: it is in the reserve */
	ck_assert_int_eq(ask(&a1, 1), -EDQUOT);
	ck_assert_int_eq(reap(&root), 0);
	ck_assert_int_eq(reap(&a1), 0);
	ck_assert_int_eq(reap(&b1), 0);
	restore_params();
	ck_assert_int_eq(hv_free_sessions(mode), (int)OOH_MAX_SESSIONS);
}
END_TEST

/* ---- memory cgroup ---- */

/* Opens one session with the log size it is told, closes it when told. */
static void kid_log(int in, int out, void *arg)
{
	uint32_t mode = *(uint32_t *)arg;
	int64_t bytes;
	int fd = -1;

	while ((bytes = get_or(in, 0)) != 0) {
		if (bytes > 0) {
			fd = open_session(mode, (uint32_t)bytes);
			put(out, fd < 0 ? fd : 0);
		} else {
			put(out, close(fd));
		}
	}
}

START_TEST(session_log_is_charged_to_the_callers_memcg)
{
	uint32_t mode = session_mode();
	struct kid_opts o = { .uid = UID_A, .memlock_pages = -1, .cgroup = 1 };
	struct kid k;
	int64_t bytes, r = -1;
	long c0, c1, c2;

	progress("session_log_is_charged_to_the_callers_memcg");
	cgroup_setup();
	k = spawn(&o, kid_log, &mode);
	/* the largest log the module and l0 accept */
	for (bytes = 4 << 20; bytes >= (1 << 20); bytes >>= 1) {
		c0 = memcg_current();
		tell(&k, bytes);
		r = got(&k);
		if (r != -EINVAL)
			break;
	}
	ck_assert_int_eq(r, 0);
	c1 = memcg_current();
	ck_assert_int_eq(ask(&k, -1), 0);
	c2 = memcg_current();
	printf("memcg: log %ld KiB, memory.current %ld -> %ld -> %ld KiB\n",
	       (long)bytes >> 10, c0 >> 10, c1 >> 10, c2 >> 10);
	ck_assert_int_ge(c1 - c0, bytes);
	ck_assert_int_ge(c1 - c2, bytes - MEMCG_SLACK);
	ck_assert_int_eq(reap(&k), 0);
}
END_TEST

/* ---- nothing left behind ---- */

/*
 * cycles times: open /dev/ooh, a session on ourselves (started), one page
 * protected, close. Then VmPin; -errno of the first failure.
 */
static void kid_cycles(int in, int out, void *arg)
{
	uint32_t mode = *(uint32_t *)arg;
	uint8_t *p = kid_map(1);
	int64_t cycles;

	while ((cycles = get_or(in, 0)) != 0) {
		int64_t err = 0;

		for (int64_t i = 0; i < cycles && !err; i++) {
			int fd = open_session(mode, OOH_LOG_MIN_BYTES);

			if (fd < 0) {
				err = fd;
				break;
			}
			if (ioctl(fd, OOH_IOC_START))
				err = -errno;
			if (!err)
				err = protect(fd, p, 1, MASK ^ (uint32_t)(i & 2));
			close(fd);
			if (i % 1000 == 999)
				fprintf(stderr, "ooh-test-budget: %ld cycles\n", (long)i + 1);
		}
		put(out, err);
		put(out, vm_pin_kb());
	}
}

/* Sessions started and pages protected, then waits to be killed. */
static void kid_victim(int in, int out, void *arg)
{
	uint32_t mode = *(uint32_t *)arg;
	uint8_t *p = kid_map(8);
	int fd = open_session(mode, 1 << 20);
	int64_t r = fd < 0 ? fd : 0;

	if (!r && ioctl(fd, OOH_IOC_START))
		r = -errno;
	if (!r)
		r = protect(fd, p, 8, MASK);
	put(out, r);
	put(out, vm_pin_kb());
	get_or(in, 0);
	pause();
}

START_TEST(cycles_and_kills_leave_nothing_behind)
{
	uint32_t mode = session_mode();
	const char *env = getenv("OOH_BUDGET_CYCLES");
	long cycles = env ? atol(env) : 10000;
	struct kid_opts o = { .uid = UID_A, .memlock_pages = 64, .cgroup = 1 };
	struct hv_view hv = hv_view();
	struct ooh_hv_stats h0, h1;
	struct kid k, victims[8];
	long m0, m1, m2, s0, s1, s2;
	struct timespec t0, t1;
	int free0;

	progress("cycles_and_kills_leave_nothing_behind");
	cgroup_setup();
	free0 = hv_free_sessions(mode);
	h0 = hv_stats(&hv);
	k = spawn(&o, kid_cycles, &mode);
	/* warm-up: the first cycles fill caches that stay */
	ck_assert_int_eq(ask(&k, 100), 0);
	ck_assert_int_eq(got(&k), 0);
	ck_assert_uint_eq(hv_spp_pages_settled(&hv, h0.spp_pages), h0.spp_pages);
	m0 = memcg_current();
	s0 = kmalloc_objs();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tell(&k, cycles);
	ck_assert_int_eq(got(&k), 0);			/* every cycle worked */
	ck_assert_int_eq(got(&k), 0);			/* VmPin 0 kB */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_uint_eq(hv_spp_pages_settled(&hv, h0.spp_pages), h0.spp_pages);
	m1 = memcg_current();
	s1 = kmalloc_objs();
	h1 = hv_stats(&hv);
	printf("cycles: %ld in %.1f s; memory.current %+ld KiB, kmalloc objects %+ld, "
	       "l0 SPP pages %llu -> %llu, slots %llu -> %llu\n", cycles,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (m1 - m0) / 1024, s1 - s0, (unsigned long long)h0.spp_pages,
	       (unsigned long long)h1.spp_pages, (unsigned long long)h0.spp_slots,
	       (unsigned long long)h1.spp_slots);
	ck_assert_uint_eq(h1.spp_slots, h0.spp_slots);
	ck_assert_int_le(labs(m1 - m0), MEMCG_SLACK);
	/* one object left per cycle would be cycles more */
	ck_assert_int_lt(s1 - s0, cycles / 2);

	/* processes killed holding sessions and protected pages */
	for (int i = 0; i < 8; i++) {
		victims[i] = spawn(&o, kid_victim, &mode);
		ck_assert_int_eq(got(&victims[i]), 0);
		ck_assert_int_eq(got(&victims[i]), 8 * 4);
	}
	ck_assert_uint_eq(hv_stats(&hv).spp_pages, h0.spp_pages + 8 * 8);
	ck_assert_int_ge(memcg_current() - m1, 8 * (1 << 20));
	for (int i = 0; i < 8; i++)
		kill_kid(&victims[i]);
	ck_assert_uint_eq(hv_spp_pages_settled(&hv, h0.spp_pages), h0.spp_pages);
	ck_assert_uint_eq(hv_stats(&hv).spp_slots, h0.spp_slots);
	m2 = memcg_current();
	s2 = kmalloc_objs();
	printf("killed: memory.current %+ld KiB, kmalloc objects %+ld since the cycles\n",
	       (m2 - m1) / 1024, s2 - s1);
	ck_assert_int_le(labs(m2 - m1), MEMCG_SLACK);
	ck_assert_int_eq(reap(&k), 0);
	ck_assert_int_eq(hv_free_sessions(mode), free0);
	ck_assert_int_eq(free0, (int)OOH_MAX_SESSIONS);
}
END_TEST

START_TEST(user_budget_is_whole_after_the_storm)
{
	uint32_t mode = session_mode();
	unsigned long max = param_get("max_user_sessions");
	struct kid_opts a = { .uid = UID_A, .memlock_pages = -1 };
	struct kid k = spawn(&a, kid_sessions, &mode);

	progress("user_budget_is_whole_after_the_storm");
	/* the defaults: a quarter of l0's sessions, 16 MiB of SPP */
	ck_assert_uint_eq(max, 16);
	ck_assert_uint_eq(param_get("max_user_spp_pages"), 4096);
	open_n(&k, (int)max);
	ck_assert_int_eq(ask(&k, 1), -EDQUOT);
	tell(&k, 0);
	ck_assert_int_eq(reap(&k), 0);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("ooh-budget");
	TCase *tc = tcase_create("budget");

	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, spp_pins_count_against_rlimit_memlock);
	tcase_add_test(tc, cap_ipc_lock_is_not_limited_but_counted);
	tcase_add_test(tc, spp_pages_budget_is_per_user);
	tcase_add_test(tc, reserved_spp_pages_are_roots);
	tcase_add_test(tc, sessions_budget_is_per_user);
	tcase_add_test(tc, reserved_sessions_are_roots);
	tcase_add_test(tc, session_log_is_charged_to_the_callers_memcg);
	tcase_add_test(tc, cycles_and_kills_leave_nothing_behind);
	tcase_add_test(tc, user_budget_is_whole_after_the_storm);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
