/* multiboot.h — Multiboot v1 (0.6.96): the kernel's header, the boot information truce writes. */
#ifndef TRUCE_MULTIBOOT_H
#define TRUCE_MULTIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"

#define MB_HEADER_MAGIC     0x1BADB002u
#define MB_BOOTLOADER_MAGIC 0x2BADB002u /* EAX at entry */
#define MB_SEARCH           8192        /* the header lies in the first 8 KiB, 4-byte aligned */

/* Header flags: bits 0-15 are requirements a loader must meet or refuse the kernel. */
#define MB_HF_PAGE_ALIGN 0x00000001u /* modules on 4 KiB boundaries */
#define MB_HF_MEMORY     0x00000002u /* mem_* (and the memory map) must be given */
#define MB_HF_VIDEO      0x00000004u /* video mode table wanted (truce has no display) */
#define MB_HF_AOUT       0x00010000u /* the address fields below are valid: a.out kludge */
#define MB_HF_REQUIRED   0x0000ffffu
#define MB_HF_KNOWN_REQ  (MB_HF_PAGE_ALIGN | MB_HF_MEMORY | MB_HF_VIDEO)

struct mb_header {
    uint32_t magic;
    uint32_t flags;
    uint32_t checksum; /* magic + flags + checksum == 0 (mod 2^32) */
    /* valid with MB_HF_AOUT */
    uint32_t header_addr;   /* physical address of this header's magic */
    uint32_t load_addr;     /* start of the text segment */
    uint32_t load_end_addr; /* end of data; 0: the rest of the file */
    uint32_t bss_end_addr;  /* end of bss; 0: no bss */
    uint32_t entry_addr;
    /* valid with MB_HF_VIDEO */
    uint32_t mode_type, width, height, depth;
} __attribute__((packed));
_Static_assert(sizeof(struct mb_header) == 48, "multiboot header");
#define MB_HEADER_MIN  12 /* magic, flags, checksum */
#define MB_HEADER_AOUT 32 /* ... plus the a.out kludge fields */

/* Boot information flags: which fields of struct mb_info are valid. */
#define MB_INFO_MEMORY  0x00000001u
#define MB_INFO_CMDLINE 0x00000004u
#define MB_INFO_MODS    0x00000008u
#define MB_INFO_MEM_MAP 0x00000040u
#define MB_INFO_LOADER  0x00000200u

struct mb_info {
    uint32_t flags;
    uint32_t mem_lower; /* KiB of RAM from 0 */
    uint32_t mem_upper; /* KiB of RAM from 1 MiB up to the first hole */
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length; /* bytes */
    uint32_t mmap_addr;
    uint32_t drives_length;
    uint32_t drives_addr;
    uint32_t config_table;
    uint32_t boot_loader_name;
    uint32_t apm_table;
    uint32_t vbe_control_info;
    uint32_t vbe_mode_info;
    uint16_t vbe_mode;
    uint16_t vbe_interface_seg;
    uint16_t vbe_interface_off;
    uint16_t vbe_interface_len;
} __attribute__((packed));
_Static_assert(sizeof(struct mb_info) == 88, "multiboot info");
_Static_assert(offsetof(struct mb_info, mmap_length) == 44, "mmap_length");
_Static_assert(offsetof(struct mb_info, boot_loader_name) == 64, "boot_loader_name");

struct mb_module {
    uint32_t mod_start;
    uint32_t mod_end; /* one past the last byte */
    uint32_t string;  /* the module's command line */
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct mb_module) == 16, "multiboot module");

struct mb_mmap_entry {
    uint32_t size; /* of the rest of the entry: 20 */
    uint64_t addr;
    uint64_t len;
    uint32_t type; /* E820_* */
} __attribute__((packed));
_Static_assert(sizeof(struct mb_mmap_entry) == 24, "multiboot mmap entry");

/* Where truce puts the boot information (guest physical, below BOOT_CMDLINE). */
#define MB_INFO_ADDR    0x10000ULL
#define MB_MMAP_ADDR    (MB_INFO_ADDR + 0x100)
#define MB_MODS_ADDR    (MB_INFO_ADDR + 0x400)
#define MB_LOADER_ADDR  (MB_INFO_ADDR + 0x800)
#define MB_STRINGS_ADDR (MB_INFO_ADDR + 0x900) /* module command lines */
#define MB_STRINGS_END  BOOT_CMDLINE
_Static_assert(MB_MMAP_ADDR + BOOT_E820_MAX * 24 <= MB_MODS_ADDR, "memory map fits");

/* Find a multiboot header in the first 8 KiB of IMG. Returns its offset, -ENOENT when there is
 * none, or -EINVAL with ERR when one is there but broken (bad checksum, truncated). */
long multiboot_find(const uint8_t *img, size_t len, char *err, size_t errlen);

/* Load the multiboot kernel IMG whose header is at OFF (multiboot_find), its modules from
 * vm->cfg.initrd, and the boot information; set the 32-bit entry state. Returns 0, or -EINVAL /
 * -EFBIG with one line in ERR naming the field or file at fault. */
struct vm;
int multiboot_load(struct vm *vm, const uint8_t *img, size_t len, size_t off, char *err,
                   size_t errlen);

#endif
