/* SPDX-License-Identifier: MIT */
/*
 * ooh - what dirty-page tracking works here, and watch a process dirty pages.
 *
 *   ooh backends [--json]
 *   ooh track [--backend B] [--interval MS] [--count N] [--json] [--pages]
 *             (-p PID | -- CMD ARGS...)
 *   ooh version
 *   ooh wss ARGS...      (runs ooh-wss, examples/wss)
 *   ooh vmwss ARGS...    (runs ooh-vmwss, vmwss/)
 *   ooh guard [OPTIONS] -- CMD ARGS...  (CMD under ooh-guard, examples/guard)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ooh.h"

static const char *const cap_names[] = {
	"self", "remote", "whole", "atomic-rearm", "page-exact", "mapping-changes",
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ooh backends [--json]\n"
		"       ooh track [--backend B] [--interval MS] [--count N] [--json] [--pages]\n"
		"                 (-p PID | -- CMD ARGS...)\n"
		"       ooh version\n"
		"       ooh wss ARGS...    working set of a process (ooh-wss --help)\n"
		"       ooh vmwss ARGS...  working set of a whole VM (ooh-vmwss --help)\n"
		"       ooh guard [--sample N] [--align N] [--left] [--report] [--log FILE]\n"
		"                 [--quarantine BYTES] [--backend B] [--slots N] [--stack N]\n"
		"                 -- CMD ARGS...  CMD with heap guards (ooh-guard(7))\n"
		"backends: auto pagemap softdirty uffd mprotect ooh-spml ooh-epml\n");
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int cmd_backends(int argc, char **argv)
{
	int json = argc > 1 && !strcmp(argv[1], "--json");
	int usable = 0;

	if (json)
		printf("{\"version\":\"%u.%u.%u\",\"backends\":[", OOH_VERSION_MAJOR, OOH_VERSION_MINOR,
		       OOH_VERSION_PATCH);
	for (int b = 1; b <= OOH_BACKEND_MAX; b++) {
		struct ooh_backend_info info;
		if (ooh_probe((enum ooh_backend)b, &info))
			continue;
		usable += info.status == 0;
		if (json) {
			printf("%s{\"name\":\"%s\",\"usable\":%s,\"caps\":[", b > 1 ? "," : "",
			       ooh_backend_name(info.backend), info.status ? "false" : "true");
			int first = 1;
			for (unsigned c = 0; c < sizeof(cap_names) / sizeof(cap_names[0]); c++)
				if (info.caps & (1u << c)) {
					printf("%s\"%s\"", first ? "" : ",", cap_names[c]);
					first = 0;
				}
			printf("],\"reason\":");
			json_string(info.status ? info.reason : "");
			printf("}");
			continue;
		}
		printf("%-10s %-9s", ooh_backend_name(info.backend), info.status ? "UNUSABLE" : "usable");
		if (info.status) {
			printf(" %s\n", info.reason);
			continue;
		}
		for (unsigned c = 0; c < sizeof(cap_names) / sizeof(cap_names[0]); c++)
			if (info.caps & (1u << c))
				printf(" %s", cap_names[c]);
		printf("\n");
	}
	if (json)
		printf("]}\n");
	return usable ? 0 : 1;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * Start CMD stopped right after its exec, so tracking can be armed before it
 * runs a single instruction of its own.
 */
static pid_t spawn_stopped(char **argv)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "ooh: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
		/* exec failed: the child exited */
		return -1;
	}
	/* Leave it stopped (SIGSTOP) and untraced: the library attaches itself. */
	ptrace(PTRACE_DETACH, pid, 0, (void *)(long)SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	return pid;
}

struct track_opts {
	enum ooh_backend backend;
	long interval_ms;
	long count;
	int json, pages;
};

static void print_interval(const struct track_opts *o, long n, double t, const uint64_t *v,
			   size_t count, uint32_t flags)
{
	if (o->json) {
		printf("{\"interval\":%ld,\"t_ms\":%.1f,\"pages\":%zu,\"overflow\":%s", n, t, count,
		       flags & OOH_RESULT_OVERFLOW ? "true" : "false");
		if (o->pages) {
			printf(",\"runs\":[");
			for (size_t i = 0; i < count;) {
				size_t j = i + 1;
				while (j < count && v[j] == v[j - 1] + 4096)
					j++;
				printf("%s[\"0x%" PRIx64 "\",%zu]", i ? "," : "", v[i], j - i);
				i = j;
			}
			printf("]");
		}
		printf("}\n");
	} else {
		printf("interval %ld  t=%.1f ms  %zu dirty pages (%zu KiB)%s\n", n, t, count, count * 4,
		       flags & OOH_RESULT_OVERFLOW ? "  OVERFLOW: precision lost, treat all as dirty" : "");
		if (o->pages)
			for (size_t i = 0; i < count;) {
				size_t j = i + 1;
				while (j < count && v[j] == v[j - 1] + 4096)
					j++;
				printf("  0x%" PRIx64 "-0x%" PRIx64 "  %zu pages\n", v[i], v[j - 1] + 4096, j - i);
				i = j;
			}
	}
	fflush(stdout);
}

static int cmd_track(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "backend", required_argument, 0, 'b' }, { "interval", required_argument, 0, 'i' },
		{ "count", required_argument, 0, 'n' },   { "json", no_argument, 0, 'j' },
		{ "pages", no_argument, 0, 'P' },         { "pid", required_argument, 0, 'p' },
		{ "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 },
	};
	struct track_opts o = { .backend = OOH_BACKEND_AUTO, .interval_ms = 1000, .count = -1 };
	pid_t pid = 0, child = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+b:i:n:jPp:h", lo, NULL)) != -1) {
		switch (c) {
		case 'b': {
			int b = ooh_backend_from_name(optarg);
			if (b < 0) {
				fprintf(stderr, "ooh: unknown backend %s\n", optarg);
				return 2;
			}
			o.backend = (enum ooh_backend)b;
			break;
		}
		case 'i': o.interval_ms = strtol(optarg, NULL, 0); break;
		case 'n': o.count = strtol(optarg, NULL, 0); break;
		case 'j': o.json = 1; break;
		case 'P': o.pages = 1; break;
		case 'p': pid = (pid_t)strtol(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if ((pid > 0) == (optind < argc) || o.interval_ms <= 0) {
		usage(stderr);
		return 2;
	}
	if (!pid) {
		child = spawn_stopped(argv + optind);
		if (child < 0)
			return 127;
		pid = child;
	}

	struct ooh_open_opts oo = { .size = sizeof(oo), .backend = o.backend, .pid = pid,
				    .flags = OOH_OPEN_START };
	ooh_tracker *t;
	int err = ooh_open(&oo, &t);
	if (child)
		kill(child, SIGCONT);
	if (err) {
		fprintf(stderr, "ooh: cannot track pid %d with %s: %s\n", (int)pid,
			ooh_backend_name(o.backend), ooh_strerror(err));
		if (child) {
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
		}
		return 1;
	}
	if (!o.json)
		fprintf(stderr, "ooh: tracking pid %d with %s every %ld ms\n", (int)pid,
			ooh_backend_name((enum ooh_backend)ooh_tracker_backend(t)), o.interval_ms);

	size_t cap = 1 << 16, count = 0;
	uint64_t *buf = malloc(cap * sizeof(*buf));
	uint64_t *all = NULL;
	size_t all_cap = 0;
	double t0 = now_ms();
	int status = 0, exited = 0;
	for (long n = 1; (o.count < 0 || n <= o.count) && buf; n++) {
		struct timespec d = { o.interval_ms / 1000, (o.interval_ms % 1000) * 1000000L };
		while (nanosleep(&d, &d) < 0 && errno == EINTR)
			;
		if (child && waitpid(child, &status, WNOHANG) == child)
			exited = 1; /* still collect what it did last */
		uint32_t flags = 0;
		struct ooh_collect_result res;
		count = 0;
		do {
			err = ooh_collect(t, buf, cap, OOH_COLLECT_REARM, &res);
			if (err)
				break;
			if (count + res.count > all_cap) {
				all_cap = (count + res.count) * 2;
				all = realloc(all, all_cap * sizeof(*all));
				if (!all) {
					err = -ENOMEM;
					break;
				}
			}
			memcpy(all + count, buf, res.count * sizeof(*buf));
			count += res.count;
			flags |= res.flags;
		} while (res.flags & OOH_RESULT_MORE);
		if (err == -ESRCH && !exited && kill(pid, 0) == 0) {
			/* It exec'd: the old address space is gone; track the new one. */
			ooh_close(t);
			err = ooh_open(&oo, &t);
			if (err) {
				fprintf(stderr, "ooh: pid %d exec'd and cannot be tracked again: %s\n",
					(int)pid, ooh_strerror(err));
				break;
			}
			if (!o.json)
				fprintf(stderr, "ooh: pid %d exec'd, tracking its new image\n", (int)pid);
			n--;
			continue;
		}
		if (err == -ESRCH)
			break;
		if (err) {
			fprintf(stderr, "ooh: collect: %s\n", ooh_strerror(err));
			break;
		}
		print_interval(&o, n, now_ms() - t0, all, count, flags);
		if (exited)
			break;
	}
	ooh_close(t); /* -EBADF if a re-open failed: harmless */
	free(buf);
	free(all);
	if (child) {
		if (!exited)
			waitpid(child, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	return err && err != -ESRCH ? 1 : 0;
}

/*
 * `ooh wss` and `ooh vmwss` are programs of their own, installed next to
 * this one: run the sibling with the remaining arguments.
 */
static int exec_sibling(const char *name, char **argv)
{
	char self[4096], path[4096 + 64];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (len < 0) {
		perror("ooh: /proc/self/exe");
		return 1;
	}
	self[len] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/%s", slash ? self : ".", name);
	argv[0] = (char *)name;
	execv(path, argv);
	fprintf(stderr, "ooh: cannot run %s: %s\n", path, strerror(errno));
	return 1;
}

/* The directory this program is in, or "." */
static void self_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash;

	if (n < 0) {
		snprintf(dir, len, ".");
		return;
	}
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
}

/*
 * `ooh guard`: run a program with libooh-guard.so preloaded.  The options
 * are the OOH_GUARD_* variables of ooh-guard(7); the library is
 * $OOH_GUARD_LIBRARY, else ../lib/libooh-guard.so next to this program.
 */
static int cmd_guard(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sample", required_argument, NULL, 's' },
		{ "align", required_argument, NULL, 'a' },
		{ "left", no_argument, NULL, 'l' },
		{ "report", no_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'o' },
		{ "quarantine", required_argument, NULL, 'q' },
		{ "backend", required_argument, NULL, 'b' },
		{ "slots", required_argument, NULL, 'n' },
		{ "stack", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char dir[4096], lib[4200], preload[8400];
	const char *old;
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's': setenv("OOH_GUARD_SAMPLE", optarg, 1); break;
		case 'a': setenv("OOH_GUARD_ALIGN", optarg, 1); break;
		case 'l': setenv("OOH_GUARD_SIDE", "left", 1); break;
		case 'r': setenv("OOH_GUARD_MODE", "report", 1); break;
		case 'o': setenv("OOH_GUARD_LOG", optarg, 1); break;
		case 'q': setenv("OOH_GUARD_QUARANTINE", optarg, 1); break;
		case 'b':
			if (strcmp(optarg, "auto") && strcmp(optarg, "mprotect") &&
			    strcmp(optarg, "ooh")) {
				fprintf(stderr, "ooh guard: backend is auto, mprotect or ooh\n");
				return 2;
			}
			setenv("OOH_GUARD_BACKEND", optarg, 1);
			break;
		case 'n': setenv("OOH_GUARD_SLOTS", optarg, 1); break;
		case 'd': setenv("OOH_GUARD_STACK", optarg, 1); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ooh guard: no command (ooh guard [OPTIONS] -- CMD ARGS...)\n");
		return 2;
	}
	if (getenv("OOH_GUARD_LIBRARY")) {
		snprintf(lib, sizeof(lib), "%s", getenv("OOH_GUARD_LIBRARY"));
	} else {
		self_dir(dir, sizeof(dir));
		snprintf(lib, sizeof(lib), "%s/../lib/libooh-guard.so", dir);
	}
	if (access(lib, R_OK) != 0) {
		fprintf(stderr, "ooh guard: %s: %s (set OOH_GUARD_LIBRARY)\n", lib, strerror(errno));
		return 1;
	}
	old = getenv("LD_PRELOAD");
	snprintf(preload, sizeof(preload), "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "ooh guard: cannot run %s: %s\n", argv[optind], strerror(errno));
	return 127;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "backends"))
		return cmd_backends(argc - 1, argv + 1);
	if (!strcmp(argv[1], "track"))
		return cmd_track(argc - 1, argv + 1);
	if (!strcmp(argv[1], "wss"))
		return exec_sibling("ooh-wss", argv + 1);
	if (!strcmp(argv[1], "vmwss"))
		return exec_sibling("ooh-vmwss", argv + 1);
	if (!strcmp(argv[1], "guard"))
		return cmd_guard(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version")) {
		unsigned v = ooh_version();
		printf("ooh %u.%u.%u\n", v >> 16, (v >> 8) & 0xff, v & 0xff);
		return 0;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
