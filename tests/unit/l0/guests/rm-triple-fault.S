/* Real mode: empty IDT, then an interrupt: #GP -> #DF -> triple fault. */
	.code16
	.text
	cli
	lidt %cs:empty_idt
	int3
	hlt
empty_idt:
	.word 0
	.long 0
