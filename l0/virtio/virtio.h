/* SPDX-License-Identifier: MIT */
/*
 * virtio for ooh-l0: split virtqueues (queue.c) behind the virtio-mmio
 * version 2 transport (mmio.c); the devices (blk.c, net.c) sit on top.
 *
 * Everything in a virtqueue is written by the guest, which is not trusted:
 * every ring and buffer is looked up with l0_gpa_to_host for its exact
 * length, and a driver that breaks the rules gets its device marked broken
 * (NEEDS_RESET, config interrupt, no more processing until it resets it),
 * never a crash or an access outside guest RAM.
 *
 * Locking: one mutex per transport covers its registers and its queues.
 * A device's worker thread holds it while it processes a queue (I/O
 * included), so a reset from a vCPU never races a request in flight.
 * QueueNotify and the interrupt registers take no lock: a notify only
 * kicks the worker.
 */
#ifndef L0_VIRTIO_H
#define L0_VIRTIO_H

#include "../device.h"
#include "../devices.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct l0_vm;
struct l0_memory;

#define L0_VIRTQ_MAX_SIZE    256  /* QueueNumMax of every queue */
#define L0_VIRTIO_MAX_QUEUES 3   /* vsock: rx, tx, event */
#define L0_VIRTIO_MMIO_SIZE  0x1000
#define L0_VIRTIO_VENDOR_ID  0x484f4f /* "OOH" */

/* One split virtqueue: its configuration (from the driver) and the device's place in it. */
struct l0_virtq {
	uint16_t num;             /* QueueNum */
	bool ready;               /* QueueReady, and the rings below were validated */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;  /* host pointers, valid while ready */
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;      /* next avail ring entry the device takes */
	uint16_t used_idx;        /* the device's copy of used->idx */
	uint16_t signalled_used;  /* used_idx at the last interrupt decision (EVENT_IDX) */
	bool signalled_used_valid;
	bool event_idx;           /* negotiated features, set at activation */
	bool indirect;
};

/*
 * A popped descriptor chain as host buffers: iov[0, nr_out) readable by
 * the device, then iov[nr_out, nr_out + nr_in) writable. Zero-length
 * descriptors are left out.
 */
struct l0_virtq_chain {
	uint16_t head;
	unsigned nr_out, nr_in;
	size_t out_len, in_len;   /* bytes in each part */
	struct iovec iov[L0_VIRTQ_MAX_SIZE];
};

enum l0_virtq_pop_result {
	L0_VIRTQ_BAD = -1,        /* the driver broke the rules (reason in *why) */
	L0_VIRTQ_EMPTY = 0,
	L0_VIRTQ_POPPED = 1,
};

/* queue.c */
/* At QueueReady=1: checks size and ring placement; 0, or -1 with *why set. */
int l0_virtq_activate(struct l0_virtq *vq, const struct l0_memory *mem, uint64_t features,
		      const char **why);
void l0_virtq_reset(struct l0_virtq *vq);
enum l0_virtq_pop_result l0_virtq_pop(struct l0_virtq *vq, const struct l0_memory *mem,
				      struct l0_virtq_chain *chain, const char **why);
/* Gives back the last popped chain (the device could not use it after all). */
void l0_virtq_unpop(struct l0_virtq *vq);
/* Returns a chain to the driver with `written` bytes of its writable part filled. */
void l0_virtq_push(struct l0_virtq *vq, uint16_t head, uint32_t written);
/* After pushes: does the driver want an interrupt now? */
bool l0_virtq_need_interrupt(struct l0_virtq *vq);
/*
 * The device found the ring empty and will wait for a notify: publish
 * avail_event, then look again. True if buffers arrived meanwhile.
 */
bool l0_virtq_enable_notify(struct l0_virtq *vq);
/* Whether any chain is available, without popping it (false if the ring is bad). */
bool l0_virtq_has_avail(struct l0_virtq *vq);

/* Copies up to len bytes at offset into the iov list to/from buf; returns the bytes copied. */
size_t l0_iov_to_buf(const struct iovec *iov, unsigned nr, size_t offset, void *buf, size_t len);
size_t l0_iov_from_buf(const struct iovec *iov, unsigned nr, size_t offset, const void *buf,
		       size_t len);
/* dst = the [offset, offset + len) part of iov (len clipped); returns its entry count. */
unsigned l0_iov_slice(const struct iovec *iov, unsigned nr, size_t offset, size_t len,
		      struct iovec *dst);

/* mmio.c */
struct l0_virtio_mmio;

struct l0_virtio_mmio_ops {
	/* QueueNotify (no lock held, any vCPU thread) or DRIVER_OK (lock held): wake the worker. */
	void (*notify)(struct l0_virtio_mmio *t, unsigned queue);
	/* The driver set DRIVER_OK, its queues are set up (lock held; vhost takes them). */
	void (*driver_ok)(struct l0_virtio_mmio *t);
	/* The driver reset the device (lock held). */
	void (*reset)(struct l0_virtio_mmio *t);
	/*
	 * Optional: the eventfd a QueueNotify of this queue should signal
	 * (what notify does), or -1. The transport has KVM signal it
	 * (KVM_IOEVENTFD), so a notify costs the vCPU no exit to ooh-l0.
	 */
	int (*notify_fd)(struct l0_virtio_mmio *t, unsigned queue);
};

struct l0_virtio_mmio {
	struct l0_vm *vm;
	const char *name;           /* "virtio-blk", for messages */
	const struct l0_virtio_mmio_ops *ops;
	uint32_t device_id;         /* VIRTIO_ID_* */
	uint64_t base;              /* MMIO window (L0_VIRTIO_MMIO_SIZE) */
	int irq;
	uint64_t device_features;
	const void *config;         /* device config space (read-only to the driver) */
	uint32_t config_size;
	unsigned nr_queues;

	pthread_mutex_t lock;
	uint64_t driver_features;   /* under lock, like everything below */
	uint32_t device_features_sel, driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t config_generation;
	bool broken;                /* the driver broke the rules; waiting for a reset */
	char broken_reason[96];
	unsigned long nr_broken;    /* times it was marked broken */
	struct l0_virtq queue[L0_VIRTIO_MAX_QUEUES];
	atomic_uint interrupt_status;
	/* KVM_IOEVENTFD / KVM_IRQFD in place (init; not with a fake VM or no irqchip) */
	bool ioeventfd[L0_VIRTIO_MAX_QUEUES];
	int irq_fd;                 /* eventfd KVM injects the IRQ line's pulse from, or -1 */
};

/*
 * Claims an MMIO window and an IRQ line for t (whose vm, name, ops,
 * device_id, device_features, config and nr_queues are set) and registers
 * it on the MMIO bus; 0 or an L0_EXIT_* code.
 */
int l0_virtio_mmio_init(struct l0_virtio_mmio *t);
void l0_virtio_mmio_destroy(struct l0_virtio_mmio *t);
/* Wakes whoever polls an eventfd (a worker, vhost); a full counter means awake already. */
void l0_eventfd_kick(int fd);
/* Its part of a device's "devices" entry: window, IRQ, KVM shortcuts, times broken. */
void l0_virtio_mmio_describe(struct l0_virtio_mmio *t, struct l0_reply *r);
/* "virtio_mmio.device=4K@0x<base>:<irq>", snprintf-style. */
int l0_virtio_mmio_cmdline(const struct l0_virtio_mmio *t, char *buf, size_t size);
/* Sets an InterruptStatus bit (VIRTIO_MMIO_INT_*) and pulses the IRQ line. */
void l0_virtio_mmio_interrupt(struct l0_virtio_mmio *t, uint32_t bits);
/* Lock held: the queue may be processed (DRIVER_OK, not broken, queue ready). */
bool l0_virtio_mmio_queue_live(const struct l0_virtio_mmio *t, unsigned queue);
/* Lock held: marks the device broken (NEEDS_RESET + config interrupt). */
void l0_virtio_mmio_set_broken(struct l0_virtio_mmio *t, const char *why);
/* Lock held: l0_virtq_pop that marks the device broken on a bad chain. */
enum l0_virtq_pop_result l0_virtio_pop(struct l0_virtio_mmio *t, unsigned queue,
				       struct l0_virtq_chain *chain);

/*
 * Before a push (or after publishing avail_event): tells OoH the guest
 * pages the device wrote, the first `written` bytes of the chain's
 * writable part (chain may be NULL) and the queue's used ring. KVM never
 * sees these writes (l0_vm_note_written).
 */
void l0_virtio_note_written(struct l0_virtio_mmio *t, unsigned queue,
			    const struct l0_virtq_chain *chain, size_t written);

/*
 * Every virtio device's priv starts with its transport, so code that only
 * knows the device (tests, the VMM core) can reach the registers.
 */
static inline struct l0_virtio_mmio *l0_virtio_transport(struct l0_device *dev)
{
	return dev->priv;
}

/*
 * One processing pass of a device's queues on the calling thread, what its
 * worker runs after each kick (blk: the request queue; net: tx, then rx,
 * true if rx buffers are left for the tap). For tests/fuzz/l0-virtio,
 * which drives the devices without their workers.
 */
void l0_virtio_blk_process(struct l0_device *dev);
bool l0_virtio_net_process(struct l0_device *dev);

/* the device types: ../devices.h */

#endif
