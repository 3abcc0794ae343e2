// SPDX-License-Identifier: MIT
/*
 * The state every part of a running VM shares (vm.h): why it stops, pause
 * and resume, kicking a vCPU out of KVM_RUN, uptime. Building and running a
 * VM is machine.c; this file calls nothing above it, so devices, vCPU
 * threads and arch code can all use it.
 */
#include "vm.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

const char *l0_stop_reason_name(enum l0_stop_reason reason)
{
	static const char *const names[] = {
		[L0_STOP_NONE] = "running",       [L0_STOP_EXIT_PORT] = "exit-port",
		[L0_STOP_HALT] = "halted",        [L0_STOP_RESET] = "reset",
		[L0_STOP_SIGNAL] = "signal",      [L0_STOP_TIMEOUT] = "timeout",
		[L0_STOP_QUIT] = "quit",          [L0_STOP_GUEST_FAULT] = "guest-fault",
		[L0_STOP_INTERNAL] = "internal-error",
	};
	if ((unsigned)reason < sizeof(names) / sizeof(names[0]))
		return names[reason];
	return "?";
}

static void wake_run_loop(struct l0_vm *vm)
{
	uint64_t one = 1;

	if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
		/* eventfd only fails when its counter would overflow: already awake */
	}
}

void l0_vm_request_stop(struct l0_vm *vm, enum l0_stop_reason reason, int exit_code,
			const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (vm->stop_reason != L0_STOP_NONE) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	vm->stop_reason = reason;
	vm->exit_code = exit_code;
	va_start(ap, fmt);
	vsnprintf(vm->stop_message, sizeof(vm->stop_message), fmt, ap);
	va_end(ap);
	atomic_store(&vm->stopping, true);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);

	for (int i = 0; i < vm->nr_vcpus; i++)
		l0_vcpu_kick(&vm->vcpu[i]);
	wake_run_loop(vm);
}

void l0_vcpu_kick(struct l0_vcpu *vcpu)
{
	if (!vcpu->run)
		return;
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, L0_KICK_SIGNAL);
}

static uint64_t ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start->tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - start->tv_nsec) / 1000000);
}

uint64_t l0_vm_uptime_ms(const struct l0_vm *vm)
{
	return vm->running ? ms_since(&vm->started) : 0;
}

int l0_vm_pause(struct l0_vm *vm)
{
	if (atomic_load(&vm->stopping))
		return -1;
	atomic_store(&vm->paused, true);
	for (int i = 0; i < vm->nr_vcpus; i++)
		l0_vcpu_kick(&vm->vcpu[i]);
	pthread_mutex_lock(&vm->lock);
	while (vm->nr_parked < vm->nr_vcpus && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	return atomic_load(&vm->stopping) ? -1 : 0;
}

int l0_vm_resume(struct l0_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	atomic_store(&vm->paused, false);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* Device MMIO windows: in the hole, below the IOAPIC (0xfec00000). */
#define L0_DEVICE_MMIO_BASE  0xd0000000ull
#define L0_DEVICE_MMIO_LIMIT 0xfe000000ull

/* ISA lines no legacy device drives (4: COM1, 8: RTC; 10: the OoH device's). */
static const int free_isa_irqs[] = { 5, 6, 7, 9, 11, 12, 14, 15 };

uint64_t l0_vm_mmio_alloc(struct l0_vm *vm, uint64_t size)
{
	uint64_t base = vm->mmio_next ? vm->mmio_next : L0_DEVICE_MMIO_BASE;

	size = (size + 4095) & ~4095ull;
	if (size == 0 || size > L0_DEVICE_MMIO_LIMIT - base)
		return 0;
	vm->mmio_next = base + size;
	return base;
}

int l0_vm_irq_alloc(struct l0_vm *vm)
{
	for (size_t i = 0; i < sizeof(free_isa_irqs) / sizeof(free_isa_irqs[0]); i++) {
		int irq = free_isa_irqs[i];

		if (!(vm->irqs_used & (1u << irq))) {
			vm->irqs_used |= 1u << irq;
			return irq;
		}
	}
	return -1;
}

void l0_vm_set_irq(struct l0_vm *vm, int irq, int level)
{
	if (vm->set_irq)
		vm->set_irq(vm, irq, level);
}

void l0_vm_note_written(struct l0_vm *vm, const void *host, size_t len)
{
	uint64_t gpa;

	if (len && l0_host_to_gpa(&vm->mem, host, len, &gpa))
		l0_devices_guest_written(&vm->devices, gpa, len);
}
