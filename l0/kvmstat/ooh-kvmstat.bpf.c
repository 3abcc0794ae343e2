// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * ooh-kvmstat's BPF side: KVM's tracepoints (every exit, entry and KVM_RUN
 * return of the watched VMs) and ooh-l0's USDT probes (which OoH operation
 * a vCPU thread is in), joined per vCPU thread.
 *
 * The tracepoints are attached as BTF tracepoints (tp_btf): the programs
 * get the tracepoint's arguments, not a record, which costs far less per
 * event (in the TCG rig a classic tracepoint program cost ~12 us) and
 * leaves perf's and ftrace's records alone. Kernel structures are read
 * through CO-RE (local structs with only the fields used, relocated
 * against the running kernel's BTF, kvm's and kvm_amd's or kvm_intel's
 * module BTF on Debian), so a kernel version's layout does not matter.
 */
#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>	/* struct pt_regs, which USDT arguments are read from */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include <ooh/hv-abi.h>	/* the hypercall port and request block, decoded here */
#include "ooh-kvmstat.h"

/*
 * What decoding a hypercall in the kernel reads (no uprobe per hypercall):
 * the vCPU's kvm_run (the OUT's port and value: the request block's GPA
 * >> OOH_HC_ALIGN_SHIFT) and KVM's memslots (that GPA's address in
 * ooh-l0), then the block itself, in ooh-l0's memory.
 */
struct rb_node {
	struct rb_node *rb_right;
	struct rb_node *rb_left;
} __attribute__((preserve_access_index));

struct rb_root {
	struct rb_node *rb_node;
} __attribute__((preserve_access_index));

struct kvm_memslots {
	struct rb_root gfn_tree;
	int node_idx;
} __attribute__((preserve_access_index));

struct kvm_memory_slot {
	struct rb_node gfn_node[2];
	__u64 base_gfn;
	unsigned long npages;
	unsigned long userspace_addr;
} __attribute__((preserve_access_index));

struct kvm {
	struct kvm_memslots *memslots[2];
} __attribute__((preserve_access_index));

struct kvm_run;

struct kvm_vcpu_arch {
	void *pio_data;		/* the page after kvm_run in the VMM's mapping */
} __attribute__((preserve_access_index));

struct kvm_vcpu {
	int vcpu_id;
	struct kvm *kvm;
	struct kvm_run *run;
	struct kvm_vcpu_arch arch;
} __attribute__((preserve_access_index));

/*
 * The exit reason kvm_exit's record would carry, from the vendor's vCPU
 * (kvm_amd's or kvm_intel's module BTF: only the loaded one exists).
 */
struct vmcb_control_area {
	__u32 exit_code;
} __attribute__((preserve_access_index));

struct vmcb {
	struct vmcb_control_area control;
} __attribute__((preserve_access_index));

struct vcpu_svm {
	struct kvm_vcpu vcpu;
	struct vmcb *vmcb;
} __attribute__((preserve_access_index));

union vmx_exit_reason {
	__u32 full;
} __attribute__((preserve_access_index));

struct vcpu_vmx {
	struct kvm_vcpu vcpu;
	union vmx_exit_reason exit_reason;
} __attribute__((preserve_access_index));

const volatile __u32 targ_tgid;		/* 0: every VM */
const volatile __s32 targ_vcpu = -1;	/* -1: every vCPU */
const volatile __s32 split_op = -1;	/* hypercall op that opens a window */
const volatile bool want_hist;		/* --hist: exit latency histograms */

/*
 * What a vCPU thread is doing, between its exit and its next entry. The
 * public part (ooh-kvmstat.h) holds, without --split-on, the counters of
 * the thread's vCPU: one map lookup per event, the thread's own, and
 * plain adds (only the thread itself writes them).
 */
struct thread_state {
	struct kvmstat_thread pub;
	__u64 exit_ns;		/* last kvm_exit */
	__u64 user_ns;		/* last KVM_RUN return */
	__u64 intrs;		/* the VM's KVM_EXIT_INTR returns then */
	__u64 ring;		/* entries harvested by l0 since then */
	__u32 harvested;	/* l0 harvested since then */
	__u32 tgid;
	__u32 vcpu;		/* the vCPU it runs now */
	__u32 isa;
	__u32 reason;		/* of the last kvm_exit */
	__u32 has_exit;		/* an exit is waiting for its entry */
	__s32 exit_slot;	/* it is counted in pub.exits[exit_slot], or -1 */
	__u32 op;		/* op + 1 this return to userspace is for, or 0 */
	__u32 op_reason;
	__u32 in_user;		/* between KVM_RUN's return and the next entry */
	__u32 win;		/* its VM's window at its last event */
	__u32 exit_win;		/* the window of the last kvm_exit */
	__u32 op_win;		/* the window the op began in */
	__u64 kvm_vcpu;		/* the kernel's struct kvm_vcpu */
	__u64 run, pio;		/* its kvm_run and pio data pages (read once) */
	__u64 req;		/* the hypercall block's address in ooh-l0, or 0 */
	/* the memslot its last hypercall block was in: most are in one */
	__u64 slot_gfn, slot_pages, slot_hva;
};

#define MAP(name, kind, k, v, n)		\
	struct {				\
		__uint(type, kind);		\
		__uint(max_entries, n);		\
		__type(key, k);			\
		__type(value, v);		\
	} name SEC(".maps")

MAP(threads, BPF_MAP_TYPE_HASH, __u32, struct thread_state, 4096);
MAP(windows, BPF_MAP_TYPE_HASH, __u32, __u32, 1024);	/* tgid -> window */
MAP(intrs, BPF_MAP_TYPE_HASH, __u32, __u64, 1024);	/* tgid -> KVM_EXIT_INTR returns */
MAP(exits, BPF_MAP_TYPE_HASH, struct kvmstat_exit_key, struct kvmstat_lat, 16384);
MAP(vcpus, BPF_MAP_TYPE_HASH, struct kvmstat_vcpu_key, struct kvmstat_vcpu_val, 16384);
MAP(uexits, BPF_MAP_TYPE_HASH, struct kvmstat_uexit_key, __u64, 16384);
MAP(ops, BPF_MAP_TYPE_HASH, struct kvmstat_op_key, struct kvmstat_op_val, 16384);

/* Lookup, creating a zeroed entry the first time. */
static __always_inline void *get(void *map, const void *key)
{
	static const struct kvmstat_op_val zero;	/* the largest value type */
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

#pragma unroll
	for (int s = 32; s > 0; s >>= 1) {
		if (v >= (1ull << s)) {
			v >>= s;
			r += s;
		}
	}
	return r < KVMSTAT_HIST_SLOTS ? r : KVMSTAT_HIST_SLOTS - 1;
}

static __always_inline void lat_add(struct kvmstat_lat *l, __u64 ns)
{
	__sync_fetch_and_add(&l->count, 1);
	__sync_fetch_and_add(&l->ns, ns);
	if (want_hist)
		__sync_fetch_and_add(&l->hist[log2_u64(ns)], 1);
}

/* Without --split-on there is one window, 0, and no map to look it up in. */
static __always_inline __u32 window_of(__u32 tgid)
{
	__u32 *w;

	if (split_op < 0)
		return 0;
	w = bpf_map_lookup_elem(&windows, &tgid);
	return w ? *w : 0;
}

static __always_inline bool watched(__u32 tgid, __u32 vcpu)
{
	return (!targ_tgid || tgid == targ_tgid) && (targ_vcpu < 0 || vcpu == (__u32)targ_vcpu);
}

/* Whether the thread's own counters are its vCPU's in the current window. */
static __always_inline bool counts_here(const struct thread_state *st)
{
	return split_op < 0 && st->pub.own;
}

static __always_inline void vcpu_count(struct thread_state *st, int what)
{
	struct kvmstat_vcpu_key k = { st->tgid, st->vcpu, st->win, 0 };
	struct kvmstat_vcpu_val *v;

	if (what < 0 || what >= KVMSTAT_NR_VCPU_COUNTERS)
		return;
	if (counts_here(st)) {
		st->pub.n[what]++;
		return;
	}
	v = get(&vcpus, &k);
	if (v)
		__sync_fetch_and_add(&v->n[what], 1);
}

/* The state of the current thread if it is a watched vCPU thread. */
static __always_inline struct thread_state *vcpu_thread(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thread_state *st = bpf_map_lookup_elem(&threads, &tid);

	if (!st || !watched(st->tgid, st->vcpu))
		return 0;
	st->win = window_of(st->tgid);
	return st;
}

/*
 * kvm_exit's and kvm_entry's: the thread's state, made at its first event.
 * A thread that runs another vCPU than its first (KVM allows it, VMMs do
 * not do it) counts from then on in the maps: its own counters stay its
 * first vCPU's, so no count ever moves between two places the tool reads.
 */
static __always_inline struct thread_state *vcpu_thread_of(struct kvm_vcpu *v, __u64 id)
{
	__u32 tid = (__u32)id, tgid = id >> 32, vcpu = v->vcpu_id;
	struct thread_state *st = bpf_map_lookup_elem(&threads, &tid);

	if (!st) {
		static const struct thread_state zero;	/* too big for the stack */

		bpf_map_update_elem(&threads, &tid, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&threads, &tid);
		if (!st)
			return 0;
		st->pub.tgid = st->tgid = tgid;
		st->pub.vcpu = st->vcpu = vcpu;
		st->pub.own = 1;
		st->kvm_vcpu = (__u64)v;
	}
	if (st->kvm_vcpu != (__u64)v) {
		st->kvm_vcpu = (__u64)v;
		st->vcpu = vcpu;
		st->tgid = tgid;
		st->pub.own = 0;
		st->run = st->pio = 0;
		st->slot_pages = 0;
	}
	st->win = window_of(tgid);
	return st;
}

static __always_inline __u32 exit_reason_of(struct kvm_vcpu *v, __u32 isa)
{
	if (isa == 2 && bpf_core_type_exists(struct vcpu_svm)) {
		struct vcpu_svm *svm = (void *)((char *)v - bpf_core_field_offset(struct vcpu_svm, vcpu));

		return BPF_CORE_READ(svm, vmcb, control.exit_code);
	}
	if (isa == 1 && bpf_core_type_exists(struct vcpu_vmx)) {
		struct vcpu_vmx *vmx = (void *)((char *)v - bpf_core_field_offset(struct vcpu_vmx, vcpu));

		return BPF_CORE_READ(vmx, exit_reason.full);
	}
	return ~0u;
}

SEC("tp_btf/kvm_exit")
int BPF_PROG(on_kvm_exit, struct kvm_vcpu *v, __u32 isa)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct kvmstat_exit_key k = { .tgid = id >> 32, .vcpu = v->vcpu_id, .isa = isa };
	struct thread_state *st;
	struct kvmstat_lat *l;
	int slot;

	if (!watched(k.tgid, k.vcpu))
		return 0;
	st = vcpu_thread_of(v, id);
	if (!st)
		return 0;
	k.reason = exit_reason_of(v, isa);
	k.window = st->win;
	st->exit_ns = bpf_ktime_get_ns();
	st->isa = k.isa;
	st->reason = k.reason;
	st->has_exit = 1;
	st->exit_win = st->win;
	vcpu_count(st, KVMSTAT_EXITS);
	if (!st->pub.isa)
		st->pub.isa = isa;
	slot = kvmstat_reason_slot(isa, k.reason);
	barrier_var(slot);	/* keep the bounds check: the verifier needs it */
	if (counts_here(st) && isa == st->pub.isa && slot >= 0 && slot < KVMSTAT_NR_REASON_SLOTS) {
		st->exit_slot = slot;
		st->pub.exits[slot]++;
		return 0;
	}
	st->exit_slot = -1;
	l = get(&exits, &k);
	if (l)
		__sync_fetch_and_add(&l->count, 1);
	return 0;
}

/* An exit's time to the next entry, where its count is. */
static __always_inline void exit_time(struct thread_state *st, __u64 ns)
{
	struct kvmstat_exit_key k = { st->tgid, st->vcpu, st->isa, st->reason, st->exit_win, 0 };
	struct kvmstat_lat *l;
	__s32 slot = st->exit_slot;

	if (slot >= 0 && slot < KVMSTAT_NR_REASON_SLOTS) {
		st->pub.exit_ns[slot] += ns;
		if (!want_hist)
			return;
		l = get(&exits, &k);	/* the histogram only */
	} else {
		l = bpf_map_lookup_elem(&exits, &k);	/* counted at the exit */
		if (l)
			__sync_fetch_and_add(&l->ns, ns);
	}
	if (l && want_hist)
		__sync_fetch_and_add(&l->hist[log2_u64(ns)], 1);
}

#define KVM_RUN_IO		32	/* struct kvm_run's io (uapi, fixed) */
#define KVM_PIO_PAGE		4096	/* io.data_offset: KVM_PIO_PAGE_OFFSET pages */

/*
 * The address in the VMM of guest-physical gpa, or 0: the thread's cached
 * slot, else KVM's memslot tree. The cache outlives slot changes (virtual
 * SPP splits slots): right for ooh-l0, whose guest RAM is one linear
 * mapping that slots only ever cut up, not for a VMM that moves memory.
 */
static __always_inline __u64 gpa_to_hva(struct thread_state *st, struct kvm_vcpu *v, __u64 gpa)
{
	__u64 gfn = gpa >> 12, node_off;
	struct kvm_memslots *ms;
	struct rb_node *node;
	int idx;

	if (gfn >= st->slot_gfn && gfn < st->slot_gfn + st->slot_pages)
		return st->slot_hva + ((gfn - st->slot_gfn) << 12) + (gpa & 0xfff);
	ms = BPF_CORE_READ(v, kvm, memslots[0]);
	if (!ms)
		return 0;
	idx = BPF_CORE_READ(ms, node_idx) & 1;
	node = BPF_CORE_READ(ms, gfn_tree.rb_node);
	node_off = bpf_core_field_offset(struct kvm_memory_slot, gfn_node) +
		   idx * bpf_core_type_size(struct rb_node);
	for (int depth = 0; depth < 24 && node; depth++) {
		struct kvm_memory_slot *slot = (void *)((char *)node - node_off);
		__u64 base = BPF_CORE_READ(slot, base_gfn);

		if (gfn < base) {
			node = BPF_CORE_READ(node, rb_left);
		} else if (gfn >= base + BPF_CORE_READ(slot, npages)) {
			node = BPF_CORE_READ(node, rb_right);
		} else {
			st->slot_gfn = base;
			st->slot_pages = BPF_CORE_READ(slot, npages);
			st->slot_hva = BPF_CORE_READ(slot, userspace_addr);
			return st->slot_hva + ((gfn - base) << 12) + (gpa & 0xfff);
		}
	}
	return 0;
}

/*
 * A KVM_EXIT_IO that is an OoH hypercall: its op (KVMSTAT_OP_BAD_HC for a
 * block outside RAM or an unknown op), the block's address in *req; -1 if
 * the exit is no hypercall.
 */
static __always_inline int decode_hypercall(struct thread_state *st, __u64 *req)
{
	struct kvm_vcpu *v = (void *)st->kvm_vcpu;
	struct {
		__u8 direction, size;
		__u16 port;
		__u32 count;
		__u64 data_offset;
	} io;
	char *run, *pio;
	__u32 val = 0, op = ~0u;

	*req = 0;
	if (!v)
		return -1;
	if (!st->run) {
		st->run = (__u64)BPF_CORE_READ(v, run);
		/* the data is at data_offset in the VMM's mapping: the pio page */
		st->pio = (__u64)BPF_CORE_READ(v, arch.pio_data);
	}
	run = (char *)st->run;
	pio = (char *)st->pio;
	if (!run || bpf_probe_read_kernel(&io, sizeof(io), run + KVM_RUN_IO))
		return -1;
	if (io.port != OOH_HC_PORT || io.direction != 1 || io.size != 4 || io.count != 1 ||
	    io.data_offset != KVM_PIO_PAGE || !pio || bpf_probe_read_kernel(&val, 4, pio))
		return -1;
	*req = gpa_to_hva(st, v, (__u64)val << OOH_HC_ALIGN_SHIFT);
	if (*req && bpf_probe_read_user(&op, sizeof(op),
					(void *)(*req + __builtin_offsetof(struct ooh_hc_req, op))))
		*req = 0;
	return *req && op < KVMSTAT_OP_HC_MAX ? (int)op : KVMSTAT_OP_BAD_HC;
}

/* A harvest on a vCPU thread outside any op (a full dirty ring): its own op. */
static __always_inline void op_harvest_outside(struct thread_state *st)
{
	struct kvmstat_op_key k = { st->tgid, KVMSTAT_OP_HARVEST, st->has_exit ? st->reason : ~0u,
				    st->win };
	struct kvmstat_op_val *v = get(&ops, &k);
	__u64 *i = bpf_map_lookup_elem(&intrs, &st->tgid);

	if (!v)
		return;
	__sync_fetch_and_add(&v->calls, 1);
	if (st->has_exit)
		__sync_fetch_and_add(&v->exits, 1);
	__sync_fetch_and_add(&v->user_exits, 1);
	__sync_fetch_and_add(&v->ring_entries, st->ring);
	if (i)
		__sync_fetch_and_add(&v->kicks, *i - st->intrs);
	lat_add(&v->l0, bpf_ktime_get_ns() - st->user_ns);
	st->harvested = 0;
	st->ring = 0;
}

/*
 * An op ends as its vCPU enters again: the time it kept the vCPU out, a
 * hypercall's result (as l0 wrote it in the block), what it harvested.
 * Its window is the one it began in (a STATS that opens one is in it).
 */
static __always_inline void op_end(struct thread_state *st, __u64 now)
{
	struct kvmstat_op_key k = { st->tgid, st->op - 1, st->op_reason, st->op_win };
	struct kvmstat_op_val *v = bpf_map_lookup_elem(&ops, &k);
	__s32 result = 0;

	if (!v)
		return;
	lat_add(&v->l0, now - st->user_ns);
	if (st->req && !bpf_probe_read_user(&result, sizeof(result), (void *)(st->req + __builtin_offsetof(struct ooh_hc_req, result))) &&
	    result < 0)
		__sync_fetch_and_add(&v->errors, 1);
	if (st->harvested) {
		/* the other vCPUs its harvest stopped: their signal returns since */
		__u64 *i = bpf_map_lookup_elem(&intrs, &st->tgid);

		__sync_fetch_and_add(&v->ring_entries, st->ring);
		if (i)
			__sync_fetch_and_add(&v->kicks, *i - st->intrs);
		st->harvested = 0;
		st->ring = 0;
	}
	st->req = 0;
}

SEC("tp_btf/kvm_entry")
int BPF_PROG(on_kvm_entry, struct kvm_vcpu *v)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
	struct thread_state *st;

	if (!watched(id >> 32, v->vcpu_id))
		return 0;
	st = vcpu_thread_of(v, id);
	if (!st)
		return 0;
	vcpu_count(st, KVMSTAT_ENTRIES);
	if (st->in_user && !st->op && st->harvested)
		op_harvest_outside(st);	/* a full ring, on this vCPU */
	if (st->in_user && st->op)
		op_end(st, now);
	if (st->has_exit) {
		exit_time(st, now - st->exit_ns);
		st->has_exit = 0;
	}
	st->in_user = 0;
	st->op = 0;
	return 0;
}

/*
 * An op starts on the vCPU thread that exited for it: the exit and the
 * KVM_RUN return just seen on this thread are the op's.
 */
static __always_inline struct kvmstat_op_val *op_begin(struct thread_state *st, __u32 op,
						       bool opens_window)
{
	struct kvmstat_op_key k = { .tgid = st->tgid, .op = op, .reason = ~0u };
	struct kvmstat_op_val *v;

	if (opens_window) {
		__u32 w = st->win + 1;

		if (w < KVMSTAT_MAX_WINDOWS) {
			bpf_map_update_elem(&windows, &st->tgid, &w, BPF_ANY);
			st->win = w;
		}
	}
	k.window = st->win;
	/* the trapping exit: the last one before KVM_RUN returned (none if
	 * KVM_RUN returned without entering the guest) */
	if (st->in_user && st->has_exit)
		k.reason = st->reason;
	v = get(&ops, &k);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->calls, 1);
	if (st->in_user) {
		if (st->has_exit)
			__sync_fetch_and_add(&v->exits, 1);
		__sync_fetch_and_add(&v->user_exits, 1);
		st->op = op + 1;
		st->op_reason = k.reason;
		st->op_win = k.window;
	}
	return v;
}

SEC("tp_btf/kvm_userspace_exit")
int BPF_PROG(on_kvm_userspace_exit, __u32 reason, int ret)
{
	struct thread_state *st = vcpu_thread();
	__u32 slot;
	__u64 *i;

	if (!st)
		return 0;
	/* a KVM_RUN cut short by a signal may leave the last exit's reason */
	if (ret == -4)	/* -EINTR */
		reason = 10;			/* KVM_EXIT_INTR */
	i = get(&intrs, &st->tgid);
	st->user_ns = bpf_ktime_get_ns();
	st->intrs = i ? *i : 0;
	st->ring = 0;
	st->harvested = 0;
	st->in_user = 1;
	st->op = 0;
	st->req = 0;
	vcpu_count(st, KVMSTAT_USERSPACE_EXITS);
	slot = reason & (KVMSTAT_NR_UEXITS - 1);
	barrier_var(slot);	/* index with the masked copy: the verifier checks that one */
	if (counts_here(st) && slot == reason) {
		st->pub.uexits[slot]++;
	} else {
		struct kvmstat_uexit_key k = { st->tgid, st->vcpu, reason, st->win };
		__u64 *n = get(&uexits, &k);

		if (n)
			__sync_fetch_and_add(n, 1);
	}
	if (reason == 10 && i)	/* a signal: l0's kicks among them */
		__sync_fetch_and_add(i, 1);
	if (reason == 2 && ret == 0) {	/* KVM_EXIT_IO: an OoH hypercall? */
		__u64 req;
		int op = decode_hypercall(st, &req);

		if (op >= 0 && op_begin(st, op, split_op >= 0 && op == split_op))
			st->req = req;
	}
	return 0;
}

/* Counters that only need the vCPU thread's identity. */
static __always_inline int count_on_thread(int what)
{
	struct thread_state *st = vcpu_thread();

	if (st)
		vcpu_count(st, what);
	return 0;
}

SEC("tp_btf/kvm_pio")
int BPF_PROG(on_kvm_pio)
{
	return count_on_thread(KVMSTAT_PIO);
}

SEC("tp_btf/kvm_mmio")
int BPF_PROG(on_kvm_mmio)
{
	return count_on_thread(KVMSTAT_MMIO);
}

SEC("tp_btf/kvm_page_fault")
int BPF_PROG(on_kvm_page_fault)
{
	return count_on_thread(KVMSTAT_PAGE_FAULTS);
}

SEC("tp_btf/kvm_dirty_ring_push")
int BPF_PROG(on_kvm_dirty_ring_push)
{
	return count_on_thread(KVMSTAT_RING_PUSHES);
}

SEC("tp_btf/kvm_dirty_ring_reset")
int BPF_PROG(on_kvm_dirty_ring_reset)
{
	return count_on_thread(KVMSTAT_RING_RESETS);
}

SEC("tp_btf/kvm_dirty_ring_exit")
int BPF_PROG(on_kvm_dirty_ring_exit)
{
	return count_on_thread(KVMSTAT_RING_FULL);
}

/* On a vCPU thread, the op it harvests for ends later (its next entry). */
SEC("usdt")
int BPF_USDT(on_harvest, __s32 vcpu, __u64 entries)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct thread_state *st = vcpu_thread();
	struct kvmstat_op_key k = { tgid, KVMSTAT_OP_HARVEST, ~0u, window_of(tgid) };
	struct kvmstat_op_val *v;

	if (targ_tgid && tgid != targ_tgid)
		return 0;
	if (st && st->in_user) {
		st->ring += entries;
		st->harvested = 1;
		return 0;
	}
	v = get(&ops, &k);	/* off the vCPU threads: the control socket's */
	if (v) {
		__sync_fetch_and_add(&v->calls, 1);
		__sync_fetch_and_add(&v->ring_entries, entries);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_spp_permit, __u32 vcpu, __u64 gpa, __u32 len)
{
	struct thread_state *st = vcpu_thread();

	if (st)
		op_begin(st, KVMSTAT_OP_SPP_PERMIT, false);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_spp_refuse, __u32 vcpu, __u64 gpa, __u32 len)
{
	struct thread_state *st = vcpu_thread();

	if (st)
		op_begin(st, KVMSTAT_OP_SPP_REFUSE, false);
	return 0;
}

/*
 * ooh.ko's tracepoints (--guest, inside a VM): records as ooh-kvmstat.h
 * lays them out (ooh.ko has no BTF), checked against the format files by
 * the tool before loading.
 */
MAP(sessions, BPF_MAP_TYPE_HASH, struct kvmstat_session_key, struct kvmstat_session_val, 1024);
MAP(violations, BPF_MAP_TYPE_HASH, struct kvmstat_violation_key, __u64, 4096);

/* session id -> the labels of its last start (mode, tracker, target) */
MAP(session_labels, BPF_MAP_TYPE_HASH, __u32, struct kvmstat_session_key, 1024);

/* A session's counters; before its start is seen, under its id and target only. */
static __always_inline struct kvmstat_session_val *session(__u32 id, __s32 target)
{
	struct kvmstat_session_key *l = bpf_map_lookup_elem(&session_labels, &id);
	struct kvmstat_session_key k = { .session = id, .target = target };

	if (l)
		k = *l;
	return get(&sessions, &k);
}

SEC("tp/ooh/ooh_session_start")
int on_ooh_session_start(struct ooh_session_start_rec *r)
{
	struct kvmstat_session_key k = { r->session, r->mode, r->tracker, r->target };
	struct kvmstat_session_val *v;
	__u32 id = r->session;

	bpf_map_update_elem(&session_labels, &id, &k, BPF_ANY);
	v = session(id, r->target);
	if (v)
		__sync_fetch_and_add(&v->n[KVMSTAT_S_STARTS], 1);
	return 1;
}

SEC("tp/ooh/ooh_collect")
int on_ooh_collect(struct ooh_collect_rec *r)
{
	struct kvmstat_session_val *v = session(r->session, 0);

	if (!v)
		return 1;
	__sync_fetch_and_add(&v->n[KVMSTAT_S_COLLECTS], 1);
	if (r->ret < 0)
		__sync_fetch_and_add(&v->n[KVMSTAT_S_COLLECT_ERRORS], 1);
	__sync_fetch_and_add(&v->n[KVMSTAT_S_PAGES], r->count);
	if (r->flags & 4)	/* OOH_COLLECT_F_OVERFLOW */
		__sync_fetch_and_add(&v->n[KVMSTAT_S_OVERFLOWS], 1);
	__sync_fetch_and_add(&v->n[KVMSTAT_S_HYPERCALLS], r->hypercalls);
	return 1;
}

SEC("tp/ooh/ooh_epml_switch")
int on_ooh_epml_switch(struct ooh_epml_switch_rec *r)
{
	struct kvmstat_session_val *v = session(r->session, r->tgid);

	if (v)
		__sync_fetch_and_add(&v->n[r->in ? KVMSTAT_S_SWITCH_IN : KVMSTAT_S_SWITCH_OUT], 1);
	return 1;
}

SEC("tp/ooh/ooh_spp_violation")
int on_ooh_spp_violation(struct ooh_spp_violation_rec *r)
{
	struct kvmstat_violation_key k = { r->pid, r->action };
	__u64 *n = get(&violations, &k);

	if (n)
		__sync_fetch_and_add(n, 1);
	return 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
