/* Fake kernel: never finishes (signal, control socket, timeout tests). */
	.code64
	.text
	jmp .
