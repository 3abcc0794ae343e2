// SPDX-License-Identifier: MIT
/*
 * Split virtqueues and the virtio-mmio transport, driven by the test's own
 * driver (virtio-test-driver.h) on a virtio-blk device: the happy path,
 * EVENT_IDX interrupt suppression, and hostile rings. A hostile ring must
 * leave the device broken (NEEDS_RESET, config interrupt) without it
 * touching any guest memory, and a reset must bring it back.
 */
#include "harness/ooh_check.h"
#include "virtio-test-driver.h"

#include <signal.h>

#define IMAGE_SIZE (1u << 20)
#define QSIZE 16

static char *image;

static void read_request(struct vdrv *d);
static void make_available(struct vdrv *d, uint16_t head);

static void make_image(void)
{
	image = vd_make_image(IMAGE_SIZE);
}

static void remove_image(void)
{
	unlink(image);
	free(image);
}

/* A one-sector read at sector 5 must succeed, with the file's bytes. */
static void assert_valid_read_works(struct vdrv *d)
{
	uint8_t *file = vd_file_bytes(image, IMAGE_SIZE);

	memset(vd_host(d, VD_DATA_GPA, 512), 0, 512);
	ck_assert_uint_eq(vd_blk_request(d, VIRTIO_BLK_T_IN, 5, 512, 513), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(vd_host(d, VD_DATA_GPA, 512), file + 5 * 512, 512);
	free(file);
}

START_TEST(happy_path)
{
	struct vdrv d;
	uint8_t *file = vd_file_bytes(image, IMAGE_SIZE);
	uint8_t *data;
	uint64_t offered;

	vd_attach_blk(&d, image);
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_DEVICE_ID), 2);
	offered = vd_negotiate(&d, VD_FEATURES);
	ck_assert(offered & (1ull << VIRTIO_F_VERSION_1));
	ck_assert(offered & (1ull << VIRTIO_RING_F_EVENT_IDX));
	ck_assert(offered & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	ck_assert(!(offered & (1ull << VIRTIO_BLK_F_RO)));
	ck_assert(vd_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	/* Capacity in the config space, read as the driver does (two 32-bit halves). */
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_CONFIG), IMAGE_SIZE / 512);
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_CONFIG + 4), 0);
	vd_configure_queue(&d, QSIZE);
	vd_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	vd_driver_ok(&d);

	/* Read 2 sectors at sector 3. */
	data = vd_host(&d, VD_DATA_GPA, 1024);
	memset(data, 0, 1024);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 3, 1024, 1025), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(data, file + 3 * 512, 1024);
	ck_assert_uint_eq(vd_used_idx(&d), 1);
	ck_assert(VD_WAIT_FOR(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING));
	vd_write(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* Write 1 sector at sector 7; the file has it at once. */
	for (int i = 0; i < 512; i++)
		data[i] = (uint8_t)(0xa5 ^ i);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_OUT, 7, 512, 1), VIRTIO_BLK_S_OK);
	free(file);
	file = vd_file_bytes(image, IMAGE_SIZE);
	ck_assert_mem_eq(file + 7 * 512, data, 512);
	ck_assert_uint_eq(vd_used_idx(&d), 2);
	free(file);
	vd_detach(&d);
}
END_TEST

START_TEST(indirect_request)
{
	struct vdrv d;
	uint8_t *file = vd_file_bytes(image, IMAGE_SIZE);
	struct vring_desc *table;
	struct virtio_blk_outhdr *hdr;
	uint8_t *status;

	vd_attach_blk(&d, image);
	vd_setup(&d, VD_FEATURES, QSIZE);
	hdr = vd_host(&d, VD_HDR_GPA, sizeof(*hdr));
	status = vd_host(&d, VD_STATUS_GPA, 1);
	table = vd_host(&d, VD_INDIRECT_GPA, 4 * sizeof(*table));
	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 9 };
	/* The data split in two buffers, 100 and 412 bytes. */
	table[0] = (struct vring_desc){ VD_HDR_GPA, sizeof(*hdr), VRING_DESC_F_NEXT, 1 };
	table[1] = (struct vring_desc){ VD_DATA_GPA, 100,
					VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	table[2] = (struct vring_desc){ VD_DATA_GPA + 0x1000, 412,
					VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3 };
	table[3] = (struct vring_desc){ VD_STATUS_GPA, 1, VRING_DESC_F_WRITE, 0 };
	vd_set_desc(&d, 4, VD_INDIRECT_GPA, 4 * sizeof(*table), VRING_DESC_F_INDIRECT, 0);
	vd_submit(&d, 4);
	ck_assert(VD_WAIT_FOR(vd_used_idx(&d) == 1));
	ck_assert_uint_eq(d.used->ring[0].id, 4);
	ck_assert_uint_eq(d.used->ring[0].len, 513);
	ck_assert_uint_eq(*status, VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(vd_host(&d, VD_DATA_GPA, 100), file + 9 * 512, 100);
	ck_assert_mem_eq(vd_host(&d, VD_DATA_GPA + 0x1000, 412), file + 9 * 512 + 100, 412);
	free(file);
	vd_detach(&d);
}
END_TEST

START_TEST(event_idx_suppresses_interrupts)
{
	struct vdrv d;
	uint16_t *used_event, *avail_event;

	vd_attach_blk(&d, image);
	vd_setup(&d, VD_FEATURES | 1ull << VIRTIO_RING_F_EVENT_IDX, QSIZE);
	used_event = &d.avail->ring[QSIZE];
	avail_event = (uint16_t *)&d.used->ring[QSIZE];

	/* The first decision always interrupts. */
	*used_event = 0;
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 0, 512, 513), VIRTIO_BLK_S_OK);
	ck_assert(VD_WAIT_FOR(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING));
	vd_write(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	vd_quiesce(&d);
	/* The device asks to be notified for the next avail entry. */
	ck_assert_uint_eq(__atomic_load_n(avail_event, __ATOMIC_ACQUIRE), 1);

	/* used_event 10: no interrupt when used idx goes 1 -> 2. */
	*used_event = 10;
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 0, 512, 513), VIRTIO_BLK_S_OK);
	vd_quiesce(&d); /* the worker has made its interrupt decision */
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* used_event 2: interrupt when used idx goes 2 -> 3. */
	*used_event = 2;
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 0, 512, 513), VIRTIO_BLK_S_OK);
	ck_assert(VD_WAIT_FOR(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING));
	vd_detach(&d);
}
END_TEST

START_TEST(no_interrupt_flag_without_event_idx)
{
	struct vdrv d;

	vd_attach_blk(&d, image);
	vd_setup(&d, VD_FEATURES, QSIZE);
	d.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 0, 512, 513), VIRTIO_BLK_S_OK);
	vd_quiesce(&d);
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	d.avail->flags = 0;
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 0, 512, 513), VIRTIO_BLK_S_OK);
	ck_assert(VD_WAIT_FOR(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING));
	vd_detach(&d);
}
END_TEST

START_TEST(driver_ok_looks_at_posted_buffers)
{
	/* A request made available (and notified) before DRIVER_OK is served once it is set. */
	struct vdrv d;
	struct virtio_blk_outhdr *hdr;

	vd_attach_blk(&d, image);
	vd_negotiate(&d, VD_FEATURES);
	vd_configure_queue(&d, QSIZE);
	vd_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	hdr = vd_host(&d, VD_HDR_GPA, sizeof(*hdr));
	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 2 };
	vd_set_desc(&d, 0, VD_HDR_GPA, sizeof(*hdr), VRING_DESC_F_NEXT, 1);
	vd_set_desc(&d, 1, VD_DATA_GPA, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	vd_set_desc(&d, 2, VD_STATUS_GPA, 1, VRING_DESC_F_WRITE, 0);
	vd_submit(&d, 0);
	vd_quiesce(&d);
	ck_assert_uint_eq(vd_used_idx(&d), 0);
	vd_driver_ok(&d);
	ck_assert(VD_WAIT_FOR(vd_used_idx(&d) == 1));
	ck_assert_uint_eq(d.used->ring[0].len, 513);
	vd_detach(&d);
}
END_TEST

START_TEST(features_ok_needs_version_1)
{
	struct vdrv d;

	vd_attach_blk(&d, image);
	vd_negotiate(&d, 1ull << VIRTIO_BLK_F_FLUSH); /* a legacy driver */
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	/* One that carries on regardless gets no service. */
	vd_configure_queue(&d, QSIZE);
	vd_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	vd_driver_ok(&d);
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	read_request(&d);
	make_available(&d, 0);
	vd_write(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	vd_quiesce(&d);
	ck_assert_uint_eq(vd_used_idx(&d), 0);
	vd_negotiate(&d, VD_FEATURES);
	ck_assert(vd_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	vd_detach(&d);
}
END_TEST

/* Queues take their features at QueueReady: before FEATURES_OK there are none. */
START_TEST(queue_ready_before_features_ok)
{
	struct vdrv d;

	vd_attach_blk(&d, image);
	vd_write(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vd_write(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_write(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
	vd_configure_queue(&d, QSIZE);
	vd_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert(vd_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* a reset and the right order: served */
	vd_setup(&d, VD_FEATURES, QSIZE);
	assert_valid_read_works(&d);
	vd_detach(&d);
}
END_TEST

/*
 * The common part of the hostile-ring tests: `craft` breaks the ring (or
 * the queue set-up) of a working device; the device must end up broken
 * with guest RAM unchanged but for the used ring, then work after a reset.
 */
enum hostile_kind { BAD_CHAIN, BAD_QUEUE_CONFIG };

static void hostile(enum hostile_kind kind, void (*craft)(struct vdrv *d), const char *reason)
{
	struct vdrv d;
	uint64_t before;
	uint32_t status;

	vd_attach_blk(&d, image);
	if (kind == BAD_CHAIN) {
		vd_setup(&d, VD_FEATURES, QSIZE);
		craft(&d);
		before = vd_ram_hash(&d, VD_USED_GPA, 0x1000);
		vd_write(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	} else {
		vd_negotiate(&d, VD_FEATURES);
		vd_configure_queue(&d, QSIZE);
		craft(&d);
		before = vd_ram_hash(&d, VD_USED_GPA, 0x1000);
		vd_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
		ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_QUEUE_READY), 0);
		vd_driver_ok(&d);
	}
	ck_assert_msg(VD_WAIT_FOR(vd_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET),
		      "device not marked broken");
	vd_quiesce(&d);
	ck_assert_uint_eq(vd_ram_hash(&d, VD_USED_GPA, 0x1000), before);
	ck_assert_uint_eq(vd_used_idx(&d), 0);
	/* The config interrupt is for a running driver; a bad set-up comes before DRIVER_OK. */
	if (kind == BAD_CHAIN)
		ck_assert(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	ck_assert_msg(strstr(l0_virtio_transport(d.dev)->broken_reason, reason),
		      "broken for \"%s\", expected \"%s\"",
		      l0_virtio_transport(d.dev)->broken_reason, reason);
	/* Broken stays broken: the status bit survives the driver's writes. */
	status = vd_read(&d, VIRTIO_MMIO_STATUS);
	vd_write(&d, VIRTIO_MMIO_STATUS, status & ~VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert(vd_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_int_eq(kill(getpid(), 0), 0); /* alive, for the record */
	if (kind == BAD_CHAIN) {
		/* Until the reset nothing is served, not even the chain rewritten as valid. */
		read_request(&d);
		make_available(&d, 0);
		vd_write(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		vd_quiesce(&d);
		ck_assert_uint_eq(vd_used_idx(&d), 0);
	}

	/* Reset and re-initialize: a valid request works again. */
	vd_write(&d, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	vd_setup(&d, VD_FEATURES, QSIZE);
	assert_valid_read_works(&d);
	vd_detach(&d);
}

/* A read request whose data descriptor (1) is replaced by the caller. */
static void read_request(struct vdrv *d)
{
	struct virtio_blk_outhdr *hdr = vd_host(d, VD_HDR_GPA, sizeof(*hdr));

	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 0 };
	vd_set_desc(d, 0, VD_HDR_GPA, sizeof(*hdr), VRING_DESC_F_NEXT, 1);
	vd_set_desc(d, 1, VD_DATA_GPA, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	vd_set_desc(d, 2, VD_STATUS_GPA, 1, VRING_DESC_F_WRITE, 0);
}

static void make_available(struct vdrv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->num] = head;
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
}

static void desc_outside_ram(struct vdrv *d)
{
	read_request(d);
	d->desc[1].addr = 0xe0000000; /* the MMIO hole */
	make_available(d, 0);
}

static void desc_crosses_ram_end(struct vdrv *d)
{
	read_request(d);
	d->desc[1].addr = L0T_MEM - 256;
	d->desc[1].len = 512;
	make_available(d, 0);
}

static void desc_huge_length(struct vdrv *d)
{
	read_request(d);
	d->desc[1].addr = 0x1000;
	d->desc[1].len = 0xffffffff;
	make_available(d, 0);
}

static void chain_loop(struct vdrv *d)
{
	read_request(d);
	d->desc[2].flags |= VRING_DESC_F_NEXT;
	d->desc[2].next = 1; /* 0 -> 1 -> 2 -> 1 -> ... */
	make_available(d, 0);
}

static void chain_longer_than_queue(struct vdrv *d)
{
	/* Every descriptor readable and chained, the last back to the first: 17 > QSIZE. */
	for (unsigned i = 0; i < QSIZE; i++)
		vd_set_desc(d, i, VD_DATA_GPA + 16 * i, 16, VRING_DESC_F_NEXT, (i + 1) % QSIZE);
	make_available(d, 0);
}

static void next_out_of_range(struct vdrv *d)
{
	read_request(d);
	d->desc[1].next = QSIZE;
	make_available(d, 0);
}

static void head_out_of_range(struct vdrv *d)
{
	read_request(d);
	make_available(d, QSIZE + 3);
}

static void readable_after_writable(struct vdrv *d)
{
	read_request(d);
	d->desc[2].flags = VRING_DESC_F_NEXT | VRING_DESC_F_WRITE;
	d->desc[2].next = 3;
	vd_set_desc(d, 3, VD_DATA_GPA + 0x1000, 16, 0, 0);
	make_available(d, 0);
}

static struct vring_desc *indirect_read_table(struct vdrv *d, unsigned entries)
{
	struct virtio_blk_outhdr *hdr = vd_host(d, VD_HDR_GPA, sizeof(*hdr));
	struct vring_desc *table = vd_host(d, VD_INDIRECT_GPA, entries * sizeof(*table));

	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 0 };
	table[0] = (struct vring_desc){ VD_HDR_GPA, sizeof(*hdr), VRING_DESC_F_NEXT, 1 };
	table[1] = (struct vring_desc){ VD_DATA_GPA, 512,
					VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	table[2] = (struct vring_desc){ VD_STATUS_GPA, 1, VRING_DESC_F_WRITE, 0 };
	vd_set_desc(d, 0, VD_INDIRECT_GPA, 3 * sizeof(*table), VRING_DESC_F_INDIRECT, 0);
	return table;
}

static void indirect_bad_length(struct vdrv *d)
{
	indirect_read_table(d, 3);
	d->desc[0].len = 40; /* not a multiple of 16 */
	make_available(d, 0);
}

static void indirect_zero_length(struct vdrv *d)
{
	indirect_read_table(d, 3);
	d->desc[0].len = 0;
	make_available(d, 0);
}

static void indirect_nested(struct vdrv *d)
{
	struct vring_desc *table = indirect_read_table(d, 3);

	table[1].flags = VRING_DESC_F_INDIRECT;
	table[1].addr = VD_INDIRECT_GPA;
	table[1].len = 48;
	make_available(d, 0);
}

static void indirect_outside_ram(struct vdrv *d)
{
	indirect_read_table(d, 3);
	d->desc[0].addr = 0xe0000000;
	make_available(d, 0);
}

static void indirect_next_outside_table(struct vdrv *d)
{
	struct vring_desc *table = indirect_read_table(d, 3);

	table[2].flags |= VRING_DESC_F_NEXT;
	table[2].next = 3;
	make_available(d, 0);
}

static void indirect_longer_than_queue(struct vdrv *d)
{
	struct vring_desc *table = indirect_read_table(d, QSIZE + 1);

	for (unsigned i = 2; i < QSIZE; i++)
		table[i] = (struct vring_desc){ VD_DATA_GPA + 16 * i, 16,
						VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, i + 1 };
	table[QSIZE] = (struct vring_desc){ VD_STATUS_GPA, 1, VRING_DESC_F_WRITE, 0 };
	d->desc[0].len = (QSIZE + 1) * sizeof(*table);
	make_available(d, 0);
}

static void avail_idx_jumps(struct vdrv *d)
{
	read_request(d);
	__atomic_store_n(&d->avail->idx, QSIZE + 1, __ATOMIC_RELEASE);
}

static void queue_size_not_power_of_two(struct vdrv *d)
{
	vd_write(d, VIRTIO_MMIO_QUEUE_NUM, 12);
}

static void queue_size_above_max(struct vdrv *d)
{
	vd_write(d, VIRTIO_MMIO_QUEUE_NUM, 2 * L0_VIRTQ_MAX_SIZE);
}

static void desc_ring_outside_ram(struct vdrv *d)
{
	vd_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0xe0000000);
}

static void used_ring_crosses_ram_end(struct vdrv *d)
{
	vd_write(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(L0T_MEM - 64));
}

static void avail_ring_above_4g(struct vdrv *d)
{
	vd_write(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 1);
}

#define HOSTILE_TEST(kind, fn, reason)       \
	START_TEST(hostile_##fn)             \
	{                                    \
		hostile(kind, fn, reason);   \
	}                                    \
	END_TEST

HOSTILE_TEST(BAD_CHAIN, desc_outside_ram, "buffer outside guest RAM")
HOSTILE_TEST(BAD_CHAIN, desc_crosses_ram_end, "buffer outside guest RAM")
HOSTILE_TEST(BAD_CHAIN, desc_huge_length, "buffer outside guest RAM")
HOSTILE_TEST(BAD_CHAIN, chain_loop, "loops or is longer")
HOSTILE_TEST(BAD_CHAIN, chain_longer_than_queue, "loops or is longer")
HOSTILE_TEST(BAD_CHAIN, next_out_of_range, "next is not a descriptor index")
HOSTILE_TEST(BAD_CHAIN, head_out_of_range, "avail ring entry is not a descriptor index")
HOSTILE_TEST(BAD_CHAIN, readable_after_writable, "readable descriptor after a writable one")
HOSTILE_TEST(BAD_CHAIN, indirect_bad_length, "indirect table length")
HOSTILE_TEST(BAD_CHAIN, indirect_zero_length, "indirect table length")
HOSTILE_TEST(BAD_CHAIN, indirect_nested, "nested indirect")
HOSTILE_TEST(BAD_CHAIN, indirect_outside_ram, "indirect table outside guest RAM")
HOSTILE_TEST(BAD_CHAIN, indirect_next_outside_table, "next outside its table")
HOSTILE_TEST(BAD_CHAIN, indirect_longer_than_queue, "indirect table longer than the queue")
HOSTILE_TEST(BAD_CHAIN, avail_idx_jumps, "avail idx moved")
HOSTILE_TEST(BAD_QUEUE_CONFIG, queue_size_not_power_of_two, "power of two")
HOSTILE_TEST(BAD_QUEUE_CONFIG, queue_size_above_max, "power of two")
HOSTILE_TEST(BAD_QUEUE_CONFIG, desc_ring_outside_ram, "ring outside guest RAM")
HOSTILE_TEST(BAD_QUEUE_CONFIG, used_ring_crosses_ram_end, "ring outside guest RAM")
HOSTILE_TEST(BAD_QUEUE_CONFIG, avail_ring_above_4g, "ring outside guest RAM")

int main(void)
{
	Suite *suite = suite_create("virtio-queue");
	TCase *tc = tcase_create("queue");

	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, make_image, remove_image);
	tcase_add_test(tc, happy_path);
	tcase_add_test(tc, indirect_request);
	tcase_add_test(tc, event_idx_suppresses_interrupts);
	tcase_add_test(tc, no_interrupt_flag_without_event_idx);
	tcase_add_test(tc, driver_ok_looks_at_posted_buffers);
	tcase_add_test(tc, features_ok_needs_version_1);
	tcase_add_test(tc, queue_ready_before_features_ok);
	tcase_add_test(tc, hostile_desc_outside_ram);
	tcase_add_test(tc, hostile_desc_crosses_ram_end);
	tcase_add_test(tc, hostile_desc_huge_length);
	tcase_add_test(tc, hostile_chain_loop);
	tcase_add_test(tc, hostile_chain_longer_than_queue);
	tcase_add_test(tc, hostile_next_out_of_range);
	tcase_add_test(tc, hostile_head_out_of_range);
	tcase_add_test(tc, hostile_readable_after_writable);
	tcase_add_test(tc, hostile_indirect_bad_length);
	tcase_add_test(tc, hostile_indirect_zero_length);
	tcase_add_test(tc, hostile_indirect_nested);
	tcase_add_test(tc, hostile_indirect_outside_ram);
	tcase_add_test(tc, hostile_indirect_next_outside_table);
	tcase_add_test(tc, hostile_indirect_longer_than_queue);
	tcase_add_test(tc, hostile_avail_idx_jumps);
	tcase_add_test(tc, hostile_queue_size_not_power_of_two);
	tcase_add_test(tc, hostile_queue_size_above_max);
	tcase_add_test(tc, hostile_desc_ring_outside_ram);
	tcase_add_test(tc, hostile_used_ring_crosses_ram_end);
	tcase_add_test(tc, hostile_avail_ring_above_4g);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
