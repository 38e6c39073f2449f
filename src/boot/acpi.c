/* acpi.c — ACPI tables: RSDP, XSDT, FADT, MADT, MCFG (+ DSDT), for the hardware-reduced platform
 * of direct boots and, with FACS and a full FADT, for the PIIX4 PC that firmware boots. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi_tables.h"
#include "boot/boot.h"
#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define ACPI_MAX_AREA (256 * KiB)

uint8_t acpi_checksum(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return (uint8_t)(0x100 - sum);
}

void acpi_header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(h->signature, sig, 4);
    h->length = len;
    h->revision = rev;
    h->checksum = 0;
    memcpy(h->oem_id, ACPI_OEM_ID, 6);
    memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
    h->oem_revision = 1;
    memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
    h->creator_revision = 1;
}

/* Set the checksum of the table at T (its header states the length). */
static void acpi_seal(void *t)
{
    struct acpi_header *h = t;
    h->checksum = acpi_checksum(t, h->length);
}

/* A System I/O generic address of one byte at PORT. */
static struct acpi_gas gas_io8(uint16_t port)
{
    return (struct acpi_gas){
        .space_id = ACPI_GAS_IO, .bit_width = 8, .access_size = 1, .address = port};
}

/* A System I/O register block of LEN bytes at PORT, access width left undefined (legacy). */
static struct acpi_gas gas_io(uint16_t port, unsigned len)
{
    return (struct acpi_gas){.space_id = ACPI_GAS_IO,
                             .bit_width = (uint8_t)(8 * len),
                             .access_size = 0,
                             .address = port};
}

/* FADT for hardware-reduced ACPI with DSDT at DSDT. */
static void build_fadt(struct acpi_fadt *f, uint64_t dsdt)
{
    acpi_header(&f->h, "FACP", sizeof(*f), 6);
    f->minor_revision = 5;
    f->flags = ACPI_FADT_HW_REDUCED | ACPI_FADT_RESET_REG_SUP;
    f->iapc_boot_arch = ACPI_IAPC_8042 | ACPI_IAPC_NO_VGA;
    f->reset_reg = gas_io8(PORT_RESET);
    f->reset_value = 0x06;
    f->x_dsdt = dsdt;
    f->sleep_control = gas_io8(PORT_ACPI_SLEEP_CTL);
    f->sleep_status = gas_io8(PORT_ACPI_SLEEP_STS);
    memcpy(&f->hypervisor_id, "TRUCEVMM", 8);
    acpi_seal(f);
}

/* FADT for the PIIX4 PC (full ACPI): FACS at FACS, DSDT at DSDT (both below 4 GiB: the 32-bit
 * fields carry them; X_FIRMWARE_CTRL stays 0 as only one FACS pointer may be set, X_DSDT repeats
 * DSDT), the PM1a event/control blocks and the PM timer at the PIIX4 PM base PM, SCI on IRQ 9, no
 * SMI command port (ACPI mode is always on), a fixed power button and no sleep button, the reset
 * register, and VGA as present when the VM has a display. */
static void build_fadt_pc(struct acpi_fadt *f, uint64_t dsdt, uint64_t facs, uint16_t pm, bool vga)
{
    acpi_header(&f->h, "FACP", sizeof(*f), 6);
    f->minor_revision = 5;
    f->firmware_ctrl = (uint32_t)facs;
    f->dsdt = (uint32_t)dsdt;
    f->x_dsdt = dsdt;
    f->sci_int = PIIX4_SCI_IRQ;
    f->smi_cmd = 0;
    f->pm1a_evt_blk = pm + PIIX4_PM1_EVT_OFF;
    f->pm1a_cnt_blk = pm + PIIX4_PM1_CNT_OFF;
    f->pm_tmr_blk = pm + PIIX4_PM_TMR_OFF;
    f->pm1_evt_len = PIIX4_PM1_EVT_LEN;
    f->pm1_cnt_len = PIIX4_PM1_CNT_LEN;
    f->pm_tmr_len = PIIX4_PM_TMR_LEN;
    f->x_pm1a_evt_blk = gas_io((uint16_t)f->pm1a_evt_blk, PIIX4_PM1_EVT_LEN);
    f->x_pm1a_cnt_blk = gas_io((uint16_t)f->pm1a_cnt_blk, PIIX4_PM1_CNT_LEN);
    f->x_pm_tmr_blk = gas_io((uint16_t)f->pm_tmr_blk, PIIX4_PM_TMR_LEN);
    f->p_lvl2_lat = ACPI_FADT_C2_NONE;
    f->p_lvl3_lat = ACPI_FADT_C3_NONE;
    f->century = ACPI_CMOS_CENTURY;
    f->iapc_boot_arch = ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042 | (vga ? 0 : ACPI_IAPC_NO_VGA);
    f->flags =
        ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_SLP_BUTTON | ACPI_FADT_RESET_REG_SUP;
    f->reset_reg = gas_io8(PORT_RESET);
    f->reset_value = 0x06;
    memcpy(&f->hypervisor_id, "TRUCEVMM", 8);
    acpi_seal(f);
}

static void build_facs(struct acpi_facs *f)
{
    memcpy(f->signature, "FACS", 4);
    f->length = sizeof(*f);
    f->version = 2;
}

/* MADT into BUF (room for acpi_madt_size(NCPUS)). Returns its length. */
static size_t build_madt(uint8_t *buf, unsigned ncpus)
{
    struct acpi_madt *m = (struct acpi_madt *)buf;
    size_t off = sizeof(*m);
    m->lapic_addr = (uint32_t)LAYOUT_LAPIC;
    m->flags = ACPI_MADT_PCAT_COMPAT;
    for (unsigned i = 0; i < ncpus; i++) {
        struct acpi_madt_lapic l = {ACPI_MADT_LAPIC, sizeof(l), (uint8_t)i, (uint8_t)i,
                                    ACPI_MADT_ENABLED};
        memcpy(buf + off, &l, sizeof(l));
        off += sizeof(l);
    }
    struct acpi_madt_ioapic io = {ACPI_MADT_IOAPIC,        sizeof(io), (uint8_t)ncpus, 0,
                                  (uint32_t)LAYOUT_IOAPIC, 0};
    struct acpi_madt_iso iso[2] = {
        {ACPI_MADT_ISO, sizeof(iso[0]), 0, GSI_PIT, IOAPIC_PIN_PIT, ACPI_MPS_CONFORM},
        {ACPI_MADT_ISO, sizeof(iso[0]), 0, 9, 9, ACPI_MPS_HIGH | ACPI_MPS_LEVEL},
    };
    struct acpi_madt_nmi nmi = {ACPI_MADT_LAPIC_NMI, sizeof(nmi), 0xff,
                                ACPI_MPS_HIGH | ACPI_MPS_EDGE, 1};
    memcpy(buf + off, &io, sizeof(io));
    off += sizeof(io);
    memcpy(buf + off, iso, sizeof(iso));
    off += sizeof(iso);
    memcpy(buf + off, &nmi, sizeof(nmi));
    off += sizeof(nmi);
    acpi_header(&m->h, "APIC", (uint32_t)off, 5);
    acpi_seal(m);
    return off;
}

static void build_mcfg(struct acpi_mcfg *m)
{
    acpi_header(&m->h, "MCFG", sizeof(*m), 1);
    m->alloc = (struct acpi_mcfg_alloc){
        .base = LAYOUT_PCI_ECAM, .segment = 0, .start_bus = 0, .end_bus = 0};
    acpi_seal(m);
}

long acpi_layout(struct vm *vm, uint8_t *buf, size_t size, uint64_t base, struct acpi_offsets *o)
{
    unsigned ncpus = vm->cfg.cpus;
    int pm = piix_pm_base(vm); /* >= 0: the PIIX4 PC, full ACPI */
    bool pc = pm >= 0;
    if (pc && base % ACPI_FACS_ALIGN)
        return -EINVAL;
    /* the PC's XSDT starts on a FACS_ALIGN boundary, so that the FACS right after it is aligned
     * both here and in the firmware's copy of etc/acpi/tables (which starts with the XSDT) */
    size_t off_xsdt = ALIGN_UP(sizeof(struct acpi_rsdp), pc ? ACPI_FACS_ALIGN : 16);
    size_t off_facs = pc ? ALIGN_UP(off_xsdt + sizeof(struct acpi_xsdt), ACPI_FACS_ALIGN) : 0;
    size_t off_fadt = pc ? off_facs + sizeof(struct acpi_facs)
                         : ALIGN_UP(off_xsdt + sizeof(struct acpi_xsdt), 16);
    size_t off_madt = ALIGN_UP(off_fadt + sizeof(struct acpi_fadt), 16);
    size_t off_mcfg = ALIGN_UP(off_madt + acpi_madt_size(ncpus), 16);
    size_t off_dsdt = ALIGN_UP(off_mcfg + sizeof(struct acpi_mcfg), 16);
    if (off_dsdt >= size)
        return -ENOSPC;
    int dlen =
        dsdt_build_s5(vm, pc ? PIIX4_S5_SLP_TYP : ACPI_S5_SLP_TYP, buf + off_dsdt, size - off_dsdt);
    if (dlen < 0)
        return dlen;

    if (pc) {
        build_facs((struct acpi_facs *)(buf + off_facs));
        build_fadt_pc((struct acpi_fadt *)(buf + off_fadt), base + off_dsdt, base + off_facs,
                      (uint16_t)pm, vm->cfg.display.kind != DISPLAY_NONE);
    } else {
        build_fadt((struct acpi_fadt *)(buf + off_fadt), base + off_dsdt);
    }
    build_madt(buf + off_madt, ncpus);
    build_mcfg((struct acpi_mcfg *)(buf + off_mcfg));

    struct acpi_xsdt *x = (struct acpi_xsdt *)(buf + off_xsdt);
    acpi_header(&x->h, "XSDT", sizeof(*x), 1);
    x->entry[0] = base + off_fadt;
    x->entry[1] = base + off_madt;
    x->entry[2] = base + off_mcfg;
    acpi_seal(x);

    if (o)
        *o = (struct acpi_offsets){
            off_xsdt, off_facs, off_fadt, off_madt, off_mcfg, off_dsdt, off_dsdt + (size_t)dlen};
    struct acpi_rsdp *r = (struct acpi_rsdp *)buf;
    memcpy(r->signature, "RSD PTR ", 8);
    memcpy(r->oem_id, ACPI_OEM_ID, 6);
    r->revision = 2;
    r->length = sizeof(*r);
    r->xsdt_addr = base + off_xsdt;
    r->checksum = acpi_checksum(r, ACPI_RSDP_V1_LEN);
    r->ext_checksum = acpi_checksum(r, sizeof(*r));
    return (long)(off_dsdt + (size_t)dlen);
}

int acpi_build_at(struct vm *vm, uint64_t base, uint64_t limit, uint64_t *rsdp)
{
    if (vm->cfg.cpus == 0 || vm->cfg.cpus > CFG_MAX_CPUS || base % 16 || limit <= base ||
        limit - base > ACPI_MAX_AREA)
        return -EINVAL;
    size_t size = limit - base;
    uint8_t *buf = calloc(1, size);
    if (!buf)
        return -ENOMEM;
    long used = acpi_layout(vm, buf, size, base, NULL);
    int ret = used < 0 ? (int)used : guest_mem_write(&vm->mem, base, buf, (uint64_t)used);
    free(buf);
    if (ret == 0)
        *rsdp = base;
    return ret;
}

int acpi_build(struct vm *vm, uint64_t *rsdp)
{
    return acpi_build_at(vm, BOOT_ACPI_START, BOOT_HIMEM, rsdp);
}
