/* SPDX-License-Identifier: MIT */
/*
 * ooh-kvmstat: the maps shared by the BPF side (ooh-kvmstat.bpf.c) and the
 * tool (ooh-kvmstat.c). Every counter is cumulative in the kernel; the tool
 * prints differences between two reads, so nothing is lost between reads.
 *
 * A "window" splits a run at each hypercall of one op (--split-on OP): a
 * benchmark that brackets each measured phase with OOH_HC_STATS calls gets
 * one record per phase, aligned exactly with its own counters.
 */
#ifndef OOH_KVMSTAT_H
#define OOH_KVMSTAT_H

#include <linux/types.h>

#define KVMSTAT_HIST_SLOTS	32	/* log2(ns) buckets */
#define KVMSTAT_MAX_WINDOWS	1024	/* windows past this share the last */

/* ops: hypercall ops are their enum ooh_hc_op value; below, what is not. */
#define KVMSTAT_OP_HC_MAX	32	/* hypercall ops 0..31 */
#define KVMSTAT_OP_BAD_HC	32	/* unknown op or block outside RAM */
#define KVMSTAT_OP_SPP_PERMIT	33	/* a write SPP let through (emulated) */
#define KVMSTAT_OP_SPP_REFUSE	34	/* a write SPP refused */
#define KVMSTAT_OP_HARVEST	35	/* harvest outside a hypercall (ring full, host query) */
#define KVMSTAT_NR_OPS		36

/*
 * Exit reasons of kvm_exit, per VM, vCPU and ISA (1 VMX, 2 SVM). Without
 * --hist, only exits a thread does not count itself (kvmstat_thread).
 */
struct kvmstat_exit_key {
	__u32 tgid;
	__u32 vcpu;
	__u32 isa;
	__u32 reason;
	__u32 window;
	__u32 pad;
};

struct kvmstat_lat {
	__u64 count;
	__u64 ns;		/* sum */
	__u64 hist[KVMSTAT_HIST_SLOTS];
};

/* What KVM did on a vCPU, beside exits by reason. */
enum kvmstat_vcpu_counter {
	KVMSTAT_ENTRIES,	/* kvm_entry: every VM entry, fastpath re-entries too */
	KVMSTAT_EXITS,		/* kvm_exit */
	KVMSTAT_USERSPACE_EXITS,/* kvm_userspace_exit: KVM_RUN returned */
	KVMSTAT_PIO,		/* kvm_pio */
	KVMSTAT_MMIO,		/* kvm_mmio */
	KVMSTAT_PAGE_FAULTS,	/* kvm_page_fault */
	KVMSTAT_RING_PUSHES,	/* kvm_dirty_ring_push: entries logged */
	KVMSTAT_RING_RESETS,	/* kvm_dirty_ring_reset */
	KVMSTAT_RING_FULL,	/* kvm_dirty_ring_exit: exits for a full ring */
	KVMSTAT_NR_VCPU_COUNTERS
};

struct kvmstat_vcpu_key {
	__u32 tgid;
	__u32 vcpu;
	__u32 window;
	__u32 pad;
};

struct kvmstat_vcpu_val {
	__u64 n[KVMSTAT_NR_VCPU_COUNTERS];
};

#define KVMSTAT_NR_UEXITS	64	/* KVM_EXIT_* reasons a thread counts itself */

/*
 * Exit reasons a thread counts itself, by slot: SVM's codes below 0xa0
 * and 0x400-0x403 (NPF, AVIC), VMX's basic reasons below 0x50 (no flag
 * bits). Others go to the exits map.
 */
#define KVMSTAT_NR_REASON_SLOTS	0xa4

static inline int kvmstat_reason_slot(__u32 isa, __u32 reason)
{
	if (isa == 2 && reason < 0xa0)
		return (int)reason;
	if (isa == 2 && reason >= 0x400 && reason < 0x404)
		return (int)(0xa0 + reason - 0x400);
	if (isa == 1 && reason < 0x50)
		return (int)reason;
	return -1;
}

static inline __u32 kvmstat_slot_reason(__u32 isa, int slot)
{
	return isa == 2 && slot >= 0xa0 ? 0x400 + (__u32)slot - 0xa0 : (__u32)slot;
}

/*
 * The start of each value of the map "threads" (key: a vCPU thread's tid).
 * Without --split-on, a thread counts its vCPU's events here rather than
 * in vcpus and uexits: one map lookup per event, not two. The tool adds
 * these to those tables (key: tgid, vcpu, window 0). Counts never move
 * from here to a table, so a read can never see one twice: a thread that
 * runs a second vCPU (own = 0) counts that one in the tables.
 */
struct kvmstat_thread {
	__u32 tgid;
	__u32 vcpu;		/* the first vCPU it ran */
	__u32 own;		/* 1 while it runs only that one */
	__u32 isa;		/* its vCPU's (1 VMX, 2 SVM), from its first exit */
	__u64 n[KVMSTAT_NR_VCPU_COUNTERS];
	__u64 uexits[KVMSTAT_NR_UEXITS];
	/* exits by reason slot: count, and exit to entry ns (histograms,
	 * with --hist, in the exits map) */
	__u64 exits[KVMSTAT_NR_REASON_SLOTS];
	__u64 exit_ns[KVMSTAT_NR_REASON_SLOTS];
};

/* KVM_RUN returns by struct kvm_run exit_reason (KVM_EXIT_*). */
struct kvmstat_uexit_key {
	__u32 tgid;
	__u32 vcpu;
	__u32 reason;
	__u32 window;
};

/*
 * OoH operations, from ooh-l0's USDT probes. exits and user_exits are the
 * exits that brought the vCPU to l0 for the op (the key's reason is the
 * trapping exit's); kicks, for an op that harvested, the VM's KVM_RUN
 * returns for a signal (KVM_EXIT_INTR) from the vCPU's own return to the
 * op's end: the other vCPUs the harvest stopped; l0 is the time from
 * KVM_RUN's return to the vCPU's next entry (what the op cost the vCPU).
 * Hypercalls are decoded in the kernel (the OUT's value, KVM's memslots,
 * the request block in ooh-l0): no probe per hypercall.
 */
struct kvmstat_op_key {
	__u32 tgid;
	__u32 op;
	__u32 reason;		/* kvm_exit reason of the trapping exit, or ~0 */
	__u32 window;
};

struct kvmstat_op_val {
	__u64 calls;
	__u64 exits;
	__u64 user_exits;
	__u64 kicks;
	__u64 errors;
	__u64 ring_entries;
	struct kvmstat_lat l0;
};

/*
 * --guest: ooh.ko's tracepoints (system "ooh", docs/abi.md section 10),
 * inside a VM. Values are u64 words like every other table's.
 */
struct kvmstat_session_key {
	__u32 session;		/* l0's id; 0 for a file's sub-page protection */
	__u32 mode;		/* 1 SPML, 2 EPML, 0x100 SPP; 0: started before we looked */
	__s32 tracker;		/* tgids, from the session's start */
	__s32 target;
};

enum kvmstat_session_counter {
	KVMSTAT_S_STARTS,
	KVMSTAT_S_COLLECTS,
	KVMSTAT_S_COLLECT_ERRORS,
	KVMSTAT_S_PAGES,	/* addresses handed out */
	KVMSTAT_S_OVERFLOWS,	/* conservative answers */
	KVMSTAT_S_HYPERCALLS,	/* made by collects */
	KVMSTAT_S_SWITCH_IN,
	KVMSTAT_S_SWITCH_OUT,
	KVMSTAT_NR_SESSION_COUNTERS
};

struct kvmstat_session_val {
	__u64 n[KVMSTAT_NR_SESSION_COUNTERS];
};

/*
 * ooh.ko's raw records (docs/abi.md section 10: the 8-byte common header,
 * then the fields at fixed offsets); an out-of-tree module has no BTF, so
 * these layouts are what the BPF side reads and what the tool checks
 * against /sys/kernel/tracing/events/ooh/EVENT/format.
 */
struct ooh_session_start_rec {
	__u64 common;
	__u64 log_bytes;
	__s32 tracker;
	__s32 target;
	__u32 session;
	__u32 mode;
};

struct ooh_collect_rec {
	__u64 common;
	__u64 count, total, seq;
	__u32 session;
	__s32 ret;
	__u32 flags;
	__u32 hypercalls;
};

struct ooh_epml_switch_rec {
	__u64 common;
	__u32 session;
	__s32 tid, tgid;
	__u32 cpu;
	__u32 in;
};

struct ooh_spp_violation_rec {
	__u64 common;
	__u64 addr, gpa;
	__s32 pid;
	__u32 subpage;
	__u32 action;
};

struct kvmstat_violation_key {
	__s32 pid;
	__u32 action;		/* 0 signal, 1 emulated, 2 foreign, 3 stale */
};

#endif
