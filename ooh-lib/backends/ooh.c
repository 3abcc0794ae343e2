/* SPDX-License-Identifier: MIT */
/*
 * ooh backends ("ooh-spml", "ooh-epml"): the hypervisor path. /dev/ooh
 * (ooh.ko in a guest under ooh-l0) opens one session per tracker on the
 * target; ooh-l0 logs dirty pages through virtual PML (the KVM dirty ring)
 * and the kernel maps them back to the target's addresses (SPML), or l0
 * logs linear addresses itself (EPML). Writes cost the target nothing in
 * the guest (no fault in the guest kernel, no signal, no ptrace freeze).
 *
 * The module's COLLECT always starts a new interval; a collect without
 * re-arm must report the same pages again next time, so the backend keeps
 * what it handed out since the last re-arm and merges it with each new
 * harvest. An overflow of the hypervisor log is reported as
 * OOH_RESULT_OVERFLOW (sticky until re-arm), as for every backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "internal.h"

#define OOH_DEV_PATH "/dev/ooh"
#define BATCH 8192

struct pml_priv {
	int fd;
	uint64_t *acc;          /* sorted pages reported since the last re-arm */
	size_t nr_acc, cap_acc;
	bool acc_overflow;
	uint64_t *batch;
};

static int check_dev(uint32_t mode, char *reason, size_t len)
{
	struct ooh_dev_info info;
	uint32_t feat = mode == OOH_MODE_SPML ? OOH_FEAT_SPML : OOH_FEAT_EPML;
	int fd = open(OOH_DEV_PATH, O_RDWR | O_CLOEXEC), err = 0;

	if (fd < 0) {
		err = -errno;
		set_reason(reason, len, "%s: %s (is ooh.ko loaded?)", OOH_DEV_PATH, strerror(errno));
		return err;
	}
	if (ioctl(fd, OOH_IOC_GET_INFO, &info) != 0) {
		err = -errno;
		set_reason(reason, len, "OOH_IOC_GET_INFO: %s", strerror(errno));
	} else if (info.abi_version != OOH_DEV_ABI_VERSION) {
		err = -EOPNOTSUPP;
		set_reason(reason, len, "ooh.ko speaks /dev/ooh ABI %u, libooh %u", info.abi_version,
			   OOH_DEV_ABI_VERSION);
	} else if (!info.hv_present) {
		err = -EOPNOTSUPP;
		set_reason(reason, len, "no OoH hypervisor (ooh-l0) below this guest");
	} else if (!(info.hv_features & feat)) {
		err = -EOPNOTSUPP;
		set_reason(reason, len, "the hypervisor does not offer %s",
			   mode == OOH_MODE_SPML ? "SPML" : "EPML");
	}
	close(fd);
	return err;
}

static int probe_mode(uint32_t mode, char *reason, size_t len)
{
	struct ooh_open_session o = { .pid = getpid(), .mode = mode, .log_bytes = 4096 };
	int err = check_dev(mode, reason, len), fd;

	if (err)
		return err;
	fd = open(OOH_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, OOH_IOC_OPEN_SESSION, &o) != 0) {
		err = -errno;
		set_reason(reason, len, "OOH_IOC_OPEN_SESSION: %s", strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return err;
}

static int probe_spml(char *reason, size_t len)
{
	return probe_mode(OOH_MODE_SPML, reason, len);
}

static int probe_epml(char *reason, size_t len)
{
	return probe_mode(OOH_MODE_EPML, reason, len);
}

static void pml_close(struct ooh_tracker *t)
{
	struct pml_priv *p = t->priv;

	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	free(p->acc);
	free(p->batch);
	free(p);
	t->priv = NULL;
}

static int open_mode(struct ooh_tracker *t, uint32_t mode)
{
	struct ooh_open_session o = { .pid = t->pid, .mode = mode };
	struct pml_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	t->priv = p;
	p->batch = malloc(BATCH * sizeof(*p->batch));
	p->fd = open(OOH_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (!p->batch || p->fd < 0) {
		int err = p->batch ? -errno : -ENOMEM;

		pml_close(t);
		return err == -ENOENT ? -EOPNOTSUPP : err;
	}
	if (ioctl(p->fd, OOH_IOC_OPEN_SESSION, &o) != 0) {
		int err = -errno;

		pml_close(t);
		return err == -ENODEV || err == -ENOTTY ? -EOPNOTSUPP : err;
	}
	return 0;
}

static int open_spml(struct ooh_tracker *t)
{
	return open_mode(t, OOH_MODE_SPML);
}

static int open_epml(struct ooh_tracker *t)
{
	return open_mode(t, OOH_MODE_EPML);
}

/* Merges the sorted, unique pages of one COLLECT call into acc. */
static int acc_merge(struct pml_priv *p, const uint64_t *v, size_t n)
{
	size_t i = 0, j = 0, k = 0;
	uint64_t *m;

	if (!n)
		return 0;
	m = malloc((p->nr_acc + n) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	while (i < p->nr_acc || j < n) {
		uint64_t x;

		if (j == n || (i < p->nr_acc && p->acc[i] < v[j]))
			x = p->acc[i++];
		else if (i < p->nr_acc && p->acc[i] == v[j])
			x = p->acc[i++], j++;
		else
			x = v[j++];
		m[k++] = x;
	}
	free(p->acc);
	p->acc = m;
	p->nr_acc = k;
	p->cap_acc = p->nr_acc + n;
	return 0;
}

/* Drains the session's current interval into acc; joined: ending it at
 * the hypervisor's last harvest (OOH_COLLECT_JOINED). */
static int harvest(struct ooh_tracker *t, bool joined)
{
	struct pml_priv *p = t->priv;
	struct ooh_collect c;
	bool first = true;

	do {
		memset(&c, 0, sizeof(c));
		c.buf = (uintptr_t)p->batch;
		c.count = BATCH;
		c.flags = !first ? OOH_COLLECT_F_CONTINUE : joined ? OOH_COLLECT_F_NO_SYNC : 0;
		if (!t->whole && t->nr_ranges) {
			c.start = t->ranges[0].start;
			c.end = t->ranges[t->nr_ranges - 1].end;
		}
		if (ioctl(p->fd, OOH_IOC_COLLECT, &c) != 0)
			return -errno;
		first = false;
		if (c.flags & OOH_COLLECT_F_OVERFLOW)
			p->acc_overflow = true;
		int err = acc_merge(p, p->batch, c.count);
		if (err)
			return err;
	} while (c.flags & OOH_COLLECT_F_MORE);
	return 0;
}

static int pml_start(struct ooh_tracker *t)
{
	struct pml_priv *p = t->priv;
	int err = 0;

	if (t->started) {
		err = harvest(t, false); /* begin anew: what was logged is dropped */
	} else if (ioctl(p->fd, OOH_IOC_START) != 0) {
		err = -errno;
	}
	p->nr_acc = 0;
	p->acc_overflow = false;
	return err;
}

static int pml_stop(struct ooh_tracker *t)
{
	struct pml_priv *p = t->priv;

	p->nr_acc = 0;
	p->acc_overflow = false;
	return ioctl(p->fd, OOH_IOC_STOP) ? -errno : 0;
}

static int pml_snapshot(struct ooh_tracker *t, bool rearm, struct region_list *out,
			uint32_t *rflags)
{
	struct pml_priv *p = t->priv;
	int err = harvest(t, t->collect_flags & OOH_COLLECT_JOINED);

	if (err)
		return err;
	for (size_t i = 0; i < p->nr_acc;) {
		size_t j = i + 1;

		while (j < p->nr_acc && p->acc[j] == p->acc[j - 1] + OOH_PAGE_SIZE)
			j++;
		err = region_list_add(out, p->acc[i], p->acc[j - 1] + OOH_PAGE_SIZE);
		if (err)
			return err;
		i = j;
	}
	if (p->acc_overflow)
		*rflags |= OOH_RESULT_OVERFLOW;
	if (rearm) {
		p->nr_acc = 0;
		p->acc_overflow = false;
	}
	return 0;
}

#define PML_CAPS (OOH_CAP_SELF | OOH_CAP_REMOTE | OOH_CAP_WHOLE | OOH_CAP_ATOMIC_REARM | \
		  OOH_CAP_PAGE_EXACT | OOH_CAP_MAPPING_CHANGES)

const struct backend_ops ooh_backend_ooh_spml = {
	.id = OOH_BACKEND_OOH_SPML,
	.name = "ooh-spml",
	.caps = PML_CAPS,
	.probe = probe_spml,
	.open = open_spml,
	.close = pml_close,
	.start = pml_start,
	.stop = pml_stop,
	.snapshot = pml_snapshot,
};

const struct backend_ops ooh_backend_ooh_epml = {
	.id = OOH_BACKEND_OOH_EPML,
	.name = "ooh-epml",
	.caps = PML_CAPS,
	.probe = probe_epml,
	.open = open_epml,
	.close = pml_close,
	.start = pml_start,
	.stop = pml_stop,
	.snapshot = pml_snapshot,
};
