/* SPDX-License-Identifier: MIT */
/* The device types ooh-l0 has beyond the legacy PC ones (device.h). */
#ifndef L0_DEVICES_H
#define L0_DEVICES_H

#include "device.h"

extern const struct l0_device_ops l0_ooh_device;          /* ooh/device.c: OoH virtual hardware */
extern const struct l0_device_ops l0_virtio_blk_device;   /* virtio/blk.c: --disk */
extern const struct l0_device_ops l0_virtio_net_device;   /* virtio/net.c: --net */
extern const struct l0_device_ops l0_virtio_vsock_device; /* virtio/vsock.c: --vsock */

#endif
