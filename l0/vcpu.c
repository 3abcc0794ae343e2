// SPDX-License-Identifier: MIT
/*
 * One thread per vCPU: KVM_RUN and exit dispatch. The thread leaves
 * KVM_RUN when kicked (SIGUSR1 + immediate_exit) to stop, pause or answer
 * the halt check.
 */
#include "vcpu.h"
#include "device.h"
#include "exit-codes.h"
#include "x86/x86.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int l0_vcpu_create(struct l0_vm *vm, int id)
{
	struct l0_vcpu *vcpu = &vm->vcpu[id];

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0) {
		fprintf(stderr, "ooh-l0: KVM_CREATE_VCPU %d: %s\n", id, strerror(errno));
		return L0_EXIT_INTERNAL;
	}
	vm->nr_vcpus = id + 1;
	/* now: later KVM_RUN would make it wait */
	l0_kvm_stats_init(&vcpu->kvm_stats, vm->vm_fd, vcpu->fd);
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		fprintf(stderr, "ooh-l0: mmap kvm_run: %s\n", strerror(errno));
		return L0_EXIT_INTERNAL;
	}
	if (l0_devices_vcpu_init(&vm->devices, vcpu) != 0)
		return L0_EXIT_INTERNAL;
	return l0_x86_vcpu_init(vcpu);
}

void l0_vcpu_destroy(struct l0_vcpu *vcpu)
{
	l0_kvm_stats_close(&vcpu->kvm_stats);
	if (vcpu->run)
		munmap(vcpu->run, vcpu->vm->run_size);
	if (vcpu->fd > 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void handle_io(struct l0_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned size = run->io.size;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint64_t span = (uint64_t)size * run->io.count;

	/* data_offset and count come from KVM, but check they stay in the page. */
	if ((size != 1 && size != 2 && size != 4) || run->io.data_offset > vcpu->vm->run_size ||
	    span > vcpu->vm->run_size - run->io.data_offset) {
		l0_vm_request_stop(vcpu->vm, L0_STOP_INTERNAL, L0_EXIT_INTERNAL,
				   "vCPU %d: malformed I/O exit", vcpu->id);
		return;
	}
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (!l0_bus_dispatch(&vcpu->vm->pio, vcpu, run->io.port, data, size, is_write) && !is_write)
			memset(data, 0xff, size); /* nothing there: floating bus */
	}
}

static void handle_exit(struct l0_vcpu *vcpu);

/* Offers an exit no bus took to the devices; true if one handled it. */
static bool devices_took(struct l0_vcpu *vcpu)
{
	switch (l0_devices_exit(&vcpu->vm->devices, vcpu)) {
	case L0_EXIT_TAKEN:
		return true;
	case L0_EXIT_REDISPATCH:
		handle_exit(vcpu); /* the exit that followed the one handled */
		return true;
	default:
		return false;
	}
}

static void handle_mmio(struct l0_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len = run->mmio.len;

	if (len >= 1 && len <= 8 &&
	    l0_bus_dispatch(&vcpu->vm->mmio, vcpu, run->mmio.phys_addr, run->mmio.data, len,
			    run->mmio.is_write))
		return;
	/* not a device register: a device's trap in RAM (OoH SPP), or nothing */
	if (!devices_took(vcpu)) {
		l0_vm_request_stop(vcpu->vm, L0_STOP_GUEST_FAULT, L0_EXIT_GUEST_FAULT,
				   "guest fault: vCPU %d %s %u bytes at unmapped guest physical address 0x%llx",
				   vcpu->id, run->mmio.is_write ? "wrote" : "read", len,
				   (unsigned long long)run->mmio.phys_addr);
	}
}

/* Wait while paused (or, with no irqchip, halted for good) until resumed or stopped. */
static void park(struct l0_vcpu *vcpu, bool halted)
{
	struct l0_vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->lock);
	vcpu->parked = true;
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->cond);
	while (!atomic_load(&vm->stopping) && (halted || atomic_load(&vm->paused)))
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->nr_parked--;
	vcpu->parked = false;
	pthread_mutex_unlock(&vm->lock);
}

/* HLT exit without an irqchip: nothing can ever wake this vCPU. */
static void handle_hlt(struct l0_vcpu *vcpu)
{
	struct l0_vm *vm = vcpu->vm;
	bool all = true;

	atomic_store(&vcpu->halted_for_good, true);
	for (int i = 0; i < vm->nr_vcpus; i++)
		all = all && atomic_load(&vm->vcpu[i].halted_for_good);
	if (all)
		l0_vm_request_stop(vm, L0_STOP_HALT, 0, "guest halted");
	park(vcpu, true);
}

static void handle_system_event(struct l0_vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		l0_vm_request_stop(vcpu->vm, L0_STOP_HALT, 0, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		l0_vm_request_stop(vcpu->vm, L0_STOP_RESET, L0_EXIT_GUEST_RESET, "guest reset");
		break;
	default:
		l0_vm_request_stop(vcpu->vm, L0_STOP_GUEST_FAULT, L0_EXIT_GUEST_FAULT,
				   "guest crashed (system event %u)", vcpu->run->system_event.type);
	}
}

static void handle_exit(struct l0_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct l0_vm *vm = vcpu->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		break;
	case KVM_EXIT_HLT:
		handle_hlt(vcpu);
		break;
	case KVM_EXIT_INTR:
		break;
	case KVM_EXIT_SHUTDOWN:
		l0_x86_dump_vcpu(vcpu, stderr);
		l0_vm_request_stop(vm, L0_STOP_RESET, L0_EXIT_GUEST_RESET,
				   "guest reset: vCPU %d triple fault (or shutdown)", vcpu->id);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		if (devices_took(vcpu))
			break; /* e.g. a write into OoH SPP that KVM cannot emulate */
		l0_x86_dump_vcpu(vcpu, stderr);
		l0_vm_request_stop(vm, L0_STOP_GUEST_FAULT, L0_EXIT_GUEST_FAULT,
				   "guest fault: vCPU %d KVM internal error, suberror %u",
				   vcpu->id, run->internal.suberror);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		l0_vm_request_stop(vm, L0_STOP_GUEST_FAULT, L0_EXIT_GUEST_FAULT,
				   "guest fault: vCPU %d entry failed, reason 0x%llx", vcpu->id,
				   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	default: /* e.g. KVM_EXIT_DIRTY_RING_FULL, for the device that enabled the ring */
		if (devices_took(vcpu))
			break;
		l0_vm_request_stop(vm, L0_STOP_INTERNAL, L0_EXIT_INTERNAL,
				   "vCPU %d: unhandled KVM exit reason %u", vcpu->id, run->exit_reason);
	}
}

static void answer_halt_check(struct l0_vcpu *vcpu)
{
	bool halted = false;

	if (!atomic_exchange(&vcpu->check_halt, false))
		return;
	if (l0_x86_vcpu_halted_for_good(vcpu, &halted) == 0) {
		if (vcpu->vm->cfg.verbose && halted != atomic_load(&vcpu->halted_for_good))
			fprintf(stderr, "ooh-l0: vCPU %d %s\n", vcpu->id,
				halted ? "halted for good" : "running again");
		atomic_store(&vcpu->halted_for_good, halted);
	}
}

static void *vcpu_thread(void *arg)
{
	struct l0_vcpu *vcpu = arg;
	struct l0_vm *vm = vcpu->vm;
	char name[16];

	/* QEMU's name: kvm_stat, perf kvm and bcc's kvmexit find vCPUs by it */
	snprintf(name, sizeof(name), "CPU %d/KVM", vcpu->id);
	pthread_setname_np(pthread_self(), name);

	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->paused)) {
			park(vcpu, false);
			continue;
		}
		l0_devices_before_run(&vm->devices, vcpu); /* e.g. the OoH harvest gate */
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			int err = errno;

			__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			if (err == EINTR || err == EAGAIN) {
				answer_halt_check(vcpu);
				continue;
			}
			l0_vm_request_stop(vm, L0_STOP_INTERNAL, L0_EXIT_INTERNAL,
					   "vCPU %d: KVM_RUN: %s", vcpu->id, strerror(err));
			break;
		}
		atomic_fetch_add(&vcpu->nr_exits, 1);
		if (atomic_load(&vcpu->halted_for_good) && vm->cfg.irqchip)
			atomic_store(&vcpu->halted_for_good, false); /* it ran again */
		handle_exit(vcpu);
		answer_halt_check(vcpu);
	}
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN */
}

int l0_vcpu_start(struct l0_vcpu *vcpu)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigset_t set;

	/* Process-wide but idempotent: every VM installs the same no-op handler. */
	sigemptyset(&sa.sa_mask);
	sigaction(L0_KICK_SIGNAL, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, L0_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu) != 0)
		return -1;
	vcpu->thread_started = true;
	return 0;
}
