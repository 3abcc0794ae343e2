// SPDX-License-Identifier: MIT
/*
 * The USDT probes ooh-l0 carries (l0/probes.h) are a public interface:
 * tracers (issue 19's ooh-kvmstat) attach to them by provider and name and
 * read their arguments by position. This reads the built binary's
 * .note.stapsdt notes itself (the SystemTap SDT format: three addresses,
 * then provider, name and argument spec as NUL-terminated strings) and
 * requires exactly the documented probes, each with its argument sizes and
 * signedness, and no semaphores. No KVM needed.
 */
#include "harness/ooh_check.h"
#include "l0-test.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NT_STAPSDT 3

/* The table of l0/probes.h: argument specs' sizes, "-" for signed. */
static const struct {
	const char *name;
	const char *sizes;
} expected[] = {
	{ "hypercall_entry", "4 4 4 8" },
	{ "hypercall_return", "4 4 4 -4" },
	{ "harvest", "-4 8" },
	{ "spp_permit", "4 8 4" },
	{ "spp_refuse", "4 8 4" },
	{ "session_open", "-4 4" },
	{ "session_close", "4 -4" },
};

#define NR_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static uint8_t *read_binary(size_t *size)
{
	char path[PATH_MAX + 16];
	struct stat st;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/ooh-l0", l0t_bin_dir());
	fd = open(path, O_RDONLY);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*size = (size_t)st.st_size;
	return buf;
}

/* The section named name, checked to lie in the file; NULL if none. */
static const Elf64_Shdr *find_section(const uint8_t *elf, size_t size, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)elf;
	const Elf64_Shdr *sh, *strtab;

	ck_assert_uint_ge(size, sizeof(*eh));
	ck_assert_msg(memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64,
		      "ooh-l0 is not a 64-bit ELF file");
	ck_assert_uint_eq(eh->e_shentsize, sizeof(Elf64_Shdr));
	ck_assert_uint_le(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh), size);
	ck_assert_uint_lt(eh->e_shstrndx, eh->e_shnum);
	sh = (const Elf64_Shdr *)(elf + eh->e_shoff);
	strtab = &sh[eh->e_shstrndx];
	ck_assert_uint_le(strtab->sh_offset + strtab->sh_size, size);
	for (int i = 0; i < eh->e_shnum; i++) {
		ck_assert_uint_lt(sh[i].sh_name, strtab->sh_size);
		if (strcmp((const char *)elf + strtab->sh_offset + sh[i].sh_name, name) == 0) {
			ck_assert_uint_le(sh[i].sh_offset + sh[i].sh_size, size);
			return &sh[i];
		}
	}
	return NULL;
}

/* "-4@%eax 8@32(%rsp)" -> "-4 8": the size (and sign) of each argument. */
static void arg_sizes(const char *spec, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (const char *p = spec; *p;) {
		const char *at = strchr(p, '@');
		const char *end = strchr(p, ' ');

		ck_assert_msg(at && (!end || at < end), "argument without size in \"%s\"", spec);
		n += (size_t)snprintf(out + n, size - n, "%s%.*s", n ? " " : "", (int)(at - p), p);
		ck_assert_uint_lt(n, size);
		p = end ? end + 1 : p + strlen(p);
	}
}

static void check_note(const char *provider, const char *name, const char *args,
		       uint64_t semaphore, int *seen)
{
	char sizes[64];
	size_t i;

	ck_assert_str_eq(provider, "ooh_l0");
	for (i = 0; i < NR_EXPECTED && strcmp(expected[i].name, name) != 0; i++)
		;
	ck_assert_msg(i < NR_EXPECTED, "undocumented probe ooh_l0:%s", name);
	ck_assert_msg(semaphore == 0, "probe %s has a semaphore: probes must cost nothing unused",
		      name);
	arg_sizes(args, sizes, sizeof(sizes));
	ck_assert_msg(strcmp(sizes, expected[i].sizes) == 0,
		      "probe %s: arguments \"%s\" (sizes %s), want sizes %s", name, args, sizes,
		      expected[i].sizes);
	seen[i]++;
}

START_TEST(exactly_the_documented_probes)
{
	size_t size, off;
	uint8_t *elf = read_binary(&size);
	const Elf64_Shdr *notes = find_section(elf, size, ".note.stapsdt");
	int seen[NR_EXPECTED] = { 0 };

	ck_assert_msg(notes != NULL, "ooh-l0 has no .note.stapsdt section: no USDT probes");
	ck_assert_ptr_nonnull(find_section(elf, size, ".stapsdt.base"));
	for (off = 0; off + sizeof(Elf64_Nhdr) <= notes->sh_size;) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(elf + notes->sh_offset + off);
		const char *name = (const char *)(nh + 1);
		const uint8_t *desc = (const uint8_t *)name + ((nh->n_namesz + 3) & ~3u);
		const char *provider, *probe, *args;
		uint64_t semaphore;

		off += sizeof(*nh) + ((nh->n_namesz + 3) & ~3u) + ((nh->n_descsz + 3) & ~3u);
		ck_assert_uint_le(off, notes->sh_size);
		ck_assert_uint_eq(nh->n_type, NT_STAPSDT);
		ck_assert_str_eq(name, "stapsdt");
		/* pc, base, semaphore, then three strings inside the descriptor */
		ck_assert_uint_gt(nh->n_descsz, 3 * 8 + 3);
		ck_assert_uint_eq(desc[nh->n_descsz - 1], '\0');
		memcpy(&semaphore, desc + 16, sizeof(semaphore));
		provider = (const char *)desc + 24;
		probe = provider + strlen(provider) + 1;
		ck_assert(probe < (const char *)desc + nh->n_descsz);
		args = probe + strlen(probe) + 1;
		ck_assert(args < (const char *)desc + nh->n_descsz);
		check_note(provider, probe, args, semaphore, seen);
	}
	for (size_t i = 0; i < NR_EXPECTED; i++)
		ck_assert_msg(seen[i] > 0, "probe ooh_l0:%s missing from ooh-l0", expected[i].name);
	free(elf);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-probes");
	TCase *tc = tcase_create("probes");

	tcase_add_test(tc, exactly_the_documented_probes);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
