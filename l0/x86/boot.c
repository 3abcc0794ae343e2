// SPDX-License-Identifier: MIT
/*
 * Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry,
 * for a bzImage or an uncompressed ELF vmlinux,
 * no firmware: we fill the zero page (boot_params) ourselves, load the
 * protected-mode kernel at 1 MiB, the initrd as high as allowed, and start
 * vCPU 0 in long mode at startup_64 with RSI pointing at the zero page.
 * The image is untrusted input: every header field is range-checked.
 */
#include "x86.h"
#include "../exit-codes.h"
#include "../kernel-cache.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SETUP_HEADER_OFFSET 0x1f1
#define BOOT_FLAG_MAGIC     0xaa55
#define HDRS_MAGIC          0x53726448 /* "HdrS" */
#define MIN_PROTOCOL        0x020c     /* 2.12: xloadflags, 64-bit entry flag */
#define ENTRY_64_OFFSET     0x200
#define LOADER_TYPE_UNKNOWN 0xff
/* Room the kernel needs after its image and the initrd to get to init. */
#define MIN_FREE_MEMORY     (16ull << 20)
#define E820_RAM            1
#define E820_RESERVED       2

static int add_e820(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	if (bp->e820_entries >= E820_MAX_ENTRIES_ZEROPAGE)
		return -1;
	bp->e820_table[bp->e820_entries++] = (struct boot_e820_entry){ addr, size, type };
	return 0;
}

static void fill_e820(struct boot_params *bp, const struct l0_memory *mem)
{
	uint64_t low_end = l0_memory_low_end(mem);

	add_e820(bp, 0, L0_X86_EBDA_START, E820_RAM);
	add_e820(bp, L0_X86_EBDA_START, L0_X86_KERNEL_ADDR - L0_X86_EBDA_START, E820_RESERVED);
	add_e820(bp, L0_X86_KERNEL_ADDR, low_end - L0_X86_KERNEL_ADDR, E820_RAM);
	for (int i = 1; i < mem->nr_regions; i++)
		add_e820(bp, mem->region[i].gpa, mem->region[i].size, E820_RAM);
}

/* What the loader needs to know about a kernel image, bzImage or ELF. */
struct kernel_image {
	bool is_elf;
	struct setup_header hdr;   /* bzImage: from the image; ELF: synthesized */
	size_t hdr_len;            /* bytes of hdr the image provides */
	const uint8_t *payload;    /* bzImage: protected-mode kernel */
	size_t payload_size;
	uint64_t entry;
	uint64_t start, end;       /* guest physical range the kernel occupies */
	const Elf64_Phdr *phdr;    /* ELF: program headers (validated) */
	unsigned nr_phdr;
};

static int probe_bzimage(const uint8_t *kernel, size_t kernel_size, struct kernel_image *k)
{
	struct setup_header *hdr = &k->hdr;
	size_t setup_size;
	uint64_t init_size;

	if (kernel_size < SETUP_HEADER_OFFSET + sizeof(*hdr)) {
		fprintf(stderr, "ooh-l0: kernel image too small (%zu bytes) to be a bzImage\n", kernel_size);
		return L0_EXIT_BAD_KERNEL;
	}
	memcpy(hdr, kernel + SETUP_HEADER_OFFSET, sizeof(*hdr));
	if (hdr->boot_flag != BOOT_FLAG_MAGIC || hdr->header != HDRS_MAGIC) {
		fprintf(stderr, "ooh-l0: kernel image is neither a bzImage (no boot flag / HdrS magic) "
			"nor an x86-64 ELF vmlinux\n");
		return L0_EXIT_BAD_KERNEL;
	}
	if (hdr->version < MIN_PROTOCOL || !(hdr->xloadflags & XLF_KERNEL_64) ||
	    !(hdr->loadflags & LOADED_HIGH)) {
		fprintf(stderr, "ooh-l0: kernel boot protocol %u.%02u without a 64-bit entry point; "
			"need >= 2.12 with XLF_KERNEL_64\n", hdr->version >> 8, hdr->version & 0xff);
		return L0_EXIT_BAD_KERNEL;
	}
	setup_size = ((size_t)(hdr->setup_sects ? hdr->setup_sects : 4) + 1) * 512;
	if (setup_size >= kernel_size) {
		fprintf(stderr, "ooh-l0: kernel image truncated (setup %zu bytes, file %zu)\n",
			setup_size, kernel_size);
		return L0_EXIT_BAD_KERNEL;
	}
	k->payload = kernel + setup_size;
	k->payload_size = kernel_size - setup_size;
	/* vCPU 0 starts at startup_64: it must be a byte of the image, not what RAM held */
	if (k->payload_size <= ENTRY_64_OFFSET) {
		fprintf(stderr, "ooh-l0: kernel image truncated (%zu bytes of kernel, its 64-bit entry "
			"point is at byte %u)\n", k->payload_size, ENTRY_64_OFFSET);
		return L0_EXIT_BAD_KERNEL;
	}
	if (hdr->syssize && (uint64_t)hdr->syssize * 16 > k->payload_size + 15) {
		fprintf(stderr, "ooh-l0: kernel image truncated (header says %llu bytes of kernel, file has %zu)\n",
			(unsigned long long)hdr->syssize * 16, k->payload_size);
		return L0_EXIT_BAD_KERNEL;
	}
	init_size = hdr->init_size > k->payload_size ? hdr->init_size : k->payload_size;
	k->hdr_len = 0x202 + (size_t)kernel[0x201] - SETUP_HEADER_OFFSET; /* header end from the jump */
	if (k->hdr_len > sizeof(*hdr))
		k->hdr_len = sizeof(*hdr);
	k->entry = L0_X86_KERNEL_ADDR + ENTRY_64_OFFSET;
	k->start = L0_X86_KERNEL_ADDR;
	k->end = L0_X86_KERNEL_ADDR + init_size;
	return 0;
}

/*
 * An uncompressed vmlinux: its entry (phys_startup_64) is the same 64-bit
 * boot protocol entry the bzImage decompressor jumps to, so we skip the
 * decompressor (seconds under nested virtualization). Firecracker boots
 * kernels this way.
 */
static int probe_elf(const uint8_t *kernel, size_t kernel_size, struct kernel_image *k)
{
	Elf64_Ehdr eh;
	bool entry_loaded = false;

	if (kernel_size < sizeof(eh))
		goto bad;
	memcpy(&eh, kernel, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff % 8 ||
	    eh.e_phoff > kernel_size || eh.e_phnum > (kernel_size - eh.e_phoff) / sizeof(Elf64_Phdr))
		goto bad;
	k->is_elf = true;
	k->phdr = (const Elf64_Phdr *)(kernel + eh.e_phoff);
	k->nr_phdr = eh.e_phnum;
	k->start = UINT64_MAX;
	k->end = 0;
	for (unsigned i = 0; i < k->nr_phdr; i++) {
		const Elf64_Phdr *ph = &k->phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_filesz > ph->p_memsz || ph->p_offset > kernel_size ||
		    ph->p_filesz > kernel_size - ph->p_offset || ph->p_paddr < L0_X86_KERNEL_ADDR ||
		    ph->p_memsz > L0_MMIO_HOLE_START || ph->p_paddr > L0_MMIO_HOLE_START - ph->p_memsz)
			goto bad;
		if (ph->p_paddr < k->start)
			k->start = ph->p_paddr;
		if (ph->p_paddr + ph->p_memsz > k->end)
			k->end = ph->p_paddr + ph->p_memsz;
		if (eh.e_entry >= ph->p_paddr && eh.e_entry - ph->p_paddr < ph->p_filesz)
			entry_loaded = true;
	}
	if (!entry_loaded)
		goto bad;
	k->entry = eh.e_entry;
	/* No setup header in a vmlinux: give the kernel the fields it reads. */
	k->hdr.boot_flag = BOOT_FLAG_MAGIC;
	k->hdr.header = HDRS_MAGIC;
	k->hdr.kernel_alignment = 0x1000000;
	k->hdr.cmdline_size = 2047;          /* x86 COMMAND_LINE_SIZE - 1 */
	k->hdr.initrd_addr_max = 0x7fffffff;
	k->hdr_len = sizeof(k->hdr);
	return 0;
bad:
	fprintf(stderr, "ooh-l0: kernel image is an ELF file but not a loadable x86-64 vmlinux "
		"(bad headers, or segments outside 1 MiB..3 GiB)\n");
	return L0_EXIT_BAD_KERNEL;
}

static void copy_kernel(struct l0_memory *mem, const uint8_t *kernel, const struct kernel_image *k)
{
	if (!k->is_elf) {
		memcpy(l0_gpa_to_host(mem, L0_X86_KERNEL_ADDR, k->payload_size), k->payload,
		       k->payload_size);
		return;
	}
	for (unsigned i = 0; i < k->nr_phdr; i++) {
		const Elf64_Phdr *ph = &k->phdr[i];
		uint8_t *dst;

		if (ph->p_type != PT_LOAD)
			continue;
		dst = l0_gpa_to_host(mem, ph->p_paddr, ph->p_memsz); /* checked by the caller */
		memcpy(dst, kernel + ph->p_offset, ph->p_filesz);
		memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz); /* .bss */
	}
}

int l0_x86_load_linux(struct l0_memory *mem, const uint8_t *kernel, size_t kernel_size,
		      const uint8_t *initrd, size_t initrd_size, const char *cmdline,
		      int nr_cpus, struct l0_x86_boot_info *info)
{
	struct kernel_image k = { 0 };
	struct boot_params *bp;
	size_t cmdline_len = strlen(cmdline);
	uint64_t low_end = l0_memory_low_end(mem), initrd_top = 0, initrd_addr = 0;
	int err;

	memset(info, 0, sizeof(*info));
	if (kernel_size >= SELFMAG && memcmp(kernel, ELFMAG, SELFMAG) == 0)
		err = probe_elf(kernel, kernel_size, &k);
	else
		err = probe_bzimage(kernel, kernel_size, &k);
	if (err)
		return err;

	if (cmdline_len + 1 > k.hdr.cmdline_size + 1ull || cmdline_len + 1 > L0_X86_CMDLINE_MAX) {
		fprintf(stderr, "ooh-l0: kernel command line is %zu bytes; this kernel takes at most %u\n",
			cmdline_len, k.hdr.cmdline_size);
		return L0_EXIT_USAGE;
	}

	info->kernel_end = k.end;
	if (low_end < k.end + initrd_size + MIN_FREE_MEMORY) {
		fprintf(stderr, "ooh-l0: too little memory: kernel needs up to %llu MiB, initrd %llu MiB, "
			"plus %llu MiB to run; guest has %llu MiB below 3 GiB\n",
			(unsigned long long)(k.end >> 20), (unsigned long long)(initrd_size >> 20),
			(unsigned long long)(MIN_FREE_MEMORY >> 20), (unsigned long long)(low_end >> 20));
		return L0_EXIT_TOO_LITTLE_MEMORY;
	}
	if (initrd_size) {
		/* As high as the kernel allows, so decompression never meets it. */
		initrd_top = (uint64_t)k.hdr.initrd_addr_max + 1;
		if (initrd_top > low_end)
			initrd_top = low_end;
		initrd_addr = (initrd_top - initrd_size) & ~0xfffull;
		if (initrd_size > initrd_top || initrd_addr < k.end) {
			fprintf(stderr, "ooh-l0: too little memory below the initrd limit 0x%llx for the initrd\n",
				(unsigned long long)initrd_top);
			return L0_EXIT_TOO_LITTLE_MEMORY;
		}
	}

	bp = l0_gpa_to_host(mem, L0_X86_ZERO_PAGE, sizeof(*bp));
	if (!bp || !l0_gpa_to_host(mem, k.start, k.end - k.start) || l0_x86_build_boot_tables(mem) != 0 ||
	    l0_x86_mptable_size(nr_cpus) > L0_X86_KERNEL_ADDR - L0_X86_EBDA_START ||
	    l0_x86_write_mptable(mem, L0_X86_EBDA_START, nr_cpus) != 0) {
		fprintf(stderr, "ooh-l0: too little memory for the boot structures\n");
		return L0_EXIT_TOO_LITTLE_MEMORY;
	}
	copy_kernel(mem, kernel, &k);
	if (initrd_size)
		memcpy(l0_gpa_to_host(mem, initrd_addr, initrd_size), initrd, initrd_size);
	memcpy(l0_gpa_to_host(mem, L0_X86_CMDLINE_ADDR, cmdline_len + 1), cmdline, cmdline_len + 1);

	/* Zero page: the setup header as the image has it, then our fields. */
	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, &k.hdr, k.hdr_len);
	bp->hdr.type_of_loader = LOADER_TYPE_UNKNOWN;
	bp->hdr.vid_mode = 0xffff; /* "normal" */
	bp->hdr.loadflags = (uint8_t)((bp->hdr.loadflags | LOADED_HIGH) & ~KEEP_SEGMENTS);
	bp->hdr.cmd_line_ptr = (uint32_t)L0_X86_CMDLINE_ADDR;
	bp->hdr.ramdisk_image = (uint32_t)initrd_addr;
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->hdr.code32_start = (uint32_t)k.start;
	fill_e820(bp, mem);

	info->entry = k.entry;
	info->zero_page = L0_X86_ZERO_PAGE;
	info->initrd_addr = initrd_addr;
	info->initrd_size = initrd_size;
	info->protocol = k.is_elf ? 0 : k.hdr.version;
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct mapped_file {
	const uint8_t *data;
	size_t size;
};

/*
 * Page cache mapping, populated (read in full at once: cheaper than a fault
 * per page); copied once into guest RAM, then unmapped (no RSS kept).
 */
static int map_file(const char *what, const char *path, struct mapped_file *file)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	file->data = NULL;
	file->size = 0;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "ooh-l0: cannot read %s %s: %s\n", what, path,
			fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return L0_EXIT_NO_FILE;
	}
	file->size = (size_t)st.st_size;
	if (file->size) {
		void *p = mmap(NULL, file->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (p == MAP_FAILED) {
			fprintf(stderr, "ooh-l0: cannot map %s %s: %s\n", what, path, strerror(errno));
			close(fd);
			return L0_EXIT_NO_FILE;
		}
		file->data = p;
	}
	close(fd);
	return 0;
}

static void unmap_file(struct mapped_file *file)
{
	if (file->data)
		munmap((void *)file->data, file->size);
	file->data = NULL;
}

/*
 * The vmlinux of a compressed bzImage: from the kernel cache, or
 * decompressed here (and then cached). *from_cache says which; with neither
 * (*vmlinux NULL, 0 returned) the bzImage is booted as is.
 */
static int get_vmlinux(const struct l0_vm *vm, const uint8_t *kernel, size_t kernel_size,
		       const struct l0_x86_boot_options *opts, const uint8_t **vmlinux,
		       size_t *vmlinux_size, bool *from_cache)
{
	uint8_t *out;
	int err;

	*vmlinux = NULL;
	*from_cache = false;
	if (kernel_size >= SELFMAG && memcmp(kernel, ELFMAG, SELFMAG) == 0)
		return 0; /* a vmlinux already: nothing to decompress, nothing to look up */
	if (opts->kernel_cache &&
	    l0_kernel_cache_get(opts->kernel_cache, kernel, kernel_size, vmlinux,
				vmlinux_size) == 0) {
		if (*vmlinux_size >= SELFMAG && memcmp(*vmlinux, ELFMAG, SELFMAG) == 0) {
			*from_cache = true;
			return 0;
		}
		munmap((void *)*vmlinux, *vmlinux_size); /* not ours: decompress again */
		*vmlinux = NULL;
	}
	err = l0_x86_bzimage_extract(kernel, kernel_size, &out, vmlinux_size);
	if (err == 1)
		return 0;
	if (err)
		return err;
	*vmlinux = out;
	if (opts->kernel_cache &&
	    l0_kernel_cache_put(opts->kernel_cache, kernel, kernel_size, out,
				*vmlinux_size) != 0 && vm->cfg.verbose)
		fprintf(stderr, "ooh-l0: cannot cache the decompressed kernel in %s: %s\n",
			opts->kernel_cache, strerror(errno));
	return 0;
}

int l0_x86_load_image(struct l0_vm *vm, const uint8_t *kernel, size_t kernel_size,
		      const uint8_t *initrd, size_t initrd_size, const char *cmdline,
		      const struct l0_x86_boot_options *opts, struct l0_x86_boot_info *info,
		      struct l0_x86_load_report *report)
{
	const uint8_t *vmlinux = NULL;
	size_t vmlinux_size = 0;
	int err = 0;

	report->from_cache = false;
	report->decompressed = false;
	if (!opts->guest_decompress && kernel_size)
		err = get_vmlinux(vm, kernel, kernel_size, opts, &vmlinux, &vmlinux_size,
				  &report->from_cache);
	report->t_extract = now_ms();
	report->decompressed = vmlinux != NULL;
	if (err)
		return err;
	if (vmlinux)
		err = l0_x86_load_linux(&vm->mem, vmlinux, vmlinux_size, initrd, initrd_size,
					cmdline, vm->nr_vcpus, info);
	else
		err = l0_x86_load_linux(&vm->mem, kernel_size ? kernel : (const uint8_t *)"",
					kernel_size, initrd, initrd_size, cmdline, vm->nr_vcpus, info);
	if (report->from_cache)
		munmap((void *)vmlinux, vmlinux_size);
	else
		free((void *)vmlinux);
	return err;
}

int l0_x86_boot_linux(struct l0_vm *vm, const char *kernel_path, const char *initrd_path,
		      const char *cmdline, const struct l0_x86_boot_options *opts)
{
	struct mapped_file kernel, initrd = { NULL, 0 };
	struct l0_x86_boot_info info;
	struct l0_x86_load_report how;
	double t0 = now_ms(), t_load;
	int err;

	err = map_file("kernel", kernel_path, &kernel);
	if (err)
		return err;
	if (initrd_path && (err = map_file("initrd", initrd_path, &initrd)) != 0) {
		unmap_file(&kernel);
		return err;
	}
	err = l0_x86_load_image(vm, kernel.data, kernel.size, initrd.data, initrd.size, cmdline,
				opts, &info, &how);
	unmap_file(&kernel);
	unmap_file(&initrd);
	if (err)
		return err;
	t_load = now_ms();
	if (l0_x86_setup_long_mode(&vm->vcpu[0], info.entry, info.zero_page, 0) != 0) {
		fprintf(stderr, "ooh-l0: cannot set vCPU 0 registers: %s\n", strerror(errno));
		return L0_EXIT_INTERNAL;
	}
	if (vm->cfg.verbose && info.protocol)
		fprintf(stderr, "ooh-l0: bzImage, boot protocol %u.%02u", info.protocol >> 8,
			info.protocol & 0xff);
	else if (vm->cfg.verbose)
		fprintf(stderr, "ooh-l0: %s", how.from_cache ? "vmlinux from the kernel cache" :
			how.decompressed ? "vmlinux decompressed by ooh-l0" : "ELF vmlinux");
	if (vm->cfg.verbose)
		fprintf(stderr, ": entry 0x%llx, kernel end 0x%llx, initrd 0x%llx+%llu; "
			"%s %.0f ms, loading %.0f ms\n",
			(unsigned long long)info.entry, (unsigned long long)info.kernel_end,
			(unsigned long long)info.initrd_addr, (unsigned long long)info.initrd_size,
			how.from_cache ? "cache look-up" : how.decompressed ? "mapping + decompression" :
			"mapping", how.t_extract - t0, t_load - how.t_extract);
	return 0;
}

int l0_x86_load_flat(struct l0_memory *mem, uint64_t gpa, const void *code, size_t size)
{
	void *dst = l0_gpa_to_host(mem, gpa, size);

	if (!dst)
		return -1;
	memcpy(dst, code, size);
	return 0;
}
