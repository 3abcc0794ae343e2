/*
 * Long mode MMIO dispatch against the test device at 0xd0000000:
 * 4-byte and 8-byte writes, a 4-byte read (device answers 0x12345678),
 * a 1-byte read at offset 0x10. Exit status = low byte of (read4 + read1).
 */
	.code64
	.text
	mov $0xd0000000, %rbx
	movl $0xdeadbeef, (%rbx)
	mov $0x0102030405060708, %rax
	mov %rax, 8(%rbx)
	mov (%rbx), %ecx
	movzbl 0x10(%rbx), %eax
	add %ecx, %eax
	out %al, $0xf4
	hlt
