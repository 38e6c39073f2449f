/* msix_table.c — the MSI-X table and PBA of a virtio function at every offset and width (1, 2,
 * 4, 8) of their first KiB, read and written, sampled over the rest of both pages; then vectors
 * aimed at RAM, at 0, at the top of memory, with garbage data, unmasked and used by a real request.
 * A fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    unsigned s = (unsigned)d.slot, cap = 0;
    for (unsigned c = cfg_read(s, 0x34, 1); c; c = cfg_read(s, c + 1, 1))
        if (cfg_read(s, c, 1) == 0x11)
            cap = c;
    CHECK(cap, "no MSI-X capability");
    uint32_t tbl = cfg_read(s, cap + 4, 4), pba = cfg_read(s, cap + 8, 4);
    uint64_t table = d.bar + (tbl & ~7u), pb = d.bar + (pba & ~7u);
    say_hex("MSI-X table", table);
    uint32_t seed = 7;
    for (unsigned off = 0; off < 0x1000; off += off < 0x400 ? 1 : 13) { /* tables, then past */
        if (!(off & 0xff))
            say_hex("MSI-X pages at offset", off);
        for (unsigned w = 1; w <= 8; w *= 2) {
            rdw(table + off, w);
            rdw(pb + off, w);
            if (!(off & (w - 1)) || (off & 3) == 1) { /* aligned, and some misaligned */
                wrw(table + off, w, (uint64_t)rnd(&seed) << 32 | rnd(&seed));
                wrw(pb + off, w, ~0ULL);
            }
        }
    }
    /* enable MSI-X with every vector aimed somewhere absurd, then make the device use them */
    static const uint64_t aims[] = {
        0, 0x100000, 0xfee00000u, 0xfeefffffu, 0xffffffffffffffffULL, 1ULL << 43};
    unsigned nvec = (cfg_read(s, cap + 2, 2) & 0x7ff) + 1;
    for (unsigned v = 0; v < nvec; v++) {
        uint64_t a = aims[v % 6];
        wr32(table + 16 * v, (uint32_t)a);
        wr32(table + 16 * v + 4, (uint32_t)(a >> 32));
        wr32(table + 16 * v + 8, rnd(&seed));
        wr32(table + 16 * v + 12, 0);
    }
    cfg_write(s, cap + 2, 2, 0x8000); /* MSI-X enable, no function mask */
    struct vq q[3];
    vq_use_msix = 1;
    wr16(d.common + CC_MSIX, 0);
    rig(t, 0, &d, q);
    for (uint16_t i = 0; i < t->nq; i++) {
        wr16(d.common + CC_QSELECT, i);
        say_hex("queue vector", rd16(d.common + CC_QMSIX));
    }
    wr16(d.common + CC_MSIX, 0);
    t->fresh();                       /* with MSI-X enabled and the absurd vectors in place */
    cfg_write(s, cap + 2, 2, 0xc000); /* function mask: interrupts go pending */
    t->fresh();
    say_hex("PBA", rd64(pb));
    cfg_write(s, cap + 2, 2, 0);
    t->fresh();
}
