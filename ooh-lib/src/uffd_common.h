/* SPDX-License-Identifier: MIT */
#ifndef OOH_UFFD_COMMON_H
#define OOH_UFFD_COMMON_H
#include <stdbool.h>
#include <stdint.h>
#include "internal.h"

int uffd_create(pid_t pid, bool self);
int uffd_api(int fd, uint64_t want, uint64_t *got);
int uffd_register(int fd, uint64_t start, uint64_t end, uint64_t mode);
int uffd_unregister(int fd, uint64_t start, uint64_t end);
/* One UFFDIO_WRITEPROTECT: 0 or -errno; -EAGAIN while a mapping-change
 * event of a context that asked for them is unread (mmap_changing). */
int uffd_wp_once(int fd, uint64_t start, uint64_t end, bool protect);
/* The same until it is not -EAGAIN: only for a context with no events,
 * where nothing needs to be read for it to succeed. */
int uffd_wp(int fd, uint64_t start, uint64_t end, bool protect);
/* Anonymous VMAs at least this big get big_mode (when not 0) instead. */
#define UFFD_BIG_VMA (4ull << 30)
int uffd_register_vmas(int fd, pid_t pid, uint64_t start, uint64_t end, uint64_t mode,
		       uint64_t big_mode, struct region_list *skipped, struct region_list *untracked,
		       struct region_list *newly);
#endif
