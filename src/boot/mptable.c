/* mptable.c — Intel MultiProcessor Specification 1.4 tables: CPUs, buses, IOAPIC, interrupts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "util/util.h"
#include "vm/vm.h"

#define MP_SPEC_REV     4
#define MP_APIC_VER     0x14
#define MP_IOAPIC_VER   0x11
#define MP_CPU_EN       0x01
#define MP_CPU_BP       0x02
#define MP_IRQ_INT      0
#define MP_IRQ_NMI      1
#define MP_IRQ_EXTINT   3
#define MP_FLAGS_CONF   0x0000 /* conforms to the bus */
#define MP_FLAGS_PCI    0x000f /* active low (3), level triggered (3 << 2) */
#define MP_BUS_ISA      1
#define MP_BUS_PCI      0 /* bus id = PCI bus number */
#define MP_PCI_SLOTS    32
#define MP_ISA_IRQS     ISA_IRQS
#define MP_CPU_FEATURES 0x201 /* CPUID.1:EDX FPU | APIC */

enum { MP_ENT_CPU = 0, MP_ENT_BUS = 1, MP_ENT_IOAPIC = 2, MP_ENT_IOINT = 3, MP_ENT_LINT = 4 };

struct mpf_intel {
    char signature[4]; /* "_MP_" */
    uint32_t physptr;
    uint8_t length; /* in 16-byte units */
    uint8_t spec;
    uint8_t checksum;
    uint8_t feature[5];
} __attribute__((packed));
_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer");

struct mpc_table {
    char signature[4]; /* "PCMP" */
    uint16_t length;
    uint8_t spec;
    uint8_t checksum;
    char oem[8];
    char product[12];
    uint32_t oemptr;
    uint16_t oemsize;
    uint16_t count;
    uint32_t lapic;
    uint16_t ext_length;
    uint8_t ext_checksum;
    uint8_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct mpc_table) == 44, "MP config table header");

struct mpc_cpu {
    uint8_t type, apicid, apicver, cpuflag;
    uint32_t signature, features;
    uint32_t reserved[2];
} __attribute__((packed));
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry");

struct mpc_bus {
    uint8_t type, busid;
    char bustype[6];
} __attribute__((packed));
_Static_assert(sizeof(struct mpc_bus) == 8, "MP bus entry");

struct mpc_ioapic {
    uint8_t type, apicid, apicver, flags;
    uint32_t addr;
} __attribute__((packed));
_Static_assert(sizeof(struct mpc_ioapic) == 8, "MP IOAPIC entry");

/* I/O and local interrupt assignment entries share this layout. */
struct mpc_int {
    uint8_t type, irqtype;
    uint16_t irqflag;
    uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));
_Static_assert(sizeof(struct mpc_int) == 8, "MP interrupt entry");

#define MP_MAX_ENTRIES (CFG_MAX_CPUS + 2 + 1 + IOAPIC_PINS + MP_PCI_SLOTS * 4 + 2)
#define MP_MAX_SIZE                                                                                \
    (sizeof(struct mpf_intel) + sizeof(struct mpc_table) + CFG_MAX_CPUS * sizeof(struct mpc_cpu) + \
     MP_MAX_ENTRIES * 8)
_Static_assert(BOOT_MPTABLE + MP_MAX_SIZE <= BOOT_ACPI_ALT, "MP table below the option ROMs");

/* Append N bytes of P at *OFF in BUF. */
static void put(uint8_t *buf, size_t *off, const void *p, size_t n)
{
    memcpy(buf + *off, p, n);
    *off += n;
}

/* Interrupt entry of TYPE. */
static struct mpc_int mp_int(uint8_t type, uint8_t irqtype, uint16_t flags, uint8_t bus,
                             uint8_t busirq, uint8_t dst, uint8_t dstirq)
{
    return (struct mpc_int){type, irqtype, flags, bus, busirq, dst, dstirq};
}

/* Every entry after the header into BUF at *OFF. Returns the entry count. */
static unsigned put_entries(uint8_t *buf, size_t *off, unsigned ncpus)
{
    uint8_t ioapic_id = (uint8_t)ncpus;
    unsigned count = 0;

    for (unsigned i = 0; i < ncpus; i++, count++) {
        struct mpc_cpu c = {.type = MP_ENT_CPU,
                            .apicid = (uint8_t)i,
                            .apicver = MP_APIC_VER,
                            .cpuflag = MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0),
                            .features = MP_CPU_FEATURES};
        put(buf, off, &c, sizeof(c));
    }
    struct mpc_bus isa = {MP_ENT_BUS, MP_BUS_ISA, "ISA   "},
                   pci = {MP_ENT_BUS, MP_BUS_PCI, "PCI   "};
    put(buf, off, &pci, sizeof(pci));
    put(buf, off, &isa, sizeof(isa));
    struct mpc_ioapic io = {MP_ENT_IOAPIC, ioapic_id, MP_IOAPIC_VER, 1, (uint32_t)LAYOUT_IOAPIC};
    put(buf, off, &io, sizeof(io));
    count += 3;

    for (unsigned irq = 0; irq < MP_ISA_IRQS; irq++) {
        if (irq == IOAPIC_PIN_PIT && irq != GSI_PIT)
            continue; /* ISA IRQ 2 is the 8259 cascade; its pin is the PIT's */
        struct mpc_int e = mp_int(MP_ENT_IOINT, MP_IRQ_INT, MP_FLAGS_CONF, MP_BUS_ISA, (uint8_t)irq,
                                  ioapic_id, (uint8_t)layout_isa_irq_pin(irq));
        put(buf, off, &e, sizeof(e));
        count++;
    }
    for (unsigned pin = ISA_IRQS; pin < IOAPIC_PINS; pin++) {
        if (pin >= PCI_INTX_GSI_BASE && pin < PCI_INTX_GSI_BASE + 4)
            continue;
        /* virtio-mmio's pins above 15 (20-23): ISA-like, edge, as Firecracker lists 0-23 */
        struct mpc_int e = mp_int(MP_ENT_IOINT, MP_IRQ_INT, MP_FLAGS_CONF, MP_BUS_ISA, (uint8_t)pin,
                                  ioapic_id, (uint8_t)pin);
        put(buf, off, &e, sizeof(e));
        count++;
    }
    for (unsigned slot = 0; slot < MP_PCI_SLOTS; slot++) {
        for (unsigned pin = 0; pin < 4; pin++, count++) {
            struct mpc_int e =
                mp_int(MP_ENT_IOINT, MP_IRQ_INT, MP_FLAGS_PCI, MP_BUS_PCI,
                       (uint8_t)(slot << 2 | pin), ioapic_id, (uint8_t)PCI_INTX_GSI(slot, pin));
            put(buf, off, &e, sizeof(e));
        }
    }
    struct mpc_int extint =
        mp_int(MP_ENT_LINT, MP_IRQ_EXTINT, MP_FLAGS_CONF, MP_BUS_ISA, 0, 0xff, 0);
    struct mpc_int nmi = mp_int(MP_ENT_LINT, MP_IRQ_NMI, MP_FLAGS_CONF, MP_BUS_ISA, 0, 0xff, 1);
    put(buf, off, &extint, sizeof(extint));
    put(buf, off, &nmi, sizeof(nmi));
    return count + 2;
}

int mptable_build(struct vm *vm)
{
    unsigned ncpus = vm->cfg.cpus;
    if (ncpus == 0 || ncpus > CFG_MAX_CPUS)
        return -EINVAL;
    uint8_t *buf = calloc(1, MP_MAX_SIZE);
    if (!buf)
        return -ENOMEM;

    size_t off = sizeof(struct mpf_intel) + sizeof(struct mpc_table);
    unsigned count = put_entries(buf, &off, ncpus);

    struct mpc_table *t = (struct mpc_table *)(buf + sizeof(struct mpf_intel));
    memcpy(t->signature, "PCMP", 4);
    t->length = (uint16_t)(off - sizeof(struct mpf_intel));
    t->spec = MP_SPEC_REV;
    memcpy(t->oem, "TRUCE   ", 8);
    memcpy(t->product, "TRUCEVM     ", 12);
    t->count = (uint16_t)count;
    t->lapic = (uint32_t)LAYOUT_LAPIC;
    t->checksum = acpi_checksum(t, t->length);

    struct mpf_intel *f = (struct mpf_intel *)buf;
    memcpy(f->signature, "_MP_", 4);
    f->physptr = (uint32_t)(BOOT_MPTABLE + sizeof(*f));
    f->length = 1;
    f->spec = MP_SPEC_REV;
    f->checksum = acpi_checksum(f, sizeof(*f));

    int ret = guest_mem_write(&vm->mem, BOOT_MPTABLE, buf, off);
    free(buf);
    return ret;
}
