/* strio_flood.c — string port I/O: rep outsb/outsw/outsl of 8 KiB to the UART, POST port,
 * the PCI data port, CMOS and unmapped ports; rep insb/insw/insl from them into RAM, forwards
 * and with the direction flag set, counts crossing pages. A fresh driver still works. */
#include "hostile.h"

static void outs(uint16_t port, const void *src, uint64_t n, unsigned w)
{
    if (w == 1)
        __asm__ volatile("rep outsb" : "+S"(src), "+c"(n) : "d"(port) : "memory");
    else if (w == 2)
        __asm__ volatile("rep outsw" : "+S"(src), "+c"(n) : "d"(port) : "memory");
    else
        __asm__ volatile("rep outsl" : "+S"(src), "+c"(n) : "d"(port) : "memory");
}

static void ins(uint16_t port, void *dst, uint64_t n, unsigned w, int backwards)
{
    if (backwards)
        __asm__ volatile("std");
    if (w == 1)
        __asm__ volatile("rep insb" : "+D"(dst), "+c"(n) : "d"(port) : "memory");
    else if (w == 2)
        __asm__ volatile("rep insw" : "+D"(dst), "+c"(n) : "d"(port) : "memory");
    else
        __asm__ volatile("rep insl" : "+D"(dst), "+c"(n) : "d"(port) : "memory");
    __asm__ volatile("cld");
}

void hostile_case(void)
{
    uint8_t *buf = (uint8_t *)0x2000000;
    for (unsigned i = 0; i < 0x10000; i += 64)
        buf[i] = (uint8_t)('a' + i % 26);
    static const uint16_t ports[] = {0x80, 0x100, 0x3f8 + 7, 0x71,   0xcfc,
                                     0x60, 0x402, 0x511,     0x1234, 0xfff0};
    for (unsigned p = 0; p < sizeof(ports) / sizeof(ports[0]); p++)
        for (unsigned w = 1; w <= 4; w *= 2) {
            outs(ports[p], buf + 0xffff - 0x800, 0x2000 / w, w); /* crosses a page */
            ins(ports[p], buf + 0x100ffd, 0x2000 / w, w, 0);
            ins(ports[p], buf + 0x300000 - 4, 0x1000 / w, w, 1);
            say_hex("string I/O on port", ports[p] << 4 | w);
        }
    outs(COM1, buf, 4096, 1); /* 4 KiB straight to the console */
    putc_('\n');
    ins(0xcf9, buf + 0x1ffff, 3, 1, 0); /* a few reads only; writes there reset */
    say("string I/O flood done");
    fresh_blk();
}
