/* race_ap.S — the second vCPU of the race guests: real mode at 0x8000, then flat 32-bit protected
 * mode, then it obeys a mailbox at 0x7000 forever, hammering what the BSP names:
 *   0x7000 mode (0 idle, 1 write32 ADDR=V, 2 write8 ADDR=V, 3 alternate write32 ADDR=V / V2,
 *                4 outl PORT(ADDR)=V, 5 write8 ADDR=V then V2 pauses), 0x7004 ADDR, 0x7008 V,
 *   0x700c V2, 0x7010 iterations done. */
    .section .tramp, "ax"
    .code16
    .globl race_ap_start
race_ap_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    lgdtl race_gdt_desc
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $race_pm

    .code32
race_pm:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7f00, %esp
1:  mov 0x7000, %eax
    mov 0x7004, %edx
    mov 0x7008, %ecx
    cmp $1, %eax
    je 2f
    cmp $2, %eax
    je 3f
    cmp $3, %eax
    je 4f
    cmp $4, %eax
    je 5f
    cmp $5, %eax
    je 6f
    pause
    jmp 1b
2:  mov %ecx, (%edx)
    jmp 9f
3:  mov %cl, (%edx)
    jmp 9f
4:  mov %ecx, (%edx)
    mov 0x700c, %ecx
    mov %ecx, (%edx)
    jmp 9f
5:  mov %ecx, %eax
    out %eax, %dx
    jmp 9f
6:  mov %cl, (%edx)
    mov 0x700c, %ecx
7:  pause
    loop 7b
9:  incl 0x7010
    jmp 1b

    .p2align 3
race_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: flat 32-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: flat data */
race_gdt_desc:
    .word race_gdt_desc - race_gdt - 1
    .long race_gdt
