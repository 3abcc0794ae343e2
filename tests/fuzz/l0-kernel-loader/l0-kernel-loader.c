// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ooh-l0's kernel-image loader (l0/x86/boot.c's
 * l0_x86_load_image: what l0_x86_boot_linux runs once the files are
 * mapped: host decompression of a bzImage's xz or gzip payload
 * (x86/bzimage-extract.c), then bzImage or ELF vmlinux parsing and loading
 * into guest RAM with the zero page, boot tables and MP table). No kernel
 * cache (file I/O, not the image's bytes).
 *
 * An input is one byte of options (guest decompression or not, the initrd
 * size, the vCPU count, the command line) then the kernel image. Guest RAM
 * is one 64 MiB exact-size allocation (ASan sees a write past it). Checked
 * after each input: the status is 0 or a documented error, 65 for an image
 * it refuses, never anything else; on success the kernel, the initrd and
 * the entry point lie in RAM below the MMIO hole, kernel first.
 */
#include "exit-codes.h"
#include "vm.h"
#include "x86/x86.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__); \
	abort(); } } while (0)

#define RAM (64ull << 20)
#define MAX_INITRD (8ull << 20)

/* cpu.c's CPUID and vCPU code is linked in but never run by the loader. */
int l0_x86_irq_init(struct l0_vm *vm)
{
	(void)vm;
	abort();
}

static struct l0_vm *vm;
static uint8_t *initrd;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vm = calloc(1, sizeof(*vm));
	initrd = calloc(1, MAX_INITRD);
	CHECK(vm && initrd);
	vm->mem.host = aligned_alloc(4096, RAM);
	CHECK(vm->mem.host);
	vm->mem.size = RAM;
	vm->mem.nr_regions = 1;
	vm->mem.region[0] = (struct l0_mem_region){ 0, RAM, vm->mem.host };
	return 0;
}

static const char *const cmdlines[4] = {
	"console=ttyS0 panic=-1",
	"",
	"root=/dev/vda rw console=ttyS0,115200 earlyprintk=serial,ttyS0 init=/sbin/ooh-init quiet",
	"x",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t initrd_sizes[4] = { 0, 4096, 1u << 20, MAX_INITRD };
	struct l0_x86_boot_options opts = { 0 };
	struct l0_x86_boot_info info;
	struct l0_x86_load_report how;
	uint8_t *kernel;
	size_t initrd_size;
	int err;

	if (size < 1)
		return 0;
	opts.guest_decompress = data[0] & 1;
	initrd_size = initrd_sizes[(data[0] >> 1) & 3];
	vm->nr_vcpus = 1 + ((data[0] >> 3) & 7) * 9; /* 1 .. 64 */
	kernel = malloc(size - 1 ? size - 1 : 1); /* exact size, as mapped from the file */
	CHECK(kernel);
	memcpy(kernel, data + 1, size - 1);
	err = l0_x86_load_image(vm, kernel, size - 1, initrd, initrd_size, cmdlines[data[0] >> 6],
				&opts, &info, &how);
	CHECK(!how.from_cache && (!how.decompressed || !opts.guest_decompress));
	/* a refused image: 65; RAM too small for it: 67; the command line too long for it: 64 */
	CHECK(err == 0 || err == L0_EXIT_BAD_KERNEL || err == L0_EXIT_TOO_LITTLE_MEMORY ||
	      err == L0_EXIT_USAGE);
	if (err == 0) {
		CHECK(info.entry >= L0_X86_KERNEL_ADDR && info.entry < info.kernel_end);
		CHECK(info.kernel_end <= RAM);
		CHECK(info.initrd_size == initrd_size);
		CHECK(!initrd_size || (info.initrd_addr >= info.kernel_end &&
				       info.initrd_addr + initrd_size <= RAM));
		CHECK(info.zero_page == L0_X86_ZERO_PAGE);
	}
	free(kernel);
	return 0;
}
