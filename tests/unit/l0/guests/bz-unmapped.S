/* Fake kernel: touch unmapped guest physical memory. */
	.code64
	.text
	mov $0xe0000000, %rbx
	mov (%rbx), %eax
	hlt
