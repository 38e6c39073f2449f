/* vgaboot.S — an MBR boot sector for the display tests: prints a marker through the VGA BIOS
 * (INT 10h teletype, white on a blue screen it clears first; SeaBIOS's serial console mirrors it
 * on COM1), then idles with interrupts on, so the screen stays up until the runner stops the VM. */
    .code16
    .section .text
start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
    sti
    mov $0x0003, %ax        /* INT 10h AH=0: 80x25 colour text mode */
    int $0x10
    mov $0x0600, %ax        /* scroll the whole window: clear it */
    mov $0x1f, %bh          /* white on blue */
    xor %cx, %cx
    mov $0x184f, %dx
    int $0x10
    mov $0x0200, %ax        /* cursor to row 2, column 4 */
    xor %bh, %bh
    mov $0x0204, %dx
    int $0x10
    mov $msg, %si
1:  lodsb
    test %al, %al
    jz 2f
    mov $0x0e, %ah          /* teletype */
    mov $0x0007, %bx
    int $0x10
    jmp 1b
2:  hlt
    jmp 2b
msg:
    .asciz "TRUCE VGA TEXT 0123456789\r\n"

    .section .sig, "a"
    .byte 0x55, 0xaa
    .section .sector2, "a"
    .asciz "sector two"
