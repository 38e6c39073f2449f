/* vq_ring_late.c — ring addresses, size, enable and vector rewritten after DRIVER_OK (the desc
 * ring moved to 8 TiB, the used ring onto the MMIO BAR), then a notify: the device must keep
 * its resolved rings or flag the queue, never follow the new addresses. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    struct vq q[3];
    rig(t, 0, &d, q);
    wr16(d.common + CC_QSELECT, (uint16_t)t->q);
    wr64(d.common + CC_QDESC, 0x7ff00000000ULL);
    wr64(d.common + CC_QUSED, d.bar);
    wr64(d.common + CC_QAVAIL, 0xfffffffffffff000ULL);
    wr16(d.common + CC_QSIZE, 1024);
    wr16(d.common + CC_QENABLE, 0);
    wr16(d.common + CC_QENABLE, 1);
    wr16(d.common + CC_QMSIX, 0);
    set_desc(&q[t->q], 0, 0x300000, 16, t->q == 0 && t->id != VIO_NET ? VD_WRITE : 0, 0);
    vq_publish(&q[t->q], 0);
    vq_notify(&q[t->q]);
    judge(&d, &q[t->q], 0, "rings rewritten after DRIVER_OK");
    say_hex("queue_desc reads", rd64(d.common + CC_QDESC));
    /* and the device-wide fields: features and status bits after DRIVER_OK */
    wr32(d.common + CC_GFSELECT, 0);
    wr32(d.common + CC_GF, 0xffffffffu);
    wr8(d.common + CC_STATUS, VIO_ACK);
    wr8(d.common + CC_STATUS, 0xff);
    say_hex("status after clearing bits", vio_status(&d));
    t->fresh();
}
