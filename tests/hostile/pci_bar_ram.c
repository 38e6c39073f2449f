/* pci_bar_ram.c — a virtio BAR moved over guest RAM (where the guest keeps data), over the
 * guest's own code, and over low memory: RAM stays RAM (contents intact), the device is not
 * reachable there; moved back, a fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    uint64_t home = bar0_get(d.slot);
    static const uint64_t over[] = {0x2000000, 0x100000, 0x0, 0x7ff8000, 0x3000000};
    volatile uint32_t *ram = (volatile uint32_t *)0x2000000;
    for (unsigned i = 0; i < 0x8000 / 4; i += 256)
        ram[i] = 0xc0ffee00u + i;
    for (unsigned k = 0; k < sizeof(over) / sizeof(over[0]); k++) {
        bar0_set(d.slot, over[k]);
        say_hex("BAR over RAM at", bar0_get(d.slot));
        if (over[k] == 0x2000000) {
            for (unsigned i = 0; i < 0x8000 / 4; i += 256)
                CHECK(ram[i] == 0xc0ffee00u + i, "RAM under a BAR changed");
            wr8(0x2000000 + CC_STATUS, 0); /* a "reset" that must land in RAM */
        }
    }
    bar0_set(d.slot, home);
    for (unsigned i = 0; i < 0x8000 / 4; i += 256)
        if (i * 4 != CC_STATUS - (CC_STATUS & 3))
            CHECK(ram[i] == 0xc0ffee00u + i, "RAM under a BAR changed");
    t->fresh();
}
