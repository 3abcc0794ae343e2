// SPDX-License-Identifier: MIT
/*
 * ooh-test-dev: Check suite for /dev/ooh, run inside a guest where ooh.ko
 * is loaded (L1 of the rig: no OoH hypervisor below; L2 under ooh-l0: one).
 * OOH_EXPECT_HV=0|1 says which, so discovery is checked both ways.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "../harness/ooh_check.h"

#define OOH_DEV_PATH "/dev/" OOH_DEV_NAME

static int open_dev(void)
{
	int fd = open(OOH_DEV_PATH, O_RDWR | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", OOH_DEV_PATH, strerror(errno));
	return fd;
}

START_TEST(device_node_is_a_char_device)
{
	struct stat st;

	ck_assert_int_eq(stat(OOH_DEV_PATH, &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	/* Any process may open it; access control is per tracked target. */
	ck_assert_int_eq(st.st_mode & 0777, 0666);
}
END_TEST

START_TEST(get_info_reports_abi_and_hypervisor)
{
	const char *expect = getenv("OOH_EXPECT_HV");
	struct ooh_dev_info info;
	int fd = open_dev();

	memset(&info, 0xa5, sizeof(info));
	ck_assert_int_eq(ioctl(fd, OOH_IOC_GET_INFO, &info), 0);
	ck_assert_uint_eq(info.abi_version, OOH_DEV_ABI_VERSION);
	ck_assert_msg(expect, "set OOH_EXPECT_HV=0|1");
	ck_assert_uint_eq(info.hv_present, (unsigned int)atoi(expect));
	if (info.hv_present) {
		ck_assert_uint_eq(info.hv_abi_version, OOH_ABI_VERSION);
	} else {
		ck_assert_uint_eq(info.hv_abi_version, 0);
		ck_assert_uint_eq(info.hv_features, 0);
	}
	close(fd);
}
END_TEST

START_TEST(unknown_ioctl_is_enotty)
{
	int fd = open_dev();

	errno = 0;
	ck_assert_int_eq(ioctl(fd, _IO(OOH_IOC_MAGIC, 0xff), 0), -1);
	ck_assert_int_eq(errno, ENOTTY);
	errno = 0;
	ck_assert_int_eq(ioctl(fd, _IOR('K', 1, int), 0), -1);
	ck_assert_int_eq(errno, ENOTTY);
	close(fd);
}
END_TEST

START_TEST(bad_user_pointer_is_efault)
{
	int fd = open_dev();

	errno = 0;
	ck_assert_int_eq(ioctl(fd, OOH_IOC_GET_INFO, (void *)16), -1);
	ck_assert_int_eq(errno, EFAULT);
	close(fd);
}
END_TEST

START_TEST(sessions_are_independent)
{
	struct ooh_dev_info a, b;
	int fd1 = open_dev(), fd2 = open_dev();

	ck_assert_int_eq(ioctl(fd1, OOH_IOC_GET_INFO, &a), 0);
	close(fd1);
	/* Closing one session leaves the other usable. */
	ck_assert_int_eq(ioctl(fd2, OOH_IOC_GET_INFO, &b), 0);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	close(fd2);
}
END_TEST

int main(void)
{
	/* Named after the level it runs at, so results say where they come from. */
	const char *level = getenv("OOH_LEVEL");
	Suite *suite = suite_create("guest-module");
	TCase *tc = tcase_create(level ? level : "dev");

	tcase_add_test(tc, device_node_is_a_char_device);
	tcase_add_test(tc, get_info_reports_abi_and_hypervisor);
	tcase_add_test(tc, unknown_ioctl_is_enotty);
	tcase_add_test(tc, bad_user_pointer_is_efault);
	tcase_add_test(tc, sessions_are_independent);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
