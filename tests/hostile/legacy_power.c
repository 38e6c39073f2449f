/* legacy_power.c — ACPI sleep control/status (0x600/0x601) with every value that is not S5,
 * the reset control 0xCF9 with every value without the reset bit, pvpanic with every value but
 * PANICKED, the POST port flooded, debug-exit read and written at word/dword width. The VM must
 * keep running through all of it. */
#include "hostile.h"

void hostile_case(void)
{
    for (unsigned v = 0; v < 256; v++) {
        if ((v & 0x20) && ((v >> 2) & 7) == 5)
            continue; /* SLP_EN with S5: a shutdown case of its own */
        outb(0x600, (uint8_t)v);
        outb(0x601, (uint8_t)v);
        inb(0x600);
        inb(0x601);
    }
    say("acpi: survived every non-S5 sleep request");
    for (unsigned v = 0; v < 256; v++)
        if (!(v & 0x04))
            outb(0xcf9, (uint8_t)v);
    say_hex("0xcf9 reads", inb(0xcf9));
    for (unsigned v = 0; v < 256; v++)
        if (!(v & 1))
            outb(0x505, (uint8_t)v);
    say_hex("pvpanic reads", inb(0x505));
    for (unsigned i = 0; i < 65536; i++)
        outb(0x80, (uint8_t)i);
    inb(0x80);
    inw(0xf4);
    inl(0xf4);
    say_hex("debug-exit reads", inb(0xf4));
    fresh_blk();
}
