/* Real mode: print "hello\n" on COM1, then exit with status 0. */
	.code16
	.text
	mov $msg, %si
	mov $0x3f8, %dx
	mov $6, %cx
	cld
	rep outsb
	xor %al, %al
	out %al, $0xf4
	hlt
msg:
	.ascii "hello\n"
