/* legacy_uart.c — the 16550A at 0x3F8: every register read and written with every value (DLAB
 * on and off, loopback with a flood of looped bytes, FIFO resets, scratch), word and dword
 * accesses over the block, COM2-COM4 absent. Restored, it still carries the verdict. */
#include "hostile.h"

void hostile_case(void)
{
    say("uart: attacking");
    for (unsigned v = 0; v < 256; v++) {
        for (unsigned r = 1; r < 8; r++) {
            if (r == 3 || r == 4)
                continue; /* LCR and MCR last, below */
            outb((uint16_t)(COM1 + r), (uint8_t)v);
            inb((uint16_t)(COM1 + r));
        }
        inb(COM1);
    }
    outb(COM1 + 3, 0x80); /* DLAB: divisor 0, then 0xffff */
    outb(COM1, 0);
    outb(COM1 + 1, 0);
    outb(COM1, 0xff);
    outb(COM1 + 1, 0xff);
    for (unsigned v = 0; v < 256; v++)
        outb(COM1 + 3, (uint8_t)(v | 0x80));
    outb(COM1 + 4, 0x1f); /* loopback with every modem line, then a flood into the RX FIFO */
    for (unsigned i = 0; i < 4096; i++)
        outb(COM1, (uint8_t)i);
    for (unsigned i = 0; i < 64; i++)
        inb(COM1);
    for (unsigned v = 0; v < 256; v++)
        outb(COM1 + 4, (uint8_t)v);
    for (uint16_t p = COM1; p < COM1 + 8; p += 2) {
        outw(p, 0xffff);
        inw(p);
    }
    outl(COM1 + 4, 0xffffffffu);
    inl(COM1 + 4);
    for (uint16_t base = 0x2f8; base; base = base == 0x2f8 ? 0x3e8 : base == 0x3e8 ? 0x2e8 : 0)
        for (unsigned r = 0; r < 8; r++) {
            outb((uint16_t)(base + r), 0x55);
            inb((uint16_t)(base + r));
        }
    /* restore: 8N1, divisor 1, FIFO on, no loopback, no interrupts */
    outb(COM1 + 3, 0x80);
    outb(COM1, 1);
    outb(COM1 + 1, 0);
    outb(COM1 + 3, 0x03);
    outb(COM1 + 2, 0x07);
    outb(COM1 + 4, 0x03);
    outb(COM1 + 1, 0);
    say("uart: restored");
    fresh_blk();
}
