/* vq_size.c — queue_size 0, not a power of two, larger than offered, 0xffff; queue_select beyond
 * the queues; DRIVER_OK over a bad queue. Refused with DEVICE_NEEDS_RESET; a fresh driver works. */
#include "hostile.h"

static void try_size(const struct target *t, uint16_t size, const char *what)
{
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    CHECK(!vio_begin(&d, 0), "FEATURES_OK refused");
    wr16(d.common + CC_QSELECT, (uint16_t)t->q);
    uint16_t max = rd16(d.common + CC_QSIZE);
    wr16(d.common + CC_QSIZE, size == 1 ? (uint16_t)(max * 2) : size);
    wr64(d.common + CC_QDESC, 0x300000);
    wr64(d.common + CC_QAVAIL, 0x310000);
    wr64(d.common + CC_QUSED, 0x320000);
    wr16(d.common + CC_QENABLE, 1);
    vio_driver_ok(&d);
    wr16(d.notify + (uint64_t)t->q * d.notify_mult, (uint16_t)t->q);
    uint8_t st = vio_status(&d);
    say_hex(what, st);
    CHECK((st & VIO_NEEDS_RESET) || rd16(d.common + CC_QSIZE) != size, what);
}

void hostile_case(void)
{
    const struct target *t = target();
    try_size(t, 0, "queue_size 0");
    try_size(t, 3, "queue_size 3");
    try_size(t, 48, "queue_size 48");
    try_size(t, 1, "queue_size twice the maximum"); /* 1 stands for 2 * max */
    try_size(t, 0xffff, "queue_size 0xffff");
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    CHECK(!vio_begin(&d, 0), "FEATURES_OK refused");
    wr16(d.common + CC_QSELECT, 0xffff);
    say_hex("queue_select 0xffff reads size", rd16(d.common + CC_QSIZE));
    wr16(d.common + CC_QSIZE, 16);
    wr64(d.common + CC_QDESC, 0x300000);
    wr16(d.common + CC_QENABLE, 1);
    wr16(d.common + CC_QMSIX, 3);
    t->fresh();
}
