/* SPDX-License-Identifier: MIT */
/*
 * KVM's own statistics of a VM or a vCPU, through its binary stats fd
 * (KVM_GET_STATS_FD, KVM_CAP_BINARY_STATS_FD, Linux 5.14+). The control
 * socket's kvm-stats command reports them, so a tracer of ooh-l0's probes
 * (issue 19's ooh-kvmstat) can compare its counts with KVM's.
 */
#ifndef L0_KVM_STATS_H
#define L0_KVM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct l0_kvm_stat {
	const char *name;           /* KVM's name: [A-Za-z0-9_], never needs escaping */
	uint32_t offset;            /* bytes into the data block */
};

/*
 * One stats fd. Only single-value stats (cumulative, instant, peak) are
 * kept; histograms are left out. The descriptors are read once, at open;
 * each read is one pread of the data block.
 */
struct l0_kvm_stats {
	bool open;
	int err;                    /* not open: why (-errno; -EOPNOTSUPP: no such KVM feature) */
	int fd;
	uint32_t nr;                /* stats kept */
	struct l0_kvm_stat *stat;   /* [nr] */
	uint64_t *value;            /* [nr], as of the last l0_kvm_stats_read */
	char *names;                /* storage for the names */
	uint8_t *data;              /* the data block, data_size bytes */
	uint32_t data_offset, data_size;
};

/* kvm_object_fd: a VM or vCPU fd. 0, or -errno (-ENOTTY: no such ioctl). */
int l0_kvm_stats_open(struct l0_kvm_stats *s, int kvm_object_fd);
int l0_kvm_stats_read(struct l0_kvm_stats *s);
void l0_kvm_stats_close(struct l0_kvm_stats *s);

/*
 * Opened when the VM and each vCPU are created, and kept until they are
 * destroyed: KVM_GET_STATS_FD on a vCPU takes the vCPU's mutex, which
 * KVM_RUN holds, so asked of a running vCPU it would wait for the vCPU's
 * next exit to user space (forever, for a guest that makes none). Never
 * fails the VM: a missing fd is reported by the query. vm_fd: the VM whose
 * KVM is asked whether it has binary stats; kvm_object_fd: the VM or vCPU.
 */
void l0_kvm_stats_init(struct l0_kvm_stats *s, int vm_fd, int kvm_object_fd);

/*
 * Reads them now (one pread, no vCPU stops): 0, or -1 with the reason the
 * stats of what ("VM", "vCPU 1") could not be had in why (plain text, no
 * quotes). For the control socket's thread: nothing else reads them.
 */
int l0_kvm_stats_read_or_why(struct l0_kvm_stats *s, const char *what, char *why, size_t size);

#endif
