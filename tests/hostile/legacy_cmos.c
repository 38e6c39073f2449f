/* legacy_cmos.c — the CMOS RTC at 0x70/0x71: every index (NMI bit on and off) read and written
 * with every value, status registers A-D toggled (periodic interrupts at every rate, SET bit,
 * binary and 12-hour modes), the extended bank at 0x72/0x73. Then the clock still reads. */
#include "hostile.h"

static uint8_t cmos(uint8_t r)
{
    outb(0x70, r);
    return inb(0x71);
}

void hostile_case(void)
{
    uint32_t seed = 1;
    for (unsigned i = 0; i < 256; i++) {
        for (unsigned k = 0; k < 8; k++) {
            outb(0x70, (uint8_t)i);
            outb(0x71, (uint8_t)rnd(&seed));
            inb(0x71);
        }
        outb(0x72, (uint8_t)i);
        outb(0x73, 0xff);
        inb(0x73);
    }
    for (unsigned rate = 0; rate < 16; rate++) {
        outb(0x70, 0x0a);
        outb(0x71, (uint8_t)(0x20 | rate)); /* every periodic rate */
        outb(0x70, 0x0b);
        outb(0x71, 0x7e); /* PIE, AIE, UIE, SQWE, binary, 24h */
        cmos(0x0c);
    }
    outw(0x70, 0xffff);
    inw(0x70);
    outl(0x70, 0xffffffffu);
    inl(0x70);
    outb(0x70, 0x0b);
    outb(0x71, 0x02); /* 24h BCD, no interrupts */
    outb(0x70, 0x0a);
    outb(0x71, 0x26);
    say_hex("seconds", cmos(0));
    say_hex("status D", cmos(0x0d));
    fresh_rng();
}
