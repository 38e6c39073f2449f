/* realmode.S — real-mode ROM guest: prints over COM1 and reads CMOS, exits through debug-exit. */
    .code16
    .section .text
start:
    cli
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7000, %sp
    mov %cs, %ax
    mov %ax, %ds
    mov $msg, %si
    call puts
    /* CMOS register 0x15/0x16: base memory in KiB, must read 640 */
    mov $0x15, %al
    out %al, $0x70
    in $0x71, %al
    mov %al, %bl
    mov $0x16, %al
    out %al, $0x70
    in $0x71, %al
    mov %al, %bh
    cmp $640, %bx
    jne fail
    mov $okmsg, %si
    call puts
    mov $0x10, %al          /* exit status (0x10 << 1) | 1 = 33 */
    out %al, $0xf4
fail:
    mov $failmsg, %si
    call puts
    mov $0x11, %al          /* exit status 35 */
    out %al, $0xf4
    cli
    hlt

/* puts: DS:SI -> COM1, polling LSR.THRE */
puts:
    mov $0x3fd, %dx
1:  in %dx, %al
    test $0x20, %al
    jz 1b
    lodsb
    test %al, %al
    jz 2f
    mov $0x3f8, %dx
    out %al, %dx
    mov $0x3fd, %dx
    jmp 1b
2:  ret

msg:     .asciz "truce-guest: real mode alive\n"
okmsg:   .asciz "truce-guest: cmos base memory 640 KiB\n"
failmsg: .asciz "truce-guest: FAIL cmos base memory\n"

    .section .reset, "ax"
    ljmp $0xf000, $start
