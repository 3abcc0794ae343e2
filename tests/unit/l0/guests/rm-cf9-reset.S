/* Real mode: reset through the reset control register 0xcf9. */
	.code16
	.text
	mov $0xcf9, %dx
	mov $0x06, %al
	out %al, %dx
	hlt
