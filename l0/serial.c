// SPDX-License-Identifier: MIT
/*
 * 16550A model: enough for Linux's 8250 driver (probe, loopback test, FIFO,
 * THRE and RX interrupts). Transmission is instant: every THR write goes
 * straight to out_fd, so the transmitter always reads as empty.
 */
#include "serial.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

enum {
	UART_RX = 0, UART_TX = 0, UART_DLL = 0,
	UART_IER = 1, UART_DLM = 1,
	UART_IIR = 2, UART_FCR = 2,
	UART_LCR = 3, UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};
#define IER_RDI   0x01
#define IER_THRI  0x02
#define IIR_NO_INT 0x01
#define IIR_THRI  0x02
#define IIR_RDI   0x04
#define IIR_FIFO  0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB  0x80
#define MCR_DTR   0x01
#define MCR_RTS   0x02
#define MCR_OUT1  0x04
#define MCR_OUT2  0x08
#define MCR_LOOP  0x10
#define LSR_DR    0x01
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define MSR_CTS   0x10
#define MSR_DSR   0x20
#define MSR_RI    0x40
#define MSR_DCD   0x80

void l0_serial_init(struct l0_serial *uart, int out_fd, int irq, l0_irq_line_fn set_irq,
		    void *irq_opaque)
{
	memset(uart, 0, sizeof(*uart));
	pthread_mutex_init(&uart->lock, NULL);
	uart->out_fd = out_fd;
	uart->irq = irq;
	uart->set_irq = set_irq;
	uart->irq_opaque = irq_opaque;
	uart->mcr = MCR_OUT2;
}

void l0_serial_destroy(struct l0_serial *uart)
{
	pthread_mutex_destroy(&uart->lock);
}

static uint8_t current_iir(const struct l0_serial *uart)
{
	uint8_t fifo = (uart->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((uart->ier & IER_RDI) && uart->rx_count)
		return IIR_RDI | fifo;
	if ((uart->ier & IER_THRI) && uart->thr_interrupt)
		return IIR_THRI | fifo;
	return IIR_NO_INT | fifo;
}

/* Called with the lock held after every state change. */
static void update_irq(struct l0_serial *uart)
{
	int level = !(current_iir(uart) & IIR_NO_INT);

	if (level != uart->irq_level && uart->set_irq)
		uart->set_irq(uart->irq_opaque, uart->irq, level);
	uart->irq_level = level;
}

static void rx_push(struct l0_serial *uart, uint8_t byte)
{
	if (uart->rx_count == L0_SERIAL_FIFO_SIZE)
		return; /* overrun: drop, like the hardware */
	uart->rx[(uart->rx_head + uart->rx_count) % L0_SERIAL_FIFO_SIZE] = byte;
	uart->rx_count++;
}

static void transmit(struct l0_serial *uart, uint8_t byte)
{
	uart->tx_bytes++;
	if (uart->mcr & MCR_LOOP) {
		rx_push(uart, byte);
		return;
	}
	if (uart->out_fd < 0)
		return;
	while (write(uart->out_fd, &byte, 1) < 0 && errno == EINTR)
		;
}

static uint8_t modem_status(const struct l0_serial *uart)
{
	if (uart->mcr & MCR_LOOP) {
		/* Loopback wires the modem controls back: Linux's probe checks this. */
		return ((uart->mcr & MCR_DTR) ? MSR_DSR : 0) | ((uart->mcr & MCR_RTS) ? MSR_CTS : 0) |
		       ((uart->mcr & MCR_OUT1) ? MSR_RI : 0) | ((uart->mcr & MCR_OUT2) ? MSR_DCD : 0);
	}
	return MSR_DCD | MSR_DSR | MSR_CTS;
}

static uint8_t serial_read(struct l0_serial *uart, unsigned reg)
{
	uint8_t value = 0;

	switch (reg) {
	case UART_RX:
		if (uart->lcr & LCR_DLAB)
			return uart->dll;
		if (uart->rx_count) {
			value = uart->rx[uart->rx_head];
			uart->rx_head = (uart->rx_head + 1) % L0_SERIAL_FIFO_SIZE;
			uart->rx_count--;
		}
		return value;
	case UART_IER:
		return (uart->lcr & LCR_DLAB) ? uart->dlm : uart->ier;
	case UART_IIR:
		value = current_iir(uart);
		if ((value & 0x0f) == IIR_THRI)
			uart->thr_interrupt = false; /* reading IIR acknowledges THRE */
		return value;
	case UART_LCR: return uart->lcr;
	case UART_MCR: return uart->mcr;
	case UART_LSR: return LSR_THRE | LSR_TEMT | (uart->rx_count ? LSR_DR : 0);
	case UART_MSR: return modem_status(uart);
	case UART_SCR: return uart->scr;
	}
	return 0xff;
}

static void serial_write(struct l0_serial *uart, unsigned reg, uint8_t value)
{
	switch (reg) {
	case UART_TX:
		if (uart->lcr & LCR_DLAB) {
			uart->dll = value;
			return;
		}
		transmit(uart, value);
		uart->thr_interrupt = true; /* sent at once: THR is empty again */
		return;
	case UART_IER:
		if (uart->lcr & LCR_DLAB) {
			uart->dlm = value;
			return;
		}
		if (!(uart->ier & IER_THRI) && (value & IER_THRI))
			uart->thr_interrupt = true;
		uart->ier = value & 0x0f;
		return;
	case UART_FCR:
		uart->fcr = value & (FCR_ENABLE | 0xc0);
		if (value & FCR_CLEAR_RX)
			uart->rx_count = 0;
		return;
	case UART_LCR: uart->lcr = value; return;
	case UART_MCR: uart->mcr = value & 0x1f; return;
	case UART_SCR: uart->scr = value; return;
	}
}

void l0_serial_io(void *opaque, struct l0_vcpu *vcpu, uint64_t offset,
		  uint8_t *data, unsigned len, bool is_write)
{
	(void)vcpu;
	struct l0_serial *uart = opaque;

	if (offset >= 8 || len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&uart->lock);
	if (is_write)
		serial_write(uart, (unsigned)offset, data[0]);
	else
		data[0] = serial_read(uart, (unsigned)offset);
	update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
}

unsigned l0_serial_rx_space(struct l0_serial *uart)
{
	unsigned space;

	pthread_mutex_lock(&uart->lock);
	space = L0_SERIAL_FIFO_SIZE - uart->rx_count;
	pthread_mutex_unlock(&uart->lock);
	return space;
}

void l0_serial_receive(struct l0_serial *uart, const uint8_t *bytes, unsigned count)
{
	pthread_mutex_lock(&uart->lock);
	for (unsigned i = 0; i < count; i++)
		rx_push(uart, bytes[i]);
	update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
}
