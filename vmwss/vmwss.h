/* SPDX-License-Identifier: MIT */
/*
 * ooh-vmwss: working-set monitor for whole VMs, seen from the privileged
 * side. One output model (per interval: dirty pages, dirty rate, estimated
 * working set with the plateau detection of wss-estimator/) over several
 * sources.
 */
#ifndef OOH_VMWSS_H
#define OOH_VMWSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A source of per-interval dirty-page counts for one VM. */
struct vmwss_source {
	const char *name;
	/* Starts dirty logging; 0 or -errno with a message in err. */
	int (*start)(struct vmwss_source *src, char *err, size_t errlen);
	/*
	 * Dirty pages since the previous sample (or start), re-arming so the
	 * next interval starts clean: 0, 1 at the end of a recording, or
	 * -errno with a message in err. *gone is set when the VM has exited.
	 */
	int (*sample)(struct vmwss_source *src, uint64_t *dirty, bool *gone,
		      char *err, size_t errlen);
	/* Stops dirty logging; must leave no logging state behind. */
	void (*stop)(struct vmwss_source *src);
	uint64_t vm_pages;	/* pages of guest memory, for the plot's scale */
	bool recorded;		/* a recording: its intervals are not waited for */
	void *priv;
};

int vmwss_source_xen(struct vmwss_source *src, const char *domain,
		     char *err, size_t errlen);
int vmwss_source_l0(struct vmwss_source *src, const char *socket_path,
		    char *err, size_t errlen);
/*
 * ooh-l0's replies to dirty-start and dirty (source-l0.c; apart from the
 * socket for the fuzzer, tests/fuzz/vmwss-l0-reply): one reply line in,
 * 0 with the value out, or -EIO with l0's error (or the reply) in err.
 */
int vmwss_l0_start_reply(const char *reply, uint64_t *vm_pages, char *err, size_t errlen);
int vmwss_l0_sample_reply(const char *reply, uint64_t *dirty, char *err, size_t errlen);
/* A recorded series: one interval per line, its dirty pages first. */
int vmwss_source_replay(struct vmwss_source *src, const char *path,
			char *err, size_t errlen);

#endif
