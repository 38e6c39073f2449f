/* smbios.c — SMBIOS 2.8 tables for firmware boots (fw_cfg etc/smbios/smbios-tables and
 * etc/smbios/smbios-anchor, as QEMU hands them to SeaBIOS and OVMF): system, chassis, processors,
 * memory, boot status; the system UUID derived from the VM id. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "dev/fw_cfg.h"
#include "util/util.h"
#include "vm/vm.h"

#define SMBIOS_MAJOR   2
#define SMBIOS_MINOR   8
#define SMBIOS_MAX     (60 * KiB) /* the 2.1 entry point counts the table in 16 bits */
#define SMBIOS_VENDOR  "truce"
#define SMBIOS_PRODUCT "truce VM"

/* The 2.1 (32-bit) entry point: both firmwares accept it; they fill in the table address. */
struct smbios21_entry {
    char anchor[4]; /* "_SM_" */
    uint8_t checksum;
    uint8_t length;
    uint8_t major, minor;
    uint16_t max_struct_size;
    uint8_t revision;
    uint8_t formatted[5];
    char ianchor[5]; /* "_DMI_" */
    uint8_t ichecksum;
    uint16_t table_length;
    uint32_t table_address;
    uint16_t nstructs;
    uint8_t bcd_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct smbios21_entry) == 31, "SMBIOS 2.1 entry point");

/* The table being built: structures, each its formatted part then its strings. */
struct smbios_buf {
    uint8_t *p;
    size_t len;
    uint16_t n, max;
    size_t start; /* of the open structure */
    uint8_t nstr;
    bool overflow;
};

/* Open a structure of TYPE whose formatted part is LEN bytes (header included); returns a
 * pointer to it (zeroed) or NULL on overflow. */
static uint8_t *sm_begin(struct smbios_buf *b, uint8_t type, uint8_t len)
{
    if (b->len + len + 2 > SMBIOS_MAX) {
        b->overflow = true;
        return NULL;
    }
    uint8_t *s = b->p + b->len;
    memset(s, 0, len);
    s[0] = type;
    s[1] = len;
    put_le16(s + 2, b->n); /* handle: the structure's index */
    b->start = b->len;
    b->len += len;
    b->nstr = 0;
    return s;
}

/* Append string STR to the open structure; returns its number (0 for an empty string). */
static uint8_t sm_str(struct smbios_buf *b, const char *str)
{
    size_t n = strlen(str);
    if (!n)
        return 0;
    if (b->len + n + 3 > SMBIOS_MAX) {
        b->overflow = true;
        return 0;
    }
    memcpy(b->p + b->len, str, n + 1);
    b->len += n + 1;
    return ++b->nstr;
}

/* Close the open structure: the string-set terminator (two NULs when it has no strings). */
static void sm_end(struct smbios_buf *b)
{
    if (b->overflow)
        return;
    b->p[b->len++] = 0;
    if (!b->nstr)
        b->p[b->len++] = 0;
    size_t size = b->len - b->start;
    if (size > b->max)
        b->max = (uint16_t)size;
    b->n++;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

/* 64-bit FNV-1a of S, from SEED. */
static uint64_t fnv1a(const char *s, uint64_t seed)
{
    uint64_t h = seed;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

void smbios_uuid(const char *id, uint8_t out[16])
{
    uint64_t a = fnv1a(id, 0xcbf29ce484222325ULL), b = fnv1a(id, 0x84222325cbf29ce4ULL ^ a);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(a >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(b >> (56 - 8 * i));
    }
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x80); /* version 8: vendor-defined (RFC 9562) */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* variant 10 */
}

void smbios_uuid_str(const uint8_t u[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

/* Type 1: the system, named after truce and the VM id. */
static void sm_system(struct smbios_buf *b, const struct vm *vm)
{
    uint8_t *s = sm_begin(b, 1, 0x1b);
    if (!s)
        return;
    uint8_t u[16];
    smbios_uuid(vm->cfg.vm_id, u);
    s[4] = sm_str(b, SMBIOS_VENDOR);
    s[5] = sm_str(b, SMBIOS_PRODUCT);
    s[6] = sm_str(b, TRUCE_VERSION);
    s[7] = sm_str(b, vm->cfg.vm_id);
    /* SMBIOS stores the first three UUID fields little-endian */
    const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++)
        s[8 + i] = u[order[i]];
    s[0x18] = 0x06; /* wake-up: power switch */
    s[0x1a] = sm_str(b, "truce");
    sm_end(b);
}

/* Type 3: an "other" chassis in a safe state. */
static void sm_chassis(struct smbios_buf *b)
{
    uint8_t *s = sm_begin(b, 3, 0x16);
    if (!s)
        return;
    s[4] = sm_str(b, SMBIOS_VENDOR);
    s[5] = 0x01;                 /* other */
    s[9] = s[10] = s[11] = 0x03; /* boot-up, power supply, thermal: safe */
    s[12] = 0x02;                /* security: unknown */
    sm_end(b);
}

/* Type 4: one per vCPU, one core and one thread each (truce's CPUID topology). */
static void sm_processor(struct smbios_buf *b, unsigned i)
{
    uint8_t *s = sm_begin(b, 4, 0x2a);
    if (!s)
        return;
    char socket[16];
    snprintf(socket, sizeof(socket), "CPU %u", i);
    s[4] = sm_str(b, socket);
    s[5] = 0x03; /* central processor */
    s[6] = 0x01; /* family: other */
    s[7] = sm_str(b, SMBIOS_VENDOR);
    s[0x10] = sm_str(b, "virtual CPU");
    put_le16(s + 0x14, 2000); /* max speed, MHz: unknown, as QEMU says */
    put_le16(s + 0x16, 2000);
    s[0x18] = 0x41;             /* socket populated, CPU enabled */
    s[0x19] = 0x01;             /* upgrade: other */
    put_le16(s + 0x1a, 0xffff); /* no cache information */
    put_le16(s + 0x1c, 0xffff);
    put_le16(s + 0x1e, 0xffff);
    s[0x23] = s[0x24] = s[0x25] = 1; /* cores, enabled cores, threads */
    put_le16(s + 0x26, 0x02);        /* characteristics: unknown */
    put_le16(s + 0x28, 0x01);        /* family 2: other */
    sm_end(b);
}

/* Types 16, 17 and 19: one array holding one device of all of RAM, mapped region by region. */
static void sm_memory(struct smbios_buf *b, const struct vm *vm)
{
    uint64_t kib = vm->cfg.mem_bytes / KiB, mib = vm->cfg.mem_bytes / MiB;
    uint16_t array = b->n;
    uint8_t *s = sm_begin(b, 16, 0x17);
    if (!s)
        return;
    s[4] = 0x01; /* location: other */
    s[5] = 0x03; /* use: system memory */
    s[6] = 0x06; /* error correction: multi-bit ECC, as QEMU says */
    put_le32(s + 7, kib < 0x80000000ULL ? (uint32_t)kib : 0x80000000u);
    put_le16(s + 0x0b, 0xfffe); /* no error information */
    put_le16(s + 0x0d, 1);
    put_le64(s + 0x0f, kib < 0x80000000ULL ? 0 : vm->cfg.mem_bytes);
    sm_end(b);

    s = sm_begin(b, 17, 0x28);
    if (!s)
        return;
    put_le16(s + 4, array);
    put_le16(s + 6, 0xfffe);
    put_le16(s + 8, 0xffff); /* widths unknown */
    put_le16(s + 0x0a, 0xffff);
    put_le16(s + 0x0c, mib < 0x7fff ? (uint16_t)mib : 0x7fff);
    s[0x0e] = 0x09; /* DIMM */
    s[0x10] = sm_str(b, "DIMM 0");
    s[0x12] = 0x07;           /* RAM */
    put_le16(s + 0x13, 0x02); /* type detail: other */
    s[0x17] = sm_str(b, SMBIOS_VENDOR);
    put_le32(s + 0x1c, mib < 0x7fff ? 0 : (uint32_t)mib);
    sm_end(b);

    for (unsigned i = 0; i < vm->mem.nr && i < MEM_MAX_REGIONS; i++) {
        uint64_t lo = vm->mem.r[i].gpa, end = lo + vm->mem.r[i].size - 1;
        bool ext = end / KiB >= 0xffffffffULL;
        s = sm_begin(b, 19, 0x1f);
        if (!s)
            return;
        put_le32(s + 4, ext ? 0xffffffffu : (uint32_t)(lo / KiB));
        put_le32(s + 8, ext ? 0xffffffffu : (uint32_t)(end / KiB));
        put_le16(s + 0x0c, array);
        s[0x0e] = 1; /* partition width */
        put_le64(s + 0x0f, ext ? lo : 0);
        put_le64(s + 0x17, ext ? end : 0);
        sm_end(b);
    }
}

/* The structure table for VM into B (type 0, the BIOS, is the firmware's own, as on QEMU). */
static void smbios_build(struct smbios_buf *b, const struct vm *vm)
{
    sm_system(b, vm);
    sm_chassis(b);
    for (unsigned i = 0; i < vm->ncpus; i++)
        sm_processor(b, i);
    sm_memory(b, vm);
    if (sm_begin(b, 32, 0x0b)) /* system boot: no errors */
        sm_end(b);
    if (sm_begin(b, 127, 4)) /* end of table */
        sm_end(b);
}

static uint8_t sum8(const void *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + ((const uint8_t *)p)[i]);
    return s;
}

int smbios_fw_cfg(struct vm *vm)
{
    struct fw_cfg *f = fw_cfg_find(vm);
    if (!f)
        return -ENODEV;
    struct smbios_buf b = {.p = malloc(SMBIOS_MAX)};
    if (!b.p)
        return -ENOMEM;
    smbios_build(&b, vm);
    if (b.overflow) {
        free(b.p);
        return -E2BIG;
    }
    struct smbios21_entry e = {
        .anchor = "_SM_",
        .length = sizeof(e),
        .major = SMBIOS_MAJOR,
        .minor = SMBIOS_MINOR,
        .max_struct_size = b.max,
        .ianchor = "_DMI_",
        .table_length = (uint16_t)b.len,
        .nstructs = b.n,
        .bcd_revision = SMBIOS_MAJOR << 4 | SMBIOS_MINOR,
    };
    e.ichecksum = (uint8_t)-sum8(e.ianchor, sizeof(e) - offsetof(struct smbios21_entry, ianchor));
    e.checksum = (uint8_t)-sum8(&e, sizeof(e));
    int rc = fw_cfg_add_file_owned(f, "etc/smbios/smbios-tables", b.p, b.len);
    if (!rc)
        rc = fw_cfg_add_file(f, "etc/smbios/smbios-anchor", &e, sizeof(e));
    if (!rc) {
        uint8_t u[16];
        char s[37];
        smbios_uuid(vm->cfg.vm_id, u);
        smbios_uuid_str(u, s);
        log_info("smbios: %u structures, system \"%s\" \"%s\" uuid %s", b.n, SMBIOS_VENDOR,
                 SMBIOS_PRODUCT, s);
    }
    return rc;
}
