/* mmio_unmapped.c — reads and writes of 1, 2, 4 and 8 bytes to MMIO nothing decodes: the PCI
 * hole, absent ECAM slots and the ECAM window beyond bus 0, the unused pages of a virtio BAR and
 * the ends of its regions, below the IOAPIC, above RAM up to the 2^43 limit (or the CPU's). Reads
 * see all-ones; the VM keeps running; a fresh driver works. */
#include "hostile.h"

static unsigned bad;

static void poke(uint64_t a)
{
    for (unsigned w = 1; w <= 8; w *= 2) {
        uint64_t ones = w == 8 ? ~0ULL : (1ULL << (8 * w)) - 1;
        if (rdw(a, w) != ones)
            bad++;
        wrw(a, w, 0x5aa55aa55aa55aa5ULL);
        if (rdw(a + 3, w) != ones) /* misaligned */
            bad++;
    }
}

void hostile_case(void)
{
    struct vio d;
    CHECK(!vio_find(VIO_RNG, &d), "no virtio-rng");
    static const uint64_t holes[] = {0xc8000000u, 0xdffff000u, 0xe0100000u,    0xefff0000u,
                                     0xfebff000u, 0xfed00000u, 0xfffff000u - 8};
    for (unsigned i = 0; i < sizeof(holes) / sizeof(holes[0]); i++)
        poke(holes[i]);
    poke(ecam(31, 0));
    poke(d.bar + 0x6000); /* unused BAR pages */
    poke(d.bar + 0x7ff0);
    say_hex("all-ones misses below 4 GiB", bad);
    CHECK(bad == 0, "an unmapped read below 4 GiB did not see all-ones");
    const uint64_t high[] = {0x100000000ULL, 0x4000000000ULL, gpa_limit() - 0x1000};
    for (unsigned i = 0; i < sizeof(high) / sizeof(high[0]); i++) {
        map_high(high[i]);
        poke(high[i]);
    }
    say_hex("all-ones misses in total", bad);
    CHECK(bad == 0, "an unmapped read above 4 GiB did not see all-ones");
    /* inside decoded regions, past their ends: the common config beyond 0x38, ISR beyond 1 */
    for (unsigned w = 1; w <= 8; w *= 2) {
        rdw(d.common + 0x38, w);
        wrw(d.common + 0x3c, w, ~0ULL);
        rdw(d.isr + 4, w);
        wrw(d.isr + 8, w, ~0ULL);
        rdw(d.common + 0x36, w); /* straddling the end */
        wrw(d.common + 0x36, w, ~0ULL);
    }
    fresh_rng();
}
