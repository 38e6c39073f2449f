/* fw_cfg.h — QEMU-compatible firmware configuration device: items, files, the guest interface. */
#ifndef TRUCE_FW_CFG_H
#define TRUCE_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

/* The guest interface, as QEMU's on x86 (docs/specs/fw_cfg.txt there):
 * - port PORT_FW_CFG (0x510), 16-bit write: select item KEY, data offset back to 0;
 * - port 0x511, byte read: the next byte of the selected item (0 past its end); writes ignored;
 * - ports 0x514 (high half) and 0x518 (low half), 32-bit big-endian writes: the guest physical
 *   address of a DMA descriptor {be32 control, be32 length, be64 address}; writing the low half
 *   runs it. Control: SELECT (key in bits 31-16), then READ (copy, zero past the end), SKIP
 *   (advance) or WRITE (refused: no item is writable); the device writes control back as 0, or
 *   ERROR when a range is not guest RAM or the operation is refused. Reads of 0x514-0x51b give
 *   the signature "QEMU CFG". One descriptor per trigger; every guest range goes through
 *   gpa_to_hva. */
#define FW_CFG_PORT_LEN 2 /* selector + data */
#define FW_CFG_DMA_OFF  4 /* DMA address register at PORT_FW_CFG + 4, 8 bytes */
#define FW_CFG_DMA_LEN  8

/* Keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE     0x00
#define FW_CFG_ID            0x01
#define FW_CFG_UUID          0x02
#define FW_CFG_RAM_SIZE      0x03
#define FW_CFG_NOGRAPHIC     0x04
#define FW_CFG_NB_CPUS       0x05
#define FW_CFG_KERNEL_ADDR   0x07
#define FW_CFG_KERNEL_SIZE   0x08
#define FW_CFG_INITRD_ADDR   0x0a
#define FW_CFG_INITRD_SIZE   0x0b
#define FW_CFG_NUMA          0x0d
#define FW_CFG_BOOT_MENU     0x0e
#define FW_CFG_MAX_CPUS      0x0f
#define FW_CFG_KERNEL_ENTRY  0x10
#define FW_CFG_KERNEL_DATA   0x11
#define FW_CFG_INITRD_DATA   0x12
#define FW_CFG_CMDLINE_ADDR  0x13
#define FW_CFG_CMDLINE_SIZE  0x14
#define FW_CFG_CMDLINE_DATA  0x15
#define FW_CFG_SETUP_ADDR    0x16
#define FW_CFG_SETUP_SIZE    0x17
#define FW_CFG_SETUP_DATA    0x18
#define FW_CFG_FILE_DIR      0x19
#define FW_CFG_FILE_FIRST    0x20
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL    0x8000

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA         0x02

#define FW_CFG_DMA_ERROR  0x01
#define FW_CFG_DMA_READ   0x02
#define FW_CFG_DMA_SKIP   0x04
#define FW_CFG_DMA_SELECT 0x08
#define FW_CFG_DMA_WRITE  0x10

#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL /* "QEMU CFG" */
#define FW_CFG_NAME_MAX      56                    /* including the NUL */
#define FW_CFG_MAX_FILES     64

/* One entry of the file directory (item FW_CFG_FILE_DIR: be32 count, then the entries). */
struct fw_cfg_file {
    uint32_t size;   /* big-endian */
    uint16_t select; /* big-endian */
    uint16_t reserved;
    char name[FW_CFG_NAME_MAX];
} __attribute__((packed));
_Static_assert(sizeof(struct fw_cfg_file) == 64, "fw_cfg file directory entry");

struct fw_cfg_dma_access {
    uint32_t control; /* big-endian, all three */
    uint32_t length;
    uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct fw_cfg_dma_access) == 16, "fw_cfg DMA descriptor");

struct vm;
struct fw_cfg;

/* The VM's fw_cfg device (created with every VM), or NULL. */
struct fw_cfg *fw_cfg_find(struct vm *vm);

/* Set item KEY (below FW_CFG_FILE_FIRST, or with FW_CFG_ARCH_LOCAL) to a copy of DATA[0..LEN),
 * replacing what it held. Before the guest runs. Returns 0, -EINVAL (a file key, LEN over 4 GiB),
 * -ENOSPC (too many items) or -ENOMEM. */
int fw_cfg_add_item(struct fw_cfg *f, uint16_t key, const void *data, size_t len);
/* As fw_cfg_add_item, taking DATA (malloc'd; freed on failure too) without copying it. */
int fw_cfg_add_item_owned(struct fw_cfg *f, uint16_t key, void *data, size_t len);
/* Add or replace the file NAME (1 to 55 bytes) with a copy of DATA. Files are listed in the
 * directory sorted by name and numbered from FW_CFG_FILE_FIRST in that order, as QEMU does.
 * Before the guest runs. Returns 0, -EINVAL, -ENOSPC (FW_CFG_MAX_FILES) or -ENOMEM. */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len);
/* As fw_cfg_add_file, taking DATA (malloc'd; freed on failure too). */
int fw_cfg_add_file_owned(struct fw_cfg *f, const char *name, void *data, size_t len);

/* A file whose bytes depend on what the guest did before reading it (the ACPI tables name the PM
 * block where the firmware put it, as QEMU builds them when first read): FN(OPAQUE, NAME, DATA,
 * LEN) runs each time the guest selects file NAME, on that vCPU's thread with the device's lock
 * held, and rewrites DATA in place (its LEN bytes; the size in the directory cannot change). It
 * must not call into fw_cfg. Before the guest runs. Returns 0 or -ENOENT (no such file). */
typedef void fw_cfg_select_fn(void *opaque, const char *name, uint8_t *data, uint32_t len);
int fw_cfg_file_on_select(struct fw_cfg *f, const char *name, fw_cfg_select_fn *fn, void *opaque);

/* Little-endian integer items. Same returns as fw_cfg_add_item. */
int fw_cfg_add_u16(struct fw_cfg *f, uint16_t key, uint16_t v);
int fw_cfg_add_u32(struct fw_cfg *f, uint16_t key, uint32_t v);
int fw_cfg_add_u64(struct fw_cfg *f, uint16_t key, uint64_t v);

#endif
