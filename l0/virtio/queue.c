// SPDX-License-Identifier: MIT
/*
 * Split virtqueues (virtio 1.2, 2.7): the device side of the descriptor
 * table, the available ring and the used ring, in guest RAM.
 *
 * The guest writes all of it, concurrently, and is not trusted. A field
 * is read once into a local and checked there; a chain is validated to
 * its end before the device uses any of its buffers; every address goes
 * through l0_gpa_to_host with the exact length.
 *
 * Ordering (x86 is TSO, but the compiler is not): avail->idx is read with
 * acquire (the ring entries and descriptors it covers are read after it),
 * used->idx is written with release (after the used elements and the data),
 * and a full fence separates our used->idx / avail_event stores from the
 * loads of the driver's used_event / avail->idx that decide interrupts and
 * notifications.
 */
#include "virtio.h"
#include "../memory.h"

#include <string.h>

/* used_event is the entry after the avail ring, avail_event after the used ring. */
static uint16_t *used_event_ptr(struct l0_virtq *vq)
{
	return &vq->avail->ring[vq->num];
}

static uint16_t *avail_event_ptr(struct l0_virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

static uint16_t load_relaxed16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void l0_virtq_reset(struct l0_virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

int l0_virtq_activate(struct l0_virtq *vq, const struct l0_memory *mem, uint64_t features,
		      const char **why)
{
	uint64_t num = vq->num;

	if (num == 0 || num > L0_VIRTQ_MAX_SIZE || (num & (num - 1))) {
		*why = "queue size is not a power of two up to QueueNumMax";
		return -1;
	}
	/* Alignments of 2.7: 16 for the table, 2 for avail, 4 for used. */
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3)) {
		*why = "misaligned ring";
		return -1;
	}
	vq->desc = l0_gpa_to_host(mem, vq->desc_gpa, 16 * num);
	vq->avail = l0_gpa_to_host(mem, vq->avail_gpa, 6 + 2 * num);
	vq->used = l0_gpa_to_host(mem, vq->used_gpa, 6 + 8 * num);
	if (!vq->desc || !vq->avail || !vq->used) {
		*why = "ring outside guest RAM";
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return -1;
	}
	vq->event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	/* Both sides start at index 0 (the driver zeroed the rings before QueueReady). */
	vq->used_idx = 0;
	vq->last_avail = 0;
	vq->signalled_used_valid = false;
	vq->ready = true;
	return 0;
}

/* How many chains the driver has made available; -1 if avail idx ran ahead by more than num. */
static int avail_count(struct l0_virtq *vq)
{
	uint16_t idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t count = (uint16_t)(idx - vq->last_avail);

	return count > vq->num ? -1 : count;
}

bool l0_virtq_has_avail(struct l0_virtq *vq)
{
	return vq->ready && avail_count(vq) > 0;
}

/* Walks one descriptor table (the queue's, or an indirect one) from index i. */
struct chain_walk {
	struct l0_virtq_chain *chain;
	unsigned visited;         /* descriptors seen in this chain, across tables */
	unsigned limit;
};

static int add_buffer(struct chain_walk *w, const struct l0_memory *mem, uint64_t addr,
		      uint32_t len, bool writable, const char **why)
{
	struct l0_virtq_chain *c = w->chain;
	void *host;

	if (!writable && c->nr_in > 0) {
		*why = "readable descriptor after a writable one";
		return -1;
	}
	if (len == 0)
		return 0;
	host = l0_gpa_to_host(mem, addr, len);
	if (!host) {
		*why = "buffer outside guest RAM";
		return -1;
	}
	if (c->nr_out + c->nr_in == L0_VIRTQ_MAX_SIZE) {
		*why = "chain has too many buffers";
		return -1;
	}
	c->iov[c->nr_out + c->nr_in] = (struct iovec){ .iov_base = host, .iov_len = len };
	if (writable) {
		c->nr_in++;
		c->in_len += len;
	} else {
		c->nr_out++;
		c->out_len += len;
	}
	return 0;
}

static int walk_indirect(struct chain_walk *w, const struct l0_memory *mem, uint64_t addr,
			 uint32_t len, const char **why)
{
	const struct vring_desc *table;
	unsigned entries = len / sizeof(struct vring_desc), i = 0;

	if (len == 0 || len % sizeof(struct vring_desc)) {
		*why = "indirect table length not a non-zero multiple of 16";
		return -1;
	}
	if (entries > w->limit) {
		*why = "indirect table longer than the queue";
		return -1;
	}
	table = l0_gpa_to_host(mem, addr, len);
	if (!table) {
		*why = "indirect table outside guest RAM";
		return -1;
	}
	for (unsigned seen = 0;; seen++) {
		struct vring_desc d;

		if (seen == entries) {
			*why = "loop in an indirect table";
			return -1;
		}
		memcpy(&d, &table[i], sizeof(d)); /* one read: the guest may change it */
		if (d.flags & VRING_DESC_F_INDIRECT) {
			*why = "nested indirect table";
			return -1;
		}
		if (add_buffer(w, mem, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, why))
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= entries) {
			*why = "indirect descriptor's next outside its table";
			return -1;
		}
		i = d.next;
	}
}

enum l0_virtq_pop_result l0_virtq_pop(struct l0_virtq *vq, const struct l0_memory *mem,
				      struct l0_virtq_chain *chain, const char **why)
{
	struct chain_walk w = { .chain = chain, .limit = vq->num };
	int count;
	uint16_t head, i;

	if (!vq->ready)
		return L0_VIRTQ_EMPTY;
	count = avail_count(vq);
	if (count < 0) {
		*why = "avail idx moved by more than the queue size";
		return L0_VIRTQ_BAD;
	}
	if (count == 0)
		return L0_VIRTQ_EMPTY;
	head = load_relaxed16(&vq->avail->ring[vq->last_avail & (vq->num - 1)]);
	if (head >= vq->num) {
		*why = "avail ring entry is not a descriptor index";
		return L0_VIRTQ_BAD;
	}
	chain->head = head;
	chain->nr_out = chain->nr_in = 0;
	chain->out_len = chain->in_len = 0;
	for (i = head;;) {
		struct vring_desc d;

		if (++w.visited > vq->num) {
			*why = "descriptor chain loops or is longer than the queue";
			return L0_VIRTQ_BAD;
		}
		memcpy(&d, &vq->desc[i], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect) {
				*why = "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
				return L0_VIRTQ_BAD;
			}
			if (d.flags & VRING_DESC_F_NEXT) {
				*why = "indirect descriptor with NEXT";
				return L0_VIRTQ_BAD;
			}
			if (walk_indirect(&w, mem, d.addr, d.len, why))
				return L0_VIRTQ_BAD;
			break;
		}
		if (add_buffer(&w, mem, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, why))
			return L0_VIRTQ_BAD;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->num) {
			*why = "descriptor's next is not a descriptor index";
			return L0_VIRTQ_BAD;
		}
		i = d.next;
	}
	vq->last_avail++;
	return L0_VIRTQ_POPPED;
}

void l0_virtq_unpop(struct l0_virtq *vq)
{
	vq->last_avail--;
}

void l0_virtq_push(struct l0_virtq *vq, uint16_t head, uint32_t written)
{
	struct vring_used_elem *elem = &vq->used->ring[vq->used_idx & (vq->num - 1)];

	__atomic_store_n(&elem->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&elem->len, written, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* The element (and the data the device wrote) before the index. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

bool l0_virtq_need_interrupt(struct l0_virtq *vq)
{
	uint16_t old = vq->signalled_used, now = vq->used_idx;
	bool valid = vq->signalled_used_valid;

	/* Our used->idx store before the driver's used_event / flags load. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load_relaxed16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	vq->signalled_used = now;
	vq->signalled_used_valid = true;
	return !valid || vring_need_event(load_relaxed16(used_event_ptr(vq)), now, old);
}

bool l0_virtq_enable_notify(struct l0_virtq *vq)
{
	if (!vq->ready)
		return false;
	if (vq->event_idx)
		__atomic_store_n(avail_event_ptr(vq), vq->last_avail, __ATOMIC_RELAXED);
	/* avail_event before we look at avail->idx again (the driver does the reverse). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail_count(vq) != 0;
}

/* Copies between [offset, offset + len) of the iov list and buf, either way. */
static size_t iov_copy(const struct iovec *iov, unsigned nr, size_t offset, void *buf, size_t len,
		       bool into_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < nr && done < len; i++) {
		char *part;
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		part = (char *)iov[i].iov_base + offset;
		n = iov[i].iov_len - offset;
		if (n > len - done)
			n = len - done;
		if (into_iov)
			memcpy(part, (char *)buf + done, n);
		else
			memcpy((char *)buf + done, part, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t l0_iov_to_buf(const struct iovec *iov, unsigned nr, size_t offset, void *buf, size_t len)
{
	return iov_copy(iov, nr, offset, buf, len, false);
}

size_t l0_iov_from_buf(const struct iovec *iov, unsigned nr, size_t offset, const void *buf,
		       size_t len)
{
	return iov_copy(iov, nr, offset, (void *)buf, len, true);
}

unsigned l0_iov_slice(const struct iovec *iov, unsigned nr, size_t offset, size_t len,
		      struct iovec *dst)
{
	unsigned out = 0;

	for (unsigned i = 0; i < nr && len > 0; i++) {
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - offset;
		if (n > len)
			n = len;
		dst[out++] = (struct iovec){ .iov_base = (char *)iov[i].iov_base + offset,
					     .iov_len = n };
		len -= n;
		offset = 0;
	}
	return out;
}
