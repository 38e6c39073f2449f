/* smp_ap.S — the AP's real-mode start (SIPI vector 0x08 -> 0x8000): report, flag, halt. */
    .section .tramp, "ax"
    .code16
    .globl ap_flag, ap_apic_id
ap_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7f00, %sp
    mov $1, %eax
    cpuid
    shr $24, %ebx
    mov %bl, ap_apic_id
    mov $msg, %si
    call puts
    mov ap_apic_id, %al
    add $'0', %al
    call putc
    mov $'\n', %al
    call putc
    movb $1, ap_flag
1:  cli
    hlt
    jmp 1b

putc:                           /* AL -> COM1 */
    mov %al, %ah
    mov $0x3fd, %dx
2:  in %dx, %al
    test $0x20, %al
    jz 2b
    mov %ah, %al
    mov $0x3f8, %dx
    out %al, %dx
    ret

puts:                           /* DS:SI -> COM1 */
    lodsb
    test %al, %al
    jz 3f
    call putc
    jmp puts
3:  ret

msg:        .asciz "truce-guest: cpu1 up, apic id "
ap_flag:    .byte 0
ap_apic_id: .byte 0
