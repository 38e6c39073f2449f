/* entry64.S — PVH entry for 64-bit test guests: identity-map 1 GiB, enter long mode, main64. */
    .section .text.entry, "ax"
    .code32
    .globl pvh_start
pvh_start:
    cli
    mov %ebx, %edi              /* keep start_info for main64's first argument */
    mov $stack_top, %esp
    movl $pdpt + 3, pml4        /* present | writable */
    movl $pd + 3, pdpt
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax              /* present | writable | 2 MiB page */
    mov %eax, pd(, %ecx, 8)
    inc %ecx
    cmp $512, %ecx
    jne 1b
    mov $pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $0xc0000080, %ecx       /* EFER */
    rdmsr
    or $0x100, %eax             /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax        /* PG | PE */
    mov %eax, %cr0
    lgdt gdt_desc
    ljmp $0x08, $long_entry

    .code64
long_entry:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $stack_top, %rsp
    mov %edi, %edi
    call main64
2:  cli
    hlt
    jmp 2b

    .section .rodata
    .p2align 3
gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
gdt_desc:
    .word gdt_desc - gdt - 1
    .long gdt

    .section .bss
    .p2align 12
pml4: .space 4096
pdpt: .space 4096
pd:   .space 4096
stack:
    .space 8192
stack_top:
