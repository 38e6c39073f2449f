/* pvh_note.S — the PVH ELF note (XEN_ELFNOTE_PHYS32_ENTRY) pointing at pvh_start. */
    .section .note.Xen, "a"
    .p2align 2
    .long 4          /* name size: "Xen\0" */
    .long 4          /* desc size: 32-bit entry address */
    .long 18         /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .long pvh_start
