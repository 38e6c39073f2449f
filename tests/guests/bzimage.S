/* bzimage.S — a minimal bzImage: a setup header for the 64-bit boot protocol and 64-bit code at
 * load + 0x200 that checks the zero page (RSI), prints over COM1 and exits through debug-exit. */
    .section .text
    .code16
setup:                                  /* boot sector + 1 setup sector (1024 bytes) */
    .org 0x1f1
    .byte 1                             /* setup_sects */
    .word 0                             /* root_flags */
    .long (pm_end - pm_start) / 16      /* syssize */
    .word 0                             /* ram_size */
    .word 0                             /* vid_mode */
    .word 0                             /* root_dev */
    .word 0xaa55                        /* boot_flag */
    .org 0x200
    .byte 0xeb, 0x66                    /* jump */
    .ascii "HdrS"
    .word 0x020f                        /* protocol 2.15 */
    .org 0x211
    .byte 0x01                          /* loadflags: LOADED_HIGH */
    .org 0x214
    .long 0x100000                      /* code32_start */
    .org 0x22c
    .long 0x7fffffff                    /* initrd_addr_max */
    .long 0x200000                      /* kernel_alignment */
    .byte 1                             /* relocatable_kernel */
    .byte 21                            /* min_alignment (2 MiB) */
    .word 0x3                           /* xloadflags: KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
    .long 2047                          /* cmdline_size */
    .org 0x258
    .quad 0x1000000                     /* pref_address */
    .long 0x200000                      /* init_size */
    .org 0x400

    .code64
pm_start:                               /* startup_32: unused by the 64-bit protocol */
    hlt
    .org pm_start + 0x200
startup_64:                             /* RSI = struct boot_params */
    mov %rsi, %rbx
    lea msg_alive(%rip), %rdi
    call puts
    cmpb $0xff, 0x210(%rbx)             /* type_of_loader */
    jne fail
    movzbl 0x1e8(%rbx), %eax            /* e820_entries */
    test %eax, %eax
    jz fail
    cmpl $0x53726448, 0x202(%rbx)       /* "HdrS" copied into the zero page */
    jne fail
    lea msg_cmdline(%rip), %rdi
    call puts
    mov 0x228(%rbx), %edi               /* cmd_line_ptr */
    call puts
    mov $'\n', %al
    call putc
    lea msg_ok(%rip), %rdi
    call puts
    mov $0x22, %al                      /* exit status (0x22 << 1) | 1 = 69 */
    out %al, $0xf4
    hlt
fail:
    lea msg_fail(%rip), %rdi
    call puts
    mov $0x23, %al
    out %al, $0xf4
    hlt

putc:                                   /* AL -> COM1 */
    mov %al, %cl
    mov $0x3fd, %dx
1:  in %dx, %al
    test $0x20, %al
    jz 1b
    mov %cl, %al
    mov $0x3f8, %dx
    out %al, %dx
    ret

puts:                                   /* (RDI) NUL-terminated -> COM1 */
    movb (%rdi), %al
    test %al, %al
    jz 2f
    call putc
    inc %rdi
    jmp puts
2:  ret

msg_alive:   .asciz "truce-guest: bzImage 64-bit entry alive\n"
msg_cmdline: .asciz "truce-guest: cmdline '"
msg_ok:      .asciz "truce-guest: zero page ok\n"
msg_fail:    .asciz "truce-guest: FAIL zero page\n"
    .p2align 4
pm_end:
