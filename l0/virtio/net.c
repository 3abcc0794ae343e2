// SPDX-License-Identifier: MIT
/*
 * virtio-net (virtio 1.2, 5.1) on a host tap interface: `--net tap=NAME`.
 *
 * Queue 0 receives, queue 1 transmits. The tap is opened with a 12-byte
 * virtio_net_hdr_v1 in front of every frame, the same header the driver
 * puts in its buffers, so frames go between guest RAM and the tap with
 * one readv/writev each and no copy. No offloads are offered, so the
 * header stays all zero but for num_buffers.
 *
 * A worker thread polls the notify eventfd and the tap. It polls the tap
 * only while the driver has receive buffers posted; without any it waits
 * for the driver's next rx notify instead of spinning, and the kernel
 * queues (and, when its queue is full, drops) the frames meanwhile.
 */
#include "virtio.h"
#include "../exit-codes.h"
#include "../control.h"
#include "../vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

enum { NET_RX = 0, NET_TX = 1 };

struct net {
	struct l0_virtio_mmio transport; /* first: l0_virtio_transport() */
	struct virtio_net_config config;
	char ifname[IFNAMSIZ];
	int tap_fd;
	int kick_fd;                     /* eventfd: notify or stop */
	atomic_bool stop;
	pthread_t worker;
	struct l0_virtq_chain chain;     /* the worker's */
	atomic_ullong rx_packets, rx_bytes, rx_drops, tx_packets, tx_bytes, tx_errors;
};

/*
 * One frame to the tap: 0, or -1 if it could not be sent. The guest's
 * header is replaced by a zero one: with no offload negotiated that is
 * what it must be, and the kernel then never acts on checksum or GSO
 * requests we did not offer (nor reads a header the guest still changes).
 */
static int transmit(struct net *n, const struct l0_virtq_chain *c)
{
	static const struct virtio_net_hdr_v1 no_offload = { .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	const size_t hdr_len = sizeof(no_offload);
	struct iovec iov[1 + L0_VIRTQ_MAX_SIZE];
	unsigned nr;
	ssize_t sent;

	if (c->out_len <= hdr_len)
		return -1;
	iov[0] = (struct iovec){ .iov_base = (void *)&no_offload, .iov_len = hdr_len };
	nr = 1 + l0_iov_slice(c->iov, c->nr_out, hdr_len, c->out_len - hdr_len, iov + 1);
	do
		sent = writev(n->tap_fd, iov, (int)nr);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -1;
	atomic_fetch_add(&n->tx_packets, 1);
	atomic_fetch_add(&n->tx_bytes, c->out_len - hdr_len);
	return 0;
}

/* Lock held: sends every available tx chain to the tap. */
static void process_tx(struct net *n)
{
	struct l0_virtio_mmio *t = &n->transport;
	struct l0_virtq *vq = &t->queue[NET_TX];
	bool pushed = false;

	for (;;) {
		enum l0_virtq_pop_result res = l0_virtio_pop(t, NET_TX, &n->chain);

		if (res == L0_VIRTQ_BAD)
			return;
		if (res == L0_VIRTQ_POPPED) {
			if (transmit(n, &n->chain))
				atomic_fetch_add(&n->tx_errors, 1);
			l0_virtio_note_written(t, NET_TX, NULL, 0);
			l0_virtq_push(vq, n->chain.head, 0);
			pushed = true;
			continue;
		}
		if (!l0_virtio_mmio_queue_live(t, NET_TX))
			break;
		l0_virtio_note_written(t, NET_TX, NULL, 0); /* avail_event, written next */
		if (!l0_virtq_enable_notify(vq))
			break;
	}
	if (pushed && l0_virtq_need_interrupt(vq))
		l0_virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_VRING);
}

/*
 * Lock held: moves frames from the tap into posted rx buffers until either
 * runs out. Returns true if the driver still has buffers posted (keep
 * polling the tap), false if we must wait for its notify.
 */
static bool process_rx(struct net *n)
{
	struct l0_virtio_mmio *t = &n->transport;
	struct l0_virtq *vq = &t->queue[NET_RX];
	bool pushed = false, buffers_left = false;

	for (;;) {
		struct l0_virtq_chain *c = &n->chain;
		enum l0_virtq_pop_result res = l0_virtio_pop(t, NET_RX, c);
		ssize_t got;

		if (res == L0_VIRTQ_BAD)
			break;
		if (res == L0_VIRTQ_EMPTY) {
			/* Ask for a notify when buffers come; unless they came meanwhile. */
			if (!l0_virtio_mmio_queue_live(t, NET_RX))
				break;
			l0_virtio_note_written(t, NET_RX, NULL, 0); /* avail_event */
			if (l0_virtq_enable_notify(vq))
				continue;
			break;
		}
		if (c->nr_in == 0 || c->in_len < sizeof(struct virtio_net_hdr_v1)) {
			/* A buffer that cannot hold even the header: give it back empty. */
			l0_virtio_note_written(t, NET_RX, NULL, 0);
			l0_virtq_push(vq, c->head, 0);
			pushed = true;
			continue;
		}
		do
			got = readv(n->tap_fd, c->iov + c->nr_out, (int)c->nr_in);
		while (got < 0 && errno == EINTR);
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			l0_virtq_unpop(vq); /* no frame: keep the buffer for the next one */
			buffers_left = true;
			break;
		}
		if (got < (ssize_t)sizeof(struct virtio_net_hdr_v1)) {
			/* The kernel dropped the frame (e.g. larger than the buffer). */
			atomic_fetch_add(&n->rx_drops, 1);
			l0_virtq_unpop(vq);
			if (got < 0 && errno != EFAULT && errno != EINVAL) {
				/* The tap itself fails: wait for a notify rather than spin. */
				break;
			}
			continue;
		}
		{
			/* Without MRG_RXBUF a frame always fills exactly one buffer. */
			uint16_t one = 1;

			l0_iov_from_buf(c->iov + c->nr_out, c->nr_in,
					offsetof(struct virtio_net_hdr_v1, num_buffers), &one, 2);
		}
		l0_virtio_note_written(t, NET_RX, c, (size_t)got);
		l0_virtq_push(vq, c->head, (uint32_t)got);
		atomic_fetch_add(&n->rx_packets, 1);
		atomic_fetch_add(&n->rx_bytes, (uint64_t)got - sizeof(struct virtio_net_hdr_v1));
		pushed = true;
	}
	if (pushed && l0_virtq_need_interrupt(vq))
		l0_virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_VRING);
	return buffers_left;
}

/* One pass after a kick or a frame: the worker's, or the caller's (l0_virtio_net_process). */
static bool process(struct net *n)
{
	bool poll_tap;

	pthread_mutex_lock(&n->transport.lock);
	process_tx(n);
	poll_tap = process_rx(n);
	pthread_mutex_unlock(&n->transport.lock);
	return poll_tap;
}

static void *worker(void *opaque)
{
	struct net *n = opaque;
	bool poll_tap = false;

	while (!atomic_load(&n->stop)) {
		struct pollfd pfd[2] = {
			{ .fd = n->kick_fd, .events = POLLIN },
			{ .fd = poll_tap ? n->tap_fd : -1, .events = POLLIN },
		};
		uint64_t count;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (atomic_load(&n->stop))
			break;
		if (pfd[0].revents & POLLIN && read(n->kick_fd, &count, sizeof(count)) < 0 &&
		    errno != EAGAIN)
			break;
		poll_tap = process(n);
	}
	return NULL;
}

bool l0_virtio_net_process(struct l0_device *dev)
{
	return process(dev->priv);
}

static void net_notify(struct l0_virtio_mmio *t, unsigned queue)
{
	(void)queue;
	l0_eventfd_kick(((struct net *)t)->kick_fd);
}

static int net_notify_fd(struct l0_virtio_mmio *t, unsigned queue)
{
	(void)queue;
	return ((struct net *)t)->kick_fd;
}

static const struct l0_virtio_mmio_ops net_transport_ops = {
	.notify = net_notify,
	.notify_fd = net_notify_fd,
};

/* A locally administered unicast MAC, the same for the same tap name (FNV-1a). */
static void mac_from_name(const char *name, uint8_t mac[6])
{
	uint64_t hash = 0xcbf29ce484222325ull;

	for (const char *p = name; *p; p++)
		hash = (hash ^ (uint8_t)*p) * 0x100000001b3ull;
	mac[0] = 0x02;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(hash >> (8 * i));
}

static int open_tap(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr_size = sizeof(struct virtio_net_hdr_v1);
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "ooh-l0: --net: /dev/net/tun: %s\n", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "ooh-l0: --net: tap %s: %s\n", name, strerror(errno));
		close(fd);
		return -1;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) < 0) {
		fprintf(stderr, "ooh-l0: --net: tap %s: TUNSETVNETHDRSZ: %s\n", name,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int net_realize(struct l0_device *dev)
{
	const char *name = dev->arg && !strncmp(dev->arg, "tap=", 4) ? dev->arg + 4 : NULL;
	struct net *n;
	int err;

	if (!name || !*name || strlen(name) >= IFNAMSIZ || strchr(name, ',')) {
		fprintf(stderr, "ooh-l0: --net %s: expected tap=NAME (at most %d characters)\n",
			dev->arg ? dev->arg : "", IFNAMSIZ - 1);
		return L0_EXIT_USAGE;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return L0_EXIT_INTERNAL;
	snprintf(n->ifname, sizeof(n->ifname), "%s", name);
	n->tap_fd = open_tap(name);
	if (n->tap_fd < 0) {
		free(n);
		return L0_EXIT_NO_FILE;
	}
	mac_from_name(name, n->config.mac);
	n->config.status = VIRTIO_NET_S_LINK_UP;
	n->transport = (struct l0_virtio_mmio){
		.vm = dev->vm,
		.name = "virtio-net",
		.ops = &net_transport_ops,
		.device_id = VIRTIO_ID_NET,
		.device_features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_EVENT_IDX |
				   1ull << VIRTIO_RING_F_INDIRECT_DESC | 1ull << VIRTIO_NET_F_MAC |
				   1ull << VIRTIO_NET_F_STATUS,
		.config = &n->config,
		.config_size = sizeof(n->config),
		.nr_queues = 2,
	};
	n->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->kick_fd < 0) {
		err = L0_EXIT_INTERNAL;
		goto fail_tap;
	}
	err = l0_virtio_mmio_init(&n->transport);
	if (err)
		goto fail_kick;
	if (pthread_create(&n->worker, NULL, worker, n)) {
		fprintf(stderr, "ooh-l0: virtio-net: cannot start its worker thread\n");
		l0_virtio_mmio_destroy(&n->transport);
		err = L0_EXIT_INTERNAL;
		goto fail_kick;
	}
	pthread_setname_np(n->worker, "virtio-net");
	dev->priv = n;
	return 0;

fail_kick:
	close(n->kick_fd);
fail_tap:
	close(n->tap_fd);
	free(n);
	return err;
}

static void net_destroy(struct l0_device *dev)
{
	struct net *n = dev->priv;

	atomic_store(&n->stop, true);
	l0_eventfd_kick(n->kick_fd);
	pthread_join(n->worker, NULL);
	close(n->kick_fd);
	close(n->tap_fd);
	l0_virtio_mmio_destroy(&n->transport);
	free(n);
	dev->priv = NULL;
}

static int net_cmdline(struct l0_device *dev, char *buf, size_t size)
{
	return l0_virtio_mmio_cmdline(dev->priv, buf, size);
}

static void net_describe(struct l0_device *dev, struct l0_reply *r)
{
	struct net *n = dev->priv;
	const uint8_t *mac = n->config.mac;

	l0_virtio_mmio_describe(&n->transport, r);
	l0_reply_emit(r, ",\"tap\":\"%s\",\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\","
		      "\"rx_packets\":%llu,\"rx_bytes\":%llu,\"rx_drops\":%llu,"
		      "\"tx_packets\":%llu,\"tx_bytes\":%llu,\"tx_errors\":%llu",
		      n->ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		      atomic_load(&n->rx_packets), atomic_load(&n->rx_bytes),
		      atomic_load(&n->rx_drops), atomic_load(&n->tx_packets),
		      atomic_load(&n->tx_bytes), atomic_load(&n->tx_errors));
}

const struct l0_device_ops l0_virtio_net_device = {
	.name = "virtio-net",
	.realize = net_realize,
	.destroy = net_destroy,
	.cmdline = net_cmdline,
	.describe = net_describe,
};
