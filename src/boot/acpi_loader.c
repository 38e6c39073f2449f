/* acpi_loader.c — truce's ACPI tables handed to firmware: fw_cfg files etc/acpi/tables and
 * etc/acpi/rsdp, and etc/table-loader, the commands (QEMU's linker/loader format) with which the
 * firmware places them, patches their pointers and fixes their checksums. The tables are laid
 * out again each time the firmware selects them, so that the FADT names the PM block where the
 * firmware has just put it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi_tables.h"
#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "dev/dev.h"
#include "dev/fw_cfg.h"
#include "util/util.h"
#include "vm/vm.h"

#define LOADER_ALLOCATE     1
#define LOADER_ADD_POINTER  2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH    1 /* anywhere in RAM below 4 GiB */
#define LOADER_ZONE_FSEG    2 /* 0xE0000-0xFFFFF, where the OS looks for the RSDP */
#define LOADER_MAX          20
#define ACPI_FILE_TABLES    "etc/acpi/tables"
#define ACPI_FILE_RSDP      "etc/acpi/rsdp"
#define ACPI_SCRATCH        (64 * KiB)
#define ACPI_CKSUM_OFF      9 /* of the checksum byte in a table header */

struct loader_entry {
    uint32_t command;
    union {
        struct {
            char file[FW_CFG_NAME_MAX];
            uint32_t align;
            uint8_t zone;
        } __attribute__((packed)) alloc;
        struct {
            char dest[FW_CFG_NAME_MAX];
            char src[FW_CFG_NAME_MAX];
            uint32_t offset;
            uint8_t size;
        } __attribute__((packed)) pointer;
        struct {
            char file[FW_CFG_NAME_MAX];
            uint32_t offset, start, length;
        } __attribute__((packed)) cksum;
        uint8_t pad[124];
    };
} __attribute__((packed));
_Static_assert(sizeof(struct loader_entry) == 128, "table-loader entry");

struct loader {
    struct loader_entry e[LOADER_MAX];
    unsigned n;
};

static struct loader_entry *loader_add(struct loader *l, uint32_t command)
{
    struct loader_entry *e = &l->e[l->n++]; /* callers stay within LOADER_MAX */
    memset(e, 0, sizeof(*e));
    e->command = command;
    return e;
}

static void loader_alloc(struct loader *l, const char *file, uint32_t align, uint8_t zone)
{
    struct loader_entry *e = loader_add(l, LOADER_ALLOCATE);
    snprintf(e->alloc.file, sizeof(e->alloc.file), "%s", file);
    e->alloc.align = align;
    e->alloc.zone = zone;
}

/* The SIZE-byte (4 or 8) field at OFFSET of DEST gets the address of the tables file added. */
static void loader_pointer_n(struct loader *l, const char *dest, uint32_t offset, uint8_t size)
{
    struct loader_entry *e = loader_add(l, LOADER_ADD_POINTER);
    snprintf(e->pointer.dest, sizeof(e->pointer.dest), "%s", dest);
    snprintf(e->pointer.src, sizeof(e->pointer.src), "%s", ACPI_FILE_TABLES);
    e->pointer.offset = offset;
    e->pointer.size = size;
}

static void loader_pointer(struct loader *l, const char *dest, uint32_t offset)
{
    loader_pointer_n(l, dest, offset, 8);
}

static void loader_cksum(struct loader *l, const char *file, uint32_t offset, uint32_t start,
                         uint32_t length)
{
    struct loader_entry *e = loader_add(l, LOADER_ADD_CHECKSUM);
    snprintf(e->cksum.file, sizeof(e->cksum.file), "%s", file);
    e->cksum.offset = offset;
    e->cksum.start = start;
    e->cksum.length = length;
}

/* Length of the table at BUF + OFF, from its header. */
static uint32_t table_len(const uint8_t *buf, size_t off)
{
    struct acpi_header h;
    memcpy(&h, buf + off, sizeof(h));
    return h.length;
}

/* The commands for tables laid out at offsets O (relative to the RSDP) in BUF. */
static void loader_build(struct loader *l, const uint8_t *buf, const struct acpi_offsets *o)
{
    const size_t tables[] = {o->xsdt, o->fadt, o->madt, o->mcfg, o->dsdt};
    loader_alloc(l, ACPI_FILE_RSDP, 16, LOADER_ZONE_FSEG);
    loader_alloc(l, ACPI_FILE_TABLES, 64, LOADER_ZONE_HIGH);
    for (unsigned i = 0; i < ACPI_XSDT_ENTRIES; i++)
        loader_pointer(l, ACPI_FILE_TABLES, (uint32_t)(offsetof(struct acpi_xsdt, entry) + 8 * i));
    uint32_t fadt = (uint32_t)(o->fadt - o->xsdt);
    loader_pointer(l, ACPI_FILE_TABLES, fadt + (uint32_t)offsetof(struct acpi_fadt, x_dsdt));
    if (o->facs) { /* the PC's full FADT: FIRMWARE_CTRL and the 32-bit DSDT too */
        loader_pointer_n(l, ACPI_FILE_TABLES,
                         fadt + (uint32_t)offsetof(struct acpi_fadt, firmware_ctrl), 4);
        loader_pointer_n(l, ACPI_FILE_TABLES, fadt + (uint32_t)offsetof(struct acpi_fadt, dsdt), 4);
    }
    loader_pointer(l, ACPI_FILE_RSDP, (uint32_t)offsetof(struct acpi_rsdp, xsdt_addr));
    for (unsigned i = 0; i < ARRAY_SIZE(tables); i++) {
        uint32_t start = (uint32_t)(tables[i] - o->xsdt);
        loader_cksum(l, ACPI_FILE_TABLES, start + ACPI_CKSUM_OFF, start, table_len(buf, tables[i]));
    }
    loader_cksum(l, ACPI_FILE_RSDP, (uint32_t)offsetof(struct acpi_rsdp, checksum), 0,
                 ACPI_RSDP_V1_LEN);
    loader_cksum(l, ACPI_FILE_RSDP, (uint32_t)offsetof(struct acpi_rsdp, ext_checksum), 0,
                 sizeof(struct acpi_rsdp));
}

/* The loader's ADD_CHECKSUM commands expect the checksum bytes to be zero, as QEMU leaves them:
 * OVMF stores the checksum of the range (the byte itself included), SeaBIOS subtracts it, so
 * only a zero byte works with both. */
static void zero_checksums(uint8_t *buf, const struct acpi_offsets *o)
{
    const size_t tables[] = {o->xsdt, o->fadt, o->madt, o->mcfg, o->dsdt};
    for (unsigned i = 0; i < ARRAY_SIZE(tables); i++)
        buf[tables[i] + ACPI_CKSUM_OFF] = 0;
    buf[offsetof(struct acpi_rsdp, checksum)] = 0;
    buf[offsetof(struct acpi_rsdp, ext_checksum)] = 0;
}

/* Lay the tables out for the tables file (whose first byte is the XSDT) in BUF (ACPI_SCRATCH
 * bytes); *O gets the offsets. Returns the bytes used or -errno. */
static long layout_for_file(struct vm *vm, uint8_t *buf, struct acpi_offsets *o)
{
    /* once to learn where the XSDT goes, then again so that every pointer is an offset into
     * etc/acpi/tables (which starts with the XSDT): the loader adds the file's address */
    long used = acpi_layout(vm, buf, ACPI_SCRATCH, 0, o);
    if (used >= 0)
        used = acpi_layout(vm, buf, ACPI_SCRATCH, 0 - (uint64_t)o->xsdt, o);
    if (used >= 0)
        zero_checksums(buf, o);
    return used;
}

/* fw_cfg_select_fn of etc/acpi/tables: the same tables laid out with what the firmware has
 * programmed since (the PIIX4 PM base). Only the FADT's port fields can differ, so the size is
 * the same; if it were not, the old bytes stay and the mismatch is logged. */
static void tables_refresh(void *opaque, const char *name, uint8_t *data, uint32_t len)
{
    struct vm *vm = opaque;
    struct acpi_offsets o;
    uint8_t *buf = calloc(1, ACPI_SCRATCH);
    long used = buf ? layout_for_file(vm, buf, &o) : -ENOMEM;
    if (used >= 0 && o.end - o.xsdt == len)
        memcpy(data, buf + o.xsdt, len);
    else
        log_warn("acpi: cannot lay out %s again (%ld, %zu bytes for %u)", name, used,
                 used >= 0 ? o.end - o.xsdt : 0, len);
    if (used >= 0 && o.facs)
        log_debug("acpi: %s: the FADT names the PIIX4 PM block at port 0x%x", name,
                  piix_pm_base(vm));
    free(buf);
}

int acpi_fw_cfg(struct vm *vm)
{
    struct fw_cfg *f = fw_cfg_find(vm);
    struct acpi_offsets o;
    struct loader *l = calloc(1, sizeof(*l));
    uint8_t *buf = calloc(1, ACPI_SCRATCH);
    int ret = -ENOMEM;
    if (!f || !l || !buf) {
        ret = f ? -ENOMEM : -ENODEV;
        goto out;
    }
    long used = layout_for_file(vm, buf, &o);
    if (used < 0) {
        ret = (int)used;
        goto out;
    }
    loader_build(l, buf, &o);
    ret = fw_cfg_add_file(f, ACPI_FILE_RSDP, buf, sizeof(struct acpi_rsdp));
    if (!ret)
        ret = fw_cfg_add_file(f, ACPI_FILE_TABLES, buf + o.xsdt, o.end - o.xsdt);
    if (!ret)
        ret = fw_cfg_file_on_select(f, ACPI_FILE_TABLES, tables_refresh, vm);
    if (!ret)
        ret = fw_cfg_add_file(f, "etc/table-loader", l->e, l->n * sizeof(l->e[0]));
out:
    free(buf);
    free(l);
    return ret;
}
