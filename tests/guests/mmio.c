/* mmio.c — hostile test guest: garbage to unmapped MMIO and ports; reads must see all-ones. */
#include "lib.h"

static const uint32_t mmio_targets[] = {0xd0000000u, 0xdffff000u, 0xfed00000u, 0xfeb00000u,
                                        0x80000000u};

void main32(const struct hvm_start_info *si)
{
    uint32_t x = 0x12345678u, bad = 0;
    puts_("truce-guest: writing garbage\n");
    for (int round = 0; round < 64; round++) {
        for (unsigned i = 0; i < sizeof(mmio_targets) / sizeof(mmio_targets[0]); i++) {
            volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)(mmio_targets[i] + round * 4);
            x = x * 1103515245u + 12345u;
            *p = x;
            if (*p != 0xffffffffu)
                bad++;
            *(volatile uint8_t *)p = (uint8_t)x;
        }
        uint16_t port = (uint16_t)(0x100 + round); /* nothing lives at 0x100-0x13f */
        outl(port, x);
        if (inb(port) != 0xff)
            bad++;
    }
    if (bad) {
        puts_("truce-guest: FAIL unmapped reads not all-ones\n");
        debug_exit(0x41);
    }
    puts_("truce-guest: unmapped reads all-ones; halting\n");
    halt_forever(); /* truce must end with status 10 */
}
