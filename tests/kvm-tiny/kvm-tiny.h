/* SPDX-License-Identifier: MIT */
#ifndef OOH_KVM_TINY_H
#define OOH_KVM_TINY_H

#include <stddef.h>

/* What guest.S prints on port 0x10 and computes on port 0x11. */
#define TINY_EXPECTED_TEXT	"hello from a tiny KVM guest\n"
#define TINY_EXPECTED_RESULT	42

struct tiny_run {
	char text[128];		/* bytes written to the text port */
	size_t text_len;
	int result;		/* value written to the result port, -1 if none */
	int halted;		/* the guest reached hlt */
	int exits;		/* VM exits taken */
	char error[160];	/* set when tiny_boot() fails */
};

/* Boots the tiny guest on DEVICE (e.g. /dev/kvm); 0, or -1 with run->error. */
int tiny_boot(const char *device, struct tiny_run *run);

#endif
