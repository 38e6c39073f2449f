/* test_acpi.c — the AML encoder, ACPI tables (RSDP -> XSDT -> FADT/MADT/MCFG/DSDT, checksums,
 * contents) and the MP table. TRUCE_ACPI_DUMP=DIR writes the tables there for `iasl -d`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "boot/acpi_tables.h"
#include "boot/aml.h"
#include "boot_fixture.h"

/* ---- AML encoder ---------------------------------------------------------------------------- */

/* Encode with FN into a fresh buffer and compare with the EXPECTED bytes. */
#define AML_EXPECT(stmts, ...)                                                                     \
    do {                                                                                           \
        uint8_t buf_[256];                                                                         \
        const uint8_t exp_[] = {__VA_ARGS__};                                                      \
        struct aml a_;                                                                             \
        aml_init(&a_, buf_, sizeof(buf_));                                                         \
        struct aml *a = &a_;                                                                       \
        stmts;                                                                                     \
        assert_true(aml_ok(a));                                                                    \
        assert_int_equal(a->len, sizeof(exp_));                                                    \
        assert_memory_equal(buf_, exp_, sizeof(exp_));                                             \
    } while (0)

static void pkglen(void **state)
{
    uint8_t b[4];
    assert_int_equal(aml_pkglen_encode(0, b), 1);
    assert_int_equal(b[0], 1);
    assert_int_equal(aml_pkglen_encode(62, b), 1);
    assert_int_equal(b[0], 63);
    assert_int_equal(aml_pkglen_encode(63, b), 2); /* 65 = 0x041 */
    assert_int_equal(b[0], 0x41);
    assert_int_equal(b[1], 0x04);
    assert_int_equal(aml_pkglen_encode(4093, b), 2); /* 4095: last 2-byte value */
    assert_int_equal(b[0], 0x4f);
    assert_int_equal(b[1], 0xff);
    assert_int_equal(aml_pkglen_encode(4094, b), 3); /* 4097 = 0x1001 */
    assert_int_equal(b[0], 0x81);
    assert_int_equal(b[1], 0x00);
    assert_int_equal(b[2], 0x01);
    assert_int_equal(aml_pkglen_encode((1 << 20) - 4, b), 3);
    assert_int_equal(aml_pkglen_encode((1 << 20) - 3, b), 4);
    assert_int_equal(aml_pkglen_encode((1 << 28) - 5, b), 4);
    assert_int_equal(aml_pkglen_encode((1 << 28) - 4, b), 0); /* not encodable */
}

static void integers_and_names(void **state)
{
    AML_EXPECT(aml_integer(a, 0), 0x00);
    AML_EXPECT(aml_integer(a, 1), 0x01);
    AML_EXPECT(aml_integer(a, UINT64_MAX), 0xff);
    AML_EXPECT(aml_integer(a, 0x20), 0x0a, 0x20);
    AML_EXPECT(aml_integer(a, 0x1234), 0x0b, 0x34, 0x12);
    AML_EXPECT(aml_integer(a, 0x12345678), 0x0c, 0x78, 0x56, 0x34, 0x12);
    AML_EXPECT(aml_integer(a, 0x100000000ULL), 0x0e, 0, 0, 0, 0, 1, 0, 0, 0);
    AML_EXPECT(aml_string(a, "AB"), 0x0d, 'A', 'B', 0);
    AML_EXPECT(aml_namestring(a, "_HID"), '_', 'H', 'I', 'D');
    AML_EXPECT(aml_namestring(a, "\\_SB"), 0x5c, '_', 'S', 'B', '_');
    AML_EXPECT(aml_namestring(a, "\\_SB.PCI0"), 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0');
    AML_EXPECT(aml_namestring(a, "^FOO"), 0x5e, 'F', 'O', 'O', '_');
    AML_EXPECT(aml_namestring(a, "A.B.C"), 0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C',
               '_', '_', '_');
    AML_EXPECT(aml_name(a, "_UID"); aml_integer(a, 0), 0x08, '_', 'U', 'I', 'D', 0x00);
    assert_int_equal(aml_eisaid_value("PNP0A03"), 0x030ad041);
    assert_int_equal(aml_eisaid_value("PNP0A08"), 0x080ad041);
    assert_int_equal(aml_eisaid_value("PNP0501"), 0x0105d041);
    assert_int_equal(aml_eisaid_value("PNP0303"), 0x0303d041);
    assert_int_equal(aml_eisaid_value("pnp0303"), 0);
    assert_int_equal(aml_eisaid_value("PNP030"), 0);
    assert_int_equal(aml_eisaid_value("PNP03G3"), 0);
}

static void objects(void **state)
{
    /* Device(DEV) { Name(_UID, 1) } */
    AML_EXPECT(aml_device_open(a, "DEV"); aml_name(a, "_UID"); aml_integer(a, 1);
               aml_close(a), 0x5b, 0x82, 11, 'D', 'E', 'V', '_', 0x08, '_', 'U', 'I', 'D', 0x01);
    /* Package(2) { 1, 2 } */
    AML_EXPECT(aml_package_open(a, 2); aml_integer(a, 1); aml_integer(a, 2);
               aml_close(a), 0x12, 5, 2, 0x01, 0x0a, 0x02);
    /* ResourceTemplate() { IO(Decode16, 0x3f8, 0x3f8, 1, 8) IRQNoFlags() {4} } */
    AML_EXPECT(aml_buffer_open(a); aml_res_io(a, 0x3f8, 0x3f8, 1, 8); aml_res_irq(a, 4);
               aml_res_end(a); aml_close(a), 0x11, 16, 0x0a, 13, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03,
                               0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00);
    /* Scope(\_SB) { } */
    AML_EXPECT(aml_scope_open(a, "\\_SB"); aml_close(a), 0x10, 6, 0x5c, '_', 'S', 'B', '_');
}

static void large_package_length(void **state)
{
    uint8_t buf[512];
    struct aml a;
    aml_init(&a, buf, sizeof(buf));
    aml_package_open(&a, 100);
    for (unsigned i = 0; i < 100; i++)
        aml_integer(&a, 0x10 + i); /* 2 bytes each: body 201, PkgLength 2 bytes */
    aml_close(&a);
    assert_true(aml_ok(&a));
    assert_int_equal(a.len, 1 + 2 + 201);
    assert_int_equal(buf[1] >> 6, 1);
    assert_int_equal((buf[1] & 0x0f) | buf[2] << 4, 203);
}

static void misuse_is_caught(void **state)
{
    uint8_t buf[16];
    struct aml a;
    aml_init(&a, buf, sizeof(buf));
    aml_close(&a); /* nothing open */
    assert_false(aml_ok(&a));
    aml_init(&a, buf, sizeof(buf));
    aml_scope_open(&a, "\\_SB"); /* never closed */
    assert_false(aml_ok(&a));
    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "lower");
    assert_false(aml_ok(&a));
    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "TOOLONG");
    assert_false(aml_ok(&a));
    aml_init(&a, buf, sizeof(buf));
    aml_string(&a, "this string does not fit in sixteen bytes");
    assert_false(aml_ok(&a));
    aml_init(&a, buf, sizeof(buf));
    for (unsigned i = 0; i <= AML_MAX_DEPTH; i++)
        aml_package_open(&a, 0);
    assert_true(a.overflow);
    aml_init(&a, buf, sizeof(buf));
    aml_res_irq(&a, 16);
    assert_false(aml_ok(&a));
}

/* ---- ACPI tables ---------------------------------------------------------------------------- */

/* Table at guest GPA after checking that it lies in RAM and sums to zero. */
static const struct acpi_header *table_at(struct fixture *f, uint64_t gpa, const char *sig)
{
    const struct acpi_header *h = fix_gpa(f, gpa, sizeof(*h));
    assert_non_null(h);
    assert_memory_equal(h->signature, sig, 4);
    assert_non_null(fix_gpa(f, gpa, h->length));
    assert_int_equal(acpi_checksum(h, h->length), 0);
    assert_memory_equal(h->oem_id, ACPI_OEM_ID, 6);
    return h;
}

/* Write table H to DIR/NAME.dat when TRUCE_ACPI_DUMP names a directory. */
static void dump(const void *h, size_t len, const char *name)
{
    const char *dir = getenv("TRUCE_ACPI_DUMP");
    char path[512];
    if (!dir)
        return;
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(h, 1, len, fp), len);
    fclose(fp);
}

static void check_fadt(struct fixture *f, const struct acpi_fadt *fa)
{
    assert_int_equal(fa->h.revision, 6);
    assert_int_equal(fa->h.length, 276);
    assert_true(fa->flags & ACPI_FADT_HW_REDUCED);
    assert_true(fa->flags & ACPI_FADT_RESET_REG_SUP);
    assert_true(fa->iapc_boot_arch & ACPI_IAPC_8042);
    assert_int_equal(fa->sleep_control.space_id, ACPI_GAS_IO);
    assert_int_equal(fa->sleep_control.bit_width, 8);
    assert_int_equal(fa->sleep_control.address, PORT_ACPI_SLEEP_CTL);
    assert_int_equal(fa->sleep_status.address, PORT_ACPI_SLEEP_STS);
    assert_int_equal(fa->reset_reg.space_id, ACPI_GAS_IO);
    assert_int_equal(fa->reset_reg.address, PORT_RESET);
    assert_int_equal(fa->reset_value, 6);
    assert_int_equal(fa->sci_int, 0);
    assert_int_equal(fa->pm1a_cnt_blk, 0);
    dump(fa, fa->h.length, "facp");
}

/* The IOAPIC pin truce's KVM routing (vm/irq.c) takes GSI to, -1 when none. A table that names a
 * pin for a line must agree with it, or the guest waits on a pin nothing raises. */
static int routed_pin(uint32_t gsi)
{
    struct kvm_irq_routing_entry e[64];
    unsigned n = irq_routing_build(e, 64), hits = 0;
    int pin = -1;
    for (unsigned i = 0; i < n; i++)
        if (e[i].gsi == gsi && e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
            pin = (int)e[i].u.irqchip.pin, hits++;
    assert_true(hits <= 1);
    return pin;
}

static void check_madt(const struct acpi_header *h, unsigned ncpus)
{
    const struct acpi_madt *m = (const void *)h;
    const uint8_t *p = (const uint8_t *)h + sizeof(*m), *end = (const uint8_t *)h + h->length;
    unsigned cpus = 0, ioapics = 0, isos = 0;
    assert_int_equal(m->lapic_addr, LAYOUT_LAPIC);
    while (p < end) {
        assert_true(p[1] >= 2 && p + p[1] <= end);
        if (p[0] == ACPI_MADT_LAPIC) {
            const struct acpi_madt_lapic *l = (const void *)p;
            assert_int_equal(l->apic_id, cpus);
            assert_int_equal(l->flags & ACPI_MADT_ENABLED, 1);
            cpus++;
        } else if (p[0] == ACPI_MADT_IOAPIC) {
            const struct acpi_madt_ioapic *io = (const void *)p;
            assert_int_equal(io->addr, LAYOUT_IOAPIC);
            assert_int_equal(io->gsi_base, 0);
            ioapics++;
        } else if (p[0] == ACPI_MADT_ISO) {
            const struct acpi_madt_iso *iso = (const void *)p;
            assert_int_equal(routed_pin(iso->source), iso->gsi); /* the PIT: GSI 0 -> pin 2 */
            if (iso->source == 0)
                assert_int_equal(iso->gsi, 2);
            else
                assert_int_equal(iso->flags & ACPI_MPS_LEVEL, ACPI_MPS_LEVEL);
            isos++;
        }
        p += p[1];
    }
    assert_int_equal(cpus, ncpus);
    assert_int_equal(ioapics, 1);
    assert_int_equal(isos, 2);
    dump(h, h->length, "apic");
}

/* Decode a PkgLength at *P; advances *P past it and returns the value. */
static size_t get_pkglen(const uint8_t **p)
{
    unsigned n = (*p)[0] >> 6;
    size_t v = n ? (*p)[0] & 0x0f : (*p)[0] & 0x3f;
    for (unsigned i = 0; i < n; i++)
        v |= (size_t)(*p)[1 + i] << (4 + 8 * i);
    *p += 1 + n;
    return v;
}

/* Decode an integer data object at *P (Zero/One/Byte/Word/DWord) and advance. */
static uint64_t get_int(const uint8_t **p)
{
    const uint8_t *q = *p;
    unsigned n = q[0] == 0x0a ? 1 : q[0] == 0x0b ? 2 : q[0] == 0x0c ? 4 : 0;
    uint64_t v = n ? 0 : q[0];
    assert_true(n || q[0] <= 1);
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)q[1 + i] << (8 * i);
    *p += 1 + n;
    return v;
}

static void check_prt(const uint8_t *aml, size_t len)
{
    const uint8_t *p = memmem(aml, len, "_PRT", 4);
    assert_non_null(p);
    p += 4;
    assert_int_equal(*p++, 0x12); /* PackageOp */
    get_pkglen(&p);
    assert_int_equal(*p++, 128);
    for (unsigned slot = 0; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            assert_int_equal(*p++, 0x12);
            const uint8_t *body = p;
            size_t plen = get_pkglen(&p);
            assert_int_equal(*p++, 4);
            assert_int_equal(get_int(&p), slot << 16 | 0xffff);
            assert_int_equal(get_int(&p), pin);
            assert_int_equal(get_int(&p), 0);
            assert_int_equal(get_int(&p), 16 + (slot + pin) % 4);
            assert_ptr_equal(p, body + plen);
        }
    }
}

static void check_dsdt(struct fixture *f, uint64_t gpa)
{
    const struct acpi_header *h = table_at(f, gpa, "DSDT");
    const uint8_t *aml = (const uint8_t *)(h + 1);
    size_t len = h->length - sizeof(*h);
    const char *names[] = {"_S5_", "_SB_", "PCI0", "_CRS",     "_PRT", "_SEG", "_BBN",
                           "COM1", "KBD_", "PEVT", "QEMU0001", "RTC_", "MRES"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!memmem(aml, len, names[i], strlen(names[i])))
            fail_msg("DSDT lacks %s", names[i]);
    const uint32_t ids[] = {0x080ad041, 0x030ad041, 0x0105d041, 0x0303d041, 0x020cd041};
    for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
        uint8_t enc[5] = {0x0c};
        memcpy(enc + 1, &ids[i], 4);
        assert_non_null(memmem(aml, len, enc, 5));
    }
    /* \_S5 = Package(4) { ACPI_S5_SLP_TYP, ... } */
    const uint8_t s5[] = {0x08, 0x5c, '_', 'S', '5', '_', 0x12};
    const uint8_t *p = memmem(aml, len, s5, sizeof(s5));
    assert_non_null(p);
    p += sizeof(s5);
    get_pkglen(&p);
    assert_int_equal(*p++, 4);
    assert_int_equal(get_int(&p), ACPI_S5_SLP_TYP);
    check_prt(aml, len);
    dump(h, h->length, "dsdt");
}

/* Build the tables for NCPUS / MEM and walk them from the RSDP. */
static void walk_acpi(unsigned ncpus, uint64_t mem)
{
    struct fixture *f = fix_new(mem, ncpus);
    uint64_t rsdp_gpa = 0;
    assert_int_equal(acpi_build(f->vm, &rsdp_gpa), 0);
    assert_true(rsdp_gpa >= 0xe0000 && rsdp_gpa < 0x100000 && rsdp_gpa % 16 == 0);

    const struct acpi_rsdp *r = fix_gpa(f, rsdp_gpa, sizeof(*r));
    assert_memory_equal(r->signature, "RSD PTR ", 8);
    assert_int_equal(r->revision, 2);
    assert_int_equal(r->length, 36);
    assert_int_equal(acpi_checksum(r, 20), 0);
    assert_int_equal(acpi_checksum(r, 36), 0);

    const struct acpi_xsdt *x = (const void *)table_at(f, r->xsdt_addr, "XSDT");
    assert_int_equal(x->h.length, 36 + 3 * 8);
    const struct acpi_fadt *fa = (const void *)table_at(f, x->entry[0], "FACP");
    check_fadt(f, fa);
    check_madt(table_at(f, x->entry[1], "APIC"), ncpus);
    const struct acpi_mcfg *mc = (const void *)table_at(f, x->entry[2], "MCFG");
    assert_int_equal(mc->alloc.base, LAYOUT_PCI_ECAM);
    assert_int_equal(mc->alloc.segment, 0);
    assert_int_equal(mc->alloc.end_bus, 0);
    dump(mc, mc->h.length, "mcfg");
    check_dsdt(f, fa->x_dsdt);
    fix_free(f);
}

static void acpi_tables(void **state)
{
    walk_acpi(1, 64 * MiB);
    walk_acpi(4, 5 * GiB);
    walk_acpi(CFG_MAX_CPUS, 128 * MiB);
}

static void acpi_bad_area(void **state)
{
    struct fixture *f = fix_new(64 * MiB, 2);
    uint64_t rsdp = 0;
    assert_int_equal(acpi_build_at(f->vm, BOOT_ACPI_START, BOOT_ACPI_START + 256, &rsdp), -ENOSPC);
    assert_int_equal(acpi_build_at(f->vm, BOOT_ACPI_START + 4, BOOT_HIMEM, &rsdp), -EINVAL);
    assert_int_equal(acpi_build_at(f->vm, 200 * MiB, 200 * MiB + 64 * KiB, &rsdp), -EFAULT);
    assert_int_equal(rsdp, 0);
    f->vm->cfg.cpus = 0;
    assert_int_equal(acpi_build(f->vm, &rsdp), -EINVAL);
    fix_free(f);
}

/* ---- MP table ------------------------------------------------------------------------------- */

static void check_mptable(unsigned ncpus)
{
    struct fixture *f = fix_new(64 * MiB, ncpus);
    assert_int_equal(mptable_build(f->vm), 0);
    const uint8_t *mpf = fix_gpa(f, BOOT_MPTABLE, 16);
    assert_memory_equal(mpf, "_MP_", 4);
    assert_int_equal(acpi_checksum(mpf, 16), 0);
    assert_int_equal(mpf[9], 4); /* spec 1.4 */
    uint32_t phys;
    memcpy(&phys, mpf + 4, 4);
    const uint8_t *t = fix_gpa(f, phys, 44);
    assert_memory_equal(t, "PCMP", 4);
    uint16_t len, count;
    memcpy(&len, t + 4, 2);
    memcpy(&count, t + 34, 2);
    assert_non_null(fix_gpa(f, phys, len));
    assert_int_equal(acpi_checksum(t, len), 0);

    const uint8_t *p = t + 44, *end = t + len;
    unsigned cpus = 0, buses = 0, ioapics = 0, ioints = 0, lints = 0, n = 0;
    uint32_t isa_pins = 0; /* IOAPIC pins with an ISA-bus (edge, active high) entry */
    uint8_t ioapic_id = 0xff;
    for (; p < end; n++) {
        switch (p[0]) {
        case 0:
            assert_int_equal(p[1], cpus);
            assert_int_equal(p[3], cpus == 0 ? 3 : 1); /* enabled, BSP only on 0 */
            cpus++, p += 20;
            continue;
        case 1:
            buses++;
            break;
        case 2:
            ioapic_id = p[1];
            assert_int_equal(*(const uint32_t *)(p + 4), LAYOUT_IOAPIC);
            ioapics++;
            break;
        case 3:
            assert_int_equal(p[6], ioapic_id);
            if (p[4] == 1 && p[5] == 0) /* ISA IRQ0 */
                assert_int_equal(p[7], 2);
            if (p[4] == 1) { /* an ISA IRQ is raised on the GSI of its number */
                assert_int_equal(routed_pin(p[5]), p[7]);
                assert_int_equal(*(const uint16_t *)(p + 2), 0); /* conforms: edge, high */
                assert_false(isa_pins & 1u << p[7]);
                isa_pins |= 1u << p[7];
            }
            if (p[4] == 0) { /* PCI: bus irq = slot << 2 | pin; raised on the GSI of the pin */
                assert_int_equal(p[7], 16 + ((p[5] >> 2) + (p[5] & 3)) % 4);
                assert_int_equal(routed_pin(p[7]), p[7]);
            }
            ioints++;
            break;
        case 4:
            lints++;
            break;
        default:
            fail_msg("unknown MP entry type %u", p[0]);
        }
        p += 8;
    }
    assert_ptr_equal(p, end);
    assert_int_equal(n, count);
    assert_int_equal(cpus, ncpus);
    assert_int_equal(buses, 2);
    assert_int_equal(ioapics, 1);
    assert_int_equal(ioapic_id, ncpus);
    /* ISA IRQs but the cascade (2), virtio-mmio's pins 20-23, the PCI slots' pins */
    assert_int_equal(ioints, 15 + 4 + 32 * 4);
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX; i++) /* what virtio_mmio.device= entries name */
        assert_true(isa_pins & 1u << VIRTIO_MMIO_GSI(i));
    assert_int_equal(lints, 2);
    fix_free(f);
}

/* Every IOAPIC pin is reached by one GSI at most (KVM maps an EOI back to a GSI by its pin: a
 * second GSI on the PIT's pin would hide the PIT's acknowledgements); none reaches the cascade. */
static void irq_routing(void **state)
{
    struct kvm_irq_routing_entry e[64];
    unsigned n = irq_routing_build(e, 64), pins[IOAPIC_PINS] = {0}, pics = 0;
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(e[i].type, KVM_IRQ_ROUTING_IRQCHIP);
        if (e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
            assert_true(e[i].u.irqchip.pin < IOAPIC_PINS);
            pins[e[i].u.irqchip.pin]++;
            continue;
        }
        uint32_t line = e[i].u.irqchip.pin + (e[i].u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE) * 8;
        assert_int_equal(line, e[i].gsi); /* PIC input N is ISA IRQ N */
        assert_int_not_equal(line, 2);
        pics++;
    }
    for (unsigned p = 0; p < IOAPIC_PINS; p++)
        assert_int_equal(pins[p], p == 0 ? 0 : 1); /* pin 0: nothing; pin 2: the PIT */
    assert_int_equal(routed_pin(GSI_PIT), IOAPIC_PIN_PIT);
    assert_int_equal(pics, 15);
    assert_int_equal(irq_routing_build(e, 3), 2); /* bounded by MAX */
}

static void mp_table(void **state)
{
    check_mptable(1);
    check_mptable(7);
    check_mptable(CFG_MAX_CPUS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pkglen),           cmocka_unit_test(integers_and_names),
        cmocka_unit_test(objects),          cmocka_unit_test(large_package_length),
        cmocka_unit_test(misuse_is_caught), cmocka_unit_test(acpi_tables),
        cmocka_unit_test(acpi_bad_area),    cmocka_unit_test(mp_table),
        cmocka_unit_test(irq_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
