/* SPDX-License-Identifier: MIT */
/*
 * USDT probes of ooh-l0 (<sys/sdt.h>, provider "ooh_l0"): a public
 * interface for tracers (bpftrace, libbpf's USDT support, perf, systemtap;
 * issue 19's ooh-kvmstat). Names, argument order and argument types are
 * fixed here, once: each probe has its own macro that casts its arguments,
 * so the notes in the binary carry the sizes below whatever the call site
 * passes (tests/unit/l0/test-l0-probes.c checks them).
 *
 * Zero cost when unused: a probe is a single nop plus an ELF note; no
 * semaphores (_SDT_HAS_SEMAPHORES stays undefined), so arguments are always
 * computed but never tested for a tracer. Keep them to values at hand.
 *
 *   probe             arguments                                     where, when
 *   hypercall_entry   u32 vcpu_id, u32 op, u32 session, u64 gpa     ooh/hypercall.c, vCPU thread, after the
 *                                                                   request block is copied (block not in
 *                                                                   RAM: op 0xffffffff, session 0)
 *   hypercall_return  u32 vcpu_id, u32 op, u32 session, s32 result  ooh/hypercall.c, vCPU thread, as the
 *                                                                   hypercall returns (every path)
 *   harvest           s32 vcpu_id, u64 entries                      ooh/dirty-ring.c, each harvest: the vCPU
 *                                                                   doing it or -1 (control socket); entries
 *                                                                   taken from all vCPUs' KVM dirty rings
 *   spp_permit        u32 vcpu_id, u64 gpa, u32 len                 ooh/spp.c, vCPU thread: a guest write
 *                                                                   to a protected page, performed
 *   spp_refuse        u32 vcpu_id, u64 gpa, u32 len                 ooh/spp.c, vCPU thread: a guest write
 *                                                                   refused (len 0: KVM could not emulate
 *                                                                   it, length unknown)
 *   session_open      s32 result, u32 mode                          ooh/session.c: new session id or -errno
 *   session_close     u32 session, s32 result                       ooh/session.c: 0 or -errno
 */
#ifndef L0_PROBES_H
#define L0_PROBES_H

#include <stdint.h>
#include <sys/sdt.h>

/* hypercall_entry's op and hypercall_return's op for a block outside RAM */
#define L0_PROBE_NO_OP 0xffffffffu

#define L0_PROBE_HYPERCALL_ENTRY(vcpu_id, op, session, gpa) \
	DTRACE_PROBE4(ooh_l0, hypercall_entry, (uint32_t)(vcpu_id), (uint32_t)(op), \
		      (uint32_t)(session), (uint64_t)(gpa))
#define L0_PROBE_HYPERCALL_RETURN(vcpu_id, op, session, result) \
	DTRACE_PROBE4(ooh_l0, hypercall_return, (uint32_t)(vcpu_id), (uint32_t)(op), \
		      (uint32_t)(session), (int32_t)(result))
#define L0_PROBE_HARVEST(vcpu_id, entries) \
	DTRACE_PROBE2(ooh_l0, harvest, (int32_t)(vcpu_id), (uint64_t)(entries))
#define L0_PROBE_SPP_PERMIT(vcpu_id, gpa, len) \
	DTRACE_PROBE3(ooh_l0, spp_permit, (uint32_t)(vcpu_id), (uint64_t)(gpa), (uint32_t)(len))
#define L0_PROBE_SPP_REFUSE(vcpu_id, gpa, len) \
	DTRACE_PROBE3(ooh_l0, spp_refuse, (uint32_t)(vcpu_id), (uint64_t)(gpa), (uint32_t)(len))
#define L0_PROBE_SESSION_OPEN(result, mode) \
	DTRACE_PROBE2(ooh_l0, session_open, (int32_t)(result), (uint32_t)(mode))
#define L0_PROBE_SESSION_CLOSE(session, result) \
	DTRACE_PROBE2(ooh_l0, session_close, (uint32_t)(session), (int32_t)(result))

#endif
