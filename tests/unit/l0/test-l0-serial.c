// SPDX-License-Identifier: MIT
/* 16550 model: what Linux's 8250 driver relies on, and a guest printing. */
#include "harness/ooh_check.h"
#include "l0-test.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int irq_level = -1;

static void record_irq(void *opaque, int irq, int level)
{
	(void)opaque;
	ck_assert_int_eq(irq, 4);
	irq_level = level;
}

static uint8_t rd(struct l0_serial *uart, unsigned reg)
{
	uint8_t value = 0;

	l0_serial_io(uart, NULL, reg, &value, 1, false);
	return value;
}

static void wr(struct l0_serial *uart, unsigned reg, uint8_t value)
{
	l0_serial_io(uart, NULL, reg, &value, 1, true);
}

START_TEST(probe_and_loopback)
{
	struct l0_serial uart;

	l0_serial_init(&uart, -1, 4, record_irq, NULL);
	wr(&uart, 7, 0xa5);
	ck_assert_uint_eq(rd(&uart, 7), 0xa5);     /* scratch register */
	wr(&uart, 4, 0x10 | 0x0a);                 /* loopback, RTS, OUT2 */
	ck_assert_uint_eq(rd(&uart, 6) & 0xf0, 0x90); /* what Linux's probe expects */
	wr(&uart, 0, 'x');                         /* loops back into RX */
	ck_assert_uint_eq(rd(&uart, 5) & 0x01, 0x01);
	ck_assert_uint_eq(rd(&uart, 0), 'x');
	ck_assert_uint_eq(rd(&uart, 5) & 0x61, 0x60); /* empty RX, THR empty */
	wr(&uart, 2, 0x07);                        /* FIFO on */
	ck_assert_uint_eq(rd(&uart, 2) & 0xc0, 0xc0);
	l0_serial_destroy(&uart);
}
END_TEST

START_TEST(interrupts)
{
	struct l0_serial uart;
	uint8_t in[] = "ab";

	l0_serial_init(&uart, -1, 4, record_irq, NULL);
	wr(&uart, 1, 0x02);                        /* THRE interrupt on */
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(rd(&uart, 2) & 0x0f, 0x02); /* reading IIR acknowledges */
	ck_assert_int_eq(irq_level, 0);
	wr(&uart, 1, 0x01);                        /* RX interrupt only */
	l0_serial_receive(&uart, in, 2);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(rd(&uart, 2) & 0x0f, 0x04);
	ck_assert_uint_eq(rd(&uart, 0), 'a');
	ck_assert_uint_eq(rd(&uart, 0), 'b');
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(l0_serial_rx_space(&uart), L0_SERIAL_FIFO_SIZE);
	wr(&uart, 3, 0x80);                        /* DLAB: divisor latch, not IER */
	wr(&uart, 1, 0x00);
	wr(&uart, 3, 0x03);
	ck_assert_uint_eq(rd(&uart, 1), 0x01);
	l0_serial_destroy(&uart);
}
END_TEST

START_TEST(guest_prints_on_com1)
{
	int pipe_fds[2];
	char out[64] = { 0 };
	struct l0_vm *vm;

	ck_assert_int_eq(pipe(pipe_fds), 0);
	vm = l0t_vm(true, pipe_fds[1]);
	l0t_load_real(vm, "rm-serial");
	ck_assert_int_eq(l0t_run(vm, 10000), 0);
	ck_assert_int_eq(read(pipe_fds[0], out, sizeof(out) - 1), 6);
	ck_assert_str_eq(out, "hello\n");
	l0_vm_destroy(vm);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-serial");
	TCase *tc = tcase_create("serial");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, probe_and_loopback);
	tcase_add_test(tc, interrupts);
	tcase_add_test(tc, guest_prints_on_com1);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
