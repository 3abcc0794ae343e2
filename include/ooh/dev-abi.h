/* SPDX-License-Identifier: MIT */
/*
 * OoH kernel <-> user ABI: the /dev/ooh ioctls, shared by ooh.ko
 * (guest-module/) and libooh (ooh-lib/). See docs/abi.md.
 */
#ifndef OOH_DEV_ABI_H
#define OOH_DEV_ABI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define OOH_DEV_NAME		"ooh"
/*
 * 3: drain counters; 4: sub-page protection; 5: mapping changes reported;
 * 6: COLLECT without a harvest of its own (OOH_COLLECT_F_NO_SYNC)
 */
#define OOH_DEV_ABI_VERSION	6
#define OOH_IOC_MAGIC		0xB5

/* Version and what the hypervisor below offers. */
struct ooh_dev_info {
	__u32 abi_version;	/* OOH_DEV_ABI_VERSION of the module */
	__u32 hv_present;	/* 1 when the OoH CPUID signature was found */
	__u32 hv_abi_version;	/* hypervisor ABI version, 0 if absent */
	__u32 hv_features;	/* OOH_HV_F_* bits offered by l0 */
};

#define OOH_IOC_GET_INFO	_IOR(OOH_IOC_MAGIC, 0x00, struct ooh_dev_info)

/*
 * Sessions. Each open file of /dev/ooh is one tracker; OPEN_SESSION binds it
 * to one target process (needs ptrace rights over it: -EPERM otherwise,
 * -ESRCH for no such process, -EBUSY if the file already has a session).
 * Each session counts against the caller's user (real uid): -EDQUOT when
 * it holds ooh.ko's max_user_sessions (default 16; CAP_SYS_ADMIN is not
 * refused); -ENOSPC when ooh-l0's OOH_MAX_SESSIONS are all open. The log
 * and the session's buffers are charged to the caller's memory cgroup.
 * Modes are the hypervisor's: OOH_MODE_SPML or OOH_MODE_EPML (hv-abi.h).
 */
struct ooh_open_session {
	__s32 pid;		/* target, a thread-group id */
	__u32 mode;		/* OOH_MODE_SPML or OOH_MODE_EPML */
	__u32 log_bytes;	/* log ring bytes, power of two; 0: default */
	__u32 flags;		/* must be 0 */
};

/*
 * COLLECT: the target's pages (page-aligned VAs, ascending, no duplicates)
 * written since START or the previous completed COLLECT, and (ABI 5) those
 * whose content changed without a write: every page that had a page frame
 * (present or swapped) in a range unmapped or cleared since (munmap,
 * MADV_DONTNEED, MADV_FREE, mremap away; reclaim and THP splits too, as
 * false positives) and is mapped again now, and the pages at addresses now
 * backed by something else than at the previous COLLECT (mremap into a
 * hole: its present pages; a file on either side: every page). The kernel harvests
 * once, then copies out up to count addresses; if more remain,
 * OOH_COLLECT_F_MORE is set and the next COLLECT with
 * OOH_COLLECT_F_CONTINUE in flags returns the rest of the same interval.
 * OOH_COLLECT_F_NO_SYNC (ABI 6): the interval ends at the hypervisor's last
 * harvest instead of a new one (a harvest delivers to every session's log:
 * after one session's COLLECT, another's needs no hypercall of its own);
 * what is logged after that harvest comes in the next interval.
 * OOH_COLLECT_F_OVERFLOW: the log overflowed during the interval, so the
 * answer is conservative (every page of every writable mapping of the
 * target). Only addresses in [start, end) are returned (end 0: no limit).
 */
struct ooh_collect {
	__u64 buf;		/* in: user address of a __u64 array */
	__u64 count;		/* in: array capacity; out: entries written */
	__u64 start;		/* in: lowest VA of interest */
	__u64 end;		/* in: end of range, 0 for all */
	__u32 flags;		/* in: F_CONTINUE, F_NO_SYNC; out: F_MORE, F_OVERFLOW */
	__u32 reserved;
	__u64 total;		/* out: addresses in the interval */
	__u64 seq;		/* out: the hypervisor harvest sequence */
};

#define OOH_COLLECT_F_CONTINUE	(1u << 0)
#define OOH_COLLECT_F_MORE	(1u << 1)
#define OOH_COLLECT_F_OVERFLOW	(1u << 2)
#define OOH_COLLECT_F_NO_SYNC	(1u << 3)

/* Counters of this session and of the hypervisor below. */
struct ooh_session_stats {
	__u64 collects;
	__u64 log_entries;	/* entries consumed from the log */
	__u64 dropped;		/* entries not mapped in the target */
	__u64 reported;		/* addresses returned */
	__u64 overflows;	/* intervals answered conservatively */
	__u64 sched_in;		/* target context switches seen (EPML) */
	__u64 sched_out;
	__u64 hypercalls;	/* hypercalls this session made */
	__u64 hv_hypercalls;	/* all OoH hypercalls of the VM */
	__u64 hv_vcpu_exits;	/* all vCPU exits of the VM */
	__u64 hv_kick_exits;	/* exits forced by harvests */
	__u64 hv_overflowed;	/* log entries lost to overflow, all sessions */
	__u64 drains;		/* early drains of the log (log-full interrupt) */
	__u64 mapping_changes;	/* pages reported as unmapped, dropped or moved in */
};

#define OOH_IOC_OPEN_SESSION	_IOW(OOH_IOC_MAGIC, 0x01, struct ooh_open_session)
#define OOH_IOC_START		_IO(OOH_IOC_MAGIC, 0x02)
#define OOH_IOC_STOP		_IO(OOH_IOC_MAGIC, 0x03)
#define OOH_IOC_COLLECT		_IOWR(OOH_IOC_MAGIC, 0x04, struct ooh_collect)
#define OOH_IOC_STATS		_IOR(OOH_IOC_MAGIC, 0x05, struct ooh_session_stats)

/*
 * Sub-page write protection (OoH virtual SPP; hv_features has OOH_FEAT_SPP).
 * Acts on the calling process: the first SPP ioctl binds the open file to
 * the caller's address space (another process using the same file gets
 * -EPERM). Pages are 4 KiB, vectors as in hv-abi.h (bit i set: sub-page i
 * writable; 0xffffffff: not protected).
 *
 * SPP_PROTECT: pages [addr, addr + nr_pages * 4096) get masks[i] (masks is
 * the user address of __u32[nr_pages]) or, when masks is 0, mask. Each
 * protected page is pinned for writing (a copy-on-write page is copied
 * first), so protection stays with the data; the frame must not be
 * protected through another file or address (-EBUSY: shared memory mapped
 * twice). Each protected page counts once, as the kernel's long-term
 * pins do, in the process's pinned_vm (VmPin) against RLIMIT_MEMLOCK
 * (CAP_IPC_LOCK: no limit) and in its user's max_user_spp_pages (default
 * 4096; CAP_SYS_ADMIN: no limit), until it stops being protected.
 * Errors: -EINVAL (alignment, flags, nr_pages 0 or above
 * OOH_SPP_MAX_PAGES), -EFAULT (not mapped writable), -ENOMEM (over
 * RLIMIT_MEMLOCK, or no memory), -EDQUOT (over the user's budget),
 * -ENOSPC (the hypervisor's budget), -EOPNOTSUPP (no SPP below). The
 * limits are checked for the whole call first: refused for them, it
 * changes nothing. Pages already done when another error is returned keep
 * their new vectors.
 * SPP_RELEASE: the range (masks and mask ignored) becomes unprotected;
 * pages that were not protected are no error. SPP_GET: the vectors of the
 * range's pages into masks[] (0xffffffff for a page not protected).
 * Protection is dropped when the pages are unmapped (munmap, mremap,
 * MADV_DONTNEED), when the address space goes away, or when the file is
 * closed. A write to a refused sub-page does not land: the writing thread
 * gets SIGSEGV with si_code OOH_SEGV_SPPERR and si_addr = the first refused
 * byte, before its next instruction; the write has retired (returning from
 * the handler goes on after it, the write is not retried).
 */
/*
 * The si_code: libooh's OOH_SEGV_SPPERR (ooh-lib/ooh.h, the installed API
 * header, which cannot include this one). Spelt exactly as there, so any
 * file that includes both (libooh's ooh backend does) fails to build if
 * the two ever differ.
 */
#define OOH_SEGV_SPPERR (-0x5350)
#define OOH_SPP_MAX_PAGES	(1u << 20)

struct ooh_spp_range {
	__u64 addr;		/* page-aligned */
	__u64 nr_pages;
	__u64 masks;		/* user address of __u32[nr_pages], or 0 */
	__u32 mask;		/* every page's vector when masks is 0 */
	__u32 flags;		/* must be 0 */
};

struct ooh_spp_query {
	__u64 addr;		/* in: any address in the page */
	__u32 mask;		/* out: its vector (0xffffffff: not protected) */
	__u32 flags;		/* in: must be 0 */
};

struct ooh_spp_dev_stats {
	__u64 pages;		/* protected through this file now */
	__u64 violations;	/* refused writes reported to this process */
	__u64 foreign;		/* refused writes to its pages by others */
	__u64 lost;		/* reports the hypervisor overwrote unseen */
};

#define OOH_IOC_SPP_PROTECT	_IOW(OOH_IOC_MAGIC, 0x06, struct ooh_spp_range)
#define OOH_IOC_SPP_RELEASE	_IOW(OOH_IOC_MAGIC, 0x07, struct ooh_spp_range)
#define OOH_IOC_SPP_QUERY	_IOWR(OOH_IOC_MAGIC, 0x08, struct ooh_spp_query)
#define OOH_IOC_SPP_STATS	_IOR(OOH_IOC_MAGIC, 0x09, struct ooh_spp_dev_stats)
#define OOH_IOC_SPP_GET		_IOW(OOH_IOC_MAGIC, 0x0a, struct ooh_spp_range)

#endif /* OOH_DEV_ABI_H */
