/* legacy_i8042.c — the i8042 at 0x60/0x64: every controller command that does not reset (the
 * resets have their own shutdown cases) with every data byte, every keyboard command, the output
 * buffer flooded through 0xD2/0xD3, reads until empty. Then CMOS and a device still answer. */
#include "hostile.h"

static void drain(void)
{
    for (unsigned i = 0; i < 64 && (inb(0x64) & 1); i++)
        inb(0x60);
}

void hostile_case(void)
{
    for (unsigned c = 0; c < 256; c++) {
        if (c == 0xd1 || (c >= 0xf0 && !(c & 1)) || c == 0xfe)
            continue; /* output port writes and pulses can reset: see shutdown cases */
        outb(0x64, (uint8_t)c);
        outb(0x60, (uint8_t)(c * 7));
        drain();
    }
    for (unsigned v = 0; v < 256; v++) { /* keyboard commands with every argument */
        outb(0x60, (uint8_t)v);
        outb(0x60, (uint8_t)(255 - v));
        inb(0x60);
    }
    drain();
    for (unsigned i = 0; i < 10000; i++) { /* queue bytes without reading them */
        outb(0x64, (uint8_t)(i & 1 ? 0xd2 : 0xd3));
        outb(0x60, (uint8_t)i);
    }
    for (unsigned i = 0; i < 10000; i++)
        outb(0x60, 0xee); /* echo requests: answers pile up */
    drain();
    outw(0x60, 0xffff);
    inw(0x60);
    outl(0x64, 0x12345678u);
    inl(0x64);
    outb(0x64, 0x60); /* a sane configuration byte */
    outb(0x60, 0x45);
    drain();
    say_hex("i8042 status", inb(0x64));
    fresh_blk();
}
