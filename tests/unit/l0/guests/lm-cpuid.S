/*
 * Long mode (VMM-built page tables): find the OoH CPUID leaves by scanning
 * the hypervisor range like a guest module would. Exit 42 if found with the
 * right version and exit port, 1 if not found, 2 if a field is wrong.
 */
	.code64
	.text
	mov $0x40000000, %esi
scan:
	mov %esi, %eax
	cpuid
	cmp $0x4f486f4f, %ebx
	jne next
	cmp $0x6f4f486f, %ecx
	jne next
	cmp $0x486f4f48, %edx
	je found
next:
	add $0x100, %esi
	cmp $0x40010000, %esi
	jb scan
	mov $1, %al
	out %al, $0xf4
	hlt
found:
	lea 1(%rsi), %eax
	cpuid
	cmp $1, %eax		/* OOH_ABI_VERSION 0.1 */
	jne bad
	cmp $0xf4, %ecx		/* OOH_EXIT_PORT */
	jne bad
	mov $42, %al
	out %al, $0xf4
	hlt
bad:
	mov $2, %al
	out %al, $0xf4
	hlt
