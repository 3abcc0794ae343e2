// SPDX-License-Identifier: MIT
/*
 * ooh-l0 source: ooh-l0's control socket (docs/control-socket.md), where
 * l0 harvests the KVM dirty ring for the whole VM: dirty-start, then
 * dirty every interval, then dirty-stop.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmwss.h"

struct l0_priv {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* One request, one reply line; -EPIPE when the VM has gone away. */
static int l0_request(struct l0_priv *p, const char *cmd, char *reply, size_t size)
{
	char req[64];
	size_t len = 0;
	int n = snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}\n", cmd);

	if (send(p->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -EPIPE;
	while (len + 1 < size) {
		ssize_t got = recv(p->fd, reply + len, 1, 0);

		if (got <= 0)
			return -EPIPE;
		if (reply[len] == '\n')
			break;
		len++;
	}
	reply[len] = '\0';
	return 0;
}

static void reply_error(const char *reply, char *err, size_t errlen)
{
	const char *e = strstr(reply, "\"error\":\"");

	if (e) {
		e += 9;
		snprintf(err, errlen, "ooh-l0: %.*s", (int)strcspn(e, "\""), e);
	} else {
		snprintf(err, errlen, "ooh-l0: unexpected reply: %.100s", reply);
	}
}

int vmwss_l0_start_reply(const char *reply, uint64_t *vm_pages, char *err, size_t errlen)
{
	const char *v;

	if (!strstr(reply, "\"ok\":true")) {
		reply_error(reply, err, errlen);
		return -EIO;
	}
	v = strstr(reply, "\"vm_pages\":");
	*vm_pages = v ? strtoull(v + 11, NULL, 10) : 0;
	return 0;
}

int vmwss_l0_sample_reply(const char *reply, uint64_t *dirty, char *err, size_t errlen)
{
	const char *v = strstr(reply, "\"dirty_pages\":");

	if (!strstr(reply, "\"ok\":true") || !v) {
		reply_error(reply, err, errlen);
		return -EIO;
	}
	*dirty = strtoull(v + 14, NULL, 10);
	return 0;
}

static int l0_start(struct vmwss_source *src, char *err, size_t errlen)
{
	struct l0_priv *p = src->priv;
	char reply[512];

	if (l0_request(p, "dirty-start", reply, sizeof(reply)) < 0) {
		snprintf(err, errlen, "VM socket %s: the VM went away", p->path);
		return -ESRCH;
	}
	return vmwss_l0_start_reply(reply, &src->vm_pages, err, errlen);
}

static int l0_sample(struct vmwss_source *src, uint64_t *dirty, bool *gone,
		     char *err, size_t errlen)
{
	struct l0_priv *p = src->priv;
	char reply[512];

	*gone = false;
	if (l0_request(p, "dirty", reply, sizeof(reply)) < 0) {
		*gone = true;
		snprintf(err, errlen, "the VM behind %s exited while monitored", p->path);
		return -ESRCH;
	}
	return vmwss_l0_sample_reply(reply, dirty, err, errlen);
}

static void l0_stop(struct vmwss_source *src)
{
	struct l0_priv *p = src->priv;
	char reply[128];

	l0_request(p, "dirty-stop", reply, sizeof(reply));
	close(p->fd);
	free(p);
	src->priv = NULL;
}

int vmwss_source_l0(struct vmwss_source *src, const char *path,
		    char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct l0_priv *p;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	strcpy(addr.sun_path, path);
	strcpy(p->path, path);
	p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;

		if (e == ENOENT || e == ECONNREFUSED)
			snprintf(err, errlen,
				 "VM socket %s is gone (%s): is ooh-l0 running with --control %s?",
				 path, strerror(e), path);
		else
			snprintf(err, errlen, "VM socket %s: %s", path, strerror(e));
		if (p->fd >= 0)
			close(p->fd);
		free(p);
		return -e;
	}
	*src = (struct vmwss_source){
		.name = "ooh-l0",
		.start = l0_start,
		.sample = l0_sample,
		.stop = l0_stop,
		.priv = p,
	};
	return 0;
}
