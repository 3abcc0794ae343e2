/* SPDX-License-Identifier: MIT */
/*
 * Host control socket: a UNIX stream socket speaking JSON lines
 * (docs/control-socket.md). Served from the VM's run loop thread.
 */
#ifndef L0_CONTROL_H
#define L0_CONTROL_H

#include <poll.h>
#include <stddef.h>

#define L0_CONTROL_MAX_CLIENTS 7
#define L0_CONTROL_MAX_FDS (1 + L0_CONTROL_MAX_CLIENTS)
#define L0_CONTROL_LINE_MAX 4096

struct l0_vm;
struct l0_control;
struct l0_reply;

/*
 * Appends to a reply being built (a command's or a device's part of it):
 * JSON text, the caller's job to keep well-formed. Never cut: the reply
 * grows, and if memory runs out the whole reply becomes an error.
 */
void l0_reply_emit(struct l0_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns NULL and sets *exit_code on failure. Removes a stale socket file. */
struct l0_control *l0_control_open(const char *path, int *exit_code);
void l0_control_close(struct l0_control *ctl);
int l0_control_fill_pollfds(struct l0_control *ctl, struct pollfd *fds, int max);
void l0_control_handle(struct l0_control *ctl, struct l0_vm *vm, const struct pollfd *fds, int nr);

/*
 * One request line in, one reply line out: a malloc'd, NUL-terminated JSON
 * object without the newline, as long as it needs to be (*len: its
 * length). NULL only when out of memory.
 */
char *l0_control_reply(struct l0_vm *vm, const char *request, size_t *len);

/*
 * The same into a caller's buffer (tests): the whole reply; if it does not
 * fit, {"ok":false,"error":"reply too long"} if that fits, else "". Never a
 * cut reply. Returns the length written.
 */
size_t l0_control_execute(struct l0_vm *vm, const char *request, char *reply, size_t reply_size);

#endif
