/*
 * Real mode port dispatch: OUT of 1, 2, 4 bytes and REP OUTSB to the test
 * device at 0x500; two INs from it; one IN from an unclaimed port (0xff).
 * Exit status = low byte of the three IN values added up.
 */
	.code16
	.text
	mov $0x500, %dx
	mov $0x11, %al
	out %al, %dx
	mov $0x2233, %ax
	out %ax, %dx
	mov $0x44556677, %eax
	out %eax, %dx
	mov $msg, %si
	mov $3, %cx
	cld
	rep outsb
	in %dx, %al
	mov %al, %bl
	in %dx, %al
	add %al, %bl
	mov $0x777, %dx
	in %dx, %al
	add %al, %bl
	mov %bl, %al
	out %al, $0xf4
	hlt
msg:
	.ascii "abc"
