/*
 * Fake kernel (startup_64 of a test bzImage): RSI = zero page. Parses the
 * decimal number the command line starts with, prints "bz\n" on COM1 and
 * exits with that number through the OoH exit port.
 */
	.code64
	.text
	mov 0x228(%rsi), %ebx	/* boot_params.hdr.cmd_line_ptr */
	xor %eax, %eax
digit:
	movzbl (%rbx), %ecx
	sub $'0', %ecx
	cmp $9, %ecx
	ja done
	imul $10, %eax, %eax
	add %ecx, %eax
	inc %rbx
	jmp digit
done:
	mov %eax, %edi
	mov $0x3f8, %dx
	mov $'b', %al
	out %al, %dx
	mov $'z', %al
	out %al, %dx
	mov $'\n', %al
	out %al, %dx
	mov %edi, %eax
	out %al, $0xf4
	hlt
