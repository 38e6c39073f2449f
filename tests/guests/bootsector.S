/* bootsector.S — an MBR boot sector for firmware tests: loaded by the BIOS at 0x7C00, it reads
 * the disk's second sector through INT 13h and prints it and the boot drive on COM1, then exits
 * through debug-exit (status 37; 39 when the read fails). */
    .code16
    .section .text
start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
    mov %dl, drive
    mov $hello, %si
    call puts
    mov drive, %al          /* the boot drive, two hex digits */
    call puthex8
    mov $nl, %si
    call puts
    mov $0x0201, %ax        /* INT 13h AH=2: read 1 sector */
    mov $0x0002, %cx        /* cylinder 0, sector 2 */
    xor %dh, %dh            /* head 0 */
    mov drive, %dl
    mov $0x8000, %bx        /* to 0000:8000 */
    int $0x13
    jc fail
    mov $0x8000, %si
    call puts
    mov $0x12, %al          /* exit status (0x12 << 1) | 1 = 37 */
    out %al, $0xf4
fail:
    mov $failmsg, %si
    call puts
    mov $0x13, %al          /* exit status 39 */
    out %al, $0xf4
    cli
    hlt

/* puts: DS:SI (NUL-terminated) -> COM1, polling LSR.THRE */
puts:
    lodsb
    test %al, %al
    jz 2f
    mov %al, %ah
    mov $0x3fd, %dx
1:  in %dx, %al
    test $0x20, %al
    jz 1b
    mov $0x3f8, %dx
    mov %ah, %al
    out %al, %dx
    jmp puts
2:  ret

/* puthex8: AL as two hex digits on COM1 */
puthex8:
    mov %al, %cl
    shr $4, %al
    call nibble
    mov %cl, %al
    and $0xf, %al
nibble:
    add $'0', %al
    cmp $'9', %al
    jbe 3f
    add $7, %al
3:  mov %al, %ah
    mov $0x3fd, %dx
4:  in %dx, %al
    test $0x20, %al
    jz 4b
    mov $0x3f8, %dx
    mov %ah, %al
    out %al, %dx
    ret

drive:   .byte 0
hello:   .asciz "truce-guest: boot sector running, drive 0x"
nl:      .asciz "\n"
failmsg: .asciz "truce-guest: FAIL int 13h read\n"

    .section .sig, "a"
    .byte 0x55, 0xaa
    .section .sector2, "a"
    .asciz "truce-guest: second sector read through int 13h\n"
