/* vq_notify_early.c — notifications before DRIVER_OK (before FEATURES_OK, with garbage ring
 * addresses configured), every offset and width of the notify, ISR and device-config areas,
 * and notify values naming queues that do not exist. Nothing breaks; a fresh driver works. */
#include "hostile.h"

static void sweep_notify(struct vio *d)
{
    for (unsigned off = 0; off < 0x1000; off += 2)
        for (unsigned w = 1; w <= 8; w *= 2)
            if (!(off & (w - 1)))
                wrw(d->notify + off, w, off / 4 + w);
}

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    CHECK(!vio_reset(&d), "reset");
    sweep_notify(&d); /* status 0 */
    wr8(d.common + CC_STATUS, VIO_ACK | VIO_DRIVER);
    sweep_notify(&d);
    CHECK(!vio_begin(&d, 0), "FEATURES_OK refused");
    for (uint16_t i = 0; i < t->nq; i++) {
        wr16(d.common + CC_QSELECT, i);
        wr64(d.common + CC_QDESC, 0x7ff00000000ULL + i);
        wr64(d.common + CC_QAVAIL, 0xffffffffffffffffULL);
        wr64(d.common + CC_QUSED, 1);
    }
    sweep_notify(&d); /* FEATURES_OK, queues configured with garbage but not enabled */
    for (uint16_t i = 0; i < t->nq; i++) {
        wr16(d.common + CC_QSELECT, i);
        wr16(d.common + CC_QENABLE, 1);
    }
    sweep_notify(&d); /* enabled, still no DRIVER_OK */
    uint64_t sum = 0;
    for (unsigned off = 0; off < 0x1000; off++) /* ISR (read-to-clear) and config, every width */
        for (unsigned w = 1; w <= 8; w *= 2)
            if (!(off & (w - 1)))
                sum += rdw(d.isr + off, w) + rdw(d.devcfg + off, w);
    for (unsigned off = 0; off < 0x100; off++) {
        wr8(d.isr + off, 0xff);
        for (unsigned w = 1; w <= 8; w *= 2) /* device config writes, every width */
            if (!(off & (w - 1)))
                wrw(d.devcfg + off, w, 0x4141414141414141ULL);
    }
    say_hex("status after the notify storm", vio_status(&d));
    t->fresh();
}
