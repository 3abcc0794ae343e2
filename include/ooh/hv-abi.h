/* SPDX-License-Identifier: MIT */
/*
 * OoH hypervisor <-> guest ABI: the one header shared by ooh-l0 (l0/) and
 * ooh.ko (guest-module/). Discovery (CPUID leaves), hypercalls, the
 * shadow-VMCS control page and the dirty-log ring format live here.
 * See docs/abi.md.
 */
#ifndef OOH_HV_ABI_H
#define OOH_HV_ABI_H

/* __u8..__u64: the kernel's own types, from uapi headers in userspace. */
#include <linux/types.h>

/*
 * Discovery: a hypervisor CPUID leaf range carrying the OoH signature.
 *
 * ooh-l0 puts it at OOH_CPUID_BASE and leaves KVM's own range
 * ("KVMKVMKVM\0\0\0") at 0x40000000, so an unmodified guest keeps kvmclock
 * and the other KVM paravirt features. Guests must not hard-code the base:
 * scan OOH_CPUID_SCAN_FIRST..OOH_CPUID_SCAN_LAST in steps of
 * OOH_CPUID_SCAN_STEP (as Linux does for KVM) and compare the signature.
 *
 *   leaf base+0: eax = highest OoH leaf (base + OOH_CPUID_NR_LEAVES - 1)
 *                ebx, ecx, edx = OOH_CPUID_SIGNATURE_{EBX,ECX,EDX}
 *   leaf base+1: eax = ABI version (OOH_ABI_VERSION), ebx = feature bits
 *                (OOH_FEAT_*), ecx = exit port (OOH_EXIT_PORT),
 *                edx = hypercall port (OOH_HC_PORT; 0 if no hypercalls)
 *   leaf base+2: eax = log-full notification GSI (0: none, poll the flag),
 *                ebx = max sessions per VM (OOH_MAX_SESSIONS),
 *                ecx = max log ring bytes (OOH_LOG_MAX_BYTES),
 *                edx = number of shadow control page fields
 */
#define OOH_CPUID_BASE          0x40000100u
#define OOH_CPUID_SCAN_FIRST    0x40000000u
#define OOH_CPUID_SCAN_LAST     0x4000ff00u
#define OOH_CPUID_SCAN_STEP     0x100u
#define OOH_CPUID_LEAF_SIGNATURE 0u     /* offset from the base */
#define OOH_CPUID_LEAF_FEATURES  1u
#define OOH_CPUID_LEAF_PML       2u
#define OOH_CPUID_NR_LEAVES      3u

/* "OoHOoHOoHOoH" as little-endian register contents, ebx:ecx:edx */
#define OOH_CPUID_SIGNATURE     "OoHOoHOoHOoH"
#define OOH_CPUID_SIGNATURE_EBX 0x4f486f4fu /* "OoHO" */
#define OOH_CPUID_SIGNATURE_ECX 0x6f4f486fu /* "oHOo" */
#define OOH_CPUID_SIGNATURE_EDX 0x486f4f48u /* "HOoH" */

#define OOH_ABI_VERSION_MAJOR   0u
#define OOH_ABI_VERSION_MINOR   1u
#define OOH_ABI_VERSION         ((OOH_ABI_VERSION_MAJOR << 16) | OOH_ABI_VERSION_MINOR)

/* Feature bits in leaf base+1 ebx. */
#define OOH_FEAT_EXIT_PORT      (1u << 0)
#define OOH_FEAT_HYPERCALL      (1u << 1) /* OOH_HC_PORT answers */
#define OOH_FEAT_SPML           (1u << 2) /* guest-physical dirty log */
#define OOH_FEAT_EPML           (1u << 3) /* guest-linear dirty log */
#define OOH_FEAT_SHADOW         (1u << 4) /* per-vCPU shadow control page */
#define OOH_FEAT_NOTIFY_IRQ     (1u << 5) /* log-full interrupt on the GSI */
#define OOH_FEAT_SPP            (1u << 6) /* sub-page write protection */

/*
 * Exit port: a guest payload writes its exit status (low 8 bits of a 1, 2
 * or 4 byte OUT) to this I/O port; ooh-l0 stops the VM and exits with that
 * status. Same port as QEMU's customary isa-debug-exit (iobase=0xf4), so
 * the same payload also ends a QEMU run (QEMU exits with status*2+1).
 */
#define OOH_EXIT_PORT           0x00f4u

/*
 * Hypercalls. The guest fills a request block (struct ooh_hc_req, 64 bytes,
 * 64-byte aligned, in guest RAM) and does a 32-bit OUT of (block GPA >> 6)
 * to OOH_HC_PORT. ooh-l0 copies the block, validates every field, performs
 * the operation and writes the result (0 or a negative OOH_E* errno, or a
 * positive value where the op says so) back into ->result before the OUT
 * retires. A value that is not a RAM address, or an OUT of another width,
 * is ignored (counted as a bad hypercall). Errno values are Linux's.
 */
#define OOH_HC_PORT             0x0ef0u
#define OOH_HC_ALIGN_SHIFT      6u

enum ooh_hc_op {
	OOH_HC_PING = 0,        /* -> OOH_ABI_VERSION; the empty hypercall */
	OOH_HC_SESSION_OPEN = 1, /* arg0 mode, arg1 log GPA, arg2 log bytes,
				  * arg3 page-table root (EPML) -> session id
				  */
	OOH_HC_SESSION_CLOSE = 2, /* session */
	OOH_HC_START = 3,       /* session: harvest, then log from now on */
	OOH_HC_STOP = 4,        /* session: harvest into the log, then stop */
	OOH_HC_SYNC = 5,        /* harvest every vCPU now, deliver to logs */
	OOH_HC_SHADOW_REGISTER = 6, /* arg0: GPA of this vCPU's control page */
	OOH_HC_VMWRITE = 7,     /* arg0 encoding, arg1 value (trapped write) */
	OOH_HC_VMREAD = 8,      /* arg0 encoding -> arg1 (trapped read) */
	OOH_HC_STATS = 9,       /* arg0 GPA, arg1 bytes of struct ooh_hv_stats */
	OOH_HC_SET_ROOT = 10,   /* session, arg0: new page-table root (EPML) */
	OOH_HC_SPP_SET = 11,    /* arg0 GPA of struct ooh_spp_entry[arg1] */
	OOH_HC_SPP_CLEAR = 12,  /* same array (masks must be 0), or all:
				 * arg0 = arg1 = 0, arg2 = OOH_SPP_CLEAR_ALL
				 */
	OOH_HC_SPP_REGISTER = 13, /* arg0 GPA of this vCPU's violation record
				   * (0: unregister), arg1 OOH_SPP_NOTIFY_*
				   */
	OOH_HC_NR_OPS
};

struct ooh_hc_req {
	__u32 op;               /* enum ooh_hc_op */
	__s32 result;           /* written by l0 */
	__u32 session;          /* session id, ops that take one */
	__u32 flags;            /* must be 0 */
	__u64 arg[6];
};

#define OOH_E_PERM      1
#define OOH_E_NOENT     2
#define OOH_E_2BIG      7
#define OOH_E_FAULT     14
#define OOH_E_BUSY      16
#define OOH_E_EXIST     17
#define OOH_E_INVAL     22
#define OOH_E_NOSPC     28
#define OOH_E_NOSYS     38

/* Session modes (OOH_HC_SESSION_OPEN arg0). */
#define OOH_MODE_SPML           1u /* log entries are guest-physical */
#define OOH_MODE_EPML           2u /* log entries are guest-linear */

#define OOH_MAX_SESSIONS        64u
#define OOH_LOG_MIN_BYTES       4096u
#define OOH_LOG_MAX_BYTES       (16u << 20)

/*
 * The per-session dirty log: one guest-physically contiguous, page-aligned
 * region of a power-of-two number of bytes, a 64-byte header then entries.
 * l0 is the only producer, the guest the only consumer. Indices run free
 * (never wrap); entry i lives at entry[i % size]. l0 keeps its own copy of
 * producer/overflow/seq and never trusts the guest's; it reads consumer and
 * treats a value outside [producer - size, producer] as "ring full".
 * A full ring never drops silently: the entry is counted in overflow,
 * OOH_LOG_F_OVERFLOW is set and the notification GSI (if any) pulsed; the
 * consumer must then answer conservatively for that interval. The GSI is
 * also pulsed after a delivery that leaves a log half full: drain it then.
 */
struct ooh_log_header {
	__u64 producer;         /* l0: entries produced so far */
	__u64 consumer;         /* guest: entries consumed so far */
	__u32 size;             /* l0: capacity in entries (power of two) */
	__u32 flags;            /* l0: OOH_LOG_F_* */
	__u64 overflow;         /* l0: entries that did not fit, ever */
	__u64 seq;              /* l0: harvests delivered so far */
	__u32 session;          /* l0: session id */
	__u32 mode;             /* l0: OOH_MODE_* */
	__u64 reserved[2];
};

#define OOH_LOG_F_ACTIVE        (1u << 0) /* between START and STOP */
#define OOH_LOG_F_OVERFLOW      (1u << 1) /* overflow > 0 */

struct ooh_log_entry {
	__u64 addr;             /* page-aligned GPA (SPML) or GVA (EPML) */
	__u64 seq;              /* harvest that delivered it */
};

#define OOH_LOG_ENTRIES(bytes) \
	(((bytes) - sizeof(struct ooh_log_header)) / sizeof(struct ooh_log_entry))

/*
 * The per-vCPU shadow control page (VMCS-shadowing semantics). The guest
 * registers one page per vCPU with OOH_HC_SHADOW_REGISTER, on that vCPU.
 * l0 fills the header and field slots; slot i holds the field with
 * encoding field[i].encoding. Bit i of vmread_bitmap (vmwrite_bitmap) set
 * means reading (writing) that field must go through OOH_HC_VMREAD
 * (OOH_HC_VMWRITE): l0 ignores what the guest writes in the page for such a
 * field and rewrites it at each exit. Clear bits mean the guest reads
 * (writes) the slot directly: no exit. l0 keeps the authoritative bitmaps;
 * the copies in the page are for the guest to read.
 */
#define OOH_VMCS_PML_ADDRESS    0x200eu /* SDM: PML address (SPML log GPA) */
#define OOH_VMCS_PML_INDEX      0x0812u /* SDM: PML index (log producer) */
#define OOH_VMCS_GUEST_PML_ADDRESS 0x281au /* EPML proposal: GVA-log GPA */
#define OOH_VMCS_EPML_ENABLE    0x2830u /* ours: bit s = session s runs */
#define OOH_VMCS_EPML_SEEN      0x2832u /* ours: bit s = ran since harvest */

enum ooh_shadow_slot {
	OOH_SHADOW_PML_ADDRESS,
	OOH_SHADOW_PML_INDEX,
	OOH_SHADOW_GUEST_PML_ADDRESS,
	OOH_SHADOW_EPML_ENABLE,
	OOH_SHADOW_EPML_SEEN,
	OOH_SHADOW_NR_FIELDS
};

#define OOH_SHADOW_MAGIC        0x4f6f4853u /* "SHoO" */

struct ooh_shadow_field {
	__u32 encoding;
	__u32 reserved;
	__u64 value;
};

struct ooh_shadow_page {
	__u32 magic;            /* l0: OOH_SHADOW_MAGIC once registered */
	__u32 vcpu;             /* l0: index of the vCPU it belongs to */
	__u32 nr_fields;        /* l0: OOH_SHADOW_NR_FIELDS */
	__u32 reserved;
	__u64 vmread_bitmap;    /* l0: bit set = VMREAD of slot exits */
	__u64 vmwrite_bitmap;   /* l0: bit set = VMWRITE of slot exits */
	__u64 reserved2[4];
	struct ooh_shadow_field field[OOH_SHADOW_NR_FIELDS];
};

/*
 * Sub-page write protection (SPP), as Intel SPP defines it: per guest page,
 * a 32-bit write-permission vector, bit i set = bytes [128*i, 128*i+128)
 * of the page may be written. A page with a vector is "protected"; a page
 * without one is ordinary RAM. Reads are never affected.
 *
 * OOH_HC_SPP_SET takes a batch of {gpa, mask}: each gpa page-aligned RAM,
 * not an OoH structure (log, shadow page, violation record: -EBUSY), no gpa
 * twice in a batch (-EINVAL), reserved 0; mask 0xffffffff keeps the page
 * protected with every byte writable (cheap to set and reset: the page
 * stays in its memory slot; writes to it still go through l0; only
 * SPP_CLEAR removes a page). All or nothing: on any error nothing
 * changes. -ENOSPC when the host has no memory slots left (see docs/abi.md).
 * Result: the number of entries. OOH_HC_SPP_CLEAR: the same array with
 * masks 0, or every page; result: how many pages were protected.
 *
 * A write by any vCPU that touches a byte of a sub-page whose bit is clear
 * is suppressed (nothing of it is written) and reported on that vCPU before
 * it runs again: l0 fills the vCPU's violation record (seq written last)
 * and raises the notification the guest chose. A write wholly in permitted
 * sub-pages is performed exactly.
 */
#define OOH_SPP_SUBPAGE_SHIFT   7u
#define OOH_SPP_SUBPAGE_SIZE 128u /* spelt as in ooh-lib/ooh.h */
#define OOH_SPP_MASK_ALL        0xffffffffu /* every sub-page writable, still protected */
#define OOH_SPP_MAX_BATCH       4096u       /* entries per hypercall */
#define OOH_SPP_CLEAR_ALL       1u          /* OOH_HC_SPP_CLEAR arg2 */

struct ooh_spp_entry {
	__u64 gpa;              /* page-aligned guest-physical address */
	__u32 mask;             /* bit i set: sub-page i writable */
	__u32 reserved;         /* must be 0 */
};

/* OOH_HC_SPP_REGISTER arg1: how l0 tells the vCPU about a violation. */
#define OOH_SPP_NOTIFY_NONE     0u /* poll the record */
#define OOH_SPP_NOTIFY_NMI      1u /* an NMI to the writing vCPU */
#define OOH_SPP_NOTIFY_BR       2u /* a BOUND-range exception (#BR, vector 5:
				    * never raised by 64-bit code) on the
				    * writing vCPU, delivered before its next
				    * instruction
				    */

/* Per-vCPU violation record: 64 bytes, 64-byte aligned, guest RAM. */
struct ooh_spp_violation {
	__u64 seq;              /* l0: violations reported on this vCPU, ever;
				 * stored last (release)
				 */
	__u64 gpa;              /* l0: first refused byte */
	__u64 write_gpa;        /* l0: start of the refused write */
	__u32 len;              /* l0: bytes of the refused write (0: unknown) */
	__u32 vcpu;             /* l0: index of the vCPU */
	__u32 flags;            /* l0: OOH_SPP_V_* */
	__u32 reserved;
	__u64 ack;              /* guest: last seq it handled (l0 only reads) */
	__u64 lost;             /* l0: reports written over while unacked */
	__u64 reserved2;
};

#define OOH_SPP_V_EMULATION     (1u << 0) /* KVM could not emulate the write:
					   * gpa is the faulting page's, the
					   * guest got #UD (see docs/abi.md)
					   */

/* OOH_HC_STATS: counters since VM start (a consistent snapshot). */
struct ooh_hv_stats {
	__u64 hypercalls[OOH_HC_NR_OPS]; /* per op */
	__u64 bad_hypercalls;   /* unparsable OUTs and ops that failed */
	__u64 vcpu_exits;       /* every KVM_RUN return, all vCPUs */
	__u64 kick_exits;       /* exits forced by harvests */
	__u64 harvests;
	__u64 ring_full_exits;  /* KVM_EXIT_DIRTY_RING_FULL */
	__u64 gfns_harvested;
	__u64 entries_delivered;
	__u64 entries_overflowed;
	__u64 epml_walk_ptes;   /* page-table entries l0 read for EPML */
	__u64 notifications;    /* log-full interrupts raised */
	__u64 spp_pages;        /* pages protected now */
	__u64 spp_slots;        /* host memory slots in use now */
	__u64 spp_writes;       /* permitted writes l0 performed */
	__u64 spp_violations;   /* refused writes reported */
	__u64 spp_emulation_failures; /* KVM could not emulate */
};

#endif /* OOH_HV_ABI_H */
