/* pci_cf8.c — configuration mechanism #1 abuse: byte/word accesses to 0xCF8-0xCFB, data port
 * reads and writes at every width and offset with the enable bit off, bus 255, function 7,
 * register 0xfc; the latch left half-written. A fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    static const uint32_t latch[] = {0x00000000u, 0x7fffffffu, 0x80ff0000u, 0x80000700u,
                                     0x800000fcu, 0x8000f800u, 0xffffffffu, 0x80000003u};
    for (unsigned k = 0; k < sizeof(latch) / sizeof(latch[0]); k++) {
        outl(0xcf8, latch[k]);
        for (unsigned p = 0; p < 4; p++) {
            inb((uint16_t)(0xcfc + p));
            inw((uint16_t)(0xcfc + p));
            inl((uint16_t)(0xcfc + p));
            if (latch[k] & 0x80000000u && (latch[k] & 0xf800u) == 0) /* host bridge only */
                continue;
            outb((uint16_t)(0xcfc + p), 0xff);
            outw((uint16_t)(0xcfc + p), 0xffff);
            outl((uint16_t)(0xcfc + p), 0xffffffffu);
        }
    }
    for (unsigned p = 0; p < 4; p++) { /* the latch itself at odd widths */
        outb((uint16_t)(0xcf8 + p), 0x80);
        outw((uint16_t)(0xcf8 + (p & 2)), 0x8000);
        inb((uint16_t)(0xcf8 + p));
        inw((uint16_t)(0xcf8 + (p & 2)));
    }
    outl(0xcf8, 0x12345678u);
    say_hex("latch reads", inl(0xcf8));
    /* restore what the writes may have reached: every BAR of a virtio function */
    fresh_blk();
    fresh_rng();
}
