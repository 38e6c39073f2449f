/* pio_sweep.c — every I/O port below 0x1000 and every 7th above, up to 0xFFFF, read (byte, word
 * and dword widths in turn) and written with garbage, except the ports whose writes end the VM or
 * reprogram PCI (each of those has its own case). The VM keeps running; a fresh driver works. */
#include "hostile.h"

static int keep_out(uint32_t p)
{
    return p == 0x60 || p == 0x64 || (p >= 0xf4 && p <= 0xf7) || p == 0x505 || p == 0x600 ||
           p == 0x601 || (p >= 0xcf8 && p <= 0xcff) || (p >= COM1 && p <= COM1 + 7) || p == 0x70 ||
           p == 0x71;
}

void hostile_case(void)
{
    uint64_t sum = 0;
    unsigned n = 0;
    for (uint32_t p = 0; p < 0x10000; p += p < 0x1000 ? 1 : 7) {
        if (!(n++ % 4096))
            say_hex("reading from port", p);
        sum += inb((uint16_t)p);
        if ((p & 3) == 2)
            sum += inw((uint16_t)p);
        if (!(p & 3))
            sum += inl((uint16_t)p);
    }
    say_hex("read every port, sum", sum);
    for (uint32_t p = 0; p < 0x10000; p += p < 0x1000 ? 1 : 7) {
        if (!(n++ % 4096))
            say_hex("writing from port", p);
        if (keep_out(p) || keep_out(p + 1) || keep_out(p + 2) || keep_out(p + 3))
            continue;
        if (p & 3)
            outb((uint16_t)p, 0xa5);
        else
            outl((uint16_t)p, 0xa5a5a5a5u);
    }
    say("wrote every other port");
    fresh_blk();
    fresh_rng();
}
