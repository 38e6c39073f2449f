/* timer.c — test guest: the PIT's tick arrives on the IOAPIC pin that the MP table and the MADT
 * name for ISA IRQ 0 (the guest reads both tables, programs that pin, masks the 8259s, and watches
 * the LAPIC's IRR with interrupts off: KVM's instruction emulator, which runs this guest on a
 * PVM-backed host, cannot return from a protected-mode interrupt). */
#include "lib.h"

#define LAPIC       0xfee00000u
#define LAPIC_SVR   0x0f0
#define LAPIC_IRR   0x200
#define VEC_TIMER   0x30
#define VEC_PIN0    0x31
#define PIT_DIVISOR 1193 /* about 1 kHz */

static void lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(LAPIC + reg) = v;
}

/* VEC is pending in the local APIC (requested, not yet taken: IF is 0). */
static int lapic_pending(uint8_t vec)
{
    uint32_t w = *(volatile uint32_t *)(uintptr_t)(LAPIC + LAPIC_IRR + 0x10 * (vec >> 5));
    return (w >> (vec & 31)) & 1;
}

static __attribute__((noreturn)) void fail(const char *what)
{
    puts_("truce-guest: FAIL ");
    puts_(what);
    putc_('\n');
    debug_exit(0x25);
}

static int sig(const void *p, const char *s)
{
    const char *a = p;
    for (int i = 0; s[i]; i++)
        if (a[i] != s[i])
            return 0;
    return 1;
}

/* The MP table's IOAPIC pin for ISA IRQ 0 (-1 if none) and the IOAPIC's address. */
static int mp_timer_pin(uint32_t *ioapic)
{
    const uint8_t *f = 0;
    for (uint32_t a = 0x9fc00; a < 0xa0000 && !f; a += 16)
        if (sig((const void *)(uintptr_t)a, "_MP_"))
            f = (const uint8_t *)(uintptr_t)a;
    if (!f)
        fail("no MP floating pointer in the EBDA");
    const uint8_t *t = (const uint8_t *)(uintptr_t) * (const uint32_t *)(f + 4);
    if (!sig(t, "PCMP"))
        fail("MP table signature");
    uint16_t count = *(const uint16_t *)(t + 34);
    const uint8_t *e = t + 44;
    int isa = -1, pin = -1;
    for (unsigned i = 0; i < count; i++) {
        switch (e[0]) {
        case 0: /* processor */
            e += 20;
            continue;
        case 1: /* bus */
            if (sig(e + 2, "ISA"))
                isa = e[1];
            break;
        case 2: /* IOAPIC */
            *ioapic = *(const uint32_t *)(e + 4);
            break;
        case 3: /* I/O interrupt: type, irqtype, flags(2), bus, bus irq, apic, pin */
            if (e[1] == 0 && e[4] == isa && e[5] == 0)
                pin = e[7];
            break;
        }
        e += 8;
    }
    return pin;
}

/* The MADT's GSI for ISA IRQ 0: its interrupt source override, else 0 (identity). */
static int madt_timer_gsi(const struct hvm_start_info *si)
{
    const uint8_t *rsdp = (const uint8_t *)(uintptr_t)si->rsdp_paddr;
    if (!rsdp || !sig(rsdp, "RSD PTR "))
        fail("no RSDP");
    const uint8_t *xsdt = (const uint8_t *)(uintptr_t) * (const uint32_t *)(rsdp + 24);
    if (rsdp[15] < 2 || !sig(xsdt, "XSDT"))
        fail("no XSDT");
    uint32_t n = (*(const uint32_t *)(xsdt + 4) - 36) / 8;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *h = (const uint8_t *)(uintptr_t) * (const uint32_t *)(xsdt + 36 + 8 * i);
        if (!sig(h, "APIC"))
            continue;
        uint32_t len = *(const uint32_t *)(h + 4);
        for (uint32_t off = 44; off + 2 <= len && h[off + 1]; off += h[off + 1])
            if (h[off] == 2 && h[off + 3] == 0) /* interrupt source override of IRQ 0 */
                return (int)*(const uint32_t *)(h + off + 4);
        return 0;
    }
    fail("no MADT");
}

static void ioapic_route(uint32_t ioapic, unsigned pin, uint8_t vec)
{
    volatile uint32_t *sel = (volatile uint32_t *)(uintptr_t)ioapic;
    volatile uint32_t *win = (volatile uint32_t *)(uintptr_t)(ioapic + 0x10);
    *sel = 0x11 + 2 * pin;
    *win = 0; /* destination APIC 0 */
    *sel = 0x10 + 2 * pin;
    *win = vec; /* fixed, physical, active high, edge, unmasked */
}

void main32(const struct hvm_start_info *si)
{
    uint32_t ioapic = 0;
    int pin = mp_timer_pin(&ioapic), gsi = madt_timer_gsi(si);
    puts_("truce-guest: ISA IRQ 0 on IOAPIC pin ");
    putdec((uint32_t)pin);
    puts_(" (MP table), GSI ");
    putdec((uint32_t)gsi);
    puts_(" (MADT)\n");
    if (pin < 0 || !ioapic)
        fail("the MP table names no IOAPIC pin for ISA IRQ 0");
    if (pin != gsi)
        fail("the MP table and the MADT disagree on ISA IRQ 0");

    outb(0x21, 0xff); /* both 8259s masked: only the IOAPIC delivers */
    outb(0xa1, 0xff);
    lapic_write(LAPIC_SVR, 0x100 | 0xff);
    ioapic_route(ioapic, (unsigned)pin, VEC_TIMER);
    if (pin != 0)
        ioapic_route(ioapic, 0, VEC_PIN0); /* where KVM's default routing sends the PIT */
    outb(0x43, 0x34);                      /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
    outb(0x40, PIT_DIVISOR & 0xff);
    outb(0x40, PIT_DIVISOR >> 8);
    uint64_t start = rdtsc();
    int named = 0, pin0 = 0;
    while (!named && !pin0 && rdtsc() - start < 30000000000ull) { /* ~10 s: a bound, no clock */
        named = lapic_pending(VEC_TIMER);
        pin0 = lapic_pending(VEC_PIN0);
    }
    puts_(named ? "truce-guest: a tick on the named pin\n" : "");
    puts_(pin0 ? "truce-guest: a tick on pin 0\n" : "");
    if (!named)
        fail("the PIT's tick does not reach the pin the tables name");
    puts_("truce-guest: pit reaches the named pin\n");
    debug_exit(0x24); /* exit status 73 */
}
