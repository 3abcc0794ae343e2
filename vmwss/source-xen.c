// SPDX-License-Identifier: MIT
/*
 * Xen source: libxenctrl's log-dirty interface, from dom0. Enables
 * log-dirty on the domain, reads-and-clears the dirty bitmap every
 * interval (SHADOW_OP_CLEAN), and turns log-dirty off again at the end —
 * also after SIGINT (main.c), and after SIGKILL through a guardian
 * process, so a domU is never left in log-dirty mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xenctrl.h>

#include "vmwss.h"

struct xen_priv {
	xc_interface *xch;
	uint32_t domid;
	unsigned long pages;	/* bitmap size in bits: max GPFN + 1 */
	int bitmap_pages;	/* bitmap size in 4 KiB pages */
	bool logging;
	xc_hypercall_buffer_t bitmap;	/* hypercall-safe memory for Xen to fill */
	int guardian_fd;		/* write end of the guardian's pipe, or -1 */
	pid_t guardian;
};

#define BITS_PER_PAGE_OF_BITMAP (4096ul * 8)

static int xen_domain_info(struct xen_priv *p, xc_dominfo_t *info)
{
	if (xc_domain_getinfo(p->xch, p->domid, 1, info) != 1 ||
	    info->domid != p->domid)
		return -ESRCH;
	return 0;
}

/*
 * The guardian outlives a monitor killed with SIGKILL: it waits on a pipe
 * whose write end only the monitor holds. "done" means the monitor turned
 * log-dirty off itself; end-of-file without it means the monitor died, and
 * the guardian turns log-dirty off.
 */
static void guardian_main(int read_fd, uint32_t domid)
{
	char msg[8] = "";
	xc_interface *xch;

	signal(SIGINT, SIG_IGN);	/* ^C reaches the whole process group */
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (read(read_fd, msg, sizeof(msg) - 1) > 0 && !strcmp(msg, "done"))
		_exit(0);
	xch = xc_interface_open(NULL, NULL, 0);
	if (xch && xc_shadow_control(xch, domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) == 0)
		fprintf(stderr, "ooh-vmwss: monitor died; guardian turned log-dirty off on domain %u\n",
			domid);
	_exit(0);
}

static void guardian_start(struct xen_priv *p)
{
	int fds[2];

	p->guardian_fd = -1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return;
	p->guardian = fork();
	if (p->guardian == 0) {
		close(fds[1]);
		guardian_main(fds[0], p->domid);
	}
	close(fds[0]);
	if (p->guardian < 0) {
		close(fds[1]);
		return;
	}
	p->guardian_fd = fds[1];
}

static void guardian_stop(struct xen_priv *p)
{
	if (p->guardian_fd < 0)
		return;
	if (write(p->guardian_fd, "done", 4) != 4)
		fprintf(stderr, "ooh-vmwss: guardian: %s\n", strerror(errno));
	close(p->guardian_fd);
	p->guardian_fd = -1;
	waitpid(p->guardian, NULL, 0);
}

static int xen_start(struct vmwss_source *src, char *err, size_t errlen)
{
	struct xen_priv *p = src->priv;
	xen_pfn_t max_gpfn;
	xc_dominfo_t info;

	if (xen_domain_info(p, &info) < 0) {
		snprintf(err, errlen, "no such domain: %u", p->domid);
		return -ESRCH;
	}
	if (info.dying || info.shutdown) {
		snprintf(err, errlen, "domain %u is shutting down", p->domid);
		return -ESRCH;
	}
	if (xc_domain_maximum_gpfn(p->xch, p->domid, &max_gpfn) < 0) {
		snprintf(err, errlen, "domain %u: maximum GPFN: %s", p->domid,
			 strerror(errno));
		return -errno;
	}
	p->pages = (unsigned long)max_gpfn + 1;
	p->bitmap_pages = (int)((p->pages + BITS_PER_PAGE_OF_BITMAP - 1) /
				BITS_PER_PAGE_OF_BITMAP);
	src->vm_pages = info.nr_pages;
	if (!xc__hypercall_buffer_alloc_pages(p->xch, &p->bitmap, p->bitmap_pages)) {
		snprintf(err, errlen, "cannot allocate a %lu-page dirty bitmap", p->pages);
		return -ENOMEM;
	}
	if (xc_shadow_control(p->xch, p->domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY,
			      NULL, 0) < 0) {
		int e = errno;

		if (e == EINVAL || e == EBUSY)
			snprintf(err, errlen,
				 "domain %u: log-dirty is already on (a migration or another monitor?)",
				 p->domid);
		else if (e == EOPNOTSUPP)
			snprintf(err, errlen,
				 "domain %u: log-dirty not supported: a PV domain needs shadow paging, which this Xen lacks; use a PVH or HVM domain",
				 p->domid);
		else
			snprintf(err, errlen, "domain %u: enable log-dirty: %s",
				 p->domid, strerror(e));
		return -e;
	}
	p->logging = true;
	guardian_start(p);
	return 0;
}

static int xen_sample(struct vmwss_source *src, uint64_t *dirty, bool *gone,
		      char *err, size_t errlen)
{
	struct xen_priv *p = src->priv;
	size_t words = (p->pages + 63) / 64;
	const uint64_t *bits = p->bitmap.hbuf;
	xc_dominfo_t info;
	uint64_t count = 0;

	*gone = false;
	if (xen_domain_info(p, &info) < 0 || info.dying || info.shutdown) {
		*gone = true;
		snprintf(err, errlen, "domain %u exited while monitored", p->domid);
		return -ESRCH;
	}
	if (xc_logdirty_control(p->xch, p->domid, XEN_DOMCTL_SHADOW_OP_CLEAN,
				&p->bitmap, p->pages, 0, NULL) < 0) {
		int e = errno;

		*gone = xen_domain_info(p, &info) < 0 || info.dying;
		snprintf(err, errlen, "domain %u: read dirty bitmap: %s", p->domid,
			 *gone ? "domain exited" : strerror(e));
		return -e;
	}
	for (size_t i = 0; i < words; i++)
		count += (uint64_t)__builtin_popcountll(bits[i]);
	*dirty = count;
	return 0;
}

static void xen_stop(struct vmwss_source *src)
{
	struct xen_priv *p = src->priv;

	if (p->logging) {
		xc_shadow_control(p->xch, p->domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0);
		p->logging = false;
	}
	guardian_stop(p);
	if (p->bitmap.hbuf)
		xc__hypercall_buffer_free_pages(p->xch, &p->bitmap, p->bitmap_pages);
	xc_interface_close(p->xch);
	free(p);
	src->priv = NULL;
}

int vmwss_source_xen(struct vmwss_source *src, const char *domain,
		     char *err, size_t errlen)
{
	struct xen_priv *p;
	char *end;
	unsigned long domid = strtoul(domain, &end, 10);

	if (!*domain || *end || domid >= DOMID_FIRST_RESERVED) {
		snprintf(err, errlen, "bad domain id '%s' (use `xl domid NAME`)", domain);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->domid = (uint32_t)domid;
	p->guardian_fd = -1;
	p->bitmap.ubuf = (void *)-1;	/* as DECLARE_HYPERCALL_BUFFER: no bounce */
	p->xch = xc_interface_open(NULL, NULL, 0);
	if (!p->xch) {
		int e = errno ? errno : EACCES;

		snprintf(err, errlen,
			 "cannot open the Xen control interface (%s): run in dom0 as root, with xen-privcmd loaded",
			 strerror(e));
		free(p);
		return -e;
	}
	*src = (struct vmwss_source){
		.name = "xen",
		.start = xen_start,
		.sample = xen_sample,
		.stop = xen_stop,
		.priv = p,
	};
	return 0;
}
