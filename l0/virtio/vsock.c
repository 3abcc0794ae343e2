// SPDX-License-Identifier: MIT
/*
 * virtio-vsock over the host kernel's vhost-vsock: `--vsock CID`. The
 * kernel moves the data (rx and tx queues) straight to and from AF_VSOCK
 * sockets on the host; ooh-l0 keeps the transport's registers, hands the
 * rings to vhost when the driver is ready, passes kicks on and turns
 * vhost's calls into interrupts (virtio-mmio needs InterruptStatus set, so
 * a call cannot go to the irqchip directly). The event queue (transport
 * resets after migration) is never used.
 *
 * vhost writes guest RAM without KVM seeing it: pages it fills (the guest
 * kernel's receive buffers) are not in KVM's dirty ring, so OoH's
 * guest-physical sessions and the host's dirty view miss them. Processes
 * never get vsock data in their own pages other than through a CPU copy,
 * so guest-linear (EPML) tracking is complete.
 */
#include "virtio.h"
#include "../control.h"
#include "../exit-codes.h"
#include "../vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VSOCK_RX 0
#define VSOCK_TX 1
#define VSOCK_NR_QUEUES 3 /* rx, tx, event */

struct vsock {
	struct l0_virtio_mmio transport;   /* first: l0_virtio_transport() */
	struct virtio_vsock_config config;
	int vhost_fd;
	uint64_t vhost_features;
	bool running;                      /* vhost has the rings (under transport.lock) */
	int kick_fd[2], call_fd[2];        /* rx, tx */
	int stop_fd;
	pthread_t caller;
	atomic_ulong interrupts, kicks;    /* kicks: those through ooh-l0 (no ioeventfd) */
	unsigned long vhost_errors;        /* under transport.lock */
};

/* vhost's calls become virtio-mmio interrupts. */
static void *caller(void *opaque)
{
	struct vsock *v = opaque;
	struct pollfd fds[3] = {
		{ .fd = v->call_fd[VSOCK_RX], .events = POLLIN },
		{ .fd = v->call_fd[VSOCK_TX], .events = POLLIN },
		{ .fd = v->stop_fd, .events = POLLIN },
	};

	for (;;) {
		uint64_t count;
		bool call = false;

		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[2].revents)
			break;
		for (int i = 0; i < 2; i++)
			if ((fds[i].revents & POLLIN) && read(fds[i].fd, &count, sizeof(count)) > 0)
				call = true;
		if (call) {
			atomic_fetch_add(&v->interrupts, 1);
			l0_virtio_mmio_interrupt(&v->transport, VIRTIO_MMIO_INT_VRING);
		}
	}
	return NULL;
}

static int vhost(struct vsock *v, unsigned long request, const void *arg, const char *what)
{
	if (ioctl(v->vhost_fd, request, arg) == 0)
		return 0;
	fprintf(stderr, "ooh-l0: virtio-vsock: vhost %s: %s\n", what, strerror(errno));
	v->vhost_errors++;
	return -1;
}

/* Lock held, DRIVER_OK just set: give vhost the memory map and the rings. */
static void start_vhost(struct vsock *v)
{
	struct l0_virtio_mmio *t = &v->transport;
	const struct l0_memory *mem = &t->vm->mem;
	struct {
		struct vhost_memory head;
		struct vhost_memory_region region[L0_MEM_MAX_REGIONS];
	} table = { .head.nregions = (uint32_t)mem->nr_regions };
	uint64_t features = t->driver_features;
	int running = 1;

	if (v->running)
		return;
	for (int i = 0; i < mem->nr_regions; i++)
		table.region[i] = (struct vhost_memory_region){
			.guest_phys_addr = mem->region[i].gpa,
			.memory_size = mem->region[i].size,
			.userspace_addr = (uintptr_t)mem->region[i].host,
		};
	if (vhost(v, VHOST_SET_FEATURES, &features, "SET_FEATURES") ||
	    vhost(v, VHOST_SET_MEM_TABLE, &table, "SET_MEM_TABLE"))
		goto broken;
	for (unsigned q = VSOCK_RX; q <= VSOCK_TX; q++) {
		const struct l0_virtq *vq = &t->queue[q];
		struct vhost_vring_state num = { .index = q, .num = vq->num };
		struct vhost_vring_state base = { .index = q, .num = vq->last_avail };
		struct vhost_vring_addr addr = {
			.index = q,
			.desc_user_addr = (uintptr_t)vq->desc,
			.avail_user_addr = (uintptr_t)vq->avail,
			.used_user_addr = (uintptr_t)vq->used,
		};
		struct vhost_vring_file kick = { .index = q, .fd = v->kick_fd[q] };
		struct vhost_vring_file call = { .index = q, .fd = v->call_fd[q] };

		if (!vq->ready)
			goto broken_queue;
		if (vhost(v, VHOST_SET_VRING_NUM, &num, "SET_VRING_NUM") ||
		    vhost(v, VHOST_SET_VRING_BASE, &base, "SET_VRING_BASE") ||
		    vhost(v, VHOST_SET_VRING_ADDR, &addr, "SET_VRING_ADDR") ||
		    vhost(v, VHOST_SET_VRING_KICK, &kick, "SET_VRING_KICK") ||
		    vhost(v, VHOST_SET_VRING_CALL, &call, "SET_VRING_CALL"))
			goto broken;
	}
	if (vhost(v, VHOST_VSOCK_SET_RUNNING, &running, "VSOCK_SET_RUNNING"))
		goto broken;
	v->running = true;
	/* buffers posted before DRIVER_OK */
	l0_eventfd_kick(v->kick_fd[VSOCK_RX]);
	l0_eventfd_kick(v->kick_fd[VSOCK_TX]);
	return;
broken_queue:
	l0_virtio_mmio_set_broken(t, "DRIVER_OK with its rx or tx queue not ready");
	return;
broken:
	l0_virtio_mmio_set_broken(t, "vhost-vsock refused the rings");
}

static void stop_vhost(struct vsock *v)
{
	int running = 0;

	if (!v->running)
		return;
	vhost(v, VHOST_VSOCK_SET_RUNNING, &running, "VSOCK_SET_RUNNING 0");
	v->running = false;
}

static void vsock_driver_ok(struct l0_virtio_mmio *t)
{
	start_vhost((struct vsock *)t);
}

static void vsock_notify(struct l0_virtio_mmio *t, unsigned queue)
{
	struct vsock *v = (struct vsock *)t;

	/* vhost reads the kick eventfds; before it has them the count waits there */
	if (queue == VSOCK_RX || queue == VSOCK_TX) {
		atomic_fetch_add(&v->kicks, 1);
		l0_eventfd_kick(v->kick_fd[queue]);
	}
}

static void vsock_reset(struct l0_virtio_mmio *t)
{
	stop_vhost((struct vsock *)t);
}

/* With KVM's ioeventfd, a kick goes from the guest to vhost without ooh-l0. */
static int vsock_notify_fd(struct l0_virtio_mmio *t, unsigned queue)
{
	struct vsock *v = (struct vsock *)t;

	return queue == VSOCK_RX || queue == VSOCK_TX ? v->kick_fd[queue] : -1;
}

static const struct l0_virtio_mmio_ops vsock_transport_ops = {
	.notify = vsock_notify,
	.notify_fd = vsock_notify_fd,
	.driver_ok = vsock_driver_ok,
	.reset = vsock_reset,
};

static void close_fds(struct vsock *v)
{
	for (int i = 0; i < 2; i++) {
		if (v->kick_fd[i] >= 0)
			close(v->kick_fd[i]);
		if (v->call_fd[i] >= 0)
			close(v->call_fd[i]);
	}
	if (v->stop_fd >= 0)
		close(v->stop_fd);
	if (v->vhost_fd >= 0)
		close(v->vhost_fd);
}

static int vsock_realize(struct l0_device *dev)
{
	const uint64_t wanted = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_EVENT_IDX |
				1ull << VIRTIO_RING_F_INDIRECT_DESC;
	struct vsock *v;
	unsigned long long cid;
	char *end;
	int err = L0_EXIT_INTERNAL;

	errno = 0;
	cid = dev->arg ? strtoull(dev->arg, &end, 0) : 0;
	if (!dev->arg || errno || *end || cid < 3 || cid >= 0xffffffffull) {
		fprintf(stderr, "ooh-l0: --vsock %s: expected a guest CID, 3..4294967294\n",
			dev->arg ? dev->arg : "");
		return L0_EXIT_USAGE;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return L0_EXIT_INTERNAL;
	v->kick_fd[0] = v->kick_fd[1] = v->call_fd[0] = v->call_fd[1] = v->stop_fd = -1;
	v->vhost_fd = open("/dev/vhost-vsock", O_RDWR | O_CLOEXEC);
	if (v->vhost_fd < 0) {
		fprintf(stderr, "ooh-l0: --vsock: /dev/vhost-vsock: %s (modprobe vhost_vsock)\n",
			strerror(errno));
		free(v);
		return L0_EXIT_NO_FILE;
	}
	if (vhost(v, VHOST_SET_OWNER, NULL, "SET_OWNER") ||
	    vhost(v, VHOST_GET_FEATURES, &v->vhost_features, "GET_FEATURES"))
		goto fail;
	if (ioctl(v->vhost_fd, VHOST_VSOCK_SET_GUEST_CID, &cid) != 0) {
		fprintf(stderr, "ooh-l0: --vsock %llu: %s\n", cid,
			errno == EADDRINUSE ? "another VM has this CID" : strerror(errno));
		err = L0_EXIT_USAGE;
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		v->kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		v->call_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->kick_fd[i] < 0 || v->call_fd[i] < 0)
			goto fail;
	}
	v->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->stop_fd < 0)
		goto fail;
	v->config.guest_cid = cid;
	v->transport = (struct l0_virtio_mmio){
		.vm = dev->vm,
		.name = "virtio-vsock",
		.ops = &vsock_transport_ops,
		.device_id = VIRTIO_ID_VSOCK,
		.device_features = wanted & v->vhost_features,
		.config = &v->config,
		.config_size = sizeof(v->config),
		.nr_queues = VSOCK_NR_QUEUES,
	};
	err = l0_virtio_mmio_init(&v->transport);
	if (err)
		goto fail;
	if (pthread_create(&v->caller, NULL, caller, v)) {
		l0_virtio_mmio_destroy(&v->transport);
		err = L0_EXIT_INTERNAL;
		goto fail;
	}
	pthread_setname_np(v->caller, "virtio-vsock");
	dev->priv = v;
	return 0;
fail:
	close_fds(v);
	free(v);
	return err;
}

static void vsock_destroy(struct l0_device *dev)
{
	struct vsock *v = dev->priv;

	l0_eventfd_kick(v->stop_fd);
	pthread_join(v->caller, NULL);
	pthread_mutex_lock(&v->transport.lock);
	stop_vhost(v);
	pthread_mutex_unlock(&v->transport.lock);
	close_fds(v);
	l0_virtio_mmio_destroy(&v->transport);
	free(v);
	dev->priv = NULL;
}

static int vsock_cmdline(struct l0_device *dev, char *buf, size_t size)
{
	return l0_virtio_mmio_cmdline(dev->priv, buf, size);
}

static void vsock_describe(struct l0_device *dev, struct l0_reply *r)
{
	struct vsock *v = dev->priv;
	unsigned long errors;
	bool running;

	pthread_mutex_lock(&v->transport.lock);
	errors = v->vhost_errors;
	running = v->running;
	pthread_mutex_unlock(&v->transport.lock);
	l0_virtio_mmio_describe(&v->transport, r);
	l0_reply_emit(r, ",\"cid\":%llu,\"running\":%s,\"kicks\":%lu,\"interrupts\":%lu,"
		      "\"vhost_errors\":%lu",
		      (unsigned long long)v->config.guest_cid, running ? "true" : "false",
		      (unsigned long)atomic_load(&v->kicks), (unsigned long)atomic_load(&v->interrupts),
		      errors);
}

const struct l0_device_ops l0_virtio_vsock_device = {
	.name = "virtio-vsock",
	.realize = vsock_realize,
	.destroy = vsock_destroy,
	.cmdline = vsock_cmdline,
	.describe = vsock_describe,
};
