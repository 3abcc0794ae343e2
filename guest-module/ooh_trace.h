/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ooh.ko's tracepoints, system "ooh" (/sys/kernel/tracing/events/ooh/):
 * usable from tracefs, perf and BPF (bpftrace tracepoint:ooh:*). The
 * events are defined in ooh_trace.c (CREATE_TRACE_POINTS) and documented
 * in docs/abi.md, section 10.
 *
 * The layout comment next to each event gives the raw record as a BPF
 * program reading it by offset sees it: the 8-byte common header
 * (common_type u16, common_flags u8, common_preempt_count u8, common_pid
 * s32, the thread that fired the event), then the fields, all fixed-size
 * and naturally aligned. The offsets are what
 * /sys/kernel/tracing/events/ooh/EVENT/format says: check them there.
 * A field may be added at the end; none is moved.
 *
 * Disabled, an event costs a static branch: every argument is a value its
 * caller holds anyway, and whatever needs computing is computed in
 * TP_fast_assign, which runs only when the event is on.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM ooh

#if !defined(OOH_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define OOH_TRACE_H

#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/tracepoint.h>
#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

/* ooh_session_start's mode for a file's sub-page protection (not l0's) */
#define OOH_TRACE_MODE_SPP	0x100

/* ooh_spp_violation's action */
#define OOH_TRACE_SPP_SIGNAL	0	/* SIGSEGV sent: l0 refused the write */
#define OOH_TRACE_SPP_EMULATED	1	/* SIGSEGV sent: a VEX store ooh.ko emulated */
#define OOH_TRACE_SPP_FOREIGN	2	/* another process's page: counted, no signal */
#define OOH_TRACE_SPP_STALE	3	/* unprotected before delivery: nothing sent */

/*
 * ooh_session_start: a session starts tracking (OOH_IOC_START succeeded),
 * or a file's sub-page protection starts (its first SPP ioctl: mode
 * OOH_TRACE_MODE_SPP, session 0, target NULL: the caller itself).
 *   off  8 u64 log_bytes  the session's log ring (0 for SPP)
 *   off 16 s32 tracker    tgid of the process that started it
 *   off 20 s32 target     tgid of the tracked process
 *   off 24 u32 session    the session id l0 knows it by (0 for SPP)
 *   off 28 u32 mode       OOH_MODE_SPML 1, OOH_MODE_EPML 2, SPP 0x100
 *   size 32
 */
TRACE_EVENT(ooh_session_start,
	TP_PROTO(u32 session, u32 mode, struct pid *target, u64 log_bytes),
	TP_ARGS(session, mode, target, log_bytes),
	TP_STRUCT__entry(
		__field(u64, log_bytes)
		__field(s32, tracker)
		__field(s32, target)
		__field(u32, session)
		__field(u32, mode)
	),
	TP_fast_assign(
		__entry->log_bytes = log_bytes;
		__entry->tracker = current->tgid;
		__entry->target = target ? pid_nr(target) : current->tgid;
		__entry->session = session;
		__entry->mode = mode;
	),
	TP_printk("session=%u mode=%s tracker=%d target=%d log_bytes=%llu",
		  __entry->session,
		  __print_symbolic(__entry->mode,
				   { OOH_MODE_SPML, "SPML" },
				   { OOH_MODE_EPML, "EPML" },
				   { OOH_TRACE_MODE_SPP, "SPP" }),
		  __entry->tracker, __entry->target, __entry->log_bytes)
);

/*
 * ooh_collect: one OOH_IOC_COLLECT on an open session, failed or not.
 *   off  8 u64 count      addresses copied out by this call
 *   off 16 u64 total      addresses in the interval (0 if it failed)
 *   off 24 u64 seq        l0's harvest sequence of the interval (0: failed)
 *   off 32 u32 session    l0's session id
 *   off 36 s32 ret        the ioctl's result: 0 or -errno
 *   off 40 u32 flags      OOH_COLLECT_F_*: CONTINUE (1) this call went on
 *                         with an interval already harvested, MORE (2)
 *                         addresses are left, OVERFLOW (4) the answer is
 *                         conservative (log overflow or a late thread)
 *   off 44 u32 hypercalls made by this call (SYNC: 1 per harvest)
 *   size 48
 */
TRACE_EVENT(ooh_collect,
	TP_PROTO(u32 session, s32 ret, u64 count, u64 total, u64 seq,
		 u32 flags, u32 hypercalls),
	TP_ARGS(session, ret, count, total, seq, flags, hypercalls),
	TP_STRUCT__entry(
		__field(u64, count)
		__field(u64, total)
		__field(u64, seq)
		__field(u32, session)
		__field(s32, ret)
		__field(u32, flags)
		__field(u32, hypercalls)
	),
	TP_fast_assign(
		__entry->count = count;
		__entry->total = total;
		__entry->seq = seq;
		__entry->session = session;
		__entry->ret = ret;
		__entry->flags = flags;
		__entry->hypercalls = hypercalls;
	),
	TP_printk("session=%u ret=%d count=%llu total=%llu seq=%llu flags=%s hypercalls=%u",
		  __entry->session, __entry->ret, __entry->count,
		  __entry->total, __entry->seq,
		  __print_flags(__entry->flags, "|",
				{ OOH_COLLECT_F_CONTINUE, "CONTINUE" },
				{ OOH_COLLECT_F_MORE, "MORE" },
				{ OOH_COLLECT_F_OVERFLOW, "OVERFLOW" }),
		  __entry->hypercalls)
);

/*
 * ooh_epml_switch: an EPML session's context-switch hook ran for a target
 * thread (the preempt notifier, in the thread's own switch; one "in" also
 * when the hook is first registered in a running thread): as many "in"
 * events as the session's sched_in counter counts, "out" as sched_out.
 *   off  8 u32 session    l0's session id
 *   off 12 s32 tid        the target thread (also common_pid)
 *   off 16 s32 tgid       the target process
 *   off 20 u32 cpu        the CPU it switches in on or out of
 *   off 24 u32 in         1: switched in, 0: switched out
 *   size 28
 */
TRACE_EVENT(ooh_epml_switch,
	TP_PROTO(u32 session, int cpu, bool in),
	TP_ARGS(session, cpu, in),
	TP_STRUCT__entry(
		__field(u32, session)
		__field(s32, tid)
		__field(s32, tgid)
		__field(u32, cpu)
		__field(u32, in)
	),
	TP_fast_assign(
		__entry->session = session;
		__entry->tid = current->pid;
		__entry->tgid = current->tgid;
		__entry->cpu = cpu;
		__entry->in = in;
	),
	TP_printk("session=%u tid=%d tgid=%d cpu=%u %s",
		  __entry->session, __entry->tid, __entry->tgid, __entry->cpu,
		  __entry->in ? "in" : "out")
);

/*
 * ooh_spp_violation: a write refused by sub-page protection, as it is
 * delivered (task work on the writer's way back to user mode).
 *   off  8 u64 addr       the refused byte's user address (si_addr; in
 *                         the owner's address space for FOREIGN; 0: STALE)
 *   off 16 u64 gpa        its guest-physical address as l0 reported it
 *                         (0 for EMULATED: the guest judged the store)
 *   off 24 s32 pid        tgid of the writer (its thread: common_pid)
 *   off 28 u32 subpage    the 128-byte sub-page of addr in its page (0-31)
 *   off 32 u32 action     SIGNAL 0, EMULATED 1, FOREIGN 2, STALE 3
 *   size 40 (4 bytes of padding at 36)
 */
TRACE_EVENT(ooh_spp_violation,
	TP_PROTO(unsigned long addr, u64 gpa, u32 action),
	TP_ARGS(addr, gpa, action),
	TP_STRUCT__entry(
		__field(u64, addr)
		__field(u64, gpa)
		__field(s32, pid)
		__field(u32, subpage)
		__field(u32, action)
	),
	TP_fast_assign(
		__entry->addr = addr;
		__entry->gpa = gpa;
		__entry->pid = current->tgid;
		__entry->subpage = (addr & ~PAGE_MASK) >> OOH_SPP_SUBPAGE_SHIFT;
		__entry->action = action;
	),
	TP_printk("pid=%d addr=0x%llx gpa=0x%llx subpage=%u action=%s",
		  __entry->pid, __entry->addr, __entry->gpa, __entry->subpage,
		  __print_symbolic(__entry->action,
				   { OOH_TRACE_SPP_SIGNAL, "signal" },
				   { OOH_TRACE_SPP_EMULATED, "emulated" },
				   { OOH_TRACE_SPP_FOREIGN, "foreign" },
				   { OOH_TRACE_SPP_STALE, "stale" }))
);

#endif /* OOH_TRACE_H */

/* An out-of-tree module: the path is Kbuild's -I$(src) for ooh_trace.o. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE ooh_trace
#include <trace/define_trace.h>
