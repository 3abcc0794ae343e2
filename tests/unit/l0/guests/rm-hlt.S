/* Real mode: halt for good (interrupts off). */
	.code16
	.text
	cli
	hlt
	jmp .
