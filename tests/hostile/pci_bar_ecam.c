/* pci_bar_ecam.c — a BAR moved over the ECAM window (and the IOAPIC, the LAPIC, the top of the
 * 32-bit space, beyond 2^43, wrapping 2^64): config space must stay reachable (the guest moves
 * the BAR home through port 0xCF8 when ECAM is shadowed); then a fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    unsigned s = (unsigned)d.slot;
    uint64_t home = bar0_get(s);
    const uint64_t over[] = {
        ECAM_BASE,  ECAM_BASE + ((uint64_t)s << 15), 0xfec00000u,          0xfee00000u, 0xffff8000u,
        1ULL << 43, (1ULL << 52) - 0x8000,           0xffffffffffff8000ULL};
    for (unsigned k = 0; k < sizeof(over) / sizeof(over[0]); k++) {
        cf8_write(s, 0x10, 4, (uint32_t)over[k]);
        cf8_write(s, 0x14, 4, (uint32_t)(over[k] >> 32));
        uint32_t id = cf8_read(s, 0, 4);
        say_hex("BAR at", (uint64_t)cf8_read(s, 0x14, 4) << 32 | (cf8_read(s, 0x10, 4) & ~15u));
        CHECK(id == ((0x1040u + t->id) << 16 | 0x1af4), "config space lost through 0xCF8");
        if (over[k] < (1ULL << 32)) {
            rd32(over[k]);
            rd32(over[k] + 0x1000);
            say_hex("ECAM id through MMIO", cfg_read(s, 0, 4));
        }
        cf8_write(s, 0x10, 4, (uint32_t)home);
        cf8_write(s, 0x14, 4, (uint32_t)(home >> 32));
    }
    CHECK(cfg_read(s, 0, 4) == ((0x1040u + t->id) << 16 | 0x1af4), "ECAM lost");
    t->fresh();
}
