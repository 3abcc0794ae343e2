// SPDX-License-Identifier: MIT
/* Linux boot protocol loader: zero page, e820, command line, initrd, MP table. No KVM. */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "exit-codes.h"
#include "x86/x86.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t fake_code[] = { 0xf4, 0xeb, 0xfe }; /* hlt; jmp . */

static struct l0_memory mem;
static uint8_t *image;
static size_t image_size;
static struct l0_x86_boot_info info;

static void setup(uint64_t mem_size)
{
	ck_assert_int_eq(l0_memory_init(&mem, mem_size, false, -1), 0);
	image = l0t_bzimage(fake_code, sizeof(fake_code), &image_size);
}

static void teardown(void)
{
	free(image);
	l0_memory_free(&mem);
}

static struct boot_params *zero_page(void)
{
	return l0_gpa_to_host(&mem, L0_X86_ZERO_PAGE, sizeof(struct boot_params));
}

START_TEST(zero_page_and_layout)
{
	static const char initrd[] = "070701 pretend cpio";
	const char *cmdline = "console=ttyS0 ooh.run=/x";
	struct boot_params *bp;

	setup(64ull << 20);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, (const uint8_t *)initrd,
					   sizeof(initrd), cmdline, 2, &info), 0);
	bp = zero_page();
	ck_assert_uint_eq(info.entry, 0x100200);
	ck_assert_uint_eq(info.zero_page, L0_X86_ZERO_PAGE);
	ck_assert_uint_eq(bp->hdr.boot_flag, 0xaa55);
	ck_assert_uint_eq(bp->hdr.header, 0x53726448);
	ck_assert_uint_eq(bp->hdr.type_of_loader, 0xff);
	ck_assert(bp->hdr.loadflags & LOADED_HIGH);
	ck_assert_str_eq((char *)l0_gpa_to_host(&mem, bp->hdr.cmd_line_ptr, 1), cmdline);
	/* initrd: page aligned, after the kernel, inside RAM, content intact */
	ck_assert_uint_eq(bp->hdr.ramdisk_size, sizeof(initrd));
	ck_assert_uint_eq(bp->hdr.ramdisk_image % 4096, 0);
	ck_assert_uint_ge(bp->hdr.ramdisk_image, info.kernel_end);
	ck_assert_uint_le(bp->hdr.ramdisk_image + sizeof(initrd), 64ull << 20);
	ck_assert_mem_eq(l0_gpa_to_host(&mem, bp->hdr.ramdisk_image, sizeof(initrd)), initrd, sizeof(initrd));
	/* kernel payload at 1 MiB, startup_64 at +0x200 */
	ck_assert_mem_eq(l0_gpa_to_host(&mem, 0x100200, sizeof(fake_code)), fake_code, sizeof(fake_code));
	/* e820: low RAM, EBDA/ROM hole, RAM from 1 MiB to the end */
	ck_assert_uint_eq(bp->e820_entries, 3);
	ck_assert_uint_eq(bp->e820_table[0].addr, 0);
	ck_assert_uint_eq(bp->e820_table[0].size, L0_X86_EBDA_START);
	ck_assert_uint_eq(bp->e820_table[0].type, 1);
	ck_assert_uint_eq(bp->e820_table[1].type, 2);
	ck_assert_uint_eq(bp->e820_table[2].addr, 0x100000);
	ck_assert_uint_eq(bp->e820_table[2].addr + bp->e820_table[2].size, 64ull << 20);
	ck_assert_uint_eq(bp->e820_table[2].type, 1);
	teardown();
}
END_TEST

START_TEST(page_tables_and_gdt)
{
	uint64_t *pml4, *pd, *gdt;

	setup(32ull << 20);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), 0);
	pml4 = l0_gpa_to_host(&mem, L0_X86_PML4_ADDR, 4096);
	pd = l0_gpa_to_host(&mem, L0_X86_PD_ADDR, 4 * 4096);
	gdt = l0_gpa_to_host(&mem, L0_X86_GDT_ADDR, 40);
	ck_assert_uint_eq(pml4[0] & ~0xfffull, L0_X86_PDPT_ADDR);
	ck_assert_uint_eq(pd[0], 0x83);                     /* 2 MiB page at 0 */
	ck_assert_uint_eq(pd[2047], (2047ull << 21) | 0x83); /* ... up to 4 GiB */
	ck_assert_uint_eq(gdt[L0_X86_SEL_CODE64 / 8], 0x00af9b000000ffffull);
	ck_assert_uint_eq(gdt[L0_X86_SEL_DATA / 8], 0x00cf93000000ffffull);
	teardown();
}
END_TEST

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

START_TEST(mp_table)
{
	const uint8_t *mpf, *table;
	uint32_t table_addr;
	uint16_t length, count;
	int cpus = 0, ioapics = 0;

	setup(32ull << 20);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 4, &info), 0);
	mpf = l0_gpa_to_host(&mem, L0_X86_EBDA_START, 16);
	ck_assert_mem_eq(mpf, "_MP_", 4);
	ck_assert_uint_eq(sum(mpf, 16), 0);
	memcpy(&table_addr, mpf + 4, 4);
	table = l0_gpa_to_host(&mem, table_addr, 44);
	ck_assert_mem_eq(table, "PCMP", 4);
	memcpy(&length, table + 4, 2);
	memcpy(&count, table + 34, 2);
	ck_assert_uint_eq(sum(table, length), 0);
	for (const uint8_t *e = table + 44; e < table + length; e += (*e == 0) ? 20 : 8) {
		if (e[0] == 0) {
			ck_assert_uint_eq(e[1], cpus);                /* APIC ID = vCPU index */
			ck_assert_uint_eq(e[3], cpus == 0 ? 3 : 1);   /* BSP flag on vCPU 0 */
			cpus++;
		} else if (e[0] == 2) {
			ioapics++;
		} else if (e[0] == 3 && e[5] == 0) {
			ck_assert_uint_eq(e[7], 2); /* ISA IRQ 0 -> IOAPIC pin 2, like KVM routes it */
		}
		count--;
	}
	ck_assert_int_eq(cpus, 4);
	ck_assert_int_eq(ioapics, 1);
	ck_assert_uint_eq(count, 0);
	teardown();
}
END_TEST

START_TEST(memory_above_4g_in_e820)
{
	struct boot_params *bp;

	setup(3ull << 30 | 512ull << 20); /* 3.5 GiB: 512 MiB land above the hole */
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), 0);
	bp = zero_page();
	ck_assert_uint_eq(bp->e820_entries, 4);
	ck_assert_uint_eq(bp->e820_table[2].addr + bp->e820_table[2].size, L0_MMIO_HOLE_START);
	ck_assert_uint_eq(bp->e820_table[3].addr, 1ull << 32);
	ck_assert_uint_eq(bp->e820_table[3].size, 512ull << 20);
	teardown();
}
END_TEST

START_TEST(rejects_bad_images)
{
	setup(32ull << 20);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, 0x200, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	image[0x1fe] = 0;  /* boot flag */
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	image[0x1fe] = 0x55;
	image[0x206] = 0x05; /* protocol 2.05: no 64-bit entry */
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	image[0x206] = 0x0f;
	image[0x236] = 0;    /* no XLF_KERNEL_64 */
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	image[0x236] = 1;
	image[0x1f1] = 200;  /* setup_sects beyond the file */
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	image[0x1f1] = 1;
	image[0x1f6] = 0x10; /* syssize says 1 MiB more than the file holds */
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	image[0x1f6] = 0;
	/* no syssize, and the file ends before startup_64 (found by tests/fuzz/l0-kernel-loader) */
	memset(image + 0x1f4, 0, 4);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, 2 * 512 + 0x200, NULL, 0, "", 1, &info),
			 L0_EXIT_BAD_KERNEL);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, 2 * 512 + 0x100, NULL, 0, "", 1, &info),
			 L0_EXIT_BAD_KERNEL);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), 0);
	teardown();
}
END_TEST

START_TEST(rejects_long_cmdline)
{
	char cmdline[3000];

	setup(32ull << 20);
	memset(cmdline, 'x', sizeof(cmdline) - 1);
	cmdline[sizeof(cmdline) - 1] = '\0';
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, cmdline, 1, &info), L0_EXIT_USAGE);
	cmdline[2047] = '\0'; /* exactly cmdline_size */
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, cmdline, 1, &info), 0);
	teardown();
}
END_TEST

START_TEST(too_little_memory)
{
	static uint8_t initrd[8 << 20];

	setup(8ull << 20);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info),
			 L0_EXIT_TOO_LITTLE_MEMORY);
	teardown();
	setup(24ull << 20); /* enough for the kernel, not with an 8 MiB initrd */
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, NULL, 0, "", 1, &info), 0);
	ck_assert_int_eq(l0_x86_load_linux(&mem, image, image_size, initrd, sizeof(initrd), "", 1, &info),
			 L0_EXIT_TOO_LITTLE_MEMORY);
	teardown();
}
END_TEST

START_TEST(elf_vmlinux)
{
	static const uint8_t code[] = { 0xf4, 0xeb, 0xfe, 0x90 };
	size_t elf_size;
	uint8_t *elf = l0t_elf(code, sizeof(code), 0x3000, &elf_size);
	struct boot_params *bp;
	uint8_t *loaded;

	setup(32ull << 20);
	memset(l0_gpa_to_host(&mem, L0T_ELF_ADDR, 0x4000), 0xaa, 0x4000);
	ck_assert_int_eq(l0_x86_load_linux(&mem, elf, elf_size, NULL, 0, "ro", 1, &info), 0);
	ck_assert_uint_eq(info.entry, L0T_ELF_ADDR);
	ck_assert_uint_eq(info.kernel_end, L0T_ELF_ADDR + sizeof(code) + 0x3000);
	loaded = l0_gpa_to_host(&mem, L0T_ELF_ADDR, sizeof(code) + 0x3000);
	ck_assert_mem_eq(loaded, code, sizeof(code));
	ck_assert_uint_eq(loaded[sizeof(code) + 0x2fff], 0); /* bss cleared */
	bp = zero_page();
	ck_assert_uint_eq(bp->hdr.boot_flag, 0xaa55);
	ck_assert_uint_eq(bp->hdr.header, 0x53726448);
	ck_assert_str_eq((char *)l0_gpa_to_host(&mem, bp->hdr.cmd_line_ptr, 3), "ro");
	ck_assert_uint_eq(bp->e820_entries, 3);
	teardown();
	free(elf);
}
END_TEST

START_TEST(rejects_bad_elf)
{
	static const uint8_t code[] = { 0xf4 };
	size_t elf_size;
	uint8_t *elf = l0t_elf(code, sizeof(code), 0, &elf_size);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(elf + sizeof(*eh));

	setup(32ull << 20);
	eh->e_machine = EM_386;
	ck_assert_int_eq(l0_x86_load_linux(&mem, elf, elf_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	eh->e_machine = EM_X86_64;
	eh->e_phnum = 5000; /* program headers past the end of the file */
	ck_assert_int_eq(l0_x86_load_linux(&mem, elf, elf_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	eh->e_phnum = 1;
	ph->p_filesz = 0x100000; /* segment past the end of the file */
	ck_assert_int_eq(l0_x86_load_linux(&mem, elf, elf_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	ph->p_filesz = 1;
	ph->p_paddr = 0x7000; /* over our boot structures */
	ck_assert_int_eq(l0_x86_load_linux(&mem, elf, elf_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	ph->p_paddr = UINT64_MAX - 0x10; /* wraps */
	ck_assert_int_eq(l0_x86_load_linux(&mem, elf, elf_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	ph->p_paddr = L0T_ELF_ADDR;
	eh->e_entry = 0x5000000; /* entry outside every segment */
	ck_assert_int_eq(l0_x86_load_linux(&mem, elf, elf_size, NULL, 0, "", 1, &info), L0_EXIT_BAD_KERNEL);
	eh->e_entry = L0T_ELF_ADDR;
	ck_assert_int_eq(l0_x86_load_linux(&mem, elf, elf_size, NULL, 0, "", 1, &info), 0);
	teardown();
	free(elf);
}
END_TEST

/* A bzImage whose payload is the xz-compressed ELF, as distribution kernels are. */
static uint8_t *xz_bzimage(const uint8_t *elf, size_t elf_size, size_t *size)
{
	size_t bound = lzma_stream_buffer_bound(elf_size), xz_size = 0, bz_size;
	uint8_t *xz = malloc(bound), *bz;

	ck_assert_int_eq(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, elf, elf_size, xz,
						 &xz_size, bound), LZMA_OK);
	bz = l0t_bzimage(xz, xz_size, &bz_size);
	/* payload_offset is relative to the protected-mode code; ours sits at +0x200 */
	bz[0x248] = 0x00; bz[0x249] = 0x02; bz[0x24a] = 0; bz[0x24b] = 0;
	memcpy(bz + 0x24c, &(uint32_t){ (uint32_t)xz_size }, 4);
	free(xz);
	*size = bz_size;
	return bz;
}

START_TEST(host_decompresses_xz_bzimage)
{
	static const uint8_t code[] = { 0xf4, 0xeb, 0xfe };
	size_t elf_size, bz_size, out_size;
	uint8_t *elf = l0t_elf(code, sizeof(code), 0, &elf_size);
	uint8_t *bz = xz_bzimage(elf, elf_size, &bz_size), *out;

	ck_assert_int_eq(l0_x86_bzimage_extract(bz, bz_size, &out, &out_size), 0);
	ck_assert_uint_eq(out_size, elf_size);
	ck_assert_mem_eq(out, elf, elf_size);
	free(out);
	bz[bz_size - 8] ^= 0xff; /* corrupt the compressed stream */
	ck_assert_int_eq(l0_x86_bzimage_extract(bz, bz_size, &out, &out_size), L0_EXIT_BAD_KERNEL);
	ck_assert_ptr_null(out);
	free(bz);
	/* a payload that is not xz/gzip is left to the guest */
	bz = l0t_bzimage(code, sizeof(code), &bz_size);
	ck_assert_int_eq(l0_x86_bzimage_extract(bz, bz_size, &out, &out_size), 1);
	free(bz);
	free(elf);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-loader");
	TCase *tc = tcase_create("loader");

	tcase_add_test(tc, zero_page_and_layout);
	tcase_add_test(tc, page_tables_and_gdt);
	tcase_add_test(tc, mp_table);
	tcase_add_test(tc, memory_above_4g_in_e820);
	tcase_add_test(tc, rejects_bad_images);
	tcase_add_test(tc, rejects_long_cmdline);
	tcase_add_test(tc, too_little_memory);
	tcase_add_test(tc, elf_vmlinux);
	tcase_add_test(tc, rejects_bad_elf);
	tcase_add_test(tc, host_decompresses_xz_bzimage);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
