/* SPDX-License-Identifier: MIT */
/*
 * OoH virtual hardware in ooh-l0: virtual PML over the KVM dirty ring,
 * per-session guest logs (SPML: guest-physical, EPML: guest-linear),
 * per-vCPU shadow control pages and the hypercall port. See docs/abi.md.
 *
 * Locking: ooh->lock serializes hypercalls and harvests. A harvest stops
 * every other vCPU outside KVM_RUN (l0_ooh_world_stop) so the rings and the
 * shadow pages' EPML_SEEN bits are read as one snapshot.
 */
#ifndef L0_OOH_H
#define L0_OOH_H

#include "../vm.h"

#include <ooh/hv-abi.h>

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define L0_OOH_DEFAULT_RING_ENTRIES 4096u
/* EPML: page-table entries l0 reads per session per harvest, at most. */
#define L0_OOH_WALK_BUDGET (4u << 20)
/* The log-full notification line (an ISA IRQ the MP table routes). */
#define L0_OOH_NOTIFY_GSI 10u

struct l0_ooh_vcpu {
	struct kvm_dirty_gfn *ring;     /* KVM's per-vCPU dirty ring, mmapped */
	uint32_t next;                  /* next entry to harvest */
	atomic_bool parked;             /* waiting in the harvest gate */
	uint64_t shadow_gpa;            /* 0: none registered */
	uint64_t field[OOH_SHADOW_NR_FIELDS]; /* l0's copy of the trapped fields */
	uint64_t harvested;             /* GFNs harvested from this ring */
	uint64_t spp_record;            /* GPA of the SPP violation record, 0: none */
	uint32_t spp_notify;            /* OOH_SPP_NOTIFY_* */
	uint64_t spp_seq;               /* violations reported on this vCPU */
	uint64_t spp_lost;
};

/* One KVM memory slot of guest RAM (spp.c owns the layout). */
struct l0_ooh_slot {
	bool used;
	bool ro;                        /* KVM_MEM_READONLY: SPP-protected pages */
	uint64_t gpa;
	uint64_t npages;
	uint8_t *host;
};

struct l0_ooh_spp_page {
	uint64_t gfn;
	uint32_t mask;                  /* bit i set: sub-page i writable */
};

struct l0_ooh_spp {
	bool readonly_ok;               /* KVM_CAP_READONLY_MEM */
	uint32_t max_slots;             /* slot ids 0..max_slots-1 */
	struct l0_ooh_slot *slot;       /* by KVM slot id */
	uint32_t nr_slots;              /* used */
	struct l0_ooh_spp_page *page;   /* protected pages, sorted by gfn */
	size_t nr_pages, cap_pages;
};

struct l0_ooh_session {
	bool open;
	bool active;
	uint32_t mode;
	uint64_t log_gpa;
	uint64_t log_bytes;
	uint32_t size;                  /* entries, power of two */
	uint64_t producer;              /* l0's own copies, never the guest's */
	uint64_t overflow;
	uint64_t seq;
	uint64_t root;                  /* EPML: page-table root GPA */
};

struct l0_ooh_gfn {
	uint64_t gfn;
	uint32_t vcpu;
};

/*
 * How the OoH code reaches KVM: every ioctl it makes goes through here
 * (ioctl(2) itself in ooh-l0), so that tests/fuzz/l0-hypercall can run the
 * hypercall path against a fake KVM, with no /dev/kvm. Same contract as
 * ioctl(2): -1 and errno on failure.
 */
struct l0_ooh_kvm {
	int (*ioctl)(void *opaque, int fd, unsigned long request, void *arg);
	void *opaque;
};

struct l0_ooh {
	struct l0_vm *vm;
	struct l0_ooh_kvm kvm;
	pthread_mutex_t lock;
	bool has_ring;                  /* KVM_CAP_DIRTY_LOG_RING enabled */
	uint32_t ring_entries;
	bool logging;                   /* KVM_MEM_LOG_DIRTY_PAGES set on RAM slots */
	atomic_bool stop_req;           /* harvest in progress: vCPUs park in the gate */
	uint32_t gsi;                   /* 0: no notification interrupt */
	struct l0_ooh_vcpu vcpu[L0_MAX_VCPUS];
	struct l0_ooh_session session[OOH_MAX_SESSIONS + 1]; /* by id, 0 unused */
	struct ooh_hv_stats stats;      /* under lock, except the atomics below */
	atomic_ulong bad_hypercalls;
	atomic_ulong ring_full_exits;
	/* harvest scratch */
	struct l0_ooh_gfn *gfns;
	size_t nr_gfns, cap_gfns;
	uint64_t *unique;               /* SPML: sorted unique GFNs */
	size_t cap_unique;
	uint64_t *set;                  /* EPML candidate hash set */
	size_t set_cap;
	struct l0_ooh_spp spp;          /* spp.c: sub-page protection, memslots */
	/*
	 * Pages ooh-l0 itself wrote (SPP-permitted writes it performed, devices'
	 * DMA): KVM's dirty ring never sees them, the next harvest takes them.
	 */
	struct {
		struct l0_ooh_gfn *gfn;
		size_t nr, cap;
		bool lost;              /* out of memory: the next harvest overflows */
		bool by_device;         /* some by a device, for no vCPU in particular */
	} written;
	struct {                        /* host.c: the host's VM-wide view */
		bool on;
		uint64_t *bits;         /* one bit per GFN dirtied since the last query */
		uint64_t nr_gfns;
	} host;
};

/* core.c: set-up, and what the device's hooks call */
int l0_ooh_vm_init(struct l0_vm *vm);
/* The same, on another KVM (kvm is copied); l0_ooh_vm_init passes ioctl(2). */
int l0_ooh_vm_init_kvm(struct l0_vm *vm, const struct l0_ooh_kvm *kvm);
int l0_ooh_ioctl(const struct l0_ooh *ooh, int fd, unsigned long request, void *arg);
void l0_ooh_vm_destroy(struct l0_vm *vm);
int l0_ooh_vcpu_init(struct l0_vcpu *vcpu);
void l0_ooh_vcpu_gate(struct l0_vcpu *vcpu);   /* before each KVM_RUN */
bool l0_ooh_handle_io(struct l0_vcpu *vcpu);   /* true: the exit was ours */
void l0_ooh_ring_full(struct l0_vcpu *vcpu);   /* KVM_EXIT_DIRTY_RING_FULL */
uint32_t l0_ooh_features(const struct l0_vm *vm);
uint32_t l0_ooh_gsi(const struct l0_vm *vm);
void l0_ooh_lock(struct l0_ooh *ooh, struct l0_vcpu *self);
void l0_ooh_unlock(struct l0_ooh *ooh);
void l0_ooh_world_stop(struct l0_ooh *ooh, struct l0_vcpu *self);
void l0_ooh_world_resume(struct l0_ooh *ooh);
/* Whether [gpa, gpa+len) overlaps a log or shadow page (other than skip). */
bool l0_ooh_overlaps(struct l0_ooh *ooh, uint64_t gpa, uint64_t len, const void *skip);

/* dirty-ring.c: l0 wrote this page (lock held; vcpu -1: a device's DMA) */
void l0_ooh_note_written(struct l0_ooh *ooh, uint64_t gfn, int vcpu);
/* dirty-ring.c: harvest (lock held, world stopped); deliver to sessions */
void l0_ooh_harvest(struct l0_ooh *ooh, struct l0_vcpu *self);
/* A ring is full: harvest without stopping anyone unless EPML needs it. */
void l0_ooh_harvest_for_room(struct l0_ooh *ooh, struct l0_vcpu *self);
int l0_ooh_set_logging(struct l0_ooh *ooh, bool on);

/* session.c */
int l0_ooh_session_open(struct l0_ooh *ooh, uint32_t mode, uint64_t log_gpa,
			uint64_t log_bytes, uint64_t root);
int l0_ooh_session_close(struct l0_ooh *ooh, struct l0_vcpu *self, uint32_t id);
int l0_ooh_session_start(struct l0_ooh *ooh, struct l0_vcpu *self, uint32_t id);
int l0_ooh_session_stop(struct l0_ooh *ooh, struct l0_vcpu *self, uint32_t id);
int l0_ooh_session_set_root(struct l0_ooh *ooh, uint32_t id, uint64_t root);
struct l0_ooh_session *l0_ooh_session_get(struct l0_ooh *ooh, uint32_t id);
void l0_ooh_deliver(struct l0_ooh *ooh, const uint64_t *seen_mask);

/* shadow.c */
int l0_ooh_shadow_register(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t gpa);
int l0_ooh_vmwrite(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t enc, uint64_t value);
int l0_ooh_vmread(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t enc, uint64_t *value);
void l0_ooh_shadow_refresh(struct l0_ooh *ooh, int vcpu);
/* Reads EPML_SEEN and replaces it by EPML_ENABLE (world stopped). */
uint64_t l0_ooh_shadow_take_seen(struct l0_ooh *ooh, int vcpu);
struct ooh_shadow_page *l0_ooh_shadow_page(struct l0_ooh *ooh, int vcpu);

/* host.c: the control socket's dirty-start / dirty / dirty-stop */
int l0_ooh_host_start(struct l0_ooh *ooh);
int l0_ooh_host_sample(struct l0_ooh *ooh, uint64_t *dirty);
void l0_ooh_host_stop(struct l0_ooh *ooh);
void l0_ooh_host_note(struct l0_ooh *ooh);

/* spp.c: sub-page write protection over read-only memslots */
int l0_ooh_spp_init(struct l0_ooh *ooh);
void l0_ooh_spp_destroy(struct l0_ooh *ooh);
/* 0: not ours; 1: handled; 2: handled, kvm_run holds a new exit to dispatch */
int l0_ooh_spp_mmio(struct l0_vcpu *vcpu);
bool l0_ooh_spp_internal_error(struct l0_vcpu *vcpu);  /* true: reported, resume */
int l0_ooh_spp_set(struct l0_ooh *ooh, struct l0_vcpu *self, uint64_t gpa, uint64_t count);
int l0_ooh_spp_clear(struct l0_ooh *ooh, struct l0_vcpu *self, uint64_t gpa, uint64_t count,
		     uint64_t flags);
int l0_ooh_spp_register(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t gpa, uint64_t notify);
bool l0_ooh_spp_protected_in(struct l0_ooh *ooh, uint64_t gpa, uint64_t len);
/* Dirty ring entry (slot, offset) -> GFN through the current layout. */
bool l0_ooh_slot_gfn(struct l0_ooh *ooh, uint32_t slot, uint64_t offset, uint64_t *gfn);
int l0_ooh_slots_set_logging(struct l0_ooh *ooh, bool on);
/* Like l0_ooh_overlaps, without the protected pages (SPP_SET's own check). */
bool l0_ooh_overlaps_structs(struct l0_ooh *ooh, uint64_t gpa, uint64_t len, const void *skip);

/* dirty-ring.c: a harvest that leaves the other vCPUs stopped (memslot changes) */
void l0_ooh_harvest_hold(struct l0_ooh *ooh, struct l0_vcpu *self);

/* hypercall.c */
int l0_ooh_hypercall(struct l0_ooh *ooh, struct l0_vcpu *vcpu, uint64_t gpa);
void l0_ooh_get_stats(struct l0_ooh *ooh, struct ooh_hv_stats *out);

#endif
