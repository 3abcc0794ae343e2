/* Long mode: read guest physical memory nobody maps (in the 32-bit hole). */
	.code64
	.text
	mov $0xe0000000, %rbx
	mov (%rbx), %eax
	mov $3, %al
	out %al, $0xf4
	hlt
