/* SPDX-License-Identifier: MIT */
/*
 * libooh's /proc/PID/maps reader (src/util.c read_maps) against the kernel's
 * own text parsed the plain way (sscanf): thousands of VMAs (the text spans
 * many reads), a file mapped under a ~4090-character path (a line longer
 * than the kernel's 4 KiB seq_file buffer), range filtering, a process that
 * is gone.  (The kernel returns whole lines per read here, so the reader's
 * carry-over of a split line is not exercised by this test.)
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ooh_test_util.h"
#include "src/internal.h"

#define NVMA 3000

/* Reference: every line of /proc/self/maps with sscanf. */
static size_t ref_maps(struct vma *v, size_t cap)
{
	FILE *f = fopen("/proc/self/maps", "re");
	static char line[8192];
	size_t n = 0;
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) && n < cap) {
		unsigned long long s, e, off;
		char perms[8];
		unsigned maj, min;
		unsigned long ino;
		int pos = 0;
		ck_assert_int_ge(sscanf(line, "%llx-%llx %7s %llx %x:%x %lu %n", &s, &e, perms, &off, &maj, &min,
					&ino, &pos), 7);
		memset(&v[n], 0, sizeof(v[n]));
		v[n].start = s;
		v[n].end = e;
		v[n].read = perms[0] == 'r';
		v[n].write = perms[1] == 'w';
		v[n].exec = perms[2] == 'x';
		v[n].shared = perms[3] == 's';
		v[n].offset = off;
		v[n].dev = (uint64_t)maj << 32 | min;
		v[n].ino = ino;
		line[strcspn(line, "\n")] = '\0';
		v[n].anon = line[pos] != '/';
		snprintf(v[n].name, sizeof(v[n].name), "%s", line + pos);
		n++;
	}
	fclose(f);
	return n;
}

static void same_vma(const struct vma *a, const struct vma *b)
{
	ck_assert_uint_eq(a->start, b->start);
	ck_assert_uint_eq(a->end, b->end);
	ck_assert_int_eq(a->read, b->read);
	ck_assert_int_eq(a->write, b->write);
	ck_assert_int_eq(a->exec, b->exec);
	ck_assert_int_eq(a->shared, b->shared);
	ck_assert_int_eq(a->anon, b->anon);
	ck_assert_uint_eq(a->offset, b->offset);
	ck_assert_uint_eq(a->dev, b->dev);
	ck_assert_uint_eq(a->ino, b->ino);
	ck_assert_str_eq(a->name, b->name);
}

START_TEST(many_vmas_and_a_long_path)
{
	/* NVMA pages with alternating protections: one VMA each */
	char *m = tu_map(NVMA * PG, MAP_PRIVATE | MAP_ANONYMOUS);
	for (size_t i = 0; i < NVMA; i += 2)
		ck_assert_int_eq(mprotect(m + i * PG, PG, PROT_READ), 0);
	/* a file under a path of ~4000 characters, mapped shared */
	char dir[4200] = "/tmp/ooh-maps-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[4200];
	size_t dl = strlen(dir);
	memcpy(path, dir, dl + 1);
	while (strlen(path) < 3880) { /* nested directories: NAME_MAX is 255 */
		strcat(path, "/");
		size_t l = strlen(path);
		memset(path + l, 'd', 200);
		path[l + 200] = '\0';
		ck_assert_int_eq(mkdir(path, 0700), 0);
	}
	strcat(path, "/");
	size_t l = strlen(path);
	memset(path + l, 'f', 4090 - l); /* PATH_MAX is 4096 with the NUL */
	path[4090] = '\0';
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, PG), 0);
	char *fm = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(fm, MAP_FAILED);

	/* compared over this test's own mappings: the allocator (ASan's too)
	 * may map more between the two reads */
	struct vma *want = malloc((NVMA + 4096) * sizeof(*want)), *got = NULL;
	ck_assert_ptr_nonnull(want);
	size_t nw = ref_maps(want, NVMA + 4096);
	ssize_t ng = read_maps(getpid(), NULL, 0, &got);
	ck_assert_int_ge(nw, NVMA);
	ck_assert_int_ge(ng, NVMA);
	uint64_t lo = (uintptr_t)m, hi = lo + NVMA * PG;
	size_t i = 0, j = 0, same = 0;
	int saw_file = 0;
	for (;; i++, j++) {
		while (i < nw && !(want[i].start < hi && want[i].end > lo) && want[i].start != (uintptr_t)fm)
			i++;
		while (j < (size_t)ng && !(got[j].start < hi && got[j].end > lo) && got[j].start != (uintptr_t)fm)
			j++;
		if (i == nw || j == (size_t)ng)
			break;
		same_vma(&got[j], &want[i]);
		same++;
		if (got[j].start == (uintptr_t)fm) {
			saw_file = 1;
			ck_assert(got[j].shared && !got[j].anon);
			ck_assert_int_eq(strncmp(got[j].name, dir, 20), 0);
		}
	}
	ck_assert_uint_eq(same, NVMA + 1);
	ck_assert(saw_file);
	free(got);

	/* only the VMAs that meet the ranges */
	struct ooh_region r[2] = { { (uintptr_t)m + 10 * PG + 100, (uintptr_t)m + 12 * PG, 0 },
				   { (uintptr_t)fm, (uintptr_t)fm + 1, 0 } };
	ng = read_maps(getpid(), r, 2, &got);
	ck_assert_int_eq(ng, 3);
	ck_assert_uint_eq(got[0].start, (uintptr_t)m + 10 * PG);
	ck_assert_uint_eq(got[1].start, (uintptr_t)m + 11 * PG);
	ck_assert(!got[0].write && got[1].write);
	ck_assert_uint_eq(got[2].start, (uintptr_t)fm);
	free(got);
	free(want);

	munmap(fm, PG);
	close(fd);
	munmap(m, NVMA * PG);
	/* remove the directories, deepest first */
	ck_assert_int_eq(unlink(path), 0);
	for (char *s; strlen(path) > dl && (s = strrchr(path, '/'));) {
		*s = '\0';
		ck_assert_int_eq(rmdir(path), 0);
	}
}
END_TEST

START_TEST(gone_process)
{
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (!c)
		_exit(0);
	ck_assert_int_eq(waitpid(c, NULL, 0), c);
	struct vma *v = NULL;
	ck_assert_int_eq(read_maps(c, NULL, 0, &v), -ESRCH);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ooh-lib-maps");
	TCase *tc = tcase_create("maps");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, many_vmas_and_a_long_path);
	tcase_add_test(tc, gone_process);
	suite_add_tcase(s, tc);
	return ooh_check_main(s);
}
