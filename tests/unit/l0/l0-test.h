/* SPDX-License-Identifier: MIT */
/* Helpers shared by the ooh-l0 unit tests (micro-guests, running ooh-l0). */
#ifndef L0_TEST_H
#define L0_TEST_H

#include "machine.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define L0T_LOAD_ADDR   0x10000ull   /* micro-guests are loaded here */
#define L0T_MEM         (4ull << 20)

/* Contents of l0-guests/NAME.bin next to the test binary; aborts if missing. */
uint8_t *l0t_guest_image(const char *name, size_t *size);

/* A VM for micro-guests: 4 MiB, one vCPU, serial output to console_fd. */
struct l0_vm *l0t_vm(bool irqchip, int console_fd);
/* Load NAME at L0T_LOAD_ADDR and point vCPU 0 at it (real: CS=0x1000 IP=0). */
void l0t_load_real(struct l0_vm *vm, const char *name);
void l0t_load_long(struct l0_vm *vm, const char *name);
/* Run to the end (or timeout_ms); returns the exit code l0_vm_run gives. */
int l0t_run(struct l0_vm *vm, int timeout_ms);

/* A VM run on a thread of its own, serving a control socket (20 s at most). */
struct l0t_runner {
	struct l0_vm *vm;
	struct l0_control *control;
	int result;
};

/* pthread start routine: l0_vm_run(r->vm) into r->result. */
void *l0t_run_thread(void *runner);

/* Directory holding ooh-l0: $OOH_BIN_DIR, else <test binary dir>/../bin. */
const char *l0t_bin_dir(void);

/* A minimal bzImage (protocol 2.15, 64-bit) whose startup_64 is code. */
uint8_t *l0t_bzimage(const uint8_t *code, size_t code_size, size_t *size);
/* A minimal x86-64 ELF "vmlinux": one PT_LOAD of code (+ bss) at L0T_ELF_ADDR, entry there. */
#define L0T_ELF_ADDR 0x100200ull
uint8_t *l0t_elf(const uint8_t *code, size_t code_size, uint64_t bss, size_t *size);
/* Writes such an ELF with micro-guest NAME (bz-*) as its code; returns its path. */
const char *l0t_make_elf(const char *name);
/* Writes a minimal bzImage whose startup_64 is micro-guest NAME (bz-*); returns its path. */
const char *l0t_make_bzimage(const char *name);

struct l0t_result {
	int status;          /* exit status, or 128+signal if killed */
	char out[4096];      /* guest console (stdout) */
	char err[4096];      /* ooh-l0's messages (stderr) */
};
/*
 * Runs ooh-l0 with argv (NULL-terminated, without argv[0]). env_kvm, if not
 * NULL, sets OOH_L0_KVM. If signal_after_ms > 0, sends SIGTERM then.
 */
void l0t_run_ooh_l0(const char *const *args, const char *env_kvm, int signal_after_ms,
		    struct l0t_result *result);

#endif
