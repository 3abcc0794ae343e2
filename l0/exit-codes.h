/* SPDX-License-Identifier: MIT */
/*
 * ooh-l0 process exit codes. A guest that writes OOH_EXIT_PORT hands its
 * own status (0..255) through unchanged; guest payloads should keep to
 * 0..63 so their statuses never look like one of ooh-l0's own below.
 */
#ifndef L0_EXIT_CODES_H
#define L0_EXIT_CODES_H

enum l0_exit_code {
	L0_EXIT_OK            = 0,   /* guest halted for good / powered off / quit */
	L0_EXIT_USAGE         = 64,  /* bad command line (options or --cmdline) */
	L0_EXIT_BAD_KERNEL    = 65,  /* kernel image corrupt or unsupported */
	L0_EXIT_NO_FILE       = 66,  /* kernel or initrd missing / unreadable */
	L0_EXIT_TOO_LITTLE_MEMORY = 67, /* --mem too small for kernel+initrd */
	L0_EXIT_HOST_MEMORY   = 68,  /* host could not give the guest RAM */
	L0_EXIT_NO_KVM        = 69,  /* no usable /dev/kvm */
	L0_EXIT_INTERNAL      = 70,  /* unexpected KVM/host failure */
	L0_EXIT_GUEST_FAULT   = 71,  /* unmapped memory access, KVM internal error */
	L0_EXIT_TIMEOUT       = 72,  /* --timeout reached */
	L0_EXIT_GUEST_RESET   = 73,  /* guest reboot / triple fault / reset port */
	L0_EXIT_SIGNAL_BASE   = 128, /* + signal number: stopped by SIGINT/SIGTERM */
};

#endif
