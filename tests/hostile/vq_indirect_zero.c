/* vq_indirect_zero.c — zero-length direct descriptors leading into an INDIRECT descriptor whose
 * table is the queue's own table, so the walk re-enters it at the zero-length chain (issue 9,
 * defect 1): the walk must end with DEVICE_NEEDS_RESET, then a fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    struct vq q[3];
    rig(t, VIO_F_INDIRECT, &d, q);
    CHECK(d.features & VIO_F_INDIRECT, "VIRTIO_RING_F_INDIRECT_DESC not offered");
    struct vq *a = &q[t->q];
    for (uint16_t i = 0; i < 8; i++) { /* 0 -> 1 -> ... -> 7, all empty */
        a->desc[i].addr = 0x200000;
        a->desc[i].len = 0;
        a->desc[i].flags = (uint16_t)(VD_NEXT | (arg("write") ? VD_WRITE : 0));
        a->desc[i].next = (uint16_t)(i + 1);
    }
    a->desc[8].addr = a->desc_gpa; /* 8: back into this very table */
    a->desc[8].len = 16u * a->size;
    a->desc[8].flags = VD_INDIRECT;
    a->desc[8].next = 0;
    vq_publish(a, 0);
    vq_notify(a);
    uint8_t st = vio_wait_needs_reset(&d);
    say_hex("status after zero-length descriptors into the own table", st);
    CHECK(st & VIO_NEEDS_RESET, "no DEVICE_NEEDS_RESET after zero-length chain into own table");
    t->fresh();
    if (arg("park"))
        park();
}
