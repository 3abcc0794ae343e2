// SPDX-License-Identifier: MIT
/*
 * KVM's binary statistics (Documentation/virt/kvm/api.rst, "KVM_GET_STATS_FD"):
 * a read-only fd holding a header, an id string, one descriptor per stat
 * (flags, size in u64s, offset into the data block, then its name) and the
 * data block. The layout is fixed for the fd's life, so the descriptors
 * are read once. What the kernel hands us is still checked: names end
 * inside their field and hold only [A-Za-z0-9_] (they go into JSON
 * unescaped), offsets stay inside a bounded data block. The fds are
 * opened when the VM and its vCPUs are created (kvm-stats.h says why).
 */
#include "kvm-stats.h"

#include <ctype.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Bounds far above today's x86 (48-byte names, ~50 stats, ~1 KiB of data). */
#define MAX_NAME_SIZE 1024u
#define MAX_DESCS 4096u
#define MAX_DATA (1u << 20)

static bool read_exactly(int fd, void *buf, size_t len, uint64_t offset)
{
	ssize_t n = pread(fd, buf, len, (off_t)offset);

	return n == (ssize_t)len;
}

static bool plain_name(const char *name, uint32_t size)
{
	uint32_t n = (uint32_t)strnlen(name, size);

	if (n == 0 || n == size)
		return false; /* empty, or no NUL inside the field */
	for (uint32_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return false;
	return true;
}

/* Single values only: a histogram (or a multi-value stat) has no one number. */
static bool scalar(const struct kvm_stats_desc *d)
{
	uint32_t type = d->flags & KVM_STATS_TYPE_MASK;

	return d->size == 1 && (type == KVM_STATS_TYPE_CUMULATIVE || type == KVM_STATS_TYPE_INSTANT ||
				type == KVM_STATS_TYPE_PEAK);
}

/* Keeps the scalar stats of descs[0..hdr->num_desc) with their names. */
static int keep_scalars(struct l0_kvm_stats *s, const struct kvm_stats_header *hdr,
			const uint8_t *descs)
{
	size_t desc_size = sizeof(struct kvm_stats_desc) + hdr->name_size;
	char *name;

	s->stat = calloc(hdr->num_desc ? hdr->num_desc : 1, sizeof(*s->stat));
	s->value = calloc(hdr->num_desc ? hdr->num_desc : 1, sizeof(*s->value));
	s->names = malloc((size_t)hdr->num_desc * hdr->name_size + 1);
	if (!s->stat || !s->value || !s->names)
		return -ENOMEM;
	name = s->names;
	for (uint32_t i = 0; i < hdr->num_desc; i++) {
		const uint8_t *at = descs + i * desc_size;
		const char *dname = (const char *)at + sizeof(struct kvm_stats_desc);
		struct kvm_stats_desc d;

		memcpy(&d, at, sizeof(d)); /* name_size need not keep descriptors aligned */
		if (!scalar(&d) || !plain_name(dname, hdr->name_size) ||
		    (uint64_t)d.offset + sizeof(uint64_t) > MAX_DATA)
			continue;
		strcpy(name, dname);
		s->stat[s->nr++] = (struct l0_kvm_stat){ name, d.offset };
		name += strlen(name) + 1;
		if (d.offset + sizeof(uint64_t) > s->data_size)
			s->data_size = d.offset + (uint32_t)sizeof(uint64_t);
	}
	s->data = malloc(s->data_size ? s->data_size : 1);
	return s->data ? 0 : -ENOMEM;
}

static int read_layout(struct l0_kvm_stats *s)
{
	struct kvm_stats_header hdr;
	uint8_t *descs;
	size_t bytes;
	int err;

	if (!read_exactly(s->fd, &hdr, sizeof(hdr), 0))
		return -EIO;
	if (hdr.name_size == 0 || hdr.name_size > MAX_NAME_SIZE || hdr.num_desc > MAX_DESCS)
		return -EPROTO;
	bytes = (size_t)hdr.num_desc * (sizeof(struct kvm_stats_desc) + hdr.name_size);
	descs = malloc(bytes ? bytes : 1);
	if (!descs)
		return -ENOMEM;
	err = read_exactly(s->fd, descs, bytes, hdr.desc_offset) ? 0 : -EIO;
	if (err == 0) {
		s->data_offset = hdr.data_offset;
		err = keep_scalars(s, &hdr, descs);
	}
	free(descs);
	return err;
}

int l0_kvm_stats_open(struct l0_kvm_stats *s, int kvm_object_fd)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->fd = ioctl(kvm_object_fd, KVM_GET_STATS_FD, 0);
	if (s->fd < 0) {
		s->err = -errno;
		return s->err;
	}
	s->open = true;
	err = read_layout(s);
	if (err) {
		l0_kvm_stats_close(s);
		s->err = err;
	}
	return err;
}

int l0_kvm_stats_read(struct l0_kvm_stats *s)
{
	if (!s->open)
		return -EBADF;
	if (s->data_size && !read_exactly(s->fd, s->data, s->data_size, s->data_offset))
		return -EIO;
	for (uint32_t i = 0; i < s->nr; i++)
		memcpy(&s->value[i], s->data + s->stat[i].offset, sizeof(s->value[i]));
	return 0;
}

void l0_kvm_stats_close(struct l0_kvm_stats *s)
{
	if (s->open)
		close(s->fd);
	free(s->stat);
	free(s->value);
	free(s->names);
	free(s->data);
	memset(s, 0, sizeof(*s));
}

/* Without the capability the ioctl may mean something else: do not try it. */
void l0_kvm_stats_init(struct l0_kvm_stats *s, int vm_fd, int kvm_object_fd)
{
	memset(s, 0, sizeof(*s));
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) <= 0)
		s->err = -EOPNOTSUPP;
	else
		l0_kvm_stats_open(s, kvm_object_fd);
}

int l0_kvm_stats_read_or_why(struct l0_kvm_stats *s, const char *what, char *why, size_t size)
{
	int err = s->open ? l0_kvm_stats_read(s) : s->err ? s->err : -EBADF;

	if (err == 0)
		return 0;
	if (err == -EOPNOTSUPP)
		snprintf(why, size, "host KVM has no binary statistics (KVM_CAP_BINARY_STATS_FD, "
			 "Linux 5.14 or later)");
	else
		snprintf(why, size, "%s statistics: %s", what, strerror(-err));
	return -1;
}
