// SPDX-License-Identifier: MIT
/*
 * The OoH virtual hardware as one device of the device model (device.h):
 * the hypercall port on the port bus, the dirty ring's set-up and its
 * ring-full exits, the harvest gate before KVM_RUN, SPP's traps in RAM,
 * the notification line, the CPUID leaves' contents and the control
 * socket's host view (dirty-start, dirty, dirty-stop).
 */
#include "ooh.h"
#include "../control.h"
#include "../devices.h"
#include "../exit-codes.h"

#include <errno.h>
#include <string.h>

static void hypercall_port_io(void *opaque, struct l0_vcpu *vcpu, uint64_t offset, uint8_t *data,
			      unsigned len, bool is_write)
{
	(void)opaque;
	(void)offset;
	/* A read, or an access without a vCPU, is no hypercall: floating bus. */
	if (!vcpu || !l0_ooh_handle_io(vcpu)) {
		if (!is_write)
			memset(data, 0xff, len);
	}
}

static int ooh_realize(struct l0_device *dev)
{
	struct l0_vm *vm = dev->vm;
	int err = l0_ooh_vm_init(vm);

	if (err)
		return err;
	dev->priv = vm->ooh;
	if (vm->ooh->gsi)
		vm->irqs_used |= 1u << vm->ooh->gsi; /* its notification line */
	vm->ooh_cpuid.features = l0_ooh_features(vm);
	vm->ooh_cpuid.gsi = vm->ooh->gsi;
	if (l0_bus_register(&vm->pio, OOH_HC_PORT, 4, hypercall_port_io, vm->ooh, "ooh-hypercall")) {
		l0_ooh_vm_destroy(vm);
		return L0_EXIT_INTERNAL;
	}
	return 0;
}

static void ooh_destroy(struct l0_device *dev)
{
	l0_ooh_vm_destroy(dev->vm);
}

static int ooh_vcpu_init(struct l0_device *dev, struct l0_vcpu *vcpu)
{
	(void)dev;
	return l0_ooh_vcpu_init(vcpu);
}

static void ooh_before_run(struct l0_device *dev, struct l0_vcpu *vcpu)
{
	(void)dev;
	l0_ooh_vcpu_gate(vcpu); /* waits while a harvest runs */
}

static enum l0_exit_claim ooh_exit(struct l0_device *dev, struct l0_vcpu *vcpu)
{
	(void)dev;
	switch (vcpu->run->exit_reason) {
	case KVM_EXIT_MMIO:
		switch (l0_ooh_spp_mmio(vcpu)) {
		case 1:
			return L0_EXIT_TAKEN; /* a write to an SPP-protected page of RAM */
		case 2:
			return L0_EXIT_REDISPATCH;
		default:
			return L0_EXIT_NOT_MINE;
		}
	case KVM_EXIT_DIRTY_RING_FULL:
		l0_ooh_ring_full(vcpu);
		return L0_EXIT_TAKEN;
	case KVM_EXIT_INTERNAL_ERROR:
		/* an SPP-protected write KVM cannot emulate: reported to the guest */
		return l0_ooh_spp_internal_error(vcpu) ? L0_EXIT_TAKEN : L0_EXIT_NOT_MINE;
	default:
		return L0_EXIT_NOT_MINE;
	}
}

/* A device's DMA: the pages join the next harvest (KVM never saw the writes). */
static void ooh_guest_written(struct l0_device *dev, uint64_t gpa, uint64_t len)
{
	struct l0_ooh *ooh = dev->priv;

	if (len == 0)
		return;
	l0_ooh_lock(ooh, NULL);
	for (uint64_t gfn = gpa / 4096; gfn <= (gpa + len - 1) / 4096; gfn++)
		l0_ooh_note_written(ooh, gfn, -1);
	l0_ooh_unlock(ooh);
}

/*
 * The host's view of the guest's memory (host.c): dirty-start, then dirty
 * every interval (pages the VM dirtied since the previous query), then
 * dirty-stop.
 */
static bool ooh_control(struct l0_device *dev, const char *cmd, struct l0_reply *r)
{
	struct l0_vm *vm = dev->vm;
	struct l0_ooh *ooh = dev->priv;

	if (!strcmp(cmd, "dirty-start")) {
		int err = l0_ooh_host_start(ooh);

		if (err == 0)
			l0_reply_emit(r, "\"ok\":true,\"vm_pages\":%llu",
				      (unsigned long long)(vm->mem.size / 4096));
		else if (err == -ENOTSUP)
			l0_reply_emit(r, "\"ok\":false,\"error\":\"dirty logging unavailable: "
				      "KVM has no dirty ring here\"");
		else
			l0_reply_emit(r, "\"ok\":false,\"error\":\"dirty logging could not start: %s\"",
				      strerror(-err));
	} else if (!strcmp(cmd, "dirty")) {
		uint64_t dirty;

		if (l0_ooh_host_sample(ooh, &dirty) < 0)
			l0_reply_emit(r, "\"ok\":false,\"error\":\"not monitoring: send dirty-start first\"");
		else
			l0_reply_emit(r, "\"ok\":true,\"dirty_pages\":%llu,\"uptime_ms\":%llu",
				      (unsigned long long)dirty, (unsigned long long)l0_vm_uptime_ms(vm));
	} else if (!strcmp(cmd, "dirty-stop")) {
		l0_ooh_host_stop(ooh);
		l0_reply_emit(r, "\"ok\":true");
	} else {
		return false;
	}
	return true;
}

static void ooh_describe(struct l0_device *dev, struct l0_reply *r)
{
	struct l0_ooh *ooh = dev->priv;
	struct ooh_hv_stats stats;
	unsigned long long hypercalls = 0;

	l0_ooh_lock(ooh, NULL);
	l0_ooh_get_stats(ooh, &stats);
	l0_ooh_unlock(ooh);
	for (int op = 0; op < OOH_HC_NR_OPS; op++)
		hypercalls += stats.hypercalls[op];
	l0_reply_emit(r, ",\"features\":%u,\"dirty_ring\":%s,\"notify_irq\":%u,\"hypercalls\":%llu,"
		      "\"bad_hypercalls\":%llu,\"harvests\":%llu,\"ring_full_exits\":%llu,"
		      "\"spp_pages\":%llu",
		      l0_ooh_features(dev->vm), ooh->has_ring ? "true" : "false", ooh->gsi, hypercalls,
		      (unsigned long long)stats.bad_hypercalls, (unsigned long long)stats.harvests,
		      (unsigned long long)stats.ring_full_exits, (unsigned long long)stats.spp_pages);
}

const struct l0_device_ops l0_ooh_device = {
	.name = "ooh",
	.realize = ooh_realize,
	.destroy = ooh_destroy,
	.vcpu_init = ooh_vcpu_init,
	.before_run = ooh_before_run,
	.exit = ooh_exit,
	.guest_written = ooh_guest_written,
	.control = ooh_control,
	.describe = ooh_describe,
};
