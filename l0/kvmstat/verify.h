/* SPDX-License-Identifier: MIT */
/*
 * --verify SOCKET: ooh-kvmstat's counts against KVM's own statistics
 * (KVM_GET_STATS_FD, read by ooh-l0 for its control socket's kvm-stats).
 * The VM is paused while each side is read, so both see the same exits:
 *   pause, read KVM's, attach, resume ... pause, read ours and KVM's, resume.
 */
#ifndef OOH_KVMSTAT_VERIFY_H
#define OOH_KVMSTAT_VERIFY_H

#include "report.h"

#include <sys/types.h>

#define VERIFY_MAX_VCPUS 64

enum verify_stat {
	V_EXITS, V_IO_EXITS, V_IRQ_EXITS, V_HALT_EXITS, V_SIGNAL_EXITS, V_MMIO_EXITS, NR_VERIFY
};

struct kvm_stats {
	int nr_vcpus;
	uint64_t v[VERIFY_MAX_VCPUS][NR_VERIFY];
};

struct verifier {
	const char *socket;
	struct kvm_stats before;
};

/* The ooh-l0 at the other end of the socket (SO_PEERCRED), or -1. */
pid_t verify_peer(const char *socket_path);
/* Pauses the VM, then reads its KVM statistics; 0 or a message on stderr and -1. */
int verify_begin(struct verifier *v);
/* Resumes the VM. */
int verify_resume(struct verifier *v);
/* Pauses the VM for the last report; verify_end reads KVM's and resumes. */
int verify_pause(struct verifier *v);
/*
 * Compares KVM's counters since verify_begin with d (everything ooh-kvmstat
 * counted since attaching), prints the comparison; true if every exact
 * relation holds. Resumes the VM.
 */
int verify_end(struct verifier *v, const struct snapshot *d, FILE *out, enum report_format f,
	       bool *agree);

#endif
