/* SPDX-License-Identifier: MIT */
/* A 16550A UART (COM1) wired to host file descriptors. */
#ifndef L0_SERIAL_H
#define L0_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define L0_SERIAL_COM1_BASE 0x3f8
#define L0_SERIAL_COM1_IRQ  4
#define L0_SERIAL_FIFO_SIZE 64

typedef void (*l0_irq_line_fn)(void *opaque, int irq, int level);

struct l0_vcpu;

struct l0_serial {
	pthread_mutex_t lock;
	int out_fd;             /* guest output; -1 discards */
	int irq;
	l0_irq_line_fn set_irq; /* may be NULL (no interrupt controller) */
	void *irq_opaque;
	int irq_level;

	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_interrupt;     /* THR-empty interrupt pending */
	uint8_t rx[L0_SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint64_t tx_bytes;
};

void l0_serial_init(struct l0_serial *uart, int out_fd, int irq, l0_irq_line_fn set_irq,
		    void *irq_opaque);
void l0_serial_destroy(struct l0_serial *uart);
/* Port handler: register at L0_SERIAL_COM1_BASE, length 8. */
void l0_serial_io(void *opaque, struct l0_vcpu *vcpu, uint64_t offset,
		  uint8_t *data, unsigned len, bool is_write);
/* Room left in the receive FIFO, and feeding it from host input. */
unsigned l0_serial_rx_space(struct l0_serial *uart);
void l0_serial_receive(struct l0_serial *uart, const uint8_t *bytes, unsigned count);

#endif
