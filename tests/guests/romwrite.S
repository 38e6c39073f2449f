/* romwrite.S — a hostile firmware ROM: from 32-bit protected mode it writes over its own image
 * where truce maps it read-only below 4 GiB (and over its copy in the legacy window below
 * 1 MiB), then reads the high copy back: the writes must be dropped. run.sh also checks that
 * the ROM file on disk is unchanged. It then re-reads the high copy PASSES times, printing a dot
 * each, about 50 ms apart (snapshot.sh restores it mid-way: the ROM must still be mapped). Exit 37 (0x12):
 * dropped (and still there); 39 (0x13): the ROM changed or is gone. */
#define ROM_HIGH 0xffff0000 /* a 64 KiB image ends at 4 GiB */
#define ROM_LOW  0xf0000    /* and its copy ends at 1 MiB */
#define PASSES   100        /* re-reads of the high copy after the check, one "." each */
#define TSC_STEP 27         /* a pass each time TSC bit 27 turns over: about 50 ms at 2.7 GHz */
    .code16
    .section .text
start:
    cli
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7000, %sp
    lgdtl %cs:gdtr
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $(ROM_LOW + pm32)

    .code32
pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7000, %esp
    mov $(ROM_HIGH + pattern), %edi
    movl $0xa5a5a5a5, (%edi)        /* dword, word and byte writes over the read-only image */
    movw $0x5aa5, 4(%edi)
    movb $0x00, 6(%edi)
    movl $0xdeadbeef, ROM_LOW + pattern /* the legacy window is RAM: the file must not see it */
    mov $(ROM_LOW + msg), %esi
    call puts
    cmpl $0x11223344, (%edi)
    jne changed
    cmpl $0x55667788, 4(%edi)
    jne changed
    mov $(ROM_LOW + okmsg), %esi
    call puts
    mov $PASSES, %ebx                /* then it reads the high copy again, pass after pass: */
again:                               /* a snapshot restored meanwhile must map it there too */
    rdtsc                            /* paced by the TSC, not loop turns: the same on any host */
    shrd $TSC_STEP, %edx, %eax
    mov %eax, %ecx
1:  rdtsc
    shrd $TSC_STEP, %edx, %eax
    cmp %eax, %ecx
    je 1b
    cmpl $0x11223344, (%edi)
    jne gone
    mov $(ROM_LOW + dot), %esi
    call puts
    dec %ebx
    jnz again
    mov $(ROM_LOW + endmsg), %esi
    call puts
    mov $0x12, %al
    out %al, $0xf4
gone:
    mov $(ROM_LOW + gonemsg), %esi
    call puts
    mov $0x13, %al
    out %al, $0xf4
changed:
    mov $(ROM_LOW + failmsg), %esi
    call puts
    mov $0x13, %al
    out %al, $0xf4
    cli
    hlt

/* puts: the string at linear %esi -> COM1, polling LSR.THRE */
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

    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff /* 0x08: flat 32-bit code */
    .quad 0x00cf92000000ffff /* 0x10: flat data */
gdtr:
    .word 23
    .long ROM_LOW + gdt
pattern:
    .long 0x11223344, 0x55667788
msg:     .asciz "truce-guest: wrote over the ROM at 0xffff0000\n"
okmsg:   .asciz "truce-guest: rom writes dropped\n"
failmsg: .asciz "truce-guest: FAIL the read-only ROM changed\n"
gonemsg: .asciz "\ntruce-guest: FAIL the ROM is gone from below 4 GiB\n"
dot:     .asciz "."
endmsg:  .asciz "\ntruce-guest: rom still there\n"

    .section .reset, "ax"
    .code16
    ljmp $0xf000, $start
