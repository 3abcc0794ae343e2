/* Long mode: halt for good (with the in-kernel irqchip: found by polling). */
	.code64
	.text
	cli
	hlt
	jmp .
