// SPDX-License-Identifier: MIT
/*
 * Control socket. Requests are single-line JSON objects with a "cmd" string
 * and an optional "id" (echoed back); replies are single-line JSON objects
 * with "ok". New queries (dirty rate, working set) are new rows in the
 * command table. Clients are untrusted: lines are bounded, parsing never
 * reads past the line, unknown input gets an error reply. Replies grow as
 * needed (kvm-stats: several KiB) and are never cut.
 */
#include "control.h"
#include "control-parse.h"
#include "exit-codes.h"
#include "vm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How long a client may take to make room for a reply before it is dropped. */
#define L0_CONTROL_SEND_TIMEOUT_MS 1000

struct control_client {
	int fd;
	size_t used;
	char line[L0_CONTROL_LINE_MAX];
};

struct l0_control {
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_client client[L0_CONTROL_MAX_CLIENTS];
};

struct l0_control *l0_control_open(const char *path, int *exit_code)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct l0_control *ctl;
	struct stat st;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "ooh-l0: --control path too long (max %zu)\n", sizeof(addr.sun_path) - 1);
		*exit_code = L0_EXIT_USAGE;
		return NULL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		*exit_code = L0_EXIT_INTERNAL;
		return NULL;
	}
	for (int i = 0; i < L0_CONTROL_MAX_CLIENTS; i++)
		ctl->client[i].fd = -1;
	strcpy(addr.sun_path, path);
	strcpy(ctl->path, path);
	/* Replace a stale socket left by a killed run, never any other file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->listen_fd < 0 || bind(ctl->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(ctl->listen_fd, 4) < 0) {
		fprintf(stderr, "ooh-l0: control socket %s: %s\n", path, strerror(errno));
		if (ctl->listen_fd >= 0)
			close(ctl->listen_fd);
		free(ctl);
		*exit_code = L0_EXIT_USAGE;
		return NULL;
	}
	chmod(path, 0600); /* the socket controls the VM: owner only */
	return ctl;
}

void l0_control_close(struct l0_control *ctl)
{
	if (!ctl)
		return;
	for (int i = 0; i < L0_CONTROL_MAX_CLIENTS; i++)
		if (ctl->client[i].fd >= 0)
			close(ctl->client[i].fd);
	close(ctl->listen_fd);
	unlink(ctl->path);
	free(ctl);
}

int l0_control_fill_pollfds(struct l0_control *ctl, struct pollfd *fds, int max)
{
	int n = 0;

	if (max < 1)
		return 0;
	fds[n++] = (struct pollfd){ .fd = ctl->listen_fd, .events = POLLIN };
	for (int i = 0; i < L0_CONTROL_MAX_CLIENTS && n < max; i++)
		fds[n++] = (struct pollfd){ .fd = ctl->client[i].fd, .events = POLLIN };
	return n;
}

/* --- commands --- */

/* A reply being built: grows as emitted, so no reply is ever cut short. */
struct l0_reply {
	char *buf;
	size_t size, len;
	bool failed;                /* out of memory: the whole reply is replaced */
};

static bool reserve(struct l0_reply *r, size_t more)
{
	size_t size = r->size ? r->size : 256;
	char *buf;

	if (r->len + more < r->size)
		return true;
	while (size <= r->len + more)
		size *= 2;
	buf = realloc(r->buf, size);
	if (!buf)
		return false;
	r->buf = buf;
	r->size = size;
	return true;
}

void l0_reply_emit(struct l0_reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(r, (size_t)n)) {
		r->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(r->buf + r->len, r->size - r->len, fmt, ap);
	va_end(ap);
	r->len += (size_t)n;
}

static const char *vm_state(struct l0_vm *vm)
{
	if (atomic_load(&vm->stopping))
		return "stopping";
	return atomic_load(&vm->paused) ? "paused" : "running";
}

static void cmd_status(struct l0_vm *vm, struct l0_reply *r)
{
	unsigned long exits = 0;

	for (int i = 0; i < vm->nr_vcpus; i++)
		exits += atomic_load(&vm->vcpu[i].nr_exits);
	l0_reply_emit(r, "\"ok\":true,\"state\":\"%s\",\"vcpus\":%d,\"mem_bytes\":%llu,"
		      "\"uptime_ms\":%llu,\"exits\":%lu,\"console_bytes\":%llu,\"host_kvm\":\"%s\"",
		      vm_state(vm), vm->nr_vcpus, (unsigned long long)vm->mem.size,
		      (unsigned long long)l0_vm_uptime_ms(vm), exits,
		      (unsigned long long)vm->serial.tx_bytes, vm->on_kvm_pvm ? "kvm_pvm" : "kvm");
}

static void cmd_pause(struct l0_vm *vm, struct l0_reply *r)
{
	if (l0_vm_pause(vm) == 0)
		l0_reply_emit(r, "\"ok\":true,\"state\":\"paused\"");
	else
		l0_reply_emit(r, "\"ok\":false,\"error\":\"vm is stopping\"");
}

static void cmd_resume(struct l0_vm *vm, struct l0_reply *r)
{
	l0_vm_resume(vm);
	l0_reply_emit(r, "\"ok\":true,\"state\":\"%s\"", vm_state(vm));
}

static void cmd_quit(struct l0_vm *vm, struct l0_reply *r)
{
	l0_vm_request_stop(vm, L0_STOP_QUIT, L0_EXIT_OK, "quit from control socket");
	l0_reply_emit(r, "\"ok\":true,\"state\":\"stopping\"");
}

/* Commands a device answers (the OoH device: dirty-start, dirty, dirty-stop). */
static void cmd_device(struct l0_vm *vm, const char *cmd, struct l0_reply *r)
{
	if (!l0_devices_control(&vm->devices, cmd, r))
		l0_reply_emit(r, "\"ok\":false,\"error\":\"no device of this VM answers %s\"", cmd);
}

static void cmd_dirty_start(struct l0_vm *vm, struct l0_reply *r)
{
	cmd_device(vm, "dirty-start", r);
}

static void cmd_dirty(struct l0_vm *vm, struct l0_reply *r)
{
	cmd_device(vm, "dirty", r);
}

static void cmd_dirty_stop(struct l0_vm *vm, struct l0_reply *r)
{
	cmd_device(vm, "dirty-stop", r);
}

/* Each device: its type, its option, its interrupt and its counters. */
static void cmd_devices(struct l0_vm *vm, struct l0_reply *r)
{
	l0_reply_emit(r, "\"ok\":true,\"devices\":[");
	for (int i = 0; i < vm->devices.nr; i++) {
		struct l0_device *dev = &vm->devices.device[i];

		l0_reply_emit(r, "%s{\"type\":\"%s\"", i ? "," : "", dev->ops->name);
		if (dev->ops->describe)
			dev->ops->describe(dev, r);
		l0_reply_emit(r, "}");
	}
	l0_reply_emit(r, "]");
}

/* Reads the VM's and every vCPU's stats: 0, or -1 and why not. */
static int read_kvm_stats(struct l0_vm *vm, char *why, size_t size)
{
	char what[32];

	if (l0_kvm_stats_read_or_why(&vm->kvm_stats, "VM", why, size) != 0)
		return -1;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		snprintf(what, sizeof(what), "vCPU %d", i);
		if (l0_kvm_stats_read_or_why(&vm->vcpu[i].kvm_stats, what, why, size) != 0)
			return -1;
	}
	return 0;
}

/* "name":value,... of one stats fd, as last read */
static void emit_kvm_stats(struct l0_reply *r, const struct l0_kvm_stats *s, bool first)
{
	for (uint32_t i = 0; i < s->nr; i++)
		l0_reply_emit(r, "%s\"%s\":%llu", first && i == 0 ? "" : ",", s->stat[i].name,
			      (unsigned long long)s->value[i]);
}

/*
 * KVM's own statistics (kvm-stats.c), read now: the VM's, then each
 * vCPU's, one after the other while the guest runs (pause first for one
 * consistent snapshot).
 */
static void cmd_kvm_stats(struct l0_vm *vm, struct l0_reply *r)
{
	char why[160];

	if (read_kvm_stats(vm, why, sizeof(why)) != 0) {
		l0_reply_emit(r, "\"ok\":false,\"error\":\"kvm-stats unavailable: %s\"", why);
		return;
	}
	l0_reply_emit(r, "\"ok\":true,\"vm\":{");
	emit_kvm_stats(r, &vm->kvm_stats, true);
	l0_reply_emit(r, "},\"vcpus\":[");
	for (int i = 0; i < vm->nr_vcpus; i++) {
		l0_reply_emit(r, "%s{\"id\":%d", i ? "," : "", i);
		emit_kvm_stats(r, &vm->vcpu[i].kvm_stats, false);
		l0_reply_emit(r, "}");
	}
	l0_reply_emit(r, "]");
}

/* The command table: its names and parsing in control-parse.c. */
static void (*const commands[L0_CMD_COUNT])(struct l0_vm *vm, struct l0_reply *r) = {
	[L0_CMD_STATUS] = cmd_status,
	[L0_CMD_PAUSE] = cmd_pause,
	[L0_CMD_RESUME] = cmd_resume,
	[L0_CMD_QUIT] = cmd_quit,
	[L0_CMD_DIRTY_START] = cmd_dirty_start,
	[L0_CMD_DIRTY] = cmd_dirty,
	[L0_CMD_DIRTY_STOP] = cmd_dirty_stop,
	[L0_CMD_KVM_STATS] = cmd_kvm_stats,
	[L0_CMD_DEVICES] = cmd_devices,
};

static void run_command(struct l0_vm *vm, const char *request, struct l0_reply *r)
{
	int cmd = l0_control_lookup(request);

	if (cmd == L0_CONTROL_NO_CMD)
		l0_reply_emit(r, "\"ok\":false,\"error\":\"expected {\\\"cmd\\\": \\\"...\\\"}\"");
	else if (cmd < 0)
		l0_reply_emit(r, "\"ok\":false,\"error\":\"unknown command\"");
	else
		commands[cmd](vm, r);
}

char *l0_control_reply(struct l0_vm *vm, const char *request, size_t *len)
{
	struct l0_reply r = { 0 };
	long long id;

	l0_reply_emit(&r, "{");
	if (l0_json_get_id(request, &id))
		l0_reply_emit(&r, "\"id\":%lld,", id);
	run_command(vm, request, &r);
	l0_reply_emit(&r, "}");
	if (r.failed) {
		free(r.buf);
		return NULL;
	}
	*len = r.len;
	return r.buf;
}

static const char no_memory[] = "{\"ok\":false,\"error\":\"out of memory\"}";

size_t l0_control_execute(struct l0_vm *vm, const char *request, char *reply, size_t reply_size)
{
	static const char too_long[] = "{\"ok\":false,\"error\":\"reply too long\"}";
	size_t len = sizeof(no_memory) - 1;
	char *full = l0_control_reply(vm, request, &len);
	const char *out = full ? full : no_memory;

	if (reply_size == 0) {
		free(full);
		return 0;
	}
	if (len >= reply_size) { /* a whole error reply, or nothing: never a cut one */
		out = too_long;
		len = sizeof(too_long) - 1 < reply_size ? sizeof(too_long) - 1 : 0;
	}
	memcpy(reply, out, len);
	reply[len] = '\0';
	free(full);
	return len;
}

static void drop_client(struct control_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->used = 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* All of buf, waiting for room until deadline (CLOCK_MONOTONIC ms). */
static bool send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int64_t left;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		left = deadline - now_ms();
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || left <= 0)
			return false;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return false;
	}
	return true;
}

/*
 * A big reply (kvm-stats on many vCPUs) may not fit the socket buffer at
 * once: the run loop waits a little for the client to read. A client that
 * does not is dropped; it may then see its last line without the newline
 * that ends every complete reply, never a line that looks complete.
 */
static void send_reply(struct control_client *c, const char *reply, size_t len)
{
	int64_t deadline = now_ms() + L0_CONTROL_SEND_TIMEOUT_MS;

	if (!send_all(c->fd, reply, len, deadline) || !send_all(c->fd, "\n", 1, deadline))
		drop_client(c);
}

static void serve_client(struct control_client *c, struct l0_vm *vm)
{
	ssize_t n = recv(c->fd, c->line + c->used, sizeof(c->line) - 1 - c->used, MSG_DONTWAIT);
	char *nl;

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			drop_client(c);
		return;
	}
	c->used += (size_t)n;
	c->line[c->used] = '\0';
	while (c->fd >= 0 && (nl = memchr(c->line, '\n', c->used))) {
		size_t len = 0;
		char *reply;

		*nl = '\0';
		reply = l0_control_reply(vm, c->line, &len);
		if (reply)
			send_reply(c, reply, len);
		else
			send_reply(c, no_memory, sizeof(no_memory) - 1);
		free(reply);
		if (c->fd < 0)
			return;
		c->used -= (size_t)(nl + 1 - c->line);
		memmove(c->line, nl + 1, c->used);
		c->line[c->used] = '\0';
	}
	if (c->used == sizeof(c->line) - 1) {
		static const char too_long[] = "{\"ok\":false,\"error\":\"line too long\"}";
		send_reply(c, too_long, sizeof(too_long) - 1);
		if (c->fd >= 0)
			drop_client(c);
	}
}

void l0_control_handle(struct l0_control *ctl, struct l0_vm *vm, const struct pollfd *fds, int nr)
{
	for (int i = 1; i < nr; i++) {
		struct control_client *c = &ctl->client[i - 1];

		if (c->fd >= 0 && fds[i].fd == c->fd && fds[i].revents)
			serve_client(c, vm);
	}
	if (nr > 0 && fds[0].revents & POLLIN) {
		int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		int slot = -1;

		if (fd < 0)
			return;
		for (int i = 0; i < L0_CONTROL_MAX_CLIENTS && slot < 0; i++)
			if (ctl->client[i].fd < 0)
				slot = i;
		if (slot < 0) {
			static const char busy[] = "{\"ok\":false,\"error\":\"too many clients\"}\n";
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				/* closing anyway */
			}
			close(fd);
			return;
		}
		ctl->client[slot].fd = fd;
		ctl->client[slot].used = 0;
	}
}
