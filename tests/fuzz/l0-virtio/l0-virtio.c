// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ooh-l0's virtio as a hostile guest driver sees it
 * (l0/virtio/: queue.c's split virtqueues, mmio.c's transport registers,
 * blk.c's requests on a raw image, net.c's transmit and receive), with the
 * functions ooh-l0 runs, on a fake VM (no /dev/kvm).
 *
 * The VM is built as machine.c builds one, minus KVM: guest RAM in two
 * regions (64 KiB at GPA 0, 16 KiB at 0x20000, each its own exact-size
 * allocation, so ASan sees any access past them, and a hole between),
 * the MMIO bus (bus.c), vm.c's MMIO window and IRQ allocation, and the
 * real devices added with l0_device_add: virtio-blk on a memfd image of 8
 * sectors, virtio-net on a "tap" that is one end of a datagram socketpair
 * (net.c is compiled with open/ioctl renamed to this file's: the tap's
 * ioctls succeed, readv/writev are the socket's). Their worker threads
 * are started but never kicked: the transport's notify hook is this
 * file's, which notes the kick; after the step the target runs the pass
 * the worker would have run, on this thread (l0_virtio_blk_process,
 * l0_virtio_net_process), so every input is deterministic.
 *
 * Built once, reset per input (Status 0 through the bus, RAM zeroed, the
 * image rewritten, the sockets drained). An input is a list of steps (the
 * enum below): MMIO writes and reads of any width and alignment, raw guest
 * RAM writes, descriptors, indirect tables, avail ring entries and avail
 * idx written as a driver writes them, the standard set-up of a device,
 * notifies, frames arriving on the tap, resets.
 *
 * Checked after each step: a broken device has NEEDS_RESET in Status and
 * a live one not, and the Status register reads what the transport holds;
 * a ready queue's rings lie in RAM. Around each processing pass, against a
 * model of the rings read from RAM before it (the guest does not run
 * during the pass): a broken device serves nothing and writes nothing;
 * the device takes no more chains than avail idx made available, pushes no
 * more than it took, each used element names the head the avail ring gave
 * for that slot, the model accepted that chain, and its length is at most
 * the chain's writable bytes; used idx in RAM is the device's; and no byte
 * of RAM changed outside the used rings and the writable buffers of the
 * chains available. For a pass where a writable buffer or a used ring
 * overlaps any ring, descriptor, indirect table or another used ring (the
 * device's own writes then change what the model read), only the counts
 * and the broken-device checks are made.
 */
#include "vm.h"
#include "virtio/virtio.h"
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__); \
	abort(); } } while (0)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

#define R0_SIZE   0x10000ull
#define R1_GPA    0x20000ull
#define R1_SIZE   0x4000ull
#define RAM_BYTES (R0_SIZE + R1_SIZE)
#define IMAGE_BYTES 4096u
#define NR_DEVS 2            /* 0: virtio-blk, 1: virtio-net */
#define MAX_CHAINS 256
#define MAX_AREAS 1024

/* ---- the VMM core outside the files compiled in ---- */

void l0_reply_emit(struct l0_reply *r, const char *fmt, ...)
{
	(void)r;
	(void)fmt; /* describe is never called here */
}

/* net.c's open() and ioctl() (compiled with -Dopen=... -Dioctl=...): the tap is a socket. */
static int tap_fd = -1, tap_peer = -1;

int l0_fuzz_tap_open(const char *path, int flags, ...)
{
	int sv[2];

	(void)path;
	(void)flags;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return -1;
	tap_fd = sv[0];
	tap_peer = sv[1];
	return tap_fd;
}

int l0_fuzz_tap_ioctl(int fd, unsigned long request, ...)
{
	(void)fd;
	(void)request;
	return 0; /* TUNSETIFF, TUNSETVNETHDRSZ */
}

/* ---- the fake VM ---- */

static struct l0_vm *vm;
static uint8_t *ram[2];
static int image_fd;
static struct l0_device *dev[NR_DEVS];
static struct l0_virtio_mmio *tr[NR_DEVS];
static bool kicked[NR_DEVS];
static unsigned long irq_pulses;
static uint8_t before[RAM_BYTES];
static uint8_t image_init[IMAGE_BYTES];
static bool trace;              /* L0_VIRTIO_TRACE set: each pass's outcome on stderr */

static void fuzz_notify(struct l0_virtio_mmio *t, unsigned queue)
{
	(void)queue;
	for (int d = 0; d < NR_DEVS; d++)
		if (tr[d] == t)
			kicked[d] = true;
}

static const struct l0_virtio_mmio_ops fuzz_ops = { .notify = fuzz_notify };

static void set_irq(void *v, int irq, int level)
{
	(void)v;
	(void)irq;
	irq_pulses += level;
}

static void build_vm(void)
{
	char arg[64];

	trace = getenv("L0_VIRTIO_TRACE");
	vm = calloc(1, sizeof(*vm));
	ram[0] = calloc(1, R0_SIZE);
	ram[1] = calloc(1, R1_SIZE);
	CHECK(vm && ram[0] && ram[1]);
	vm->mem.host = ram[0];
	vm->mem.size = R0_SIZE + R1_SIZE;
	vm->mem.nr_regions = 2;
	vm->mem.region[0] = (struct l0_mem_region){ 0, R0_SIZE, ram[0] };
	vm->mem.region[1] = (struct l0_mem_region){ R1_GPA, R1_SIZE, ram[1] };
	vm->cfg.verbose = 0;
	vm->kvm_fd = vm->vm_fd = vm->wake_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	l0_bus_init(&vm->pio, "pio");
	l0_bus_init(&vm->mmio, "mmio");
	vm->set_irq = set_irq;

	for (unsigned i = 0; i < IMAGE_BYTES; i++)
		image_init[i] = (uint8_t)(i * 7 + (i >> 9));
	image_fd = memfd_create("l0-virtio-image", MFD_CLOEXEC);
	CHECK(image_fd >= 0 && pwrite(image_fd, image_init, IMAGE_BYTES, 0) == IMAGE_BYTES);
	snprintf(arg, sizeof(arg), "/proc/self/fd/%d", image_fd);
	CHECK(l0_device_add(&vm->devices, vm, &l0_virtio_blk_device, strdup(arg)) == 0);
	CHECK(l0_device_add(&vm->devices, vm, &l0_virtio_net_device, "tap=fuzz0") == 0);
	dev[0] = l0_device_find(&vm->devices, &l0_virtio_blk_device);
	dev[1] = l0_device_find(&vm->devices, &l0_virtio_net_device);
	CHECK(dev[0] && dev[1] && tap_fd >= 0);
	for (int d = 0; d < NR_DEVS; d++) {
		tr[d] = l0_virtio_transport(dev[d]);
		/* No kick reaches the worker: this thread runs its pass instead. */
		pthread_mutex_lock(&tr[d]->lock);
		tr[d]->ops = &fuzz_ops;
		pthread_mutex_unlock(&tr[d]->lock);
	}
}

/* ---- guest RAM ---- */

static uint8_t *host_of(uint64_t gpa, uint64_t len)
{
	return l0_gpa_to_host(&vm->mem, gpa, len);
}

/* Offset of a RAM byte in the flat snapshot layout. */
static uint64_t flat(const uint8_t *host)
{
	if (host >= ram[0] && host < ram[0] + R0_SIZE)
		return (uint64_t)(host - ram[0]);
	return R0_SIZE + (uint64_t)(host - ram[1]);
}

static NO_COVERAGE void ram_snapshot(uint8_t *out)
{
	memcpy(out, ram[0], R0_SIZE);
	memcpy(out + R0_SIZE, ram[1], R1_SIZE);
}

static void ram_write(uint64_t gpa, const void *src, uint64_t len)
{
	uint8_t *h = host_of(gpa, len);

	if (h)
		memcpy(h, src, len);
}

static bool ram_read(uint64_t gpa, void *dst, uint64_t len)
{
	const uint8_t *h = host_of(gpa, len);

	if (!h)
		return false;
	memcpy(dst, h, len);
	return true;
}

/* ---- the input ---- */

struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct input *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && in->left; i++, in->left--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

/* A guest address from 3 input bytes: mostly in RAM, sometimes just past it or in the hole. */
static uint64_t take_gpa(struct input *in)
{
	uint64_t v = take(in, 3);

	switch (v >> 22) {
	case 0:
	case 1:
		return v & 0xffff;
	case 2:
		return R1_GPA + (v & 0x3fff);
	default:
		return v & 0x3ffff;
	}
}

/* ---- MMIO ---- */

static void mmio(int d, uint64_t offset, void *data, unsigned len, bool is_write)
{
	l0_bus_dispatch(&vm->mmio, NULL, tr[d]->base + offset, data, len, is_write);
}

static void mmio_write32(int d, uint64_t offset, uint32_t value)
{
	mmio(d, offset, &value, 4, true);
}

static uint32_t mmio_read32(int d, uint64_t offset)
{
	uint32_t value = 0;

	mmio(d, offset, &value, 4, false);
	return value;
}

/* ---- the model of a queue's chains ---- */

struct area {
	uint64_t start, end;    /* flat offsets, [start, end) */
};

struct model_chain {
	bool valid;
	uint16_t head;
	uint64_t in_len;
	unsigned first_w, nr_w; /* its writable buffers in writable[] */
};

static struct area reads[MAX_AREAS];     /* rings, descriptors, indirect tables the device reads */
static unsigned nr_reads;
static struct area writable[MAX_AREAS * 2];
static unsigned nr_writable;
static struct area used_areas[NR_DEVS * L0_VIRTIO_MAX_QUEUES];
static unsigned nr_used_areas;

static void add_area(struct area *list, unsigned *nr, unsigned max, const uint8_t *host,
		     uint64_t len)
{
	if (*nr < max && len)
		list[(*nr)++] = (struct area){ flat(host), flat(host) + len };
}

struct walk {
	struct model_chain *c;
	unsigned bufs;
	bool seen_w;
};

static bool model_buffer(struct walk *w, uint64_t addr, uint32_t len, bool wr)
{
	uint8_t *h;

	if (!wr && w->seen_w)
		return false;
	if (len == 0)
		return true;
	h = host_of(addr, len);
	if (!h || w->bufs == L0_VIRTQ_MAX_SIZE)
		return false;
	w->bufs++;
	if (wr) {
		w->seen_w = true;
		w->c->in_len += len;
		add_area(writable, &nr_writable, MAX_AREAS * 2, h, len);
		w->c->nr_w++;
	}
	return true;
}

/* The chain at head as the spec (2.7.5, 2.7.7) and queue.c's documented checks have it. */
static bool model_walk(const struct l0_virtq *vq, uint16_t head, struct model_chain *c)
{
	struct walk w = { .c = c };
	unsigned num = vq->num, visited = 0;
	uint16_t i = head;

	c->head = head;
	c->in_len = 0;
	c->first_w = nr_writable;
	c->nr_w = 0;
	if (head >= num)
		return false;
	for (;;) {
		struct vring_desc d;

		if (++visited > num)
			return false;
		CHECK(ram_read(vq->desc_gpa + 16ull * i, &d, sizeof(d)));
		add_area(reads, &nr_reads, MAX_AREAS, host_of(vq->desc_gpa + 16ull * i, 16), 16);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			unsigned entries = d.len / 16;
			const uint8_t *table;

			if (!vq->indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 || d.len % 16 ||
			    entries > num)
				return false;
			table = host_of(d.addr, d.len);
			if (!table)
				return false;
			add_area(reads, &nr_reads, MAX_AREAS, table, d.len);
			for (unsigned seen = 0, j = 0;; seen++) {
				struct vring_desc e;

				if (seen == entries)
					return false;
				memcpy(&e, table + 16 * j, sizeof(e));
				if ((e.flags & VRING_DESC_F_INDIRECT) ||
				    !model_buffer(&w, e.addr, e.len, e.flags & VRING_DESC_F_WRITE))
					return false;
				if (!(e.flags & VRING_DESC_F_NEXT))
					return true;
				if (e.next >= entries)
					return false;
				j = e.next;
			}
		}
		if (!model_buffer(&w, d.addr, d.len, d.flags & VRING_DESC_F_WRITE))
			return false;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return true;
		if (d.next >= num)
			return false;
		i = d.next;
	}
}

struct queue_before {
	bool ready;
	uint16_t last_avail, used_idx, avail_idx;
	unsigned nr_chains;
	struct model_chain chain[MAX_CHAINS];
};

static struct queue_before qb[L0_VIRTIO_MAX_QUEUES];

static bool overlaps(const struct area *a, const struct area *b)
{
	return a->start < b->end && b->start < a->end;
}

static NO_COVERAGE bool in_areas(uint64_t off, const struct area *list, unsigned nr)
{
	for (unsigned i = 0; i < nr; i++)
		if (off >= list[i].start && off < list[i].end)
			return true;
	return false;
}

/* One processing pass of device d, as its worker runs it after a kick, and the checks around it. */
static NO_COVERAGE void process(int d)
{
	struct l0_virtio_mmio *t = tr[d];
	bool was_broken = t->broken, aliased = false;
	unsigned long broken_count = t->nr_broken;

	nr_reads = nr_writable = nr_used_areas = 0;
	for (unsigned q = 0; q < t->nr_queues; q++) {
		struct l0_virtq *vq = &t->queue[q];
		struct queue_before *b = &qb[q];
		uint16_t count;

		b->ready = vq->ready;
		b->nr_chains = 0;
		if (!vq->ready)
			continue;
		b->last_avail = vq->last_avail;
		b->used_idx = vq->used_idx;
		CHECK(ram_read(vq->avail_gpa + 2, &b->avail_idx, 2));
		add_area(reads, &nr_reads, MAX_AREAS, (uint8_t *)vq->avail, 6 + 2ull * vq->num);
		add_area(used_areas, &nr_used_areas, NR_DEVS * L0_VIRTIO_MAX_QUEUES,
			 (uint8_t *)vq->used, 6 + 8ull * vq->num);
		count = (uint16_t)(b->avail_idx - b->last_avail);
		if (count > vq->num)
			continue;
		for (unsigned k = 0; k < count && k < MAX_CHAINS; k++) {
			uint16_t head;

			memcpy(&head, &vq->avail->ring[(uint16_t)(b->last_avail + k) & (vq->num - 1)], 2);
			b->chain[k].valid = model_walk(vq, head, &b->chain[k]);
			b->nr_chains++;
		}
	}
	/* What the device writes (buffers, used rings) against what it reads and the used rings. */
	for (unsigned i = 0; i < nr_writable + nr_used_areas && !aliased; i++) {
		const struct area *w = i < nr_writable ? &writable[i] : &used_areas[i - nr_writable];

		for (unsigned j = 0; j < nr_reads && !aliased; j++)
			aliased = overlaps(w, &reads[j]);
		for (unsigned j = 0; j < nr_used_areas && !aliased; j++)
			aliased = i != nr_writable + j && overlaps(w, &used_areas[j]);
	}
	ram_snapshot(before);

	if (d == 0)
		l0_virtio_blk_process(dev[d]);
	else
		l0_virtio_net_process(dev[d]);

	if (t->broken)
		CHECK(t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	if (was_broken) {
		/* Nothing served, nothing written, until a reset. */
		CHECK(!memcmp(before, ram[0], R0_SIZE) && !memcmp(before + R0_SIZE, ram[1], R1_SIZE));
		CHECK(t->nr_broken == broken_count);
	}
	for (unsigned q = 0; q < t->nr_queues; q++) {
		struct l0_virtq *vq = &t->queue[q];
		struct queue_before *b = &qb[q];
		uint16_t popped, pushed;

		CHECK(vq->ready == b->ready);
		if (!b->ready)
			continue;
		popped = (uint16_t)(vq->last_avail - b->last_avail);
		pushed = (uint16_t)(vq->used_idx - b->used_idx);
		if (trace)
			fprintf(stderr, "%s queue %u: %u available, %u taken, %u used%s%s%s\n", t->name,
				q, b->nr_chains, popped, pushed, aliased ? ", aliased" : "",
				t->broken ? ", broken: " : "", t->broken ? t->broken_reason : "");
		if (was_broken)
			CHECK(popped == 0 && pushed == 0);
		CHECK(popped <= b->nr_chains);
		CHECK(pushed <= popped);
		if (pushed) {
			uint16_t idx;

			CHECK(ram_read(vq->used_gpa + 2, &idx, 2));
			if (!aliased)
				CHECK(idx == vq->used_idx);
		}
		if (aliased)
			continue;
		for (unsigned k = 0; k < popped; k++)
			CHECK(b->chain[k].valid);
		for (unsigned k = 0; k < pushed; k++) {
			struct vring_used_elem e;

			memcpy(&e, &vq->used->ring[(uint16_t)(b->used_idx + k) & (vq->num - 1)],
			       sizeof(e));
			CHECK(e.id == b->chain[k].head);
			CHECK(e.len <= b->chain[k].in_len);
		}
	}
	if (aliased)
		return;
	/* No byte changed outside the used rings and the writable buffers of chains taken. */
	for (uint64_t blk = 0; blk < RAM_BYTES; blk += 256) {
		const uint8_t *now = blk < R0_SIZE ? ram[0] + blk : ram[1] + (blk - R0_SIZE);

		if (!memcmp(now, before + blk, 256))
			continue;
		for (uint64_t off = blk; off < blk + 256; off++) {
			if (now[off - blk] == before[off])
				continue;
			CHECK(in_areas(off, used_areas, nr_used_areas) ||
			      in_areas(off, writable, nr_writable));
		}
	}
}

/* Every transport, after every step. */
static NO_COVERAGE void check_transports(void)
{
	for (int d = 0; d < NR_DEVS; d++) {
		struct l0_virtio_mmio *t = tr[d];
		uint32_t status = t->status;

		CHECK(t->broken == !!(status & VIRTIO_CONFIG_S_NEEDS_RESET));
		CHECK(mmio_read32(d, VIRTIO_MMIO_STATUS) == status);
		for (unsigned q = 0; q < L0_VIRTIO_MAX_QUEUES; q++) {
			const struct l0_virtq *vq = &t->queue[q];

			if (!vq->ready)
				continue;
			CHECK(q < t->nr_queues);
			CHECK(vq->num && !(vq->num & (vq->num - 1)) && vq->num <= L0_VIRTQ_MAX_SIZE);
			CHECK((void *)vq->desc == host_of(vq->desc_gpa, 16ull * vq->num));
			CHECK((void *)vq->avail == host_of(vq->avail_gpa, 6 + 2ull * vq->num));
			CHECK((void *)vq->used == host_of(vq->used_gpa, 6 + 8ull * vq->num));
		}
	}
}

/* ---- steps ---- */

enum step {
	STEP_MMIO_WRITE,   /* offset u16, width byte, value u32 */
	STEP_MMIO_READ,    /* offset u16, width byte */
	STEP_RAM_WRITE,    /* gpa (3 bytes), length byte (1-32), bytes */
	STEP_NOTIFY,       /* queue byte: QueueNotify */
	STEP_SETUP,        /* features byte, size byte: the set-up of virtio 3.1.1, queues at fixed GPAs */
	STEP_DESC,         /* queue, index, gpa (3), len u16, flags, next: one descriptor */
	STEP_AVAIL,        /* queue, head: avail ring entry, then avail idx + 1 */
	STEP_AVAIL_IDX,    /* queue, u16: avail idx as given */
	STEP_INDIRECT,     /* gpa (3), count (1-8), then per entry gpa (3), len u16, flags, next */
	STEP_FRAME,        /* length u16 (0-2047), fill byte: a frame arrives at the tap */
	STEP_RESET,        /* Status 0 */
	STEP_EVENT,        /* queue, u16: used_event; flags byte: avail flags */
	STEP_PROCESS,      /* the worker wakes with no kick (the tap had a frame, a spurious wake) */
	STEP_REQUEST,      /* queue, type byte, sector byte, data length u16, desc base index: a blk/net request */
	STEP_CHAIN,        /* queue, first index, count (1-256), gpa (3), length u16, flags: a long chain */
	NR_STEPS
};

/* Where the set-up puts queue q of device d (64 KiB region: 3 queues of up to 256 entries). */
static uint64_t ring_base(int d, unsigned q)
{
	return (d == 0 ? 0 : 0x2000 * (1 + q));
}

static void setup(int d, uint8_t feat, uint8_t size)
{
	struct l0_virtio_mmio *t = tr[d];
	uint64_t want = 1ull << VIRTIO_F_VERSION_1;
	uint16_t num = (uint16_t)(1u << (size % 9));

	if (feat & 1)
		want |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (feat & 2)
		want |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (feat & 4)
		want |= t->device_features;
	if (feat & 8)
		want &= ~(1ull << VIRTIO_F_VERSION_1);
	mmio_write32(d, VIRTIO_MMIO_STATUS, 0);
	mmio_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
	mmio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
	mmio_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					    VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < t->nr_queues; q++) {
		uint64_t base = ring_base(d, q);

		/* the rings zeroed, as a driver does before QueueReady */
		memset(host_of(base, 0x2000), 0, 0x2000);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_SEL, q);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_NUM, num);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)base + 0x1000);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)base + 0x1400);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	if (!(feat & 16))
		mmio_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
						    VIRTIO_CONFIG_S_DRIVER |
						    VIRTIO_CONFIG_S_FEATURES_OK |
						    VIRTIO_CONFIG_S_DRIVER_OK);
}

static void write_desc(const struct l0_virtq *vq, unsigned index, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next)
{
	struct vring_desc desc = { .addr = addr, .len = len, .flags = flags, .next = next };

	ram_write(vq->desc_gpa + 16ull * index, &desc, sizeof(desc));
}

/* avail ring entry at avail idx, then avail idx + 1 (the queue's registers, ready or not) */
static void make_avail(const struct l0_virtq *vq, uint16_t head)
{
	uint16_t idx, num = vq->num ? vq->num : 1;

	if (!ram_read(vq->avail_gpa + 2, &idx, 2))
		return;
	ram_write(vq->avail_gpa + 4 + 2ull * (idx & (num - 1)), &head, 2);
	idx++;
	ram_write(vq->avail_gpa + 2, &idx, 2);
}

/*
 * A well-formed request at descriptors base..: blk (type, sector, data,
 * status) or net (the header and data, readable on tx, writable on rx).
 */
static void request(int d, const struct l0_virtq *vq, uint8_t type, uint8_t sector, uint16_t len,
		    uint8_t base)
{
	unsigned num = vq->num ? vq->num : 1, i0 = base % num, i1 = (base + 1u) % num,
		 i2 = (base + 2u) % num;
	uint64_t data = 0x8000 + (uint64_t)(base & 7) * 0x800;

	len &= 0x7ff;
	if (d == 0) {
		struct { uint32_t type, ioprio; uint64_t sector; } hdr = { type % 9, 0, sector % 12 };
		bool in = hdr.type != 1; /* OUT reads the data, the others write it */

		ram_write(0xc000 + 16ull * (base & 63), &hdr, sizeof(hdr));
		write_desc(vq, i0, 0xc000 + 16ull * (base & 63), sizeof(hdr), VRING_DESC_F_NEXT, i1);
		write_desc(vq, i1, data, len, (in ? VRING_DESC_F_WRITE : 0) | VRING_DESC_F_NEXT, i2);
		write_desc(vq, i2, 0xe000 + (base & 0xff), 1, VRING_DESC_F_WRITE, 0);
	} else {
		write_desc(vq, i0, data, len + 12u, type & 1 ? VRING_DESC_F_WRITE : 0, 0);
	}
	make_avail(vq, (uint16_t)i0);
}

static struct l0_virtq *queue_of(int d, uint8_t q)
{
	return &tr[d]->queue[q % tr[d]->nr_queues];
}

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

static void run_step(struct input *in)
{
	uint8_t op = (uint8_t)take(in, 1);
	int d = (op >> 7) & 1;
	uint8_t value8[8] = { 0 };

	switch ((op & 0x7f) % NR_STEPS) {
	case STEP_MMIO_WRITE:
	case STEP_MMIO_READ: {
		uint64_t offset = take(in, 2) & 0x1fff;
		uint8_t width = (uint8_t)take(in, 1);
		static const unsigned lens[] = { 4, 4, 1, 2, 8, 3 };
		unsigned len = lens[width % 6];
		uint32_t v;

		if (width & 0x80)
			offset |= 1 + (width >> 5 & 3); /* misaligned */
		if ((op & 0x7f) % NR_STEPS == STEP_MMIO_WRITE) {
			v = (uint32_t)take(in, 4);
			memcpy(value8, &v, 4);
			memcpy(value8 + 4, &v, 4);
			mmio(d, offset, value8, len, true);
		} else {
			mmio(d, offset, value8, len, false);
		}
		break;
	}
	case STEP_RAM_WRITE: {
		uint64_t gpa = take_gpa(in);
		unsigned len = 1 + (unsigned)take(in, 1) % 32;
		uint8_t bytes[32] = { 0 };

		for (unsigned i = 0; i < len; i++)
			bytes[i] = (uint8_t)take(in, 1);
		ram_write(gpa, bytes, len);
		break;
	}
	case STEP_NOTIFY:
		mmio_write32(d, VIRTIO_MMIO_QUEUE_NOTIFY, (uint32_t)take(in, 1) % 4);
		break;
	case STEP_SETUP: {
		uint8_t feat = (uint8_t)take(in, 1);

		setup(d, feat, (uint8_t)take(in, 1));
		break;
	}
	case STEP_DESC: {
		const struct l0_virtq *vq = queue_of(d, (uint8_t)take(in, 1));
		unsigned index = (unsigned)take(in, 1);
		uint64_t addr = take_gpa(in);
		uint32_t len = (uint32_t)take(in, 2);
		uint16_t flags = (uint16_t)take(in, 1), next = (uint16_t)take(in, 1);

		if (vq->num && !(index & 0x80))
			index &= vq->num - 1;
		write_desc(vq, index, addr, len, flags & 7, next);
		break;
	}
	case STEP_AVAIL: {
		const struct l0_virtq *vq = queue_of(d, (uint8_t)take(in, 1));

		make_avail(vq, (uint16_t)take(in, 1));
		break;
	}
	case STEP_AVAIL_IDX: {
		const struct l0_virtq *vq = queue_of(d, (uint8_t)take(in, 1));
		uint16_t idx = (uint16_t)take(in, 2);

		ram_write(vq->avail_gpa + 2, &idx, 2);
		break;
	}
	case STEP_INDIRECT: {
		uint64_t gpa = take_gpa(in);
		unsigned count = 1 + (unsigned)take(in, 1) % 8;

		for (unsigned i = 0; i < count; i++) {
			struct vring_desc desc;

			desc.addr = take_gpa(in);
			desc.len = (uint32_t)take(in, 2);
			desc.flags = (uint16_t)take(in, 1) & 7;
			desc.next = (uint16_t)take(in, 1) % 8;
			ram_write(gpa + 16ull * i, &desc, sizeof(desc));
		}
		break;
	}
	case STEP_FRAME: {
		uint16_t len = (uint16_t)take(in, 2) & 0x7ff;
		uint8_t fill = (uint8_t)take(in, 1), frame[2048];

		for (unsigned i = 0; i < len; i++)
			frame[i] = (uint8_t)(fill + i);
		if (send(tap_peer, frame, len, MSG_DONTWAIT) < 0) {
			/* the kernel's queue is full: the frame is dropped, as a tap's would be */
		}
		kicked[1] = true; /* the worker polls the tap */
		break;
	}
	case STEP_RESET:
		mmio_write32(d, VIRTIO_MMIO_STATUS, 0);
		break;
	case STEP_EVENT: {
		const struct l0_virtq *vq = queue_of(d, (uint8_t)take(in, 1));
		uint16_t event = (uint16_t)take(in, 2), flags = (uint16_t)take(in, 1) & 1;

		ram_write(vq->avail_gpa + 4 + 2ull * vq->num, &event, 2);
		ram_write(vq->avail_gpa, &flags, 2);
		break;
	}
	case STEP_PROCESS:
		kicked[d] = true;
		break;
	case STEP_REQUEST: {
		uint8_t q = (uint8_t)take(in, 1), type = (uint8_t)take(in, 1),
			sector = (uint8_t)take(in, 1);
		uint16_t len = (uint16_t)take(in, 2);
		uint8_t base = (uint8_t)take(in, 1);

		request(d, queue_of(d, q), type, sector, len, base);
		mmio_write32(d, VIRTIO_MMIO_QUEUE_NOTIFY, q % tr[d]->nr_queues);
		break;
	}
	case STEP_CHAIN: {
		/* descriptors first.. as one chain of count buffers, each length bytes after the last */
		const struct l0_virtq *vq = queue_of(d, (uint8_t)take(in, 1));
		unsigned first = (unsigned)take(in, 1), count = 1 + (unsigned)take(in, 1);
		uint64_t gpa = take_gpa(in);
		uint32_t len = (uint32_t)take(in, 2) & 0xff;
		uint8_t flags = (uint8_t)take(in, 1);
		unsigned num = vq->num ? vq->num : 1;

		for (unsigned k = 0; k < count; k++) {
			unsigned i = (first + k) % num;
			bool last = k + 1 == count;

			write_desc(vq, i, gpa + (uint64_t)k * len, len,
				   (flags & VRING_DESC_F_WRITE) | (last ? flags & 5 : VRING_DESC_F_NEXT),
				   (uint16_t)((i + 1) % num));
		}
		break;
	}
	}
	for (int i = 0; i < NR_DEVS; i++) {
		if (!kicked[i])
			continue;
		kicked[i] = false;
		process(i);
	}
	drain(tap_peer); /* what the device transmitted */
	check_transports();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	if (!vm)
		build_vm();
	for (int d = 0; d < NR_DEVS; d++) {
		mmio_write32(d, VIRTIO_MMIO_STATUS, 0);
		kicked[d] = false;
	}
	memset(ram[0], 0, R0_SIZE);
	memset(ram[1], 0, R1_SIZE);
	CHECK(pwrite(image_fd, image_init, IMAGE_BYTES, 0) == IMAGE_BYTES);
	drain(tap_fd);
	drain(tap_peer);
	while (in.left)
		run_step(&in);
	return 0;
}
