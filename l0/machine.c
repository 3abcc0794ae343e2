// SPDX-License-Identifier: MIT
/*
 * Building a VM from its parts (KVM, memory, arch set-up, devices, vCPUs),
 * the run loop and tearing it down. The calling thread becomes the VM's
 * event loop (console input, control socket, signals, timeout, halt
 * detection); each vCPU has its own thread (vcpu.c).
 */
#include "machine.h"
#include "control.h"
#include "exit-codes.h"
#include "devices.h"
#include "exit-port.h"
#include "vcpu.h"
#include "x86/x86.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

void l0_vm_config_defaults(struct l0_vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = 256ull << 20;
	cfg->nr_cpus = 1;
	cfg->numa_node = -1;
	cfg->irqchip = true;
	cfg->console_out_fd = STDOUT_FILENO;
	cfg->console_in_fd = -1;
	cfg->halt_check_ms = 250;
	l0_vm_config_add_device(cfg, &l0_ooh_device, NULL);
}

int l0_vm_config_add_device(struct l0_vm_config *cfg, const struct l0_device_ops *ops,
			    const char *arg)
{
	if (cfg->nr_devices == L0_MAX_DEVICES)
		return -1;
	cfg->devices[cfg->nr_devices++] = (struct l0_device_spec){ ops, arg };
	return 0;
}

static int open_kvm(struct l0_vm *vm)
{
	const char *path = vm->cfg.kvm_path ? vm->cfg.kvm_path : "/dev/kvm";
	int version;

	vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		fprintf(stderr, "ooh-l0: cannot open %s: %s (is KVM available to this user?)\n",
			path, strerror(errno));
		return L0_EXIT_NO_KVM;
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		fprintf(stderr, "ooh-l0: %s: KVM API version %d, need %d\n", path, version,
			KVM_API_VERSION);
		return L0_EXIT_NO_KVM;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		fprintf(stderr, "ooh-l0: KVM_CREATE_VM: %s\n", strerror(errno));
		return L0_EXIT_NO_KVM;
	}
	vm->run_size = (size_t)ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if ((long)vm->run_size <= 0) {
		fprintf(stderr, "ooh-l0: KVM_GET_VCPU_MMAP_SIZE: %s\n", strerror(errno));
		return L0_EXIT_NO_KVM;
	}
	return 0;
}

static int register_memory(struct l0_vm *vm)
{
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		struct kvm_userspace_memory_region region = {
			.slot = (uint32_t)i,
			.guest_phys_addr = vm->mem.region[i].gpa,
			.memory_size = vm->mem.region[i].size,
			.userspace_addr = (uintptr_t)vm->mem.region[i].host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			fprintf(stderr, "ooh-l0: KVM_SET_USER_MEMORY_REGION: %s\n", strerror(errno));
			return L0_EXIT_INTERNAL;
		}
	}
	return 0;
}

struct l0_vm *l0_vm_create(const struct l0_vm_config *cfg, int *exit_code)
{
	struct l0_vm *vm = calloc(1, sizeof(*vm));
	int err;

	if (!vm) {
		*exit_code = L0_EXIT_INTERNAL;
		return NULL;
	}
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->wake_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	l0_bus_init(&vm->pio, "pio");
	l0_bus_init(&vm->mmio, "mmio");
	vm->set_irq = cfg->irqchip ? l0_x86_set_irq_line : NULL;
	vm->irqs_used = 1u << L0_SERIAL_COM1_IRQ;
	l0_serial_init(&vm->serial, cfg->console_out_fd, L0_SERIAL_COM1_IRQ,
		       cfg->irqchip ? l0_x86_set_irq_line : NULL, vm);

	err = L0_EXIT_USAGE;
	if (cfg->nr_cpus < 1 || cfg->nr_cpus > L0_MAX_VCPUS) {
		fprintf(stderr, "ooh-l0: --cpus must be 1..%d\n", L0_MAX_VCPUS);
		goto fail;
	}
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = L0_EXIT_INTERNAL;
	if (vm->wake_fd < 0)
		goto fail;
	err = open_kvm(vm);
	if (err)
		goto fail;
	vm->on_kvm_pvm = l0_x86_host_is_kvm_pvm();
	l0_kvm_stats_init(&vm->kvm_stats, vm->vm_fd, vm->vm_fd);
	err = l0_memory_init(&vm->mem, cfg->mem_size, cfg->hugepages, cfg->numa_node);
	if (err)
		goto fail;
	err = register_memory(vm);
	if (err)
		goto fail;
	err = l0_x86_vm_init(vm);
	if (err)
		goto fail;
	/* before any vCPU: KVM's dirty ring (the OoH device) needs that */
	for (int i = 0; i < cfg->nr_devices; i++) {
		err = l0_device_add(&vm->devices, vm, cfg->devices[i].ops, cfg->devices[i].arg);
		if (err)
			goto fail;
	}
	err = l0_x86_cpuid_finish(vm);
	if (err)
		goto fail;

	err = L0_EXIT_INTERNAL;
	if (l0_exit_port_register(vm) ||
	    l0_bus_register(&vm->pio, L0_SERIAL_COM1_BASE, 8, l0_serial_io, &vm->serial, "com1") ||
	    l0_x86_legacy_register(vm)) {
		fprintf(stderr, "ooh-l0: cannot register devices\n");
		goto fail;
	}
	for (int i = 0; i < cfg->nr_cpus; i++) {
		err = l0_vcpu_create(vm, i);
		if (err)
			goto fail;
	}
	return vm;
fail:
	*exit_code = err;
	l0_vm_destroy(vm);
	return NULL;
}

static void stop_vcpu_threads(struct l0_vm *vm)
{
	atomic_store(&vm->stopping, true);
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (int i = 0; i < vm->nr_vcpus; i++)
		l0_vcpu_kick(&vm->vcpu[i]);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpu[i].thread_started) {
			if (vm->cfg.verbose)
				fprintf(stderr, "ooh-l0: waiting for vCPU %d thread\n", i);
			pthread_join(vm->vcpu[i].thread, NULL);
			vm->vcpu[i].thread_started = false;
		}
	}
}

void l0_vm_destroy(struct l0_vm *vm)
{
	if (!vm)
		return;
	stop_vcpu_threads(vm);
	l0_devices_destroy(&vm->devices);
	for (int i = 0; i < vm->nr_vcpus; i++)
		l0_vcpu_destroy(&vm->vcpu[i]);
	l0_kvm_stats_close(&vm->kvm_stats);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	l0_memory_free(&vm->mem);
	l0_serial_destroy(&vm->serial);
	free(vm->cpuid);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

/* With the in-kernel irqchip HLT never reaches us, so ask each vCPU. */
static void check_halted_for_good(struct l0_vm *vm)
{
	bool all = true;

	for (int i = 0; i < vm->nr_vcpus; i++)
		all = all && atomic_load(&vm->vcpu[i].halted_for_good);
	if (all) {
		/* where: a guest that meant to power off, or one that gave up early */
		for (int i = 0; i < vm->nr_vcpus; i++)
			fprintf(stderr, "ooh-l0: vCPU %d halted at rip %#llx%s\n", i,
				(unsigned long long)vm->vcpu[i].halt_rip,
				vm->vcpu[i].halt_rip ? "" : " (never started or stopped)");
		l0_vm_request_stop(vm, L0_STOP_HALT, 0, "guest halted (all vCPUs stopped with interrupts off)");
		return;
	}
	for (int i = 0; i < vm->nr_vcpus; i++) {
		atomic_store(&vm->vcpu[i].check_halt, true);
		l0_vcpu_kick(&vm->vcpu[i]);
	}
}

static void read_console_input(struct l0_vm *vm)
{
	uint8_t buf[L0_SERIAL_FIFO_SIZE];
	unsigned space = l0_serial_rx_space(&vm->serial);
	ssize_t n;

	if (space == 0)
		return;
	n = read(vm->cfg.console_in_fd, buf, space);
	if (n > 0)
		l0_serial_receive(&vm->serial, buf, (unsigned)n);
	else if (n == 0)
		vm->cfg.console_in_fd = -1; /* EOF: stop watching */
}

static void handle_signal_fd(struct l0_vm *vm, int fd)
{
	struct signalfd_siginfo info;

	if (read(fd, &info, sizeof(info)) == (ssize_t)sizeof(info))
		l0_vm_request_stop(vm, L0_STOP_SIGNAL, L0_EXIT_SIGNAL_BASE + (int)info.ssi_signo,
				   "stopped by signal %u (%s)", info.ssi_signo,
				   strsignal((int)info.ssi_signo));
}

enum { POLL_WAKE, POLL_SIGNAL, POLL_CONSOLE, POLL_CONTROL, POLL_MAX = POLL_CONTROL + L0_CONTROL_MAX_FDS };

int l0_vm_run(struct l0_vm *vm, const struct l0_run_options *opts)
{
	const struct l0_run_options none = { 0, -1, NULL };
	uint64_t next_halt_check;
	int halt_check_ms = vm->cfg.halt_check_ms > 0 ? vm->cfg.halt_check_ms : 250;

	if (!opts)
		opts = &none;
	clock_gettime(CLOCK_MONOTONIC, &vm->started);
	vm->running = true;
	next_halt_check = (uint64_t)halt_check_ms;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		if (l0_vcpu_start(&vm->vcpu[i]) != 0) {
			l0_vm_request_stop(vm, L0_STOP_INTERNAL, L0_EXIT_INTERNAL,
					   "cannot start vCPU %d thread", i);
			break;
		}
	}

	while (!atomic_load(&vm->stopping)) {
		struct pollfd fds[POLL_MAX];
		uint64_t now = l0_vm_uptime_ms(vm);
		int64_t wait_ms = vm->cfg.irqchip ? (int64_t)(next_halt_check - now) : 1000;
		int nr_control = 0;

		if (opts->timeout_ms > 0) {
			if (now >= (uint64_t)opts->timeout_ms) {
				l0_vm_request_stop(vm, L0_STOP_TIMEOUT, L0_EXIT_TIMEOUT,
					"timeout: guest still running after %d.%03d s%s",
					opts->timeout_ms / 1000, opts->timeout_ms % 1000,
					vm->on_kvm_pvm ? " (host KVM is kvm_pvm, where a stock Linux kernel "
					"does not boot: it hangs early, a bzImage in its decompressor; "
					"use the nested rig)" : "");
				break;
			}
			if ((int64_t)(opts->timeout_ms - now) < wait_ms)
				wait_ms = (int64_t)(opts->timeout_ms - now);
		}
		if (vm->cfg.irqchip && now >= next_halt_check) {
			if (!atomic_load(&vm->paused))
				check_halted_for_good(vm);
			next_halt_check = now + (uint64_t)halt_check_ms;
			continue;
		}
		if (wait_ms < 0)
			wait_ms = 0;

		for (int i = 0; i < POLL_MAX; i++)
			fds[i] = (struct pollfd){ .fd = -1 };
		fds[POLL_WAKE] = (struct pollfd){ .fd = vm->wake_fd, .events = POLLIN };
		fds[POLL_SIGNAL] = (struct pollfd){ .fd = opts->signal_fd, .events = POLLIN };
		if (vm->cfg.console_in_fd >= 0 && l0_serial_rx_space(&vm->serial) > 0)
			fds[POLL_CONSOLE] = (struct pollfd){ .fd = vm->cfg.console_in_fd, .events = POLLIN };
		if (opts->control)
			nr_control = l0_control_fill_pollfds(opts->control, &fds[POLL_CONTROL],
							     L0_CONTROL_MAX_FDS);
		if (poll(fds, (nfds_t)(POLL_CONTROL + nr_control), (int)wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			l0_vm_request_stop(vm, L0_STOP_INTERNAL, L0_EXIT_INTERNAL, "poll: %s",
					   strerror(errno));
			break;
		}
		if (fds[POLL_WAKE].revents) {
			uint64_t count;
			if (read(vm->wake_fd, &count, sizeof(count)) < 0) {
				/* nothing pending: fine */
			}
		}
		if (fds[POLL_SIGNAL].revents)
			handle_signal_fd(vm, opts->signal_fd);
		if (fds[POLL_CONSOLE].revents & (POLLIN | POLLHUP))
			read_console_input(vm);
		if (opts->control)
			l0_control_handle(opts->control, vm, &fds[POLL_CONTROL], nr_control);
	}

	stop_vcpu_threads(vm);
	if (vm->cfg.verbose || (vm->stop_reason != L0_STOP_EXIT_PORT && vm->stop_reason != L0_STOP_HALT &&
				vm->stop_reason != L0_STOP_QUIT))
		fprintf(stderr, "ooh-l0: %s\n", vm->stop_message);
	return vm->exit_code;
}
