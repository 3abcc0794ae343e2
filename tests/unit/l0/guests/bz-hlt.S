/* Fake kernel: halt for good, as Linux's "halt -f" ends. */
	.code64
	.text
	cli
	hlt
	jmp .
