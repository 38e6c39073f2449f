/* pci_bar_high.c — the BAR sizing protocol (all-ones written, mask read back), then the virtio
 * BAR moved above RAM into the 64-bit window and driven there (notifications follow the BAR),
 * moved while the queue has requests, and memory decoding switched off with requests pending.
 * Moved home and decoding on, a fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    unsigned s = (unsigned)d.slot;
    uint64_t home = d.bar;
    cfg_write(s, 0x10, 4, 0xffffffffu);
    cfg_write(s, 0x14, 4, 0xffffffffu);
    uint64_t mask = (cfg_read(s, 0x10, 4) & ~0xfULL) | (uint64_t)cfg_read(s, 0x14, 4) << 32;
    say_hex("BAR0 size mask", mask);
    CHECK(mask == ~(0x8000ULL - 1), "BAR0 does not size as 32 KiB");
    const uint64_t highs[] = {0x4000000000ULL, gpa_limit() / 8, gpa_limit() - 0x8000};
    for (unsigned k = 0; k < 3; k++) {
        uint64_t hi = highs[k];
        map_high(hi);
        bar0_set(s, hi);
        struct vio h = d;
        h.bar = hi;
        h.common = hi + d.common_o;
        h.isr = hi + d.isr_o;
        h.devcfg = hi + d.devcfg_o;
        h.notify = hi + d.notify_o;
        struct vq q[3];
        CHECK(!vio_begin(&h, 0), "FEATURES_OK refused at the high BAR");
        for (uint16_t i = 0; i < t->nq; i++)
            CHECK(!vq_setup(&h, &q[i], i, 0), "queue setup at the high BAR");
        vio_driver_ok(&h);
        if (t->id == VIO_BLK) {
            char *buf = alloc(512, 512);
            CHECK(blk_rw(&q[0], 0, 5, buf, 512) == 0, "read through the high BAR failed");
            /* requests queued, then the BAR moves and decoding goes off before the notify */
            for (unsigned i = 0; i < 8; i++) {
                volatile uint32_t *r = alloc(16, 16);
                r[0] = 0;
                struct vdesc c[3] = {{(uintptr_t)r, 16, 0, 0},
                                     {(uintptr_t)alloc(512, 512), 512, VD_WRITE, 0},
                                     {(uintptr_t)alloc(1, 16), 1, VD_WRITE, 0}};
                vq_add(&q[0], c, 3);
            }
        }
        say_hex("driven at", hi);
        cfg_write(s, 4, 2, 0x0);          /* decoding off */
        wr16(h.notify, 0);                /* goes nowhere */
        bar0_set(s, home + 0x100000 * k); /* moved while off */
        cfg_write(s, 4, 2, 0x6);          /* on again, at a new place */
        bar0_set(s, home);
    }
    t->fresh();
}
