/* legacy_fw_cfg.c — QEMU fw_cfg at 0x510/0x511 and its DMA registers 0x514-0x51b: every selector
 * with data reads past each item's end, the data port at every width, DMA descriptors outside
 * RAM, wrapping 2^64, lengths near 2^32, a transfer written over its own descriptor, write and
 * skip operations, odd-width DMA register accesses. Then the signature still reads "QEMU" and a
 * DMA read of it works. */
#include "hostile.h"

struct dma {
    uint32_t control, length;
    uint64_t address;
} __attribute__((packed));

static uint32_t be32(uint32_t v)
{
    return __builtin_bswap32(v);
}

static void dma_run(volatile struct dma *d)
{
    uint64_t a = (uintptr_t)d;
    outl(0x514, be32((uint32_t)(a >> 32)));
    outl(0x518, be32((uint32_t)a));
}

static void dma(uint64_t desc_gpa, uint32_t control, uint32_t len, uint64_t addr)
{
    volatile struct dma *d = (volatile struct dma *)(uintptr_t)desc_gpa;
    if (desc_gpa < 0x8000000) {
        d->control = be32(control);
        d->length = be32(len);
        d->address = __builtin_bswap64(addr);
    }
    outl(0x514, be32((uint32_t)(desc_gpa >> 32)));
    outl(0x518, be32((uint32_t)desc_gpa));
}

void hostile_case(void)
{
    uint64_t sum = 0;
    for (uint32_t key = 0; key < 0x10000; key += ((key & 0x3fff) < 0x40 ? 1 : 97)) {
        outw(0x510, (uint16_t)key);
        for (unsigned i = 0; i < 4; i++)
            sum += inb(0x511);
    }
    say_hex("selector sweep sum", sum);
    outw(0x510, 0x19); /* the file directory: read far past its end at every width */
    for (unsigned i = 0; i < 4000; i++)
        sum += inb(0x511) + inw(0x511) + inl(0x511);
    say_hex("directory read far past its end, sum", sum);
    for (unsigned i = 0; i < 256; i++) {
        outb(0x510, (uint8_t)i);
        outl(0x510, 0xffffffffu);
        outb(0x511, (uint8_t)i);
        outw(0x511, 0xffff);
    }
    uint64_t desc = (uintptr_t)alloc(64, 16);
    dma(0x7ff00000000ULL, 0x1a, 16, 0x300000);               /* descriptor outside RAM */
    dma(0xfffffffffffffff8ULL, 0x1a, 16, 0x300000);          /* descriptor wrapping 2^64 */
    dma(0x7fffff8, 0x1a, 16, 0x300000);                      /* descriptor crossing RAM's end */
    dma(desc, 0x00190000 | 0x0a, 0xffffffffu, 0x100000);     /* select dir, read 4 GiB */
    dma(desc, 0x00000000 | 0x02, 16, 0xfffffffffffffff0ULL); /* read into a wrap */
    dma(desc, 0x00000000 | 0x02, 64, 0x7ff00000000ULL);      /* read outside RAM */
    dma(desc, 0x00000000 | 0x02, 4096, ECAM_BASE);           /* read into MMIO */
    dma(desc, 0x00190000 | 0x0a, 64, desc);                  /* read over its own descriptor */
    dma(desc, 0x00000000 | 0x10, 16, 0x300000);              /* write */
    dma(desc, 0x00000000 | 0x04, 0xffffffffu, 0);            /* skip 4 GiB */
    dma(desc, 0xffffffffu, 0xffffffffu, 0xffffffffffffffffULL);
    for (unsigned w = 1; w <= 4; w *= 2)
        for (uint16_t p = 0x514; p < 0x51c; p++) {
            if (w == 4 && p != 0x514) /* a 32-bit write at 0x518 starts a DMA: done above */
                outb(p, 0x5a);
            else if (w == 2)
                outw(p, 0x5a5a);
            sum += w == 1 ? inb(p) : w == 2 ? inw(p) : inl(p);
        }
    outl(0x514, 0); /* leave the high half at 0 */
    /* still serving: the signature through the data port, then through DMA */
    outw(0x510, 0);
    char sig[4];
    for (unsigned i = 0; i < 4; i++)
        sig[i] = (char)inb(0x511);
    CHECK(memeq(sig, "QEMU", 4), "fw_cfg signature lost");
    volatile char *buf = alloc(16, 16);
    volatile struct dma *d = alloc(16, 16);
    d->control = be32(0x00000000 | 0x0a); /* select key 0, read */
    d->length = be32(4);
    d->address = __builtin_bswap64((uintptr_t)buf);
    dma_run(d);
    CHECK(d->control == 0 && memeq(buf, "QEMU", 4), "fw_cfg DMA read of the signature failed");
    say("fw_cfg still serves");
    fresh_rng();
}
