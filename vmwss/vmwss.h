/* SPDX-License-Identifier: MIT */
/*
 * ooh-vmwss: working-set monitor for whole VMs, seen from the privileged
 * side. One output model (per interval: dirty pages, dirty rate, estimated
 * working set with PRL-style plateau detection) over several sources.
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
	 * next interval starts clean. *gone is set when the VM has exited.
	 */
	int (*sample)(struct vmwss_source *src, uint64_t *dirty, bool *gone,
		      char *err, size_t errlen);
	/* Stops dirty logging; must leave no logging state behind. */
	void (*stop)(struct vmwss_source *src);
	uint64_t vm_pages;	/* pages of guest memory, for the plot's scale */
	void *priv;
};

int vmwss_source_xen(struct vmwss_source *src, const char *domain,
		     char *err, size_t errlen);
int vmwss_source_l0(struct vmwss_source *src, const char *socket_path,
		    char *err, size_t errlen);

/*
 * PRL-style plateau detection: the working set is stable once `window`
 * consecutive intervals agree within `tolerance` (fraction) of their mean;
 * the estimate is that mean, held until the plateau breaks (a new phase).
 */
struct vmwss_estimator {
	unsigned int window;
	double tolerance;
	double *recent;		/* ring of the last `window` samples */
	unsigned int filled, next;
	bool stable;
	double estimate;	/* pages; valid when stable */
	unsigned int phase;	/* plateaus found so far */
};

int vmwss_estimator_init(struct vmwss_estimator *est, unsigned int window,
			 double tolerance);
void vmwss_estimator_free(struct vmwss_estimator *est);
/* Feeds one interval's dirty pages; true when a new plateau begins here. */
bool vmwss_estimator_add(struct vmwss_estimator *est, double dirty_pages);

#endif
