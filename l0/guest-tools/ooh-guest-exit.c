// SPDX-License-Identifier: MIT
/*
 * ooh-guest-exit STATUS: run inside a guest of ooh-l0 to end the VM with
 * STATUS as ooh-l0's exit status (I/O port OOH_EXIT_PORT, needs root).
 * Under QEMU with "-device isa-debug-exit,iobase=0xf4" QEMU exits with
 * STATUS*2+1.
 */
#include <ooh/hv-abi.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *end;
	long status;

	if (argc != 2) {
		fprintf(stderr, "usage: ooh-guest-exit STATUS   (0..255)\n");
		return 2;
	}
	errno = 0;
	status = strtol(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || status < 0 || status > 255) {
		fprintf(stderr, "ooh-guest-exit: STATUS must be 0..255\n");
		return 2;
	}
	if (ioperm(OOH_EXIT_PORT, 1, 1) != 0) {
		fprintf(stderr, "ooh-guest-exit: ioperm(0x%x): %s\n", OOH_EXIT_PORT, strerror(errno));
		return 1;
	}
	outb((unsigned char)status, OOH_EXIT_PORT);
	/* Not under ooh-l0 (or the write was ignored): say so rather than hang. */
	fprintf(stderr, "ooh-guest-exit: the hypervisor did not stop the VM\n");
	return 1;
}
