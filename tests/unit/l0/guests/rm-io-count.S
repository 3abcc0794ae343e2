/*
 * Real mode: exactly 100 single OUTs to port 0x510 (claimed by nobody, in
 * KVM or ooh-l0: each one a KVM_EXIT_IO to user space), then status 42 to
 * the exit port: 101 port exits in all, no other I/O (test-l0-kvm-stats
 * compares them with KVM's io_exits).
 */
	.code16
	.text
	mov $0x510, %dx
	mov $100, %cx
1:	mov %cl, %al
	out %al, %dx
	loop 1b
	mov $42, %al
	out %al, $0xf4
	hlt
