// SPDX-License-Identifier: MIT
/*
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): a 4 KiB window
 * of 32-bit registers, device config space at 0x100, one edge-triggered
 * ISA IRQ line. Linux finds it through virtio_mmio.device= on its command
 * line (no device tree or ACPI here).
 */
#include "virtio.h"
#include "../control.h"
#include "../exit-codes.h"
#include "../vm.h"

#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void reset_locked(struct l0_virtio_mmio *t)
{
	t->driver_features = 0;
	t->device_features_sel = 0;
	t->driver_features_sel = 0;
	t->queue_sel = 0;
	t->status = 0;
	t->broken = false;
	t->broken_reason[0] = '\0';
	for (unsigned i = 0; i < L0_VIRTIO_MAX_QUEUES; i++)
		l0_virtq_reset(&t->queue[i]);
	atomic_store(&t->interrupt_status, 0);
	if (t->ops->reset)
		t->ops->reset(t);
}

void l0_eventfd_kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: the counter is at its maximum, the reader wakes anyway */
	}
}

void l0_virtio_mmio_interrupt(struct l0_virtio_mmio *t, uint32_t bits)
{
	uint64_t one = 1;

	atomic_fetch_or(&t->interrupt_status, bits);
	/* an irqfd on an edge line: KVM pulses it, one write instead of two ioctls */
	if (t->irq_fd >= 0 && write(t->irq_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		return;
	l0_vm_set_irq(t->vm, t->irq, 1);
	l0_vm_set_irq(t->vm, t->irq, 0);
}

void l0_virtio_mmio_set_broken(struct l0_virtio_mmio *t, const char *why)
{
	if (t->broken)
		return;
	t->broken = true;
	t->nr_broken++;
	snprintf(t->broken_reason, sizeof(t->broken_reason), "%s", why);
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* Said once per device (a guest could break it in a loop), always with --verbose. */
	if (t->nr_broken == 1 || t->vm->cfg.verbose)
		fprintf(stderr, "ooh-l0: %s: driver error (%s); device needs a reset\n", t->name,
			why);
	/* Only once the driver is running does it listen for the config interrupt. */
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		l0_virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_CONFIG);
}

void l0_virtio_note_written(struct l0_virtio_mmio *t, unsigned queue,
			    const struct l0_virtq_chain *chain, size_t written)
{
	const struct l0_virtq *vq = &t->queue[queue];

	for (unsigned i = 0; chain && i < chain->nr_in && written; i++) {
		const struct iovec *iov = &chain->iov[chain->nr_out + i];
		size_t n = written < iov->iov_len ? written : iov->iov_len;

		l0_vm_note_written(t->vm, iov->iov_base, n);
		written -= n;
	}
	if (vq->used) /* flags, idx, the ring, avail_event */
		l0_vm_note_written(t->vm, vq->used, 6 + 8 * (size_t)vq->num);
}

bool l0_virtio_mmio_queue_live(const struct l0_virtio_mmio *t, unsigned queue)
{
	const uint32_t live = VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;

	/* FEATURES_OK too: a driver whose features we refused gets no service. */
	return !t->broken && (t->status & live) == live && queue < t->nr_queues &&
	       t->queue[queue].ready;
}

enum l0_virtq_pop_result l0_virtio_pop(struct l0_virtio_mmio *t, unsigned queue,
				       struct l0_virtq_chain *chain)
{
	const char *why = "?";
	enum l0_virtq_pop_result res;

	if (!l0_virtio_mmio_queue_live(t, queue))
		return L0_VIRTQ_EMPTY;
	res = l0_virtq_pop(&t->queue[queue], &t->vm->mem, chain, &why);
	if (res == L0_VIRTQ_BAD)
		l0_virtio_mmio_set_broken(t, why);
	return res;
}

static struct l0_virtq *selected_queue(struct l0_virtio_mmio *t)
{
	return t->queue_sel < t->nr_queues ? &t->queue[t->queue_sel] : NULL;
}

static uint32_t read_register(struct l0_virtio_mmio *t, uint64_t offset)
{
	struct l0_virtq *vq = selected_queue(t);

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return 0x74726976; /* "virt" */
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return L0_VIRTIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->device_features_sel > 1)
			return 0;
		return (uint32_t)(t->device_features >> (32 * t->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? L0_VIRTQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_generation;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return vq ? (uint32_t)vq->desc_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return vq ? (uint32_t)(vq->desc_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		return vq ? (uint32_t)vq->avail_gpa : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		return vq ? (uint32_t)(vq->avail_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		return vq ? (uint32_t)vq->used_gpa : 0;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		return vq ? (uint32_t)(vq->used_gpa >> 32) : 0;
	default:
		return 0; /* write-only or reserved */
	}
}

static void set_low(uint64_t *reg, uint32_t value)
{
	*reg = (*reg & ~0xffffffffull) | value;
}

static void set_high(uint64_t *reg, uint32_t value)
{
	*reg = (*reg & 0xffffffffull) | (uint64_t)value << 32;
}

static void write_status(struct l0_virtio_mmio *t, uint32_t value)
{
	bool going_live;

	if (value == 0) {
		reset_locked(t);
		return;
	}
	/*
	 * FEATURES_OK only for a subset of ours that includes VERSION_1: we
	 * implement no legacy interface. The driver reads Status back and
	 * gives up when the bit did not stick.
	 */
	if ((value & VIRTIO_CONFIG_S_FEATURES_OK) && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    (!(t->driver_features & (1ull << VIRTIO_F_VERSION_1)) ||
	     (t->driver_features & ~t->device_features)))
		value &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	if (t->broken)
		value |= VIRTIO_CONFIG_S_NEEDS_RESET;
	else
		value &= ~VIRTIO_CONFIG_S_NEEDS_RESET;
	going_live = (value & VIRTIO_CONFIG_S_DRIVER_OK) &&
		     !(t->status & VIRTIO_CONFIG_S_DRIVER_OK);
	t->status = value;
	if (going_live && !t->broken && t->ops->driver_ok)
		t->ops->driver_ok(t);
	/* Buffers the driver posted before DRIVER_OK (with or without a notify) get looked at. */
	if (going_live && t->ops->notify)
		for (unsigned i = 0; i < t->nr_queues; i++)
			t->ops->notify(t, i);
}

static void write_queue_ready(struct l0_virtio_mmio *t, struct l0_virtq *vq, uint32_t value)
{
	const char *why = "?";

	if (!value) {
		vq->ready = false;
		return;
	}
	if (vq->ready || t->broken)
		return;
	/*
	 * A queue takes EVENT_IDX and indirect descriptors from the negotiated
	 * features: before FEATURES_OK there are none yet (virtio 3.1.1 sets
	 * the queues up after it).
	 */
	if (!(t->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		l0_virtio_mmio_set_broken(t, "QueueReady before FEATURES_OK");
		return;
	}
	if (l0_virtq_activate(vq, &t->vm->mem, t->driver_features, &why))
		l0_virtio_mmio_set_broken(t, why);
}

static void write_register(struct l0_virtio_mmio *t, uint64_t offset, uint32_t value)
{
	struct l0_virtq *vq = selected_queue(t);
	/* A queue's configuration is frozen while it is ready (4.2.2.3). */
	struct l0_virtq *config_vq = vq && !vq->ready ? vq : NULL;

	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = value;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (t->status & VIRTIO_CONFIG_S_FEATURES_OK)
			break;
		if (t->driver_features_sel == 0)
			set_low(&t->driver_features, value);
		else if (t->driver_features_sel == 1)
			set_high(&t->driver_features, value);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = value;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = value;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		/* Too big for 16 bits becomes 0, refused at QueueReady. */
		if (config_vq)
			config_vq->num = value > 0xffff ? 0 : (uint16_t)value;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (vq)
			write_queue_ready(t, vq, value);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(t, value);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		if (config_vq)
			set_low(&config_vq->desc_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (config_vq)
			set_high(&config_vq->desc_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		if (config_vq)
			set_low(&config_vq->avail_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (config_vq)
			set_high(&config_vq->avail_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		if (config_vq)
			set_low(&config_vq->used_gpa, value);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (config_vq)
			set_high(&config_vq->used_gpa, value);
		break;
	default:
		break; /* read-only or reserved: ignored */
	}
}

static void config_access(struct l0_virtio_mmio *t, uint64_t offset, uint8_t *data, unsigned len,
			  bool is_write)
{
	if (is_write)
		return; /* no device of ours has writable config fields */
	memset(data, 0, len);
	if (offset < t->config_size)
		memcpy(data, (const uint8_t *)t->config + offset,
		       len < t->config_size - offset ? len : t->config_size - offset);
}

static void mmio_access(void *opaque, struct l0_vcpu *vcpu, uint64_t offset, uint8_t *data,
			unsigned len, bool is_write)
{
	struct l0_virtio_mmio *t = opaque;
	uint32_t value = 0;

	(void)vcpu;
	if (offset >= VIRTIO_MMIO_CONFIG) {
		pthread_mutex_lock(&t->lock);
		config_access(t, offset - VIRTIO_MMIO_CONFIG, data, len, is_write);
		pthread_mutex_unlock(&t->lock);
		return;
	}
	/* Registers are 32-bit, naturally aligned; anything else reads 0 and writes nothing. */
	if (len != 4 || (offset & 3)) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (is_write)
		memcpy(&value, data, 4);
	/* The hot path without the lock: kicks and interrupt handling. */
	if (is_write && offset == VIRTIO_MMIO_QUEUE_NOTIFY) {
		if (value < t->nr_queues && t->ops->notify)
			t->ops->notify(t, value);
		return;
	}
	if (offset == VIRTIO_MMIO_INTERRUPT_STATUS) {
		if (!is_write) {
			value = atomic_load(&t->interrupt_status);
			memcpy(data, &value, 4);
		}
		return;
	}
	if (offset == VIRTIO_MMIO_INTERRUPT_ACK) {
		if (is_write)
			atomic_fetch_and(&t->interrupt_status, ~value);
		else
			memset(data, 0, 4);
		return;
	}
	pthread_mutex_lock(&t->lock);
	if (is_write) {
		write_register(t, offset, value);
	} else {
		value = read_register(t, offset);
		memcpy(data, &value, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

static int ioeventfd(struct l0_virtio_mmio *t, unsigned queue, int fd, bool assign)
{
	struct kvm_ioeventfd ev = {
		.datamatch = queue,
		.addr = t->base + VIRTIO_MMIO_QUEUE_NOTIFY,
		.len = 4,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(t->vm->vm_fd, KVM_IOEVENTFD, &ev);
}

/*
 * KVM's shortcuts for the two hot paths, where KVM has them (not for a
 * fake VM, nor IRQ lines without the in-kernel irqchip): a QueueNotify
 * signals the device's eventfd in the kernel (ioeventfd) and an interrupt
 * is one eventfd write (irqfd). Without them the MMIO exit and
 * KVM_IRQ_LINE do the same, slower.
 */
static void kvm_shortcuts(struct l0_virtio_mmio *t, bool on)
{
	for (unsigned q = 0; q < t->nr_queues && t->ops->notify_fd; q++) {
		int fd = t->ops->notify_fd(t, q);

		if (on && fd >= 0)
			t->ioeventfd[q] = ioeventfd(t, q, fd, true) == 0;
		else if (!on && t->ioeventfd[q])
			ioeventfd(t, q, fd, false);
	}
	if (on) {
		t->irq_fd = -1;
		if (t->vm->set_irq) {
			int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = (uint32_t)t->irq };

			if (fd >= 0 && ioctl(t->vm->vm_fd, KVM_IRQFD, &irqfd) == 0)
				t->irq_fd = fd;
			else if (fd >= 0)
				close(fd);
		}
		if (t->vm->cfg.verbose)
			fprintf(stderr, "ooh-l0: %s: ioeventfd %s, irqfd %s\n", t->name,
				t->ioeventfd[0] ? "on" : "off", t->irq_fd >= 0 ? "on" : "off");
	} else if (t->irq_fd >= 0) {
		struct kvm_irqfd irqfd = { .fd = t->irq_fd, .gsi = (uint32_t)t->irq,
					   .flags = KVM_IRQFD_FLAG_DEASSIGN };

		ioctl(t->vm->vm_fd, KVM_IRQFD, &irqfd);
		close(t->irq_fd);
		t->irq_fd = -1;
	}
}

int l0_virtio_mmio_init(struct l0_virtio_mmio *t)
{
	t->base = l0_vm_mmio_alloc(t->vm, L0_VIRTIO_MMIO_SIZE);
	t->irq = l0_vm_irq_alloc(t->vm);
	if (!t->base || t->irq < 0) {
		fprintf(stderr, "ooh-l0: %s: no MMIO window or IRQ line left\n", t->name);
		return L0_EXIT_USAGE;
	}
	pthread_mutex_init(&t->lock, NULL);
	atomic_init(&t->interrupt_status, 0);
	for (unsigned i = 0; i < L0_VIRTIO_MAX_QUEUES; i++)
		l0_virtq_reset(&t->queue[i]);
	if (l0_bus_register(&t->vm->mmio, t->base, L0_VIRTIO_MMIO_SIZE, mmio_access, t, t->name)) {
		fprintf(stderr, "ooh-l0: %s: cannot claim MMIO 0x%llx\n", t->name,
			(unsigned long long)t->base);
		pthread_mutex_destroy(&t->lock);
		return L0_EXIT_INTERNAL;
	}
	kvm_shortcuts(t, true);
	return 0;
}

void l0_virtio_mmio_destroy(struct l0_virtio_mmio *t)
{
	kvm_shortcuts(t, false);
	pthread_mutex_destroy(&t->lock);
}

void l0_virtio_mmio_describe(struct l0_virtio_mmio *t, struct l0_reply *r)
{
	unsigned long broken;

	pthread_mutex_lock(&t->lock);
	broken = t->nr_broken;
	pthread_mutex_unlock(&t->lock);
	l0_reply_emit(r, ",\"mmio\":\"0x%llx\",\"irq\":%d,\"ioeventfd\":%s,\"irqfd\":%s,\"broken\":%lu",
		      (unsigned long long)t->base, t->irq, t->ioeventfd[0] ? "true" : "false",
		      t->irq_fd >= 0 ? "true" : "false", broken);
}

int l0_virtio_mmio_cmdline(const struct l0_virtio_mmio *t, char *buf, size_t size)
{
	return snprintf(buf, size, "virtio_mmio.device=4K@0x%llx:%d", (unsigned long long)t->base,
			t->irq);
}
