/* Long mode: fault with no IDT: triple fault. */
	.code64
	.text
	ud2
