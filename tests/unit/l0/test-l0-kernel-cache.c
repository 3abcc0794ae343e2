// SPDX-License-Identifier: MIT
/* The cache of decompressed kernels: keys, store/fetch, what it refuses. No KVM. */
#include "harness/ooh_check.h"
#include "kernel-cache.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];

static void make_dir(void)
{
	char base[] = "/tmp/test-l0-kcache.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(base));
	/* a level below, so the store creates it (and its parent exists) */
	snprintf(dir, sizeof(dir), "%s/ooh-l0", base);
}

static void remove_dir(void)
{
	char cmd[PATH_MAX + 16];

	*strrchr(dir, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(key_depends_on_every_byte)
{
	uint8_t image[4096] = { 1, 2, 3 };
	char a[64], b[64], c[64];

	l0_kernel_cache_key(image, sizeof(image), a, sizeof(a));
	image[4000] ^= 1;
	l0_kernel_cache_key(image, sizeof(image), b, sizeof(b));
	l0_kernel_cache_key(image, sizeof(image) - 1, c, sizeof(c));
	ck_assert_str_ne(a, b);
	ck_assert_str_ne(b, c);
	ck_assert_int_eq(strncmp(a, "vmlinux-4096-", 13), 0);
}
END_TEST

START_TEST(store_then_fetch)
{
	static uint8_t image[1 << 16], vmlinux[3 << 16];
	const uint8_t *data;
	size_t size;
	struct stat st;

	make_dir();
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(vmlinux); i++)
		vmlinux[i] = (uint8_t)(i * 13);
	ck_assert_int_eq(l0_kernel_cache_get(dir, image, sizeof(image), &data, &size), -1);
	ck_assert_int_eq(l0_kernel_cache_put(dir, image, sizeof(image), vmlinux, sizeof(vmlinux)), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(l0_kernel_cache_get(dir, image, sizeof(image), &data, &size), 0);
	ck_assert_uint_eq(size, sizeof(vmlinux));
	ck_assert_int_eq(memcmp(data, vmlinux, size), 0);
	munmap((void *)data, size);
	/* another image misses */
	image[0] ^= 0xff;
	ck_assert_int_eq(l0_kernel_cache_get(dir, image, sizeof(image), &data, &size), -1);
	remove_dir();
}
END_TEST

START_TEST(symlink_is_a_miss)
{
	static uint8_t image[4096];
	char key[64], path[PATH_MAX + 64], target[PATH_MAX + 64];
	const uint8_t *data;
	size_t size;
	FILE *f;

	make_dir();
	ck_assert_int_eq(l0_kernel_cache_put(dir, image, 1, image, 1), 0); /* creates dir */
	l0_kernel_cache_key(image, sizeof(image), key, sizeof(key));
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	f = fopen(target, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a kernel", f);
	fclose(f);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(l0_kernel_cache_get(dir, image, sizeof(image), &data, &size), -1);
	remove_dir();
}
END_TEST

START_TEST(unwritable_dir_fails_cleanly)
{
	static uint8_t image[4096];

	ck_assert_int_eq(l0_kernel_cache_put("/proc/ooh-l0-no/such", image, sizeof(image), image, 1), -1);
}
END_TEST

START_TEST(default_dir)
{
	char buf[PATH_MAX];

	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	ck_assert_int_eq(l0_kernel_cache_default_dir(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/x/cache/ooh-l0");
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/home/u", 1);
	ck_assert_int_eq(l0_kernel_cache_default_dir(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/home/u/.cache/ooh-l0");
	unsetenv("HOME");
	ck_assert_int_eq(l0_kernel_cache_default_dir(buf, sizeof(buf)), -1);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-kernel-cache");
	TCase *tc = tcase_create("kernel-cache");

	tcase_add_test(tc, key_depends_on_every_byte);
	tcase_add_test(tc, store_then_fetch);
	tcase_add_test(tc, symlink_is_a_miss);
	tcase_add_test(tc, unwritable_dir_fails_cleanly);
	tcase_add_test(tc, default_dir);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
