/* SPDX-License-Identifier: MIT */
/*
 * A virtio-mmio driver written in the tests, run against a real VM's
 * guest RAM: it negotiates features, lays queue 0 out at fixed guest
 * addresses and submits virtio-blk requests, all through the MMIO bus
 * (as a vCPU's accesses would arrive) and the rings in guest RAM. No vCPU
 * runs; the device's worker thread does the rest.
 *
 * Header-only (static functions): the unit test rule links each test
 * with l0-test.o alone.
 */
#ifndef L0_VIRTIO_TEST_DRIVER_H
#define L0_VIRTIO_TEST_DRIVER_H

#include "l0-test.h"
#include "virtio/virtio.h"

#include <check.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Guest addresses of queue 0 and the request buffers (guest RAM is 4 MiB). */
#define VD_DESC_GPA     0x100000ull
#define VD_AVAIL_GPA    0x101000ull
#define VD_USED_GPA     0x102000ull
#define VD_INDIRECT_GPA 0x103000ull
#define VD_HDR_GPA      0x110000ull
#define VD_DATA_GPA     0x120000ull
#define VD_STATUS_GPA   0x140000ull
#define VD_WAIT_MS      5000

struct vdrv {
	struct l0_vm *vm;
	struct l0_device *dev;
	uint64_t base;
	uint16_t num;
	uint16_t avail_idx;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

static inline uint32_t vd_read(struct vdrv *d, uint64_t offset)
{
	uint32_t value = 0xdeadbeef;

	ck_assert(l0_bus_dispatch(&d->vm->mmio, NULL, d->base + offset, (uint8_t *)&value, 4,
				  false));
	return value;
}

static inline void vd_write(struct vdrv *d, uint64_t offset, uint32_t value)
{
	ck_assert(l0_bus_dispatch(&d->vm->mmio, NULL, d->base + offset, (uint8_t *)&value, 4,
				  true));
}

static inline void *vd_host(struct vdrv *d, uint64_t gpa, uint64_t len)
{
	void *host = l0_gpa_to_host(&d->vm->mem, gpa, len);

	ck_assert_ptr_nonnull(host);
	return host;
}

static inline int64_t vd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls cond up to VD_WAIT_MS: the worker thread answers asynchronously. */
#define VD_WAIT_FOR(cond)                                                  \
	({                                                                 \
		int64_t vd_deadline = vd_now_ms() + VD_WAIT_MS;            \
		bool vd_ok;                                                \
		while (!(vd_ok = (cond)) && vd_now_ms() < vd_deadline)     \
			usleep(200);                                       \
		vd_ok;                                                     \
	})

/* Waits until the worker is out of its processing pass (it holds the lock for all of it). */
static inline void vd_quiesce(struct vdrv *d)
{
	struct l0_virtio_mmio *t = l0_virtio_transport(d->dev);

	pthread_mutex_lock(&t->lock);
	pthread_mutex_unlock(&t->lock);
}

/* A temporary image of `size` bytes with a recognizable pattern; returns its path. */
static inline char *vd_make_image(size_t size)
{
	char *path = strdup("/tmp/ooh-l0-virtio-XXXXXX");
	uint8_t *bytes = malloc(size);
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	for (size_t i = 0; i < size; i++)
		bytes[i] = (uint8_t)(i * 7 + (i >> 9));
	ck_assert_int_eq(write(fd, bytes, size), (ssize_t)size);
	close(fd);
	free(bytes);
	return path;
}

/* A VM with a virtio-blk device on `arg` (ready for vd_setup). */
static inline void vd_attach_blk(struct vdrv *d, const char *arg)
{
	memset(d, 0, sizeof(*d));
	d->vm = l0t_vm(false, -1);
	ck_assert_int_eq(l0_device_add(&d->vm->devices, d->vm, &l0_virtio_blk_device, arg), 0);
	d->dev = l0_device_find(&d->vm->devices, &l0_virtio_blk_device);
	ck_assert_ptr_nonnull(d->dev);
	d->base = l0_virtio_transport(d->dev)->base;
}

static inline void vd_detach(struct vdrv *d)
{
	l0_devices_destroy(&d->vm->devices);
	l0_vm_destroy(d->vm);
}

/* Reset, then the set-up of virtio 3.1.1 up to FEATURES_OK; returns the device's features. */
static inline uint64_t vd_negotiate(struct vdrv *d, uint64_t want)
{
	uint64_t offered;

	vd_write(d, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_VERSION), 2);
	vd_write(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vd_write(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vd_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = vd_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	vd_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)vd_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	want &= offered;
	vd_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vd_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
	vd_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
	vd_write(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		 VIRTIO_CONFIG_S_FEATURES_OK);
	return offered;
}

/* Queue 0 at the VD_* addresses with `num` entries (rings zeroed), without QueueReady. */
static inline void vd_configure_queue(struct vdrv *d, uint16_t num)
{
	d->num = num;
	d->avail_idx = 0;
	d->desc = vd_host(d, VD_DESC_GPA, 0x1000);
	d->avail = vd_host(d, VD_AVAIL_GPA, 0x1000);
	d->used = vd_host(d, VD_USED_GPA, 0x1000);
	memset(d->desc, 0, 0x1000);
	memset(d->avail, 0, 0x1000);
	memset(d->used, 0, 0x1000);
	vd_write(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX), L0_VIRTQ_MAX_SIZE);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_QUEUE_READY), 0);
	vd_write(d, VIRTIO_MMIO_QUEUE_NUM, num);
	vd_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)VD_DESC_GPA);
	vd_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	vd_write(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)VD_AVAIL_GPA);
	vd_write(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	vd_write(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)VD_USED_GPA);
	vd_write(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
}

static inline void vd_driver_ok(struct vdrv *d)
{
	vd_write(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* The whole sequence: features, queue 0 of `num`, ready, DRIVER_OK. */
static inline void vd_setup(struct vdrv *d, uint64_t features, uint16_t num)
{
	vd_negotiate(d, features);
	ck_assert(vd_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	vd_configure_queue(d, num);
	vd_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_QUEUE_READY), 1);
	vd_driver_ok(d);
	ck_assert_uint_eq(vd_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

#define VD_FEATURES (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_RING_F_INDIRECT_DESC | \
		     1ull << VIRTIO_BLK_F_FLUSH)

static inline void vd_set_desc(struct vdrv *d, unsigned i, uint64_t addr, uint32_t len,
			       uint16_t flags, uint16_t next)
{
	d->desc[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

/* Makes chain `head` available and notifies queue 0. */
static inline void vd_submit(struct vdrv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->num] = head;
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
	vd_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static inline uint16_t vd_used_idx(struct vdrv *d)
{
	return __atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE);
}

/*
 * A virtio-blk request in descriptors 0 (header), 1 (data, unless
 * data_len is 0) and 2 (status), submitted and waited for. Checks the used
 * element; returns the status byte.
 */
static inline uint8_t vd_blk_request(struct vdrv *d, uint32_t type, uint64_t sector,
				     uint32_t data_len, uint32_t expect_written)
{
	struct virtio_blk_outhdr *hdr = vd_host(d, VD_HDR_GPA, sizeof(*hdr));
	uint8_t *status = vd_host(d, VD_STATUS_GPA, 1);
	bool device_writes = type != VIRTIO_BLK_T_OUT;
	uint16_t used_before = vd_used_idx(d);
	struct vring_used_elem elem;

	*hdr = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	*status = 0xee;
	vd_set_desc(d, 0, VD_HDR_GPA, sizeof(*hdr), VRING_DESC_F_NEXT, data_len ? 1 : 2);
	vd_set_desc(d, 1, VD_DATA_GPA, data_len,
		    VRING_DESC_F_NEXT | (device_writes ? VRING_DESC_F_WRITE : 0), 2);
	vd_set_desc(d, 2, VD_STATUS_GPA, 1, VRING_DESC_F_WRITE, 0);
	vd_submit(d, 0);
	ck_assert_msg(VD_WAIT_FOR(vd_used_idx(d) == (uint16_t)(used_before + 1)),
		      "request not completed within %d ms", VD_WAIT_MS);
	elem = d->used->ring[used_before % d->num];
	ck_assert_uint_eq(elem.id, 0);
	ck_assert_uint_eq(elem.len, expect_written);
	return *status;
}

/* FNV-1a of guest RAM, leaving out [skip, skip + skip_len). */
static inline uint64_t vd_ram_hash(struct vdrv *d, uint64_t skip, uint64_t skip_len)
{
	const uint8_t *ram = vd_host(d, 0, L0T_MEM);
	uint64_t hash = 0xcbf29ce484222325ull;

	for (uint64_t i = 0; i < L0T_MEM; i++) {
		if (i >= skip && i < skip + skip_len)
			continue;
		hash = (hash ^ ram[i]) * 0x100000001b3ull;
	}
	return hash;
}

/* The whole file's bytes. */
static inline uint8_t *vd_file_bytes(const char *path, size_t size)
{
	uint8_t *bytes = malloc(size);
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, bytes, size, 0), (ssize_t)size);
	close(fd);
	return bytes;
}

#endif
