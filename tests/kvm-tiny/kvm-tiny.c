// SPDX-License-Identifier: MIT
/*
 * The tiny KVM guest runner: boots guest.S in real mode on a KVM device and
 * records what it printed and computed. Used by ooh-test-kvm-tiny (inside
 * the rig's L1) and by the unit tests (on the machine's own /dev/kvm).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm-tiny.h"

#define TINY_LOAD_ADDR	0x1000
#define TINY_MEM_SIZE	0x4000
#define PORT_TEXT	0x10
#define PORT_RESULT	0x11
#define MAX_EXITS	4096

extern const unsigned char tiny_guest_code[], tiny_guest_code_end[];

static int fail(struct tiny_run *run, const char *what)
{
	snprintf(run->error, sizeof(run->error), "%s: %s", what,
		 strerror(errno));
	return -1;
}

/* Sets up registers for real mode at TINY_LOAD_ADDR, CS base 0. */
static int tiny_setup_vcpu(int vcpu, struct tiny_run *run)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = TINY_LOAD_ADDR, .rflags = 0x2 };

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail(run, "KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail(run, "KVM_SET_SREGS");
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail(run, "KVM_SET_REGS");
	return 0;
}

/* Runs the vCPU until hlt, recording the guest's port output. */
static int tiny_run_vcpu(int vcpu, struct kvm_run *kr, struct tiny_run *run)
{
	for (run->exits = 0; run->exits < MAX_EXITS; run->exits++) {
		unsigned char byte;

		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return fail(run, "KVM_RUN");
		if (kr->exit_reason == KVM_EXIT_HLT) {
			run->halted = 1;
			return 0;
		}
		if (kr->exit_reason != KVM_EXIT_IO ||
		    kr->io.direction != KVM_EXIT_IO_OUT || kr->io.size != 1) {
			snprintf(run->error, sizeof(run->error),
				 "unexpected exit reason %u", kr->exit_reason);
			return -1;
		}
		byte = *((unsigned char *)kr + kr->io.data_offset);
		if (kr->io.port == PORT_TEXT &&
		    run->text_len + 1 < sizeof(run->text))
			run->text[run->text_len++] = (char)byte;
		else if (kr->io.port == PORT_RESULT)
			run->result = byte;
	}
	snprintf(run->error, sizeof(run->error),
		 "no hlt after %d exits", MAX_EXITS);
	return -1;
}

int tiny_boot(const char *device, struct tiny_run *run)
{
	size_t code_len = (size_t)(tiny_guest_code_end - tiny_guest_code);
	struct kvm_userspace_memory_region region;
	struct kvm_run *kr = MAP_FAILED;
	int kvm, vm = -1, vcpu = -1, mmap_size = 0, ret = -1;
	void *mem;

	memset(run, 0, sizeof(*run));
	run->result = -1;
	mem = mmap(NULL, TINY_MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail(run, "mmap guest memory");
	memcpy((char *)mem + TINY_LOAD_ADDR, tiny_guest_code, code_len);

	kvm = open(device, O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fail(run, device);
		goto out;
	}
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fail(run, "KVM_GET_API_VERSION");
		goto out;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fail(run, "KVM_CREATE_VM");
		goto out;
	}
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = TINY_MEM_SIZE,
		.userspace_addr = (unsigned long)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		fail(run, "KVM_SET_USER_MEMORY_REGION");
		goto out;
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		fail(run, "KVM_CREATE_VCPU");
		goto out;
	}
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(*kr)) {
		fail(run, "KVM_GET_VCPU_MMAP_SIZE");
		goto out;
	}
	kr = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (kr == MAP_FAILED) {
		fail(run, "mmap kvm_run");
		goto out;
	}
	if (tiny_setup_vcpu(vcpu, run) == 0)
		ret = tiny_run_vcpu(vcpu, kr, run);
out:
	if (kr != MAP_FAILED)
		munmap(kr, mmap_size);
	if (vcpu >= 0)
		close(vcpu);
	if (vm >= 0)
		close(vm);
	if (kvm >= 0)
		close(kvm);
	munmap(mem, TINY_MEM_SIZE);
	return ret;
}
