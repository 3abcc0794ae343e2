// SPDX-License-Identifier: MIT
/*
 * Reading a vCPU's control state: its paging mode (the OoH devices need
 * it), and its registers when a guest dies (triple fault, KVM internal
 * error), on stderr: where it died and with which page tables, so that a
 * crash can be told apart as the guest's, ours or the host's (the nested
 * rig's TCG emulation has its own). Read-only: nothing here changes a vCPU.
 */
#include "x86.h"

#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>

bool l0_x86_vcpu_paging_5level(struct l0_vcpu *vcpu)
{
	struct kvm_sregs s;

	/* unreadable: say yes, so that EPML is refused rather than wrong */
	return ioctl(vcpu->fd, KVM_GET_SREGS, &s) != 0 || (s.cr4 & (1ull << 12));
}

void l0_x86_dump_vcpu(struct l0_vcpu *vcpu, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_vcpu_events ev;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) || ioctl(vcpu->fd, KVM_GET_SREGS, &s)) {
		fprintf(out, "ooh-l0: vCPU %d: cannot read its registers\n", vcpu->id);
		return;
	}
	if (r.rip == 0xfff0 && s.cs.selector == 0xf000) {
		/* kvm-amd reinitializes the VMCB at a shutdown intercept */
		fprintf(out, "ooh-l0: vCPU %d: state already reset by KVM (AMD host): "
			"no registers of the crash\n", vcpu->id);
		return;
	}
	fprintf(out,
		"ooh-l0: vCPU %d state: rip %#llx rsp %#llx rflags %#llx cs %#x ss %#x\n"
		"ooh-l0:   cr0 %#llx cr2 %#llx cr3 %#llx cr4 %#llx efer %#llx\n"
		"ooh-l0:   gs base %#llx fs base %#llx idt %#llx+%#x tr %#x\n",
		vcpu->id, r.rip, r.rsp, r.rflags, s.cs.selector, s.ss.selector,
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
		s.gs.base, s.fs.base, s.idt.base, s.idt.limit, s.tr.selector);
	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) == 0)
		fprintf(out, "ooh-l0:   pending exception %s nr %u error %#x, nmi %s\n",
			ev.exception.injected ? "yes" : "no", ev.exception.nr,
			ev.exception.error_code, ev.nmi.injected ? "injected" : "no");
}
