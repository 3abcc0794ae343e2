// SPDX-License-Identifier: MIT
/*
 * Legacy PC ports a Linux guest touches while booting or rebooting:
 *  - i8042 (0x60/0x64): only the CPU reset line (command 0xfe). Status
 *    reads "output full, input empty" so Linux's probe gives up at once
 *    ("no controller") and its reboot code never waits for the controller.
 *  - 0xcf9: reset control register, bit 2 = reset.
 *  - CMOS RTC (0x70/0x71): the host's UTC time, never "update in progress".
 */
#include "x86.h"
#include "../exit-codes.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET    0xfe
#define I8042_STATUS_OBF_NOT_IBF 0xfd
#define RESET_CONTROL_PORT 0xcf9
#define RTC_PORT           0x70

static void i8042_data_io(void *opaque, struct l0_vcpu *vcpu, uint64_t offset,
			  uint8_t *data, unsigned len, bool is_write)
{
	(void)vcpu;
	(void)opaque;
	(void)offset;
	if (!is_write)
		memset(data, 0xff, len); /* writes (keyboard commands) go nowhere */
}

static void i8042_command_io(void *opaque, struct l0_vcpu *vcpu, uint64_t offset,
			     uint8_t *data, unsigned len, bool is_write)
{
	(void)vcpu;
	struct l0_vm *vm = opaque;

	(void)offset;
	if (!is_write) {
		memset(data, I8042_STATUS_OBF_NOT_IBF, len);
		return;
	}
	if (data[0] == I8042_CMD_RESET)
		l0_vm_request_stop(vm, L0_STOP_RESET, L0_EXIT_GUEST_RESET,
				   "guest reset (i8042 reset line)");
}

static void reset_control_io(void *opaque, struct l0_vcpu *vcpu, uint64_t offset,
			     uint8_t *data, unsigned len, bool is_write)
{
	(void)vcpu;
	struct l0_vm *vm = opaque;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (offset == 0 && (data[0] & 0x04))
		l0_vm_request_stop(vm, L0_STOP_RESET, L0_EXIT_GUEST_RESET,
				   "guest reset (port 0xcf9)");
}

static uint8_t bcd(int value)
{
	return (uint8_t)(((value / 10) << 4) | (value % 10));
}

static uint8_t rtc_register(uint8_t index)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (index) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd(19 + tm.tm_year / 100); /* century */
	case 0x0a: return 0x26;  /* 32 kHz base, 1024 Hz; UIP clear */
	case 0x0b: return 0x02;  /* 24 hour, BCD, no interrupts */
	case 0x0d: return 0x80;  /* battery good */
	default:   return 0;
	}
}

static void rtc_io(void *opaque, struct l0_vcpu *vcpu, uint64_t offset,
		   uint8_t *data, unsigned len, bool is_write)
{
	(void)vcpu;
	uint8_t *index = opaque; /* per VM; a guest racing itself only confuses itself */

	if (offset == 0) {
		if (is_write)
			*index = data[0] & 0x7f; /* bit 7 is the NMI mask */
		else
			memset(data, 0xff, len);
		return;
	}
	if (!is_write)
		memset(data, rtc_register(*index), len);
}

int l0_x86_legacy_register(struct l0_vm *vm)
{
	if (l0_bus_register(&vm->pio, I8042_DATA_PORT, 1, i8042_data_io, vm, "i8042-data") ||
	    l0_bus_register(&vm->pio, I8042_COMMAND_PORT, 1, i8042_command_io, vm, "i8042-command") ||
	    l0_bus_register(&vm->pio, RESET_CONTROL_PORT, 1, reset_control_io, vm, "reset") ||
	    l0_bus_register(&vm->pio, RTC_PORT, 2, rtc_io, &vm->rtc_index, "rtc"))
		return -1;
	return 0;
}
