/* test_acpi_loader.c — truce's ACPI tables through fw_cfg's table loader: the test runs the
 * etc/table-loader commands the way firmware does and checks the linked, checksummed result. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "boot/acpi_tables.h"
#include "boot/boot_priv.h"
#include "dev/fw_cfg.h"
#include "devtest.h"

#define RAM (64 * MiB)

/* The whole fw_cfg file NAME (through the ports), malloc'd; *LEN gets its size. */
static uint8_t *read_file_cfg(struct vm *vm, const char *name, uint32_t *len)
{
    uint8_t sel[2] = {FW_CFG_FILE_DIR, 0};
    assert_int_equal(io_bus_access(&vm->pio, PORT_FW_CFG, sel, 2, true), 0);
    uint32_t count = 0;
    for (int i = 0; i < 4; i++)
        count = count << 8 | test_inb(vm, PORT_FW_CFG + 1);
    for (uint32_t i = 0; i < count; i++) {
        struct fw_cfg_file e;
        for (size_t j = 0; j < sizeof(e); j++)
            ((uint8_t *)&e)[j] = test_inb(vm, PORT_FW_CFG + 1);
        if (strcmp(e.name, name))
            continue;
        *len = be32toh(e.size);
        uint16_t key = be16toh(e.select);
        uint8_t s2[2] = {(uint8_t)key, (uint8_t)(key >> 8)};
        assert_int_equal(io_bus_access(&vm->pio, PORT_FW_CFG, s2, 2, true), 0);
        uint8_t *p = malloc(*len);
        assert_non_null(p);
        for (uint32_t j = 0; j < *len; j++)
            p[j] = test_inb(vm, PORT_FW_CFG + 1);
        return p;
    }
    fail_msg("fw_cfg file %s missing", name);
    return NULL;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s += *p++;
    return s;
}

/* A guest-memory stand-in: the two files placed at fixed addresses. */
#define RSDP_AT   0xf0000u
#define TABLES_AT 0x3f00000u

struct placed {
    uint8_t *rsdp, *tables;
    uint32_t rsdp_len, tables_len;
};

static uint8_t *file_of(struct placed *p, const char *name, uint64_t *addr, uint32_t *len)
{
    if (!strcmp(name, "etc/acpi/rsdp"))
        return *addr = RSDP_AT, *len = p->rsdp_len, p->rsdp;
    assert_string_equal(name, "etc/acpi/tables");
    return *addr = TABLES_AT, *len = p->tables_len, p->tables;
}

/* Run the loader commands in CMDS (N entries) over the placed files, as SeaBIOS does. */
static void run_loader(const uint8_t *cmds, uint32_t n, struct placed *p)
{
    unsigned allocs = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = cmds + i * 128;
        uint32_t cmd;
        memcpy(&cmd, e, 4);
        uint64_t addr, srcaddr;
        uint32_t len, srclen;
        if (cmd == 1) { /* ALLOCATE: the FSEG zone for the RSDP, HIGH for the tables */
            file_of(p, (const char *)e + 4, &addr, &len);
            assert_int_equal(e[4 + 56 + 4], !strcmp((const char *)e + 4, "etc/acpi/rsdp") ? 2 : 1);
            allocs++;
        } else if (cmd == 2) { /* ADD_POINTER */
            uint8_t *dst = file_of(p, (const char *)e + 4, &addr, &len);
            file_of(p, (const char *)e + 60, &srcaddr, &srclen);
            uint32_t off;
            memcpy(&off, e + 116, 4);
            assert_int_equal(e[120], 8);
            assert_true(off + 8 <= len);
            uint64_t v;
            memcpy(&v, dst + off, 8);
            assert_true(v < srclen); /* an offset into the source file */
            v += srcaddr;
            memcpy(dst + off, &v, 8);
        } else if (cmd == 3) { /* ADD_CHECKSUM */
            uint8_t *d = file_of(p, (const char *)e + 4, &addr, &len);
            uint32_t off, start, length;
            memcpy(&off, e + 60, 4);
            memcpy(&start, e + 64, 4);
            memcpy(&length, e + 68, 4);
            assert_true(off < len && start + length <= len);
            d[off] -= sum8(d + start, length);
        } else {
            fail_msg("unexpected loader command %u", cmd);
        }
    }
    assert_int_equal(allocs, 2);
}

/* The table at guest address ADDR (inside the placed tables file). */
static const struct acpi_header *table_at(struct placed *p, uint64_t addr)
{
    assert_true(addr >= TABLES_AT && addr - TABLES_AT + 36 <= p->tables_len);
    const struct acpi_header *h = (const void *)(p->tables + (addr - TABLES_AT));
    assert_true(addr - TABLES_AT + h->length <= p->tables_len);
    assert_int_equal(sum8((const uint8_t *)h, h->length), 0);
    return h;
}

static void tables_link_and_sum(void **state)
{
    struct vm vm;
    test_vm_init(&vm, RAM);
    vm.cfg.cpus = vm.ncpus = 4;
    vm.cfg.mem_bytes = RAM;
    test_create(&vm, "fw_cfg");
    assert_int_equal(acpi_fw_cfg(&vm), 0);

    struct placed p;
    uint32_t nloader;
    uint8_t *loader = read_file_cfg(&vm, "etc/table-loader", &nloader);
    p.rsdp = read_file_cfg(&vm, "etc/acpi/rsdp", &p.rsdp_len);
    p.tables = read_file_cfg(&vm, "etc/acpi/tables", &p.tables_len);
    assert_int_equal(nloader % 128, 0);
    assert_int_equal(p.rsdp_len, sizeof(struct acpi_rsdp));
    run_loader(loader, nloader / 128, &p);

    struct acpi_rsdp r;
    memcpy(&r, p.rsdp, sizeof(r));
    assert_memory_equal(r.signature, "RSD PTR ", 8);
    assert_int_equal(sum8(p.rsdp, ACPI_RSDP_V1_LEN), 0);
    assert_int_equal(sum8(p.rsdp, sizeof(r)), 0);
    assert_int_equal(r.xsdt_addr, TABLES_AT);
    const struct acpi_xsdt *x = (const void *)table_at(&p, r.xsdt_addr);
    assert_memory_equal(x->h.signature, "XSDT", 4);
    const char *sigs[ACPI_XSDT_ENTRIES] = {"FACP", "APIC", "MCFG"};
    for (unsigned i = 0; i < ACPI_XSDT_ENTRIES; i++)
        assert_memory_equal(table_at(&p, x->entry[i])->signature, sigs[i], 4);
    const struct acpi_fadt *f = (const void *)table_at(&p, x->entry[0]);
    assert_memory_equal(table_at(&p, f->x_dsdt)->signature, "DSDT", 4);

    free(loader);
    free(p.rsdp);
    free(p.tables);
    devices_destroy(&vm);
    io_bus_free(&vm.pio);
    io_bus_free(&vm.mmio);
}

static void no_fw_cfg_device(void **state)
{
    struct vm vm;
    test_vm_init(&vm, RAM);
    vm.cfg.cpus = vm.ncpus = 1;
    assert_int_equal(acpi_fw_cfg(&vm), -ENODEV);
    io_bus_free(&vm.pio);
    io_bus_free(&vm.mmio);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tables_link_and_sum),
        cmocka_unit_test(no_fw_cfg_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
