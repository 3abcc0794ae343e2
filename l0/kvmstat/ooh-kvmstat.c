// SPDX-License-Identifier: MIT
/*
 * ooh-kvmstat: counts and times the VM exits of ooh-l0 VMs from the host,
 * per vCPU, per exit reason and per OoH operation (which hypercall, SPP
 * write or harvest an exit was for). KVM's tracepoints say what KVM did;
 * ooh-l0's USDT probes (l0/probes.h) say what the vCPU thread was doing.
 * Every failure before watching starts is one line and its own exit
 * status (see usage()); libbpf's own messages only with -v.
 */
#include "ooh-kvmstat.skel.h"
#include "names.h"
#include "guest.h"
#include "report.h"
#include "verify.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum exit_status {
	EXIT_OK = 0,
	EXIT_ERROR = 1,		/* anything else */
	EXIT_USAGE = 2,
	EXIT_PERM = 3,		/* not root, no CAP_BPF + CAP_PERFMON */
	EXIT_NO_BTF = 4,	/* kernel without BTF, or programs refused */
	EXIT_NO_TRACEPOINTS = 5,/* no tracefs or no kvm tracepoints */
	EXIT_NO_PID = 6,	/* no such process, or not an ooh-l0 */
	EXIT_TARGET_GONE = 7,	/* the watched ooh-l0 exited */
	EXIT_DISAGREE = 8,	/* --verify: KVM's statistics say otherwise */
};

struct options {
	pid_t pid;
	int vcpu;
	double interval, duration;
	long count;
	int split_op;
	const char *l0_path, *output, *verify, *openmetrics;
	bool verbose, guest;
	char **command;
	struct report_opts report;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const char *prog = "ooh-kvmstat";

static int fail(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static bool verbose;

/* libbpf's warnings only with -v: one line of ours says what went wrong. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ooh-kvmstat [-p PID] [-c VCPU] [-i SEC] [-d SEC] [-n COUNT] [--json|--csv]\n"
		"                   [--hist] [--split-on OP] [--l0 PATH] [-o FILE] [--openmetrics FILE]\n"
		"                   [--verify SOCK] [--guest] [-v]\n"
		"                   [-- COMMAND [ARG...]]\n"
		"Counts and times the VM exits of ooh-l0 VMs per vCPU, exit reason and OoH op.\n"
		"  -p PID         watch this ooh-l0 (default: every VM on the machine)\n"
		"  -- COMMAND     start COMMAND (an ooh-l0) and watch it from its first instruction\n"
		"  -c VCPU        only this vCPU\n"
		"  -i SEC         print a report every SEC seconds (default: one at the end)\n"
		"  -d SEC         stop after SEC seconds; -n COUNT: after COUNT reports\n"
		"  --json, --csv  JSON lines / CSV with reasons and ops as labels\n"
		"  --hist         log2 latency histograms (exit to entry; KVM_RUN return to entry per op)\n"
		"  --split-on OP  a new window at each hypercall OP (name or number, e.g. stats)\n"
		"  --l0 PATH      the ooh-l0 binary whose probes to use without -p\n"
		"  -o FILE        reports to FILE instead of standard output\n"
		"  --openmetrics FILE  also the totals in OpenMetrics text, FILE replaced at each\n"
		"                 report (node_exporter's textfile collector: a .prom file)\n"
		"  --guest        inside a VM: ooh.ko's sessions (collects, EPML switches) and\n"
		"                 refused SPP writes, from its tracepoints\n"
		"  --verify SOCK  compare the counts with KVM's statistics of the ooh-l0 whose\n"
		"                 control socket is SOCK (pauses the VM at start and end)\n"
		"exit status: 0 ok, 1 error, 2 usage, 3 not permitted, 4 no BTF or programs refused,\n"
		"             5 no kvm tracepoints, 6 no such process or not an ooh-l0,\n"
		"             7 the watched ooh-l0 exited, 8 --verify found a difference;\n"
		"             with COMMAND: the command's status\n");
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || !(v > 0) || v > 1e7)
		return -1;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_JSON = 256, OPT_CSV, OPT_HIST, OPT_SPLIT, OPT_L0, OPT_VERIFY, OPT_GUEST, OPT_OM };
	static const struct option longs[] = {
		{ "pid", required_argument, 0, 'p' }, { "vcpu", required_argument, 0, 'c' },
		{ "interval", required_argument, 0, 'i' }, { "duration", required_argument, 0, 'd' },
		{ "count", required_argument, 0, 'n' }, { "json", no_argument, 0, OPT_JSON },
		{ "csv", no_argument, 0, OPT_CSV }, { "hist", no_argument, 0, OPT_HIST },
		{ "split-on", required_argument, 0, OPT_SPLIT }, { "l0", required_argument, 0, OPT_L0 },
		{ "output", required_argument, 0, 'o' }, { "verify", required_argument, 0, OPT_VERIFY },
		{ "guest", no_argument, 0, OPT_GUEST }, { "openmetrics", required_argument, 0, OPT_OM },
		{ "verbose", no_argument, 0, 'v' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	char *end;
	int c;

	*o = (struct options){ .vcpu = -1, .split_op = -1 };
	opterr = 0;	/* one line of ours instead */
	while ((c = getopt_long(argc, argv, "+p:c:i:d:n:o:vh", longs, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->pid = (pid_t)strtol(optarg, &end, 10);
			if (*end || o->pid <= 0)
				return fail(EXIT_USAGE, "-p: not a process id: %s", optarg);
			break;
		case 'c':
			o->vcpu = (int)strtol(optarg, &end, 10);
			if (*end || o->vcpu < 0)
				return fail(EXIT_USAGE, "-c: not a vCPU number: %s", optarg);
			break;
		case 'i':
			if (parse_seconds(optarg, &o->interval))
				return fail(EXIT_USAGE, "-i: not a number of seconds: %s", optarg);
			break;
		case 'd':
			if (parse_seconds(optarg, &o->duration))
				return fail(EXIT_USAGE, "-d: not a number of seconds: %s", optarg);
			break;
		case 'n':
			o->count = strtol(optarg, &end, 10);
			if (*end || o->count <= 0)
				return fail(EXIT_USAGE, "-n: not a count: %s", optarg);
			break;
		case OPT_JSON:
			o->report.format = FORMAT_JSON;
			break;
		case OPT_CSV:
			o->report.format = FORMAT_CSV;
			break;
		case OPT_HIST:
			o->report.hist = true;
			break;
		case OPT_SPLIT:
			o->split_op = kvmstat_op_parse(optarg);
			if (o->split_op < 0)
				return fail(EXIT_USAGE, "--split-on: not a hypercall op: %s", optarg);
			break;
		case OPT_L0:
			o->l0_path = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case OPT_VERIFY:
			o->verify = optarg;
			break;
		case OPT_GUEST:
			o->guest = true;
			break;
		case OPT_OM:
			o->openmetrics = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			return fail(EXIT_USAGE, "%s: bad option or missing argument (--help)",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->command = argv + optind;
	if (o->command && o->pid)
		return fail(EXIT_USAGE, "-p and a command exclude each other");
	if (o->count && !o->interval)
		return fail(EXIT_USAGE, "-n needs -i");
	if (o->guest && (o->pid || o->command || o->vcpu >= 0 || o->verify || o->split_op >= 0 ||
			 o->l0_path))
		return fail(EXIT_USAGE, "--guest counts ooh.ko's events: no -p, -c, --verify, --split-on, --l0, COMMAND");
	if (o->verify && (o->command || o->vcpu >= 0))
		return fail(EXIT_USAGE, "--verify watches a running ooh-l0's every vCPU: no COMMAND, no -c");
	if (o->verify) {
		pid_t peer = verify_peer(o->verify);

		if (peer <= 0)
			return fail(EXIT_NO_PID, "--verify %s: no ooh-l0 answers there (%s)", o->verify,
				    strerror(errno));
		if (o->pid && o->pid != peer)
			return fail(EXIT_USAGE, "--verify %s is pid %d's socket, not %d's", o->verify,
				    peer, o->pid);
		o->pid = peer;
	}
	return 0;
}

/* CapEff from /proc/self/status: root, or CAP_BPF (39) and CAP_PERFMON (38). */
static bool may_trace(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps & (1ull << 21)) || ((caps & (1ull << 39)) && (caps & (1ull << 38)));
}

static const char *tracefs_dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

/* Where tracefs is; mounts it at /sys/kernel/tracing if it is nowhere. */
static const char *tracefs(void)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/events", tracefs_dirs[i]);
		if (access(path, F_OK) == 0)
			return tracefs_dirs[i];
	}
	if (mount("nodev", tracefs_dirs[0], "tracefs", 0, NULL) == 0)
		return tracefs_dirs[0];
	return NULL;
}

static bool has_tracepoint(const char *tracing, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/events/kvm/%s", tracing, name);
	return access(path, F_OK) == 0;
}

/* The exit status of a libbpf failure: refused for rights, or for the kernel. */
static int bpf_failure(int err)
{
	return err == -EPERM || err == -EACCES ? EXIT_PERM : EXIT_NO_BTF;
}

static const struct {
	const char *name;
	bool required;
} tracepoints[] = {
	{ "kvm_exit", true }, { "kvm_entry", true }, { "kvm_userspace_exit", true },
	{ "kvm_pio", false }, { "kvm_mmio", false }, { "kvm_page_fault", false },
	{ "kvm_dirty_ring_push", false }, { "kvm_dirty_ring_reset", false },
	{ "kvm_dirty_ring_exit", false },
};

#define NR_TRACEPOINTS (sizeof(tracepoints) / sizeof(tracepoints[0]))

static struct bpf_program *tracepoint_prog(struct ooh_kvmstat *skel, size_t i)
{
	struct bpf_program *p[NR_TRACEPOINTS] = {
		skel->progs.on_kvm_exit, skel->progs.on_kvm_entry,
		skel->progs.on_kvm_userspace_exit, skel->progs.on_kvm_pio,
		skel->progs.on_kvm_mmio, skel->progs.on_kvm_page_fault,
		skel->progs.on_kvm_dirty_ring_push, skel->progs.on_kvm_dirty_ring_reset,
		skel->progs.on_kvm_dirty_ring_exit,
	};

	return p[i];
}

/* PATH lookup as execvp does it, for the command's probes. */
static int resolve_command(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/'))
		return realpath(name, out) ? 0 : -1;
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		const char *colon = strchrnul(p, ':');
		char buf[PATH_MAX];

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(colon - p), p, name);
		if (access(buf, X_OK) == 0 && realpath(buf, out))
			return 0;
		p = *colon ? colon + 1 : colon;
	}
	(void)len;
	return -1;
}

/* The child waits for one byte on fd before exec: probes are attached by then. */
static pid_t start_command(char **argv, int *release_fd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		char c;

		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(127);
		close(p[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: %s: %s\n", prog, argv[0], strerror(errno));
		_exit(127);
	}
	close(p[0]);
	*release_fd = p[1];
	return pid;
}

static const struct {
	const char *name;
	size_t offset;
} usdt_probes[] = {
	{ "harvest", offsetof(struct ooh_kvmstat, progs.on_harvest) },
	{ "spp_permit", offsetof(struct ooh_kvmstat, progs.on_spp_permit) },
	{ "spp_refuse", offsetof(struct ooh_kvmstat, progs.on_spp_refuse) },
};

static int attach_usdt(struct ooh_kvmstat *skel, pid_t pid, const char *binary)
{
	for (size_t i = 0; i < sizeof(usdt_probes) / sizeof(usdt_probes[0]); i++) {
		struct bpf_program *p = *(struct bpf_program **)((char *)skel + usdt_probes[i].offset);
		struct bpf_link *link = bpf_program__attach_usdt(p, pid ? pid : -1, binary, "ooh_l0",
								usdt_probes[i].name, NULL);

		if (!link)
			return -errno;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_maps(struct ooh_kvmstat *skel, struct snapshot *s)
{
	int fds[NR_TABLES];

	fds[T_EXITS] = bpf_map__fd(skel->maps.exits);
	fds[T_VCPUS] = bpf_map__fd(skel->maps.vcpus);
	fds[T_UEXITS] = bpf_map__fd(skel->maps.uexits);
	fds[T_OPS] = bpf_map__fd(skel->maps.ops);
	fds[T_SESSIONS] = bpf_map__fd(skel->maps.sessions);
	fds[T_VIOLATIONS] = bpf_map__fd(skel->maps.violations);
	return snapshot_read(s, fds, bpf_map__fd(skel->maps.threads),
			     bpf_map__value_size(skel->maps.threads));
}

/*
 * The totals in OpenMetrics text, replacing path whole (written beside it,
 * then renamed: a scraper never reads half a file).
 */
static int write_openmetrics(const char *path, const struct snapshot *totals)
{
	size_t len = strlen(path) + 8;
	char *tmp = malloc(len);
	FILE *f;
	int err = 0;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, len, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		err = -errno;
	} else {
		report_openmetrics(f, totals);
		if (fclose(f) != 0 || rename(tmp, path) != 0)
			err = -errno;
	}
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}

/* Prints what happened since *prev and makes the current state the new *prev. */
static int report(struct ooh_kvmstat *skel, struct snapshot *prev, const struct options *o,
		  FILE *out, unsigned seq, double seconds)
{
	struct snapshot cur, diff;
	int err;

	err = read_maps(skel, &cur);
	if (err)
		return err;
	err = snapshot_diff(&diff, &cur, prev);
	if (err) {
		snapshot_free(&cur);
		return err;
	}
	report_print(out, &diff, &o->report, seq, seconds);
	snapshot_free(&diff);
	if (o->openmetrics) {
		int om = write_openmetrics(o->openmetrics, &cur);

		if (om)
			fprintf(stderr, "%s: --openmetrics %s: %s\n", prog, o->openmetrics, strerror(-om));
	}
	snapshot_free(prev);
	*prev = cur;
	return 0;
}

/* Waits until the next report is due; false once the run is over. */
static bool wait_next(const struct options *o, int pidfd, double start, double next,
		      bool *target_gone)
{
	double now = now_s(), until = o->interval ? next : 1e18;
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

	if (o->duration && start + o->duration < until)
		until = start + o->duration;
	while (!stop_requested && now < until) {
		double left = until - now;
		int ms = left > 1000 ? 1000000 : (int)(left * 1000) + 1;

		if (poll(&pfd, pidfd >= 0 ? 1 : 0, ms) > 0) {
			*target_gone = true;
			return false;
		}
		now = now_s();
	}
	if (stop_requested || (o->duration && now >= start + o->duration))
		return false;
	return true;
}

/* --verify pauses the VM before the last report: it then counts what KVM's do. */
static int watch(struct ooh_kvmstat *skel, const struct options *o, FILE *out, int pidfd,
		 struct verifier *verifier, bool *target_gone)
{
	struct snapshot prev = { 0 };
	double start = now_s(), last = start, next = start + o->interval;
	unsigned seq = 0;
	bool more = true;
	int err = 0;

	while (more) {
		more = wait_next(o, pidfd, start, next, target_gone);
		if (!o->interval && more)
			continue;
		if (o->interval || !more) {
			double now;

			if (verifier && (!more || (o->count && (long)seq + 1 >= o->count)) &&
			    !*target_gone && verify_pause(verifier))
				return -EIO;
			now = now_s();
			err = report(skel, &prev, o, out, ++seq, now - last);
			if (err)
				break;
			last = now;
			next += o->interval;
			if (o->count && (long)seq >= o->count)
				break;
		}
	}
	snapshot_free(&prev);
	return err;
}

/* What must hold before anything is loaded; *tracing: where tracefs is. */
static int preflight(const char **tracing, bool guest)
{
	char msg[256];
	int missing;

	if (!may_trace())
		return fail(EXIT_PERM, "needs root, or CAP_BPF and CAP_PERFMON");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return fail(EXIT_NO_BTF, "this kernel has no BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)");
	*tracing = tracefs();
	if (!*tracing)
		return fail(EXIT_NO_TRACEPOINTS, "tracefs is not mounted and could not be (%s)",
			    strerror(errno));
	if (guest) {
		if (guest_check_events(*tracing, msg, sizeof(msg), &missing))
			return fail(missing ? EXIT_NO_TRACEPOINTS : EXIT_NO_BTF, "%s", msg);
		return 0;
	}
	for (size_t i = 0; i < NR_TRACEPOINTS; i++)
		if (tracepoints[i].required && !has_tracepoint(*tracing, tracepoints[i].name))
			return fail(EXIT_NO_TRACEPOINTS, "no kvm:%s tracepoint in %s/events: is kvm loaded?",
				    tracepoints[i].name, *tracing);
	return 0;
}

/* The ooh-l0 binary whose probes to attach to; "" for none. */
static int find_binary(const struct options *o, char binary[PATH_MAX])
{
	char self[PATH_MAX], *slash;

	binary[0] = 0;
	if (o->guest)
		return 0;
	if (o->pid) {
		char exe[64];

		if (kill(o->pid, 0) && errno == ESRCH)
			return fail(EXIT_NO_PID, "no such process: %d", o->pid);
		snprintf(exe, sizeof(exe), "/proc/%d/exe", o->pid);
		if (!realpath(exe, binary))
			return fail(EXIT_NO_PID, "%s: %s", exe, strerror(errno));
	} else if (o->command) {
		if (resolve_command(o->command[0], binary, PATH_MAX))
			return fail(EXIT_NO_PID, "%s: command not found", o->command[0]);
	} else if (o->l0_path) {
		if (!realpath(o->l0_path, binary))
			return fail(EXIT_NO_PID, "%s: %s", o->l0_path, strerror(errno));
	} else if (realpath("/proc/self/exe", self) && (slash = strrchr(self, '/'))) {
		/* the ooh-l0 installed beside us */
		snprintf(slash + 1, sizeof(self) - (size_t)(slash + 1 - self), "ooh-l0");
		if (access(self, X_OK) == 0)
			snprintf(binary, PATH_MAX, "%s", self);
	}
	return 0;
}

static struct bpf_program *guest_prog(struct ooh_kvmstat *skel, size_t i)
{
	struct bpf_program *p[GUEST_NR_EVENTS] = {
		skel->progs.on_ooh_session_start, skel->progs.on_ooh_collect,
		skel->progs.on_ooh_epml_switch, skel->progs.on_ooh_spp_violation,
	};

	return p[i];
}

/* KVM's tracepoints and ooh-l0's probes, or (--guest) ooh.ko's tracepoints. */
static void select_programs(struct ooh_kvmstat *skel, const char *tracing, bool guest)
{
	for (size_t i = 0; i < NR_TRACEPOINTS; i++)
		if (guest || !has_tracepoint(tracing, tracepoints[i].name))
			bpf_program__set_autoload(tracepoint_prog(skel, i), false);
	for (size_t i = 0; i < sizeof(usdt_probes) / sizeof(usdt_probes[0]); i++)
		if (guest)
			bpf_program__set_autoload(*(struct bpf_program **)((char *)skel +
								   usdt_probes[i].offset), false);
	for (size_t i = 0; i < GUEST_NR_EVENTS; i++)
		if (!guest)
			bpf_program__set_autoload(guest_prog(skel, i), false);
}

static int load_and_attach(struct ooh_kvmstat *skel, const struct options *o, pid_t pid,
			   const char *tracing, const char *binary)
{
	int err;

	skel->rodata->targ_tgid = (__u32)pid;
	skel->rodata->targ_vcpu = o->vcpu;
	skel->rodata->split_op = o->split_op;
	skel->rodata->want_hist = o->report.hist;
	select_programs(skel, tracing, o->guest);
	err = ooh_kvmstat__load(skel);
	if (err)
		return fail(bpf_failure(err), "the kernel refused ooh-kvmstat's programs (%s)%s",
			    strerror(-err), bpf_failure(err) == EXIT_NO_BTF ?
			    ": no BTF for kvm's tracepoints (/sys/kernel/btf/kvm)?" : "");
	for (size_t i = 0; i < NR_TRACEPOINTS; i++) {
		struct bpf_program *p = tracepoint_prog(skel, i);

		if (bpf_program__autoload(p) && !bpf_program__attach(p))
			return fail(bpf_failure(-errno), "cannot attach to kvm:%s: %s",
				    tracepoints[i].name, strerror(errno));
	}
	for (size_t i = 0; o->guest && i < GUEST_NR_EVENTS; i++)
		if (!bpf_program__attach(guest_prog(skel, i)))
			return fail(bpf_failure(-errno), "cannot attach to ooh:%s: %s",
				    guest_events[i], strerror(errno));
	if (o->guest)
		return 0;
	if (!binary[0]) {
		fprintf(stderr, "%s: no ooh-l0 binary found (--l0 PATH): KVM only, no OoH ops\n", prog);
		return 0;
	}
	err = attach_usdt(skel, pid, binary);
	if (err && !pid && !o->l0_path) {
		/* the ooh-l0 beside us, not asked for: KVM's view still stands */
		fprintf(stderr, "%s: %s has no ooh_l0 probes: KVM only, no OoH ops\n", prog, binary);
		return 0;
	}
	if (err == -ENOENT || err == -ESRCH || err == -EINVAL)
		return fail(EXIT_NO_PID, "%s has no ooh_l0 USDT probes: not an ooh-l0", binary);
	if (err)
		return fail(bpf_failure(err), "cannot attach to %s's ooh_l0 probes: %s", binary,
			    strerror(-err));
	return 0;
}

/* Everything counted since attaching, against KVM's counters (VM paused). */
static int verify(struct ooh_kvmstat *skel, struct verifier *v, FILE *out, enum report_format f)
{
	struct snapshot all;
	bool agree = false;

	if (read_maps(skel, &all)) {
		verify_resume(v);
		return fail(EXIT_ERROR, "reading the maps: %s", strerror(errno));
	}
	if (verify_end(v, &all, out, f, &agree)) {
		snapshot_free(&all);
		return EXIT_ERROR;
	}
	snapshot_free(&all);
	return agree ? EXIT_OK : fail(EXIT_DISAGREE, "counts differ from KVM's statistics (above)");
}

/* The status of a command that ran to its end, as a shell gives it. */
static int command_status(int ws)
{
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int main(int argc, char **argv)
{
	char binary[PATH_MAX];
	struct ooh_kvmstat *skel = NULL;
	struct verifier verifier = { 0 };
	struct options o;
	bool target_gone = false;
	int err, status, pidfd = -1, release_fd = -1, ws;
	const char *tracing = NULL;
	FILE *out = stdout;
	pid_t pid = 0;

	status = parse_options(argc, argv, &o);
	if (status)
		return status;
	verbose = o.verbose;
	libbpf_set_print(libbpf_print);
	status = preflight(&tracing, o.guest);
	if (!status)
		status = find_binary(&o, binary);
	if (!status && o.output && !(out = fopen(o.output, "w")))
		status = fail(EXIT_ERROR, "%s: %s", o.output, strerror(errno));
	if (status)
		return status;
	skel = ooh_kvmstat__open();
	if (!skel)
		return fail(EXIT_ERROR, "cannot open the BPF object: %s", strerror(errno));
	pid = o.command ? start_command(o.command, &release_fd) : o.pid;
	if (pid < 0) {
		status = fail(EXIT_ERROR, "fork: %s", strerror(errno));
		goto out;
	}
	if (o.verify) {
		verifier.socket = o.verify;
		if (verify_begin(&verifier)) {
			status = EXIT_ERROR;
			goto out;
		}
	}
	status = load_and_attach(skel, &o, pid, tracing, binary);
	if (o.verify && verify_resume(&verifier) && !status)
		status = EXIT_ERROR;
	if (status)
		goto out;
	if (pid) {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0 && errno == ESRCH) {
			status = fail(EXIT_TARGET_GONE, "process %d exited", pid);
			goto out;
		}
	}
	if (o.openmetrics) {
		/* a first file at once (zeros): a path that cannot be written fails here */
		struct snapshot none = { 0 };
		int om = write_openmetrics(o.openmetrics, &none);

		if (om) {
			status = fail(EXIT_ERROR, "--openmetrics %s: %s", o.openmetrics, strerror(-om));
			goto out;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (o.guest)
		fprintf(stderr, "%s: watching ooh.ko's sessions\n", prog);
	else
		fprintf(stderr, pid ? "%s: watching pid %d (%s)\n" : "%s: watching every VM\n", prog,
			pid, binary);
	if (release_fd >= 0) {
		if (write(release_fd, "", 1) != 1)
			fprintf(stderr, "%s: cannot start %s\n", prog, o.command[0]);
		close(release_fd);
		release_fd = -1;
	}
	err = watch(skel, &o, out, pidfd, o.verify ? &verifier : NULL, &target_gone);
	if (err)
		status = fail(EXIT_ERROR, "reading the maps: %s", strerror(-err));
	else if (target_gone && !o.command)
		status = fail(EXIT_TARGET_GONE, "the watched process %d exited", pid);
	else if (o.verify)
		status = verify(skel, &verifier, out, o.report.format);
out:
	if (release_fd >= 0)
		close(release_fd);	/* the child sees EOF and exits 127 */
	if (o.command && pid > 0) {
		if (!target_gone)
			kill(pid, SIGTERM);
		if (waitpid(pid, &ws, 0) == pid && target_gone && !status)
			status = command_status(ws);
	}
	if (out != stdout && fclose(out) && !status)
		status = fail(EXIT_ERROR, "%s: %s", o.output, strerror(errno));
	ooh_kvmstat__destroy(skel);
	return status;
}
