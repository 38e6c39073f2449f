/* entry32.S — PVH entry for 32-bit test guests: stack, then main32(start_info). */
    .section .text.entry, "ax"
    .code32
    .globl pvh_start
pvh_start:
    cli
    mov $stack_top, %esp
    push %ebx               /* struct hvm_start_info * */
    call main32
1:  cli
    hlt
    jmp 1b

    .section .bss
    .p2align 4
stack:
    .space 8192
stack_top:
