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
#define OOH_DEV_ABI_VERSION	3
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
 * written since START or the previous completed COLLECT. The kernel harvests
 * once, then copies out up to count addresses; if more remain,
 * OOH_COLLECT_F_MORE is set and the next COLLECT with
 * OOH_COLLECT_F_CONTINUE in flags returns the rest of the same interval.
 * OOH_COLLECT_F_OVERFLOW: the log overflowed during the interval, so the
 * answer is conservative (every page of every writable mapping of the
 * target). Only addresses in [start, end) are returned (end 0: no limit).
 */
struct ooh_collect {
	__u64 buf;		/* in: user address of a __u64 array */
	__u64 count;		/* in: array capacity; out: entries written */
	__u64 start;		/* in: lowest VA of interest */
	__u64 end;		/* in: end of range, 0 for all */
	__u32 flags;		/* in: OOH_COLLECT_F_CONTINUE; out: F_MORE, F_OVERFLOW */
	__u32 reserved;
	__u64 total;		/* out: addresses in the interval */
	__u64 seq;		/* out: the hypervisor harvest sequence */
};

#define OOH_COLLECT_F_CONTINUE	(1u << 0)
#define OOH_COLLECT_F_MORE	(1u << 1)
#define OOH_COLLECT_F_OVERFLOW	(1u << 2)

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
};

#define OOH_IOC_OPEN_SESSION	_IOW(OOH_IOC_MAGIC, 0x01, struct ooh_open_session)
#define OOH_IOC_START		_IO(OOH_IOC_MAGIC, 0x02)
#define OOH_IOC_STOP		_IO(OOH_IOC_MAGIC, 0x03)
#define OOH_IOC_COLLECT		_IOWR(OOH_IOC_MAGIC, 0x04, struct ooh_collect)
#define OOH_IOC_STATS		_IOR(OOH_IOC_MAGIC, 0x05, struct ooh_session_stats)

#endif /* OOH_DEV_ABI_H */
