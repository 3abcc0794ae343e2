/* SPDX-License-Identifier: MIT */
/*
 * One KVM virtual machine: its RAM, buses, devices, vCPU threads and the
 * record of why it stopped. Everything lives in struct l0_vm, so a process
 * can hold several VMs. The calls here (vm.c) are the ones every part may
 * make; building and running a VM is machine.h.
 */
#ifndef L0_VM_H
#define L0_VM_H

#include "bus.h"
#include "device.h"
#include "kvm-stats.h"
#include "memory.h"
#include "serial.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define L0_MAX_VCPUS 64

struct l0_vm_config {
	uint64_t mem_size;
	int nr_cpus;
	bool hugepages;
	int numa_node;         /* -1: no binding */
	bool irqchip;          /* in-kernel PIC/IOAPIC/LAPIC + PIT (Linux needs them) */
	int console_out_fd;    /* serial output; -1 discards */
	int console_in_fd;     /* serial input; -1 for none */
	const char *kvm_path;  /* NULL: /dev/kvm */
	int halt_check_ms;     /* irqchip only: how often to look for vCPUs halted for good */
	int verbose;             /* 0 quiet, 1 verbose, 2 trace halt checks */
	int nr_devices;          /* devices beyond the legacy ones, realized in order */
	struct l0_device_spec devices[L0_MAX_DEVICES];
};

enum l0_stop_reason {
	L0_STOP_NONE,
	L0_STOP_EXIT_PORT,     /* guest wrote OOH_EXIT_PORT */
	L0_STOP_HALT,          /* every vCPU halted with interrupts off / poweroff */
	L0_STOP_RESET,         /* reboot request or triple fault */
	L0_STOP_SIGNAL,
	L0_STOP_TIMEOUT,
	L0_STOP_QUIT,          /* control socket "quit" */
	L0_STOP_GUEST_FAULT,   /* unmapped memory, KVM internal/emulation error */
	L0_STOP_INTERNAL,      /* host-side failure */
};

const char *l0_stop_reason_name(enum l0_stop_reason reason);

struct l0_vm;

struct l0_vcpu {
	struct l0_vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	atomic_bool thread_started;
	atomic_bool check_halt;     /* run loop asks: are you halted for good? */
	atomic_bool halted_for_good;
	uint64_t halt_rip;		/* where it halted (0: never started), for the report */
	atomic_ulong nr_exits;
	bool parked;                /* under vm->lock */
	struct l0_kvm_stats kvm_stats; /* KVM's own, for kvm-stats (control thread) */
};

struct l0_ooh;

struct l0_vm {
	struct l0_vm_config cfg;
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	struct l0_memory mem;
	struct l0_bus pio;
	struct l0_bus mmio;
	struct l0_serial serial;
	struct kvm_cpuid2 *cpuid;   /* supported CPUID + our leaves, before per-vCPU fixups */
	bool on_kvm_pvm;            /* host KVM is kvm_pvm: Linux guests cannot boot */
	int nr_vcpus;
	struct l0_vcpu vcpu[L0_MAX_VCPUS];

	int wake_fd;                /* eventfd: something for the run loop to look at */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool stopping;
	atomic_bool paused;
	int nr_parked;              /* vCPU threads waiting in pause (under lock) */
	enum l0_stop_reason stop_reason;
	int exit_code;
	char stop_message[256];
	struct timespec started;    /* CLOCK_MONOTONIC at l0_vm_run */
	bool running;
	uint8_t rtc_index;          /* CMOS index register (x86/legacy.c) */
	struct l0_ooh *ooh;         /* OoH virtual hardware (ooh/), NULL if off */
	struct {                    /* what the OoH CPUID leaves advertise (x86/cpu.c) */
		uint32_t features;  /* OOH_FEAT_* beyond the exit port; set by the OoH device */
		uint32_t gsi;       /* its notification line, 0: none */
	} ooh_cpuid;
	/* The device model (device.h) */
	l0_irq_line_fn set_irq;     /* drives an ISA IRQ line; NULL without irqchip */
	struct l0_device_list devices;
	uint64_t mmio_next;         /* next free MMIO window for devices, 0: none yet */
	uint32_t irqs_used;         /* bit n: ISA IRQ line n belongs to a device */
	struct l0_kvm_stats kvm_stats; /* KVM's own, for kvm-stats (control thread) */
};

/* First caller wins; safe from any thread (not from signal handlers). */
void l0_vm_request_stop(struct l0_vm *vm, enum l0_stop_reason reason, int exit_code,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Pause blocks until every vCPU thread is out of KVM_RUN. 0 or -1. */
int l0_vm_pause(struct l0_vm *vm);
int l0_vm_resume(struct l0_vm *vm);
uint64_t l0_vm_uptime_ms(const struct l0_vm *vm);

/*
 * Resources devices claim in realize (device.h): a window in the MMIO hole
 * (4 KiB aligned; 0 when none is left) and an ISA IRQ line no other device
 * uses (-1 when none is left). l0_vm_set_irq drives a line (a no-op
 * without the in-kernel irqchip); ISA lines are edge-triggered, so a
 * device pulses (1 then 0) to interrupt.
 */
uint64_t l0_vm_mmio_alloc(struct l0_vm *vm, uint64_t size);
int l0_vm_irq_alloc(struct l0_vm *vm);
void l0_vm_set_irq(struct l0_vm *vm, int irq, int level);

/*
 * A device wrote len bytes of guest RAM at host address host (its DMA):
 * tells the devices that track guest writes (OoH), since KVM cannot see
 * them. Call it after the write and before the guest can learn of it (the
 * used ring). Ranges outside guest RAM are ignored.
 */
void l0_vm_note_written(struct l0_vm *vm, const void *host, size_t len);

/* Makes the vCPU leave KVM_RUN soon (SIGUSR1 + immediate_exit). */
#define L0_KICK_SIGNAL SIGUSR1
void l0_vcpu_kick(struct l0_vcpu *vcpu);

#endif
