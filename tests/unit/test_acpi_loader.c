/* test_acpi_loader.c — truce's ACPI tables through fw_cfg's table loader: the test runs the
 * etc/table-loader commands the way firmware does and checks the linked, checksummed result; on
 * the firmware machine (PIIX4), the full FADT, the FACS and the PM block the firmware placed. */
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
#include "bus/pci.h"
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
            uint8_t size = e[120];
            assert_true(size == 8 || size == 4);
            assert_true(off + size <= len);
            uint64_t v = 0;
            memcpy(&v, dst + off, size);
            assert_true(v < srclen); /* an offset into the source file */
            v += srcaddr;
            memcpy(dst + off, &v, size);
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

/* ---- the firmware machine: full ACPI for the PIIX4 PC -------------------------------------- */

/* A firmware VM: PCI bus, the i440FX/PIIX chipset, fw_cfg and its ACPI files. */
static void pc_new(struct vm *vm, enum display_kind display)
{
    test_vm_init(vm, RAM);
    vm->cfg.cpus = vm->ncpus = 2;
    vm->cfg.mem_bytes = RAM;
    vm->cfg.display.kind = display;
    snprintf(vm->cfg.firmware, sizeof(vm->cfg.firmware), "seabios");
    assert_int_equal(pci_bus_create(vm), 0);
    test_create(vm, "piix");
    test_create(vm, "fw_cfg");
    assert_int_equal(acpi_fw_cfg(vm), 0);
}

static void pc_free(struct vm *vm)
{
    devices_destroy(vm);
    pci_bus_destroy(vm);
    io_bus_free(&vm->pio);
    io_bus_free(&vm->mmio);
}

/* Read the three files and run the loader over them: P holds the linked tables. */
static void pc_place(struct vm *vm, struct placed *p)
{
    uint32_t nloader;
    uint8_t *loader = read_file_cfg(vm, "etc/table-loader", &nloader);
    p->rsdp = read_file_cfg(vm, "etc/acpi/rsdp", &p->rsdp_len);
    p->tables = read_file_cfg(vm, "etc/acpi/tables", &p->tables_len);
    run_loader(loader, nloader / 128, p);
    free(loader);
}

static const struct acpi_fadt *pc_fadt(struct placed *p)
{
    struct acpi_rsdp r;
    memcpy(&r, p->rsdp, sizeof(r));
    const struct acpi_xsdt *x = (const void *)table_at(p, r.xsdt_addr);
    const struct acpi_fadt *f = (const void *)table_at(p, x->entry[0]);
    assert_memory_equal(f->h.signature, "FACP", 4);
    return f;
}

/* A GAS for an I/O block of LEN bytes at PORT, as the legacy field says. */
static void assert_gas_io(const struct acpi_gas *g, uint32_t port, unsigned len)
{
    assert_int_equal(g->space_id, ACPI_GAS_IO);
    assert_int_equal(g->bit_width, 8 * len);
    assert_int_equal(g->bit_offset, 0);
    assert_int_equal(g->address, port);
}

/* The \_S5 package of the DSDT D: its first sleep type. */
static int dsdt_s5(const struct acpi_header *d)
{
    const uint8_t *b = (const uint8_t *)d;
    for (uint32_t i = sizeof(*d); i + 8 <= d->length; i++) {
        if (memcmp(b + i, "_S5_", 4))
            continue;
        assert_int_equal(b[i + 4], 0x12); /* PackageOp */
        assert_int_equal(b[i + 6], 4);    /* 4 elements (one-byte PkgLength) */
        return b[i + 7] == 0x0a ? b[i + 8] : b[i + 7] == 0x00 ? 0 : -1;
    }
    fail_msg("no _S5 in the DSDT");
    return -1;
}

static void pc_full_fadt_and_facs(void **state)
{
    struct vm vm;
    pc_new(&vm, DISPLAY_NONE);
    /* OVMF's PM base, programmed before the firmware reads the tables */
    pci_cfg_write_fn(vm.pci, 1, 3, 0x40, 4, 0xb000);
    pci_cfg_write_fn(vm.pci, 1, 3, 0x80, 1, 1);
    struct placed p;
    pc_place(&vm, &p);
    const struct acpi_fadt *f = pc_fadt(&p);

    assert_int_equal(f->h.length, sizeof(*f));
    assert_int_equal(f->flags & ACPI_FADT_HW_REDUCED, 0);
    assert_int_equal(f->flags, ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_SLP_BUTTON |
                                   ACPI_FADT_RESET_REG_SUP);
    assert_int_equal(f->sci_int, 9);
    assert_int_equal(f->smi_cmd, 0);
    assert_int_equal(f->acpi_enable, 0);
    assert_int_equal(f->pm1a_evt_blk, 0xb000);
    assert_int_equal(f->pm1a_cnt_blk, 0xb004);
    assert_int_equal(f->pm_tmr_blk, 0xb008);
    assert_int_equal(f->pm1_evt_len, 4);
    assert_int_equal(f->pm1_cnt_len, 2);
    assert_int_equal(f->pm_tmr_len, 4);
    assert_int_equal(f->pm1b_evt_blk | f->pm1b_cnt_blk | f->pm2_cnt_blk | f->gpe0_blk, 0);
    assert_int_equal(f->gpe0_blk_len, 0);
    assert_gas_io(&f->x_pm1a_evt_blk, f->pm1a_evt_blk, f->pm1_evt_len);
    assert_gas_io(&f->x_pm1a_cnt_blk, f->pm1a_cnt_blk, f->pm1_cnt_len);
    assert_gas_io(&f->x_pm_tmr_blk, f->pm_tmr_blk, f->pm_tmr_len);
    assert_int_equal(f->x_pm1b_evt_blk.address | f->x_gpe0_blk.address, 0);
    assert_int_equal(f->sleep_control.address | f->sleep_status.address, 0);
    assert_int_equal(f->reset_reg.space_id, ACPI_GAS_IO);
    assert_int_equal(f->reset_reg.address, 0xcf9);
    assert_int_equal(f->reset_value, 6);
    assert_int_equal(f->century, 0x32);
    assert_int_equal(f->iapc_boot_arch,
                     ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042 | ACPI_IAPC_NO_VGA);
    assert_true(f->p_lvl2_lat > 100 && f->p_lvl3_lat > 1000);

    /* the DSDT through both fields; _S5 is PIIX4's soft-off type */
    assert_int_equal(f->dsdt, f->x_dsdt);
    const struct acpi_header *d = table_at(&p, f->x_dsdt);
    assert_memory_equal(d->signature, "DSDT", 4);
    assert_int_equal(dsdt_s5(d), 0);

    /* the FACS: linked through FIRMWARE_CTRL only, 64-byte aligned, in the tables file */
    assert_int_equal(f->x_firmware_ctrl, 0);
    assert_true(f->firmware_ctrl >= TABLES_AT &&
                f->firmware_ctrl - TABLES_AT + sizeof(struct acpi_facs) <= p.tables_len);
    assert_int_equal(f->firmware_ctrl % 64, 0);
    const struct acpi_facs *facs = (const void *)(p.tables + (f->firmware_ctrl - TABLES_AT));
    assert_memory_equal(facs->signature, "FACS", 4);
    assert_int_equal(facs->length, 64);
    assert_int_equal(facs->firmware_waking_vector | facs->global_lock | facs->flags, 0);

    free(p.rsdp);
    free(p.tables);
    pc_free(&vm);
}

/* The FADT follows the PM base: laid out again when the firmware selects the tables. */
static void pc_pm_base_follows_firmware(void **state)
{
    struct vm vm;
    pc_new(&vm, DISPLAY_STD);
    struct placed p;
    pc_place(&vm, &p); /* before the firmware enabled the block: the default base */
    uint32_t len0 = p.tables_len;
    assert_int_equal(pc_fadt(&p)->pm1a_evt_blk, 0x600);
    assert_int_equal(pc_fadt(&p)->iapc_boot_arch, ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042);
    free(p.rsdp);
    free(p.tables);

    pci_cfg_write_fn(vm.pci, 1, 3, 0x40, 4, 0xb000); /* OVMF's base */
    pci_cfg_write_fn(vm.pci, 1, 3, 0x80, 1, 1);
    pc_place(&vm, &p);
    assert_int_equal(p.tables_len, len0);
    assert_int_equal(pc_fadt(&p)->pm1a_evt_blk, 0xb000);
    assert_int_equal(pc_fadt(&p)->pm_tmr_blk, 0xb008);
    assert_int_equal(pc_fadt(&p)->x_pm_tmr_blk.address, 0xb008);
    free(p.rsdp);
    free(p.tables);

    pci_cfg_write_fn(vm.pci, 1, 3, 0x40, 4, 0x600); /* SeaBIOS's */
    pc_place(&vm, &p);
    assert_int_equal(pc_fadt(&p)->pm1a_cnt_blk, 0x604);
    free(p.rsdp);
    free(p.tables);
    pc_free(&vm);
}

/* The same platform's tables below 1 MiB (a small firmware ROM): FACS aligned there too, and a
 * base that would misalign it is refused. */
static void pc_tables_in_low_memory(void **state)
{
    struct vm vm;
    pc_new(&vm, DISPLAY_NONE);
    uint8_t *buf = calloc(1, 64 * KiB);
    assert_non_null(buf);
    struct acpi_offsets o;
    long used = acpi_layout(&vm, buf, 64 * KiB, 0xe0000, &o);
    assert_true(used > 0);
    assert_int_equal((0xe0000 + o.facs) % 64, 0);
    const struct acpi_fadt *f = (const void *)(buf + o.fadt);
    assert_int_equal(f->firmware_ctrl, 0xe0000 + o.facs);
    assert_int_equal(f->dsdt, 0xe0000 + o.dsdt);
    assert_int_equal(sum8(buf + o.fadt, f->h.length), 0);
    assert_int_equal(sum8(buf + o.xsdt, ((struct acpi_header *)(buf + o.xsdt))->length), 0);
    assert_int_equal(sum8(buf, ACPI_RSDP_V1_LEN), 0);
    assert_int_equal(acpi_layout(&vm, buf, 64 * KiB, 0xe0010, &o), -EINVAL);
    free(buf);
    pc_free(&vm);
}

/* Without the chipset (a direct boot) the FADT stays hardware-reduced, with no FACS. */
static void direct_boot_stays_reduced(void **state)
{
    struct vm vm;
    test_vm_init(&vm, RAM);
    vm.cfg.cpus = vm.ncpus = 1;
    uint8_t *buf = calloc(1, 64 * KiB);
    assert_non_null(buf);
    struct acpi_offsets o;
    assert_true(acpi_layout(&vm, buf, 64 * KiB, 0xe0000, &o) > 0);
    assert_int_equal(o.facs, 0);
    assert_int_equal(o.xsdt, 48);
    const struct acpi_fadt *f = (const void *)(buf + o.fadt);
    assert_int_equal(f->flags & ACPI_FADT_HW_REDUCED, ACPI_FADT_HW_REDUCED);
    assert_int_equal(f->firmware_ctrl | f->pm1a_evt_blk | f->pm_tmr_blk | f->sci_int, 0);
    assert_int_equal(f->sleep_control.address, PORT_ACPI_SLEEP_CTL);
    assert_int_equal(dsdt_s5((const struct acpi_header *)(buf + o.dsdt)), ACPI_S5_SLP_TYP);
    free(buf);
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
        cmocka_unit_test(tables_link_and_sum),     cmocka_unit_test(no_fw_cfg_device),
        cmocka_unit_test(pc_full_fadt_and_facs),   cmocka_unit_test(pc_pm_base_follows_firmware),
        cmocka_unit_test(pc_tables_in_low_memory), cmocka_unit_test(direct_boot_stays_reduced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
