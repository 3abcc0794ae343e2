/* SPDX-License-Identifier: MIT */
/* --guest: ooh.ko's tracepoints, inside a VM. */
#ifndef OOH_KVMSTAT_GUEST_H
#define OOH_KVMSTAT_GUEST_H

#include <stddef.h>

#define GUEST_NR_EVENTS 4

extern const char *const guest_events[GUEST_NR_EVENTS];

/*
 * 0 if every ooh event is in tracing/events/ooh and its format file puts
 * each field where struct ooh_*_rec (ooh-kvmstat.h) does; else -1 and
 * why in msg: *missing tells an absent event (ooh.ko not loaded) from a
 * layout that differs (an ooh.ko this ooh-kvmstat was not built for).
 */
int guest_check_events(const char *tracing, char *msg, size_t len, int *missing);

#endif
