/* Real mode: spin forever (timeout, signal, pause tests). */
	.code16
	.text
	jmp .
