/* boot_priv.h — guest-visible boot structures and the internal interfaces between boot/ files. */
#ifndef TRUCE_BOOT_PRIV_H
#define TRUCE_BOOT_PRIV_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"

/* ---- Linux boot protocol (Documentation/x86/boot.rst) --------------------------------------- */
#define LINUX_HDR_OFFSET     0x1f1
#define LINUX_BOOT_FLAG      0xaa55
#define LINUX_HDRS_MAGIC     0x53726448 /* "HdrS" */
#define LINUX_MIN_VERSION    0x0206     /* cmdline_size */
#define LINUX_XLF_VERSION    0x020c     /* xloadflags */
#define LINUX_RSDP_VERSION   0x020e     /* boot_params.acpi_rsdp_addr is read */
#define LINUX_LOADED_HIGH    0x01       /* loadflags */
#define LINUX_CAN_USE_HEAP   0x80
#define LINUX_XLF_KERNEL_64  0x01 /* xloadflags */
#define LINUX_SETUP_SECT_MAX 64
#define LINUX_LOADER_UNKNOWN 0xff /* type_of_loader: no assigned id */
#define LINUX_ENTRY64_OFFSET 0x200

struct linux_setup_header {
    uint8_t setup_sects; /* 0x1f1 */
    uint16_t root_flags;
    uint32_t syssize; /* 16-byte paragraphs of protected-mode code */
    uint16_t ram_size;
    uint16_t vid_mode;
    uint16_t root_dev;
    uint16_t boot_flag; /* 0x1fe */
    uint16_t jump;      /* 0x200 */
    uint32_t header;    /* 0x202 */
    uint16_t version;   /* 0x206 */
    uint32_t realmode_swtch;
    uint16_t start_sys_seg;
    uint16_t kernel_version;
    uint8_t type_of_loader; /* 0x210 */
    uint8_t loadflags;      /* 0x211 */
    uint16_t setup_move_size;
    uint32_t code32_start;
    uint32_t ramdisk_image; /* 0x218 */
    uint32_t ramdisk_size;  /* 0x21c */
    uint32_t bootsect_kludge;
    uint16_t heap_end_ptr; /* 0x224 */
    uint8_t ext_loader_ver;
    uint8_t ext_loader_type;
    uint32_t cmd_line_ptr;     /* 0x228 */
    uint32_t initrd_addr_max;  /* 0x22c */
    uint32_t kernel_alignment; /* 0x230 */
    uint8_t relocatable_kernel;
    uint8_t min_alignment;
    uint16_t xloadflags;   /* 0x236 */
    uint32_t cmdline_size; /* 0x238 */
    uint32_t hardware_subarch;
    uint64_t hardware_subarch_data;
    uint32_t payload_offset;
    uint32_t payload_length;
    uint64_t setup_data;
    uint64_t pref_address; /* 0x258 */
    uint32_t init_size;    /* 0x260 */
    uint32_t handover_offset;
    uint32_t kernel_info_offset;
} __attribute__((packed));
_Static_assert(sizeof(struct linux_setup_header) == 0x26c - 0x1f1, "setup header size");

/* The zero page: only the fields truce fills are named. */
struct linux_boot_params {
    uint8_t screen_info[0x40];
    uint8_t apm_bios_info[0x14];
    uint8_t pad2[4];
    uint64_t tboot_addr;
    uint8_t ist_info[0x10];
    uint64_t acpi_rsdp_addr; /* 0x070 */
    uint8_t pad3[0xc0 - 0x78];
    uint32_t ext_ramdisk_image; /* 0x0c0 */
    uint32_t ext_ramdisk_size;
    uint32_t ext_cmd_line_ptr;
    uint8_t pad4[0x1e8 - 0xcc];
    uint8_t e820_entries; /* 0x1e8 */
    uint8_t pad5[0x1f1 - 0x1e9];
    struct linux_setup_header hdr; /* 0x1f1 */
    uint8_t pad7[0x2d0 - 0x26c];
    struct e820_entry e820_table[128]; /* 0x2d0 */
    uint8_t pad8[0x1000 - 0xcd0];
} __attribute__((packed));
_Static_assert(sizeof(struct linux_boot_params) == 4096, "zero page is one page");
_Static_assert(offsetof(struct linux_boot_params, acpi_rsdp_addr) == 0x70, "acpi_rsdp_addr");
_Static_assert(offsetof(struct linux_boot_params, ext_ramdisk_image) == 0xc0, "ext_ramdisk");
_Static_assert(offsetof(struct linux_boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct linux_boot_params, hdr) == LINUX_HDR_OFFSET, "hdr");
_Static_assert(offsetof(struct linux_boot_params, hdr.version) == 0x206, "version");
_Static_assert(offsetof(struct linux_boot_params, hdr.cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(offsetof(struct linux_boot_params, hdr.cmdline_size) == 0x238, "cmdline_size");
_Static_assert(offsetof(struct linux_boot_params, hdr.pref_address) == 0x258, "pref_address");
_Static_assert(offsetof(struct linux_boot_params, hdr.init_size) == 0x260, "init_size");
_Static_assert(offsetof(struct linux_boot_params, e820_table) == 0x2d0, "e820_table");

/* ---- PVH (xen/interface/hvm/start_info.h, elfnote.h) ---------------------------------------- */
#define PVH_START_MAGIC  0x336ec578
#define PVH_NOTE_PHYS32  18 /* XEN_ELFNOTE_PHYS32_ENTRY */
#define PVH_MEMMAP_MAX   32
#define PVH_MODLIST_ADDR (BOOT_PVH_INFO + 0x40)
#define PVH_MEMMAP_ADDR  (BOOT_PVH_INFO + 0x80)

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr; /* version 1 */
    uint32_t memmap_entries;
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry");

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry");
_Static_assert(PVH_MEMMAP_ADDR + PVH_MEMMAP_MAX * 24 <= BOOT_ZERO_PAGE, "PVH info fits");

/* ---- internal interfaces -------------------------------------------------------------------- */
#define BOOT_E820_MAX 16

struct boot_image;
/* Load the bzImage IM into VM (kernel, zero page, command line, initrd); RSDP is the ACPI root.
 * Returns 0, or -EINVAL / -EFBIG with one line in ERR. */
int linux_load(struct vm *vm, const struct boot_image *im, uint64_t rsdp, char *err, size_t errlen);
/* Load the ELF IM with a PVH entry note into VM (segments, start info, command line, initrd).
 * Returns 0, or -EINVAL / -EFBIG with one line in ERR. */
int pvh_load(struct vm *vm, const struct boot_image *im, uint64_t rsdp, char *err, size_t errlen);
/* Copy the raw firmware IMG below 1 MiB. *ROM_BASE gets the lowest address it covers.
 * Returns 0 or -EINVAL / -EFBIG with one line in ERR. */
int firmware_load(struct vm *vm, const uint8_t *img, size_t len, uint64_t *rom_base, char *err,
                  size_t errlen);

#define FW_ROM_SLOT   8 /* KVM memory slot of the ROM below 4 GiB (RAM uses 0 and 1) */
#define FW_FLASH_SLOT 9 /* KVM memory slot of OVMF's variable flash (read-array mode) */
/* Map IMG read-only at [4 GiB - LEN, 4 GiB) (whole 4 KiB pages) as a PC's flash: guest writes
 * there are dropped and counted, never reach the file. Returns 0 or -errno with ERR. */
int firmware_map_high(struct vm *vm, const uint8_t *img, size_t len, char *err, size_t errlen);
/* What boot_restore needs of the firmware IMG: firmware_map_high, or for OVMF ovmf_load. */
int firmware_restore(struct vm *vm, const uint8_t *img, size_t len, char *err, size_t errlen);
/* True when IMG starts with a UEFI firmware volume (an OVMF image: whole flash or code). */
bool ovmf_is_flash(const uint8_t *img, size_t len);
/* Map the OVMF image IMG (boot/ovmf.c): code read-only ending at 4 GiB and, for a code image, the
 * variable store (vm->cfg.firmware_vars, else a private copy of the template next to the code
 * file) as a CFI flash right below it. Returns 0 or -EINVAL (bad or mismatched files) / -errno
 * with one line in ERR. */
int ovmf_load(struct vm *vm, const uint8_t *img, size_t len, char *err, size_t errlen);

/* SMBIOS (boot/smbios.c): the tables and the 2.1 entry point as the fw_cfg files
 * etc/smbios/smbios-tables and -anchor, for the firmware to place. Returns 0 or -errno. */
int smbios_fw_cfg(struct vm *vm);

/* netboot.c: check that ROM (LEN bytes) is an x86 PCI option ROM for VENDOR:DEVICE. Returns 0 or
 * -EINVAL with WHY filled. */
int netboot_rom_check(const uint8_t *rom, size_t len, uint16_t vendor, uint16_t device, char *why,
                      size_t whylen);
/* With firmware: the virtio-net option ROM the --net interfaces ask for (rom=, or Debian's iPXE
 * when one has a bootfile) as SeaBIOS's fw_cfg file pci1af4,1041.rom. Returns 0 or -errno with
 * ERR naming the ROM and what is wrong. */
int netboot_fw_cfg(struct vm *vm, char *err, size_t errlen);
/* The system UUID of the VM named ID: stable (a hash of ID), RFC 9562 version 8. */
void smbios_uuid(const char *id, uint8_t out[16]);
/* U as text, 8-4-4-4-12 lowercase hex digits. */
void smbios_uuid_str(const uint8_t u[16], char out[37]);

/* ELF images (pvh.c): the parts of an ELF header truce uses, for either class. */
struct elf_info {
    bool is64;
    uint64_t phoff;
    unsigned phnum;
    uint64_t entry; /* e_entry */
};
/* Validate the ELF header of IMG and its program header table bounds. Returns 0 or -EINVAL. */
int boot_elf_parse(const uint8_t *img, size_t len, struct elf_info *e, char *err, size_t errlen);
/* Program header I (bounds checked by boot_elf_parse), widened to the 64-bit form. */
Elf64_Phdr boot_elf_phdr(const uint8_t *img, const struct elf_info *e, unsigned i);
/* Copy every PT_LOAD segment of the ELF IMG (LEN bytes, FD: see boot_image_copy) to its physical
 * address (at or above 1 MiB). *END gets the highest end, *HAS_ENTRY whether ENTRY lies in a
 * segment. Returns 0, -EINVAL or -EFBIG with ERR. */
int boot_elf_load(struct vm *vm, const uint8_t *img, size_t len, int fd, uint32_t entry,
                  uint64_t *end, bool *has_entry, char *err, size_t errlen);

/* A kernel file opened for loading (image.c). BUF holds LEN bytes as the loaders see them: for a
 * bzImage or an ELF with a PVH note only what the parsers read (the first 64 KiB, the ELF program
 * headers and notes; the rest reads as zero and is never touched), and FD stays open so that
 * boot_image_copy reads the kernel itself once, straight into guest RAM; anything else is read
 * whole (FD is then -1). */
struct boot_image {
    uint8_t *buf;
    size_t len;
    size_t map_len;
    int fd;
};
/* Open PATH (a regular file of at most MAX bytes) into IM. Returns 0, -EFBIG, -EINVAL (not a
 * regular file) or -errno. */
int boot_image_open(struct boot_image *im, const char *path, size_t max);
void boot_image_close(struct boot_image *im);
/* Copy N bytes at offset OFF of an image (bounds checked by the caller) to DST: from its file FD
 * when it is open (a sparse boot_image's fd), else from its buffer IMG. Returns 0, -EIO (the file
 * shrank meanwhile) or -errno. */
int boot_image_copy(void *dst, int fd, const uint8_t *img, uint64_t off, size_t n);
/* Open PATH read-only: its fd and *LEN (its size), or -errno (-EINVAL: not a regular file). */
int boot_open_regular(const char *path, size_t *len);

/* Hand the bzImage IMG, vm->cfg.initrd and vm->cfg.cmdline to the firmware as fw_cfg items
 * (fw_cfg_linux.c), as QEMU's -kernel does. Returns 0, or -EINVAL / -EFBIG with ERR. */
int boot_fw_cfg_linux(struct vm *vm, const uint8_t *img, size_t len, char *err, size_t errlen);

/* Give the firmware truce's ACPI tables through fw_cfg: etc/acpi/tables, etc/acpi/rsdp and the
 * etc/table-loader commands that place and link them (acpi_loader.c). Returns 0 or -errno. */
int acpi_fw_cfg(struct vm *vm);

/* Read vm->cfg.initrd (when set) and place it page-aligned as high as possible inside
 * [LO, HI). *ADDR and *SIZE get its place (0/0 without an initrd). Returns 0 or -errno with ERR. */
int boot_place_initrd(struct vm *vm, uint64_t lo, uint64_t hi, uint64_t *addr, uint64_t *size,
                      char *err, size_t errlen);
/* Write vm->cfg.cmdline (NUL-terminated) at BOOT_CMDLINE. Returns 0 or -EFAULT. */
int boot_write_cmdline(struct vm *vm);
/* Long mode: identity page tables at BOOT_PML4 and the 64-bit GDT. Returns 0 or -EFAULT. */
int boot_setup_long_mode(struct vm *vm);
/* 32-bit flat GDT for PVH. Returns 0 or -EFAULT. */
int boot_setup_gdt32(struct vm *vm);

#endif
