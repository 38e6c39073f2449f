/* vq_indirect_self.c — an INDIRECT descriptor whose table is the queue's own descriptor table
 * (issue 9, defect 1): the walk must end with DEVICE_NEEDS_RESET, then a fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    struct vq q[3];
    rig(t, VIO_F_INDIRECT, &d, q);
    CHECK(d.features & VIO_F_INDIRECT, "VIRTIO_RING_F_INDIRECT_DESC not offered");
    struct vq *a = &q[t->q];
    a->desc[0].addr = a->desc_gpa; /* the table the walk is already in */
    a->desc[0].len = 16u * a->size;
    a->desc[0].flags = VD_INDIRECT;
    a->desc[0].next = 0;
    vq_publish(a, 0);
    vq_notify(a);
    uint8_t st = vio_wait_needs_reset(&d);
    say_hex("status after the self-referencing table", st);
    CHECK(st & VIO_NEEDS_RESET, "no DEVICE_NEEDS_RESET after a self-referencing indirect table");
    t->fresh();
    if (arg("park"))
        park();
}
