/* Real mode: write status 42 to the OoH exit port. */
	.code16
	.text
	mov $42, %al
	out %al, $0xf4
	hlt
