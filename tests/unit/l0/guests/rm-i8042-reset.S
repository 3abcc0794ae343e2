/* Real mode: pulse the reset line through the keyboard controller. */
	.code16
	.text
	mov $0xfe, %al
	out %al, $0x64
	hlt
