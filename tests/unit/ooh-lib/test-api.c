/* SPDX-License-Identifier: MIT */
/*
 * The small things: version, names, ooh_strerror, probing (which backends
 * this kernel must have, and that soft-dirty refuses unless proven), the
 * automatic choice, and the sub-page calls that are designed but not yet
 * implemented (-ENOSYS, issue 7).
 */
#include <sys/utsname.h>

#include "ooh_test_util.h"

static int kernel_at_least(int maj, int min)
{
	struct utsname u;
	int a = 0, b = 0;
	uname(&u);
	sscanf(u.release, "%d.%d", &a, &b);
	return a > maj || (a == maj && b >= min);
}

START_TEST(version_and_names)
{
	ck_assert_uint_eq(ooh_version(), OOH_VERSION);
	ck_assert_uint_eq(OOH_VERSION >> 16, 1);
	for (int b = 0; b <= OOH_BACKEND_MAX; b++) {
		const char *n = ooh_backend_name((enum ooh_backend)b);
		ck_assert_ptr_nonnull(n);
		ck_assert_int_eq(ooh_backend_from_name(n), b);
	}
	ck_assert_ptr_null(ooh_backend_name((enum ooh_backend)(OOH_BACKEND_MAX + 1)));
	ck_assert_int_eq(ooh_backend_from_name("ooh"), -EINVAL); /* later issue */
	ck_assert_int_eq(ooh_backend_from_name(NULL), -EINVAL);
	ck_assert_str_eq(ooh_strerror(-EBADF), "invalid or closed tracker handle");
	ck_assert_ptr_nonnull(ooh_strerror(-12345));
	ck_assert_ptr_nonnull(ooh_strerror(7));
}
END_TEST

START_TEST(probe_tells_truth)
{
	struct ooh_backend_info info;

	ck_assert_int_eq(ooh_probe((enum ooh_backend)42, &info), -EINVAL);
	ck_assert_int_eq(ooh_probe(OOH_BACKEND_AUTO, &info), -EINVAL);
	ck_assert_int_eq(ooh_probe(OOH_BACKEND_UFFD, NULL), -EINVAL);
	/* userfaultfd write-protect and mprotect exist on every kernel we run on. */
	ck_assert_int_eq(ooh_probe(OOH_BACKEND_UFFD, &info), 0);
	ck_assert_msg(info.status == 0, "uffd unusable: %s", info.reason);
	ck_assert_int_eq(ooh_probe(OOH_BACKEND_MPROTECT, &info), 0);
	ck_assert_msg(info.status == 0, "mprotect unusable: %s", info.reason);
	ck_assert_int_eq(ooh_probe(OOH_BACKEND_PAGEMAP, &info), 0);
	if (kernel_at_least(6, 7))
		ck_assert_msg(info.status == 0, "pagemap unusable on >= 6.7: %s", info.reason);
	else
		ck_assert_msg(info.status != 0 && info.reason[0], "pagemap claimed usable before 6.7");

	/* soft-dirty: usable only when the probe saw bit 55 set; otherwise it
	 * must say why, and opening it must fail rather than report nothing. */
	ck_assert_int_eq(ooh_probe(OOH_BACKEND_SOFTDIRTY, &info), 0);
	struct ooh_open_opts o = { .size = sizeof(o), .backend = OOH_BACKEND_SOFTDIRTY };
	ooh_tracker *t;
	if (info.status) {
		ck_assert_msg(strstr(info.reason, "55") != NULL, "reason does not name bit 55: %s", info.reason);
		ck_assert_int_eq(ooh_open(&o, &t), -EOPNOTSUPP);
		fprintf(stderr, "softdirty refused here: %s\n", info.reason);
	} else {
		ck_assert_int_eq(ooh_open(&o, &t), 0);
		ck_assert_int_eq(ooh_close(t), 0);
	}
}
END_TEST

START_TEST(auto_picks_best_usable)
{
	struct ooh_open_opts o = { .size = sizeof(o), .backend = OOH_BACKEND_AUTO };
	ooh_tracker *t;
	char *m = tu_map(4 * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	struct ooh_range r = { (uint64_t)(uintptr_t)m, 4 * PG };

	ck_assert_int_eq(ooh_open(&o, &t), 0);
	ck_assert_int_eq(ooh_tracker_backend(t), (int)tu_backends[0]); /* first in preference order */
	ck_assert(ooh_tracker_caps(t) & OOH_CAP_WHOLE);
	ck_assert_int_eq(ooh_close(t), 0);
	o.ranges = &r;
	o.nr_ranges = 1;
	ck_assert_int_eq(ooh_open(&o, &t), 0);
	ck_assert_int_eq(ooh_tracker_backend(t), (int)tu_backends[0]);
	ck_assert_int_eq(ooh_close(t), 0);
	munmap(m, 4 * PG);
}
END_TEST

START_TEST(spp_names_and_probe)
{
	/* The SPP calls themselves are tested in test-spp-*.c. */
	ck_assert_str_eq(ooh_spp_backend_name(OOH_SPP_BACKEND_AUTO), "auto");
	ck_assert_str_eq(ooh_spp_backend_name(OOH_SPP_BACKEND_MPROTECT), "mprotect");
	ck_assert_str_eq(ooh_spp_backend_name(OOH_SPP_BACKEND_OOH), "ooh");
	ck_assert_ptr_null(ooh_spp_backend_name((enum ooh_spp_backend)99));
	ck_assert_int_eq(ooh_spp_probe(OOH_SPP_BACKEND_MPROTECT, NULL, 0), 0);
	ck_assert_int_eq(ooh_spp_probe((enum ooh_spp_backend)99, NULL, 0), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-api");
	TCase *tc = tcase_create("api");

	tu_find_backends(tu_all);
	tcase_add_test(tc, version_and_names);
	tcase_add_test(tc, probe_tells_truth);
	tcase_add_test(tc, auto_picks_best_usable);
	tcase_add_test(tc, spp_names_and_probe);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
