/* multiboot_entry.S — multiboot v1 header and entry of the multiboot test guest. Built twice:
 * as an ELF (loader reads the program headers) and, with -DAOUT, as a flat binary whose header
 * carries the load addresses (a.out kludge, flag bit 16). */
#define MB_MAGIC 0x1BADB002
#ifdef AOUT
#define MB_FLAGS 0x00010003 /* page-aligned modules, memory info, a.out kludge */
#else
#define MB_FLAGS 0x00000003
#endif
    .section .multiboot, "a"
    .p2align 2
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
#ifdef AOUT
    .long mb_header     /* header_addr */
    .long image_start   /* load_addr */
    .long data_end      /* load_end_addr */
    .long bss_end       /* bss_end_addr */
    .long mb_start      /* entry_addr */
#endif

    .section .text.entry, "ax"
    .code32
    .globl mb_start
mb_start:
    mov $stack_top, %esp
    push %ebx               /* struct mb_info * */
    push %eax               /* the boot loader magic */
    call mb_main
1:  cli
    hlt
    jmp 1b

    .section .bss
    .p2align 4
stack:
    .space 8192
stack_top:
