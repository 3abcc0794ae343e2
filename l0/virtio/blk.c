// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio 1.2, 5.2) on a raw image file: `--disk PATH[,ro][,bs=512|4096]`.
 *
 * One request queue. A QueueNotify only writes an eventfd; the device's
 * worker thread pops the requests and does the I/O with preadv/pwritev
 * straight into/out of guest RAM, so a vCPU never waits for the disk.
 */
#include "virtio.h"
#include "../exit-codes.h"
#include "../control.h"
#include "../vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BLK_SECTOR 512ull

struct blk {
	struct l0_virtio_mmio transport; /* first: l0_virtio_transport() */
	struct virtio_blk_config config;
	int fd;
	bool read_only;
	uint64_t capacity;               /* in 512-byte sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	int kick_fd;                     /* eventfd: notify or stop */
	atomic_bool stop;
	pthread_t worker;
	struct l0_virtq_chain chain;     /* the worker's, kept off its stack */
	atomic_ullong reads, writes, flushes, bytes_read, bytes_written, errors;
};

/* Sector range check without overflow: [sector, sector + bytes) within the image. */
static bool in_range(const struct blk *b, uint64_t sector, uint64_t bytes)
{
	return sector <= b->capacity && bytes <= (b->capacity - sector) * BLK_SECTOR;
}

/* preadv/pwritev until all of iov is done; false on an error or end of file. */
static bool rw_all(struct blk *b, struct iovec *iov, unsigned nr, uint64_t offset, bool write)
{
	while (nr > 0) {
		ssize_t n = write ? pwritev(b->fd, iov, (int)nr, (off_t)offset)
				  : preadv(b->fd, iov, (int)nr, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		offset += (uint64_t)n;
		while (nr > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			nr--;
		}
		if (nr > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return true;
}

/* Serves one request; returns the bytes written into the chain's writable part. */
static uint32_t serve(struct blk *b, struct l0_virtq_chain *c)
{
	struct virtio_blk_outhdr hdr;
	struct iovec data[L0_VIRTQ_MAX_SIZE];
	const struct iovec *in = c->iov + c->nr_out;
	size_t data_len;
	uint8_t status = VIRTIO_BLK_S_OK;
	uint32_t written = 0;
	unsigned nr;

	/*
	 * A readable header and a writable status byte (the last one), else
	 * there is nothing to answer in; and no more writable bytes than the
	 * used element's 32-bit length can count.
	 */
	if (l0_iov_to_buf(c->iov, c->nr_out, 0, &hdr, sizeof(hdr)) != sizeof(hdr) ||
	    c->in_len < 1 || c->in_len > UINT32_MAX) {
		atomic_fetch_add(&b->errors, 1);
		return 0;
	}
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		data_len = c->in_len - 1;
		nr = l0_iov_slice(in, c->nr_in, 0, data_len, data);
		if (!in_range(b, hdr.sector, data_len) ||
		    !rw_all(b, data, nr, hdr.sector * BLK_SECTOR, false)) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		written = (uint32_t)data_len;
		atomic_fetch_add(&b->reads, 1);
		atomic_fetch_add(&b->bytes_read, data_len);
		break;
	case VIRTIO_BLK_T_OUT:
		data_len = c->out_len - sizeof(hdr);
		nr = l0_iov_slice(c->iov, c->nr_out, sizeof(hdr), data_len, data);
		if (b->read_only || !in_range(b, hdr.sector, data_len) ||
		    !rw_all(b, data, nr, hdr.sector * BLK_SECTOR, true)) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		atomic_fetch_add(&b->writes, 1);
		atomic_fetch_add(&b->bytes_written, data_len);
		break;
	case VIRTIO_BLK_T_FLUSH:
		/* The driver counts the data as durable once this completes. */
		if (!b->read_only && fdatasync(b->fd)) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		atomic_fetch_add(&b->flushes, 1);
		break;
	case VIRTIO_BLK_T_GET_ID:
		written = (uint32_t)l0_iov_from_buf(in, c->nr_in, 0, b->serial,
						    c->in_len - 1 < sizeof(b->serial) ?
						    c->in_len - 1 : sizeof(b->serial));
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (status == VIRTIO_BLK_S_IOERR)
		atomic_fetch_add(&b->errors, 1);
	l0_iov_from_buf(in, c->nr_in, c->in_len - 1, &status, 1);
	return written + 1;
}

/* Lock held: drains the request queue, interrupting as the driver asks. */
static void process_queue(struct blk *b)
{
	struct l0_virtio_mmio *t = &b->transport;
	struct l0_virtq *vq = &t->queue[0];
	bool pushed = false;

	for (;;) {
		enum l0_virtq_pop_result res = l0_virtio_pop(t, 0, &b->chain);

		if (res == L0_VIRTQ_BAD)
			return; /* marked broken: nothing more until a reset */
		if (res == L0_VIRTQ_POPPED) {
			uint32_t written = serve(b, &b->chain);

			l0_virtio_note_written(t, 0, &b->chain, written);
			l0_virtq_push(vq, b->chain.head, written);
			pushed = true;
			continue;
		}
		if (!l0_virtio_mmio_queue_live(t, 0))
			break;
		l0_virtio_note_written(t, 0, NULL, 0); /* avail_event, written next */
		if (!l0_virtq_enable_notify(vq))
			break;
	}
	if (pushed && l0_virtq_need_interrupt(vq))
		l0_virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_VRING);
}

/* One pass after a kick: the worker's, or the caller's (l0_virtio_blk_process). */
static void process(struct blk *b)
{
	pthread_mutex_lock(&b->transport.lock);
	process_queue(b);
	pthread_mutex_unlock(&b->transport.lock);
}

static void *worker(void *opaque)
{
	struct blk *b = opaque;

	while (!atomic_load(&b->stop)) {
		struct pollfd pfd = { .fd = b->kick_fd, .events = POLLIN };
		uint64_t count;

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		if (read(b->kick_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
			break;
		if (atomic_load(&b->stop))
			break;
		process(b);
	}
	return NULL;
}

void l0_virtio_blk_process(struct l0_device *dev)
{
	process(dev->priv);
}

static void blk_notify(struct l0_virtio_mmio *t, unsigned queue)
{
	(void)queue;
	l0_eventfd_kick(((struct blk *)t)->kick_fd);
}

static int blk_notify_fd(struct l0_virtio_mmio *t, unsigned queue)
{
	(void)queue;
	return ((struct blk *)t)->kick_fd;
}

static const struct l0_virtio_mmio_ops blk_transport_ops = {
	.notify = blk_notify,
	.notify_fd = blk_notify_fd,
};

/* The serial (GET_ID): the image's file name, at most 20 bytes, NUL-padded. */
static void make_serial(struct blk *b, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;

	memset(b->serial, 0, sizeof(b->serial));
	memcpy(b->serial, name, strnlen(name, sizeof(b->serial)));
}

/* PATH[,ro][,bs=512|4096] into path (malloc'd) and options; false on a bad option. */
static bool parse_arg(const char *arg, char **path, bool *read_only, uint32_t *block_size)
{
	char *copy = strdup(arg), *save = NULL, *word;
	bool ok = true;

	if (!copy)
		return false;
	*path = NULL;
	*read_only = false;
	*block_size = 512;
	word = strtok_r(copy, ",", &save);
	if (!word) {
		free(copy);
		return false;
	}
	*path = strdup(word);
	while (ok && (word = strtok_r(NULL, ",", &save))) {
		if (!strcmp(word, "ro"))
			*read_only = true;
		else if (!strcmp(word, "bs=512"))
			*block_size = 512;
		else if (!strcmp(word, "bs=4096"))
			*block_size = 4096;
		else
			ok = false;
	}
	free(copy);
	return ok && *path;
}

static int blk_realize(struct l0_device *dev)
{
	struct blk *b;
	char *path = NULL;
	bool read_only;
	uint32_t block_size;
	off_t size;
	int err;

	if (!dev->arg || !parse_arg(dev->arg, &path, &read_only, &block_size)) {
		fprintf(stderr, "ooh-l0: --disk %s: expected PATH[,ro][,bs=512|4096]\n",
			dev->arg ? dev->arg : "");
		free(path);
		return L0_EXIT_USAGE;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		free(path);
		return L0_EXIT_INTERNAL;
	}
	b->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		fprintf(stderr, "ooh-l0: --disk %s: %s\n", path, strerror(errno));
		free(path);
		free(b);
		return L0_EXIT_NO_FILE;
	}
	size = lseek(b->fd, 0, SEEK_END);
	if (size < 0) {
		fprintf(stderr, "ooh-l0: --disk %s: %s\n", path, strerror(errno));
		err = L0_EXIT_NO_FILE;
		goto fail_fd;
	}
	make_serial(b, path);
	b->read_only = read_only;
	b->capacity = (uint64_t)size / BLK_SECTOR;
	b->config.capacity = b->capacity;
	b->config.seg_max = L0_VIRTQ_MAX_SIZE - 2; /* the header and the status take two */
	b->config.blk_size = block_size;

	b->transport = (struct l0_virtio_mmio){
		.vm = dev->vm,
		.name = "virtio-blk",
		.ops = &blk_transport_ops,
		.device_id = VIRTIO_ID_BLOCK,
		.device_features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_EVENT_IDX |
				   1ull << VIRTIO_RING_F_INDIRECT_DESC |
				   1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_SEG_MAX |
				   1ull << VIRTIO_BLK_F_BLK_SIZE |
				   (read_only ? 1ull << VIRTIO_BLK_F_RO : 0),
		.config = &b->config,
		.config_size = sizeof(b->config),
		.nr_queues = 1,
	};
	b->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->kick_fd < 0) {
		err = L0_EXIT_INTERNAL;
		goto fail_fd;
	}
	err = l0_virtio_mmio_init(&b->transport);
	if (err)
		goto fail_kick;
	if (pthread_create(&b->worker, NULL, worker, b)) {
		fprintf(stderr, "ooh-l0: virtio-blk: cannot start its worker thread\n");
		l0_virtio_mmio_destroy(&b->transport);
		err = L0_EXIT_INTERNAL;
		goto fail_kick;
	}
	pthread_setname_np(b->worker, "virtio-blk");
	free(path);
	dev->priv = b;
	return 0;

fail_kick:
	close(b->kick_fd);
fail_fd:
	close(b->fd);
	free(path);
	free(b);
	return err;
}

static void blk_destroy(struct l0_device *dev)
{
	struct blk *b = dev->priv;

	atomic_store(&b->stop, true);
	l0_eventfd_kick(b->kick_fd);
	pthread_join(b->worker, NULL);
	close(b->kick_fd);
	close(b->fd);
	l0_virtio_mmio_destroy(&b->transport);
	free(b);
	dev->priv = NULL;
}

static int blk_cmdline(struct l0_device *dev, char *buf, size_t size)
{
	return l0_virtio_mmio_cmdline(dev->priv, buf, size);
}

static void blk_describe(struct l0_device *dev, struct l0_reply *r)
{
	struct blk *b = dev->priv;

	l0_virtio_mmio_describe(&b->transport, r);
	l0_reply_emit(r, ",\"capacity_sectors\":%llu,\"read_only\":%s,\"reads\":%llu,"
		      "\"writes\":%llu,\"flushes\":%llu,\"bytes_read\":%llu,\"bytes_written\":%llu,"
		      "\"errors\":%llu",
		      (unsigned long long)b->capacity, b->read_only ? "true" : "false",
		      atomic_load(&b->reads), atomic_load(&b->writes), atomic_load(&b->flushes),
		      atomic_load(&b->bytes_read), atomic_load(&b->bytes_written),
		      atomic_load(&b->errors));
}

const struct l0_device_ops l0_virtio_blk_device = {
	.name = "virtio-blk",
	.realize = blk_realize,
	.destroy = blk_destroy,
	.cmdline = blk_cmdline,
	.describe = blk_describe,
};
