// SPDX-License-Identifier: MIT
/*
 * virtio-blk requests against a raw image, checked byte for byte against
 * the file (pread on the host side): IN, OUT, FLUSH, GET_ID, unsupported
 * types, out-of-range sectors, read-only images, the --disk argument, and
 * that the I/O happens on the device's worker thread, not in the notify.
 */
#include "harness/ooh_check.h"
#include "virtio-test-driver.h"
#include "exit-codes.h"

#include <libgen.h>

#define IMAGE_SIZE (1u << 20)
#define SECTORS (IMAGE_SIZE / 512)
#define QSIZE 16

static char *image;

static void make_image(void)
{
	image = vd_make_image(IMAGE_SIZE);
}

static void remove_image(void)
{
	unlink(image);
	free(image);
}

static void attach(struct vdrv *d, const char *arg)
{
	vd_attach_blk(d, arg);
	vd_setup(d, VD_FEATURES, QSIZE);
}

START_TEST(read_sectors)
{
	struct vdrv d;
	uint8_t *file = vd_file_bytes(image, IMAGE_SIZE);
	uint8_t *data;

	attach(&d, image);
	data = vd_host(&d, VD_DATA_GPA, 64 * 1024);
	memset(data, 0, 64 * 1024);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 100, 64 * 1024, 64 * 1024 + 1),
			  VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(data, file + 100 * 512, 64 * 1024);
	/* The last sector of the image. */
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, SECTORS - 1, 512, 513),
			  VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(data, file + IMAGE_SIZE - 512, 512);
	free(file);
	vd_detach(&d);
}
END_TEST

START_TEST(write_sectors)
{
	struct vdrv d;
	uint8_t *before = vd_file_bytes(image, IMAGE_SIZE), *after;
	uint8_t *data;

	attach(&d, image);
	data = vd_host(&d, VD_DATA_GPA, 4096);
	for (int i = 0; i < 4096; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_OUT, 40, 4096, 1), VIRTIO_BLK_S_OK);
	after = vd_file_bytes(image, IMAGE_SIZE);
	ck_assert_mem_eq(after + 40 * 512, data, 4096);
	/* Nothing else in the file moved. */
	ck_assert_mem_eq(after, before, 40 * 512);
	ck_assert_mem_eq(after + 48 * 512, before + 48 * 512, IMAGE_SIZE - 48 * 512);
	/* Read back through the device. */
	memset(data, 0, 4096);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 40, 4096, 4097), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(data, after + 40 * 512, 4096);
	free(before);
	free(after);
	vd_detach(&d);
}
END_TEST

START_TEST(flush)
{
	struct vdrv d;

	attach(&d, image);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 1), VIRTIO_BLK_S_OK);
	vd_detach(&d);
}
END_TEST

START_TEST(get_id)
{
	struct vdrv d;
	char expect[VIRTIO_BLK_ID_BYTES] = { 0 };
	char *copy = strdup(image);
	const char *name = basename(copy);

	memcpy(expect, name, strnlen(name, sizeof(expect)));
	attach(&d, image);
	memset(vd_host(&d, VD_DATA_GPA, VIRTIO_BLK_ID_BYTES), 0xff, VIRTIO_BLK_ID_BYTES);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES,
					 VIRTIO_BLK_ID_BYTES + 1), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(vd_host(&d, VD_DATA_GPA, VIRTIO_BLK_ID_BYTES), expect,
			 VIRTIO_BLK_ID_BYTES);
	free(copy);
	vd_detach(&d);
}
END_TEST

START_TEST(unsupported_type)
{
	struct vdrv d;

	attach(&d, image);
	ck_assert_uint_eq(vd_blk_request(&d, 99, 0, 512, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_DISCARD, 0, 512, 1),
			  VIRTIO_BLK_S_UNSUPP);
	vd_detach(&d);
}
END_TEST

START_TEST(out_of_range_is_ioerr)
{
	struct vdrv d;
	uint8_t *before = vd_file_bytes(image, IMAGE_SIZE), *after;

	attach(&d, image);
	/* Starts inside, ends past the end. */
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, SECTORS - 1, 1024, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_OUT, SECTORS - 1, 1024, 1),
			  VIRTIO_BLK_S_IOERR);
	/* Past the end, and a sector whose byte offset overflows 64 bits. */
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, SECTORS, 512, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_OUT, 1ull << 60, 512, 1),
			  VIRTIO_BLK_S_IOERR);
	after = vd_file_bytes(image, IMAGE_SIZE);
	ck_assert_mem_eq(after, before, IMAGE_SIZE);
	/* Still working. */
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 0, 512, 513), VIRTIO_BLK_S_OK);
	free(before);
	free(after);
	vd_detach(&d);
}
END_TEST

START_TEST(read_only)
{
	struct vdrv d;
	char arg[256];
	uint8_t *before = vd_file_bytes(image, IMAGE_SIZE), *after;
	uint64_t offered;

	snprintf(arg, sizeof(arg), "%s,ro", image);
	vd_attach_blk(&d, arg);
	offered = vd_negotiate(&d, VD_FEATURES | 1ull << VIRTIO_BLK_F_RO);
	ck_assert(offered & (1ull << VIRTIO_BLK_F_RO));
	vd_configure_queue(&d, QSIZE);
	vd_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	vd_driver_ok(&d);
	memset(vd_host(&d, VD_DATA_GPA, 512), 0x5a, 512);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_OUT, 0, 512, 1), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 0, 512, 513), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(vd_host(&d, VD_DATA_GPA, 512), before, 512);
	after = vd_file_bytes(image, IMAGE_SIZE);
	ck_assert_mem_eq(after, before, IMAGE_SIZE);
	free(before);
	free(after);
	vd_detach(&d);
}
END_TEST

START_TEST(block_size_option)
{
	struct vdrv d;
	char arg[256];

	snprintf(arg, sizeof(arg), "%s,bs=4096", image);
	vd_attach_blk(&d, arg);
	vd_negotiate(&d, VD_FEATURES);
	/* struct virtio_blk_config: blk_size at offset 20. */
	ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_CONFIG + 20), 4096);
	vd_detach(&d);
}
END_TEST

START_TEST(bad_arguments)
{
	struct l0_vm *vm = l0t_vm(false, -1);
	int before = vm->devices.nr; /* the default ones */
	char arg[256];

	ck_assert_int_eq(l0_device_add(&vm->devices, vm, &l0_virtio_blk_device,
				       "/nonexistent/ooh-disk.img"), L0_EXIT_NO_FILE);
	ck_assert_int_eq(l0_device_add(&vm->devices, vm, &l0_virtio_blk_device, NULL), L0_EXIT_USAGE);
	ck_assert_int_eq(l0_device_add(&vm->devices, vm, &l0_virtio_blk_device, ""), L0_EXIT_USAGE);
	snprintf(arg, sizeof(arg), "%s,rw=maybe", image);
	ck_assert_int_eq(l0_device_add(&vm->devices, vm, &l0_virtio_blk_device, arg), L0_EXIT_USAGE);
	snprintf(arg, sizeof(arg), "%s,bs=1024", image);
	ck_assert_int_eq(l0_device_add(&vm->devices, vm, &l0_virtio_blk_device, arg), L0_EXIT_USAGE);
	ck_assert_int_eq(vm->devices.nr, before); /* none added */
	l0_vm_destroy(vm);
}
END_TEST

START_TEST(cmdline_names_the_window)
{
	struct vdrv d;
	char buf[128] = "";
	char expect[128];
	struct l0_virtio_mmio *t;

	vd_attach_blk(&d, image);
	t = l0_virtio_transport(d.dev);
	snprintf(expect, sizeof(expect), "virtio_mmio.device=4K@0x%llx:%d",
		 (unsigned long long)t->base, t->irq);
	ck_assert_int_eq(l0_devices_cmdline(&d.vm->devices, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, expect);
	ck_assert_int_ge(t->irq, 0);
	vd_detach(&d);
}
END_TEST

START_TEST(io_runs_on_the_worker)
{
	/*
	 * Hold the transport lock (the worker needs it to process the queue)
	 * across the notify: the notify must return, and the request must
	 * stay pending until the lock is let go. I/O done inside the notify
	 * would either deadlock here or have completed by the time it returns.
	 */
	struct vdrv d;
	struct l0_virtio_mmio *t;
	struct virtio_blk_outhdr *hdr;

	attach(&d, image);
	t = l0_virtio_transport(d.dev);
	hdr = vd_host(&d, VD_HDR_GPA, sizeof(*hdr));
	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 1 };
	vd_set_desc(&d, 0, VD_HDR_GPA, sizeof(*hdr), VRING_DESC_F_NEXT, 1);
	vd_set_desc(&d, 1, VD_DATA_GPA, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	vd_set_desc(&d, 2, VD_STATUS_GPA, 1, VRING_DESC_F_WRITE, 0);
	pthread_mutex_lock(&t->lock);
	vd_submit(&d, 0); /* QueueNotify: returns although the lock is held */
	ck_assert_uint_eq(vd_used_idx(&d), 0);
	pthread_mutex_unlock(&t->lock);
	ck_assert(VD_WAIT_FOR(vd_used_idx(&d) == 1));
	ck_assert_uint_eq(*(uint8_t *)vd_host(&d, VD_STATUS_GPA, 1), VIRTIO_BLK_S_OK);
	vd_detach(&d);
}
END_TEST

START_TEST(many_requests_in_one_notify)
{
	/* Fill the whole queue with one-descriptor-triple reads, notify once. */
	struct vdrv d;
	uint8_t *file = vd_file_bytes(image, IMAGE_SIZE);
	const unsigned nreq = 5; /* 3 descriptors each, 15 of QSIZE */

	attach(&d, image);
	for (unsigned r = 0; r < nreq; r++) {
		uint64_t hdr_gpa = VD_HDR_GPA + 32 * r, data_gpa = VD_DATA_GPA + 512 * r;
		struct virtio_blk_outhdr *hdr = vd_host(&d, hdr_gpa, sizeof(*hdr));

		*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 10 * r };
		vd_set_desc(&d, 3 * r, hdr_gpa, sizeof(*hdr), VRING_DESC_F_NEXT, 3 * r + 1);
		vd_set_desc(&d, 3 * r + 1, data_gpa, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
			    3 * r + 2);
		vd_set_desc(&d, 3 * r + 2, VD_STATUS_GPA + r, 1, VRING_DESC_F_WRITE, 0);
		d.avail->ring[r] = 3 * r;
	}
	__atomic_store_n(&d.avail->idx, nreq, __ATOMIC_RELEASE);
	vd_write(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert(VD_WAIT_FOR(vd_used_idx(&d) == nreq));
	for (unsigned r = 0; r < nreq; r++) {
		ck_assert_uint_eq(d.used->ring[r].id, 3 * r);
		ck_assert_uint_eq(d.used->ring[r].len, 513);
		ck_assert_uint_eq(*(uint8_t *)vd_host(&d, VD_STATUS_GPA + r, 1), VIRTIO_BLK_S_OK);
		ck_assert_mem_eq(vd_host(&d, VD_DATA_GPA + 512 * r, 512), file + 10 * r * 512, 512);
	}
	free(file);
	vd_detach(&d);
}
END_TEST

START_TEST(reset_with_requests_in_flight)
{
	/* Requests submitted, the device reset at once: no crash, and it works after set-up. */
	struct vdrv d;

	attach(&d, image);
	for (int round = 0; round < 20; round++) {
		for (unsigned r = 0; r < 5; r++) {
			uint64_t hdr_gpa = VD_HDR_GPA + 32 * r;
			struct virtio_blk_outhdr *hdr = vd_host(&d, hdr_gpa, sizeof(*hdr));

			*hdr = (struct virtio_blk_outhdr){ .type = r % 2 ? VIRTIO_BLK_T_IN :
							   VIRTIO_BLK_T_FLUSH };
			vd_set_desc(&d, 3 * r, hdr_gpa, sizeof(*hdr), VRING_DESC_F_NEXT, 3 * r + 1);
			vd_set_desc(&d, 3 * r + 1, VD_DATA_GPA + 0x10000 * r, 0x10000,
				    VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3 * r + 2);
			vd_set_desc(&d, 3 * r + 2, VD_STATUS_GPA + r, 1, VRING_DESC_F_WRITE, 0);
			vd_submit(&d, (uint16_t)(3 * r));
		}
		vd_write(&d, VIRTIO_MMIO_STATUS, 0);
		ck_assert_uint_eq(vd_read(&d, VIRTIO_MMIO_STATUS), 0);
		vd_setup(&d, VD_FEATURES, QSIZE);
	}
	ck_assert_uint_eq(vd_blk_request(&d, VIRTIO_BLK_T_IN, 0, 512, 513), VIRTIO_BLK_S_OK);
	vd_detach(&d);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("virtio-blk");
	TCase *tc = tcase_create("blk");

	tcase_set_timeout(tc, 30);
	/* Per test (forked): tests that write must not see each other's data. */
	tcase_add_checked_fixture(tc, make_image, remove_image);
	tcase_add_test(tc, read_sectors);
	tcase_add_test(tc, write_sectors);
	tcase_add_test(tc, flush);
	tcase_add_test(tc, get_id);
	tcase_add_test(tc, unsupported_type);
	tcase_add_test(tc, out_of_range_is_ioerr);
	tcase_add_test(tc, read_only);
	tcase_add_test(tc, block_size_option);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, cmdline_names_the_window);
	tcase_add_test(tc, io_runs_on_the_worker);
	tcase_add_test(tc, many_requests_in_one_notify);
	tcase_add_test(tc, reset_with_requests_in_flight);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
