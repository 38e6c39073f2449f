/* vq_indirect_nested.c — an indirect table holding another INDIRECT descriptor (forbidden by
 * virtio 1.2 §2.7.5.3.1), two levels and a table pointing at itself: DEVICE_NEEDS_RESET. */
#include "hostile.h"

static void two_levels(struct vq *a)
{
    volatile struct vdesc *t1 = alloc(64, 16), *t2 = alloc(64, 16);
    t2[0] = (struct vdesc){0x300000, 64, VD_WRITE, 0};
    t1[0] = (struct vdesc){(uintptr_t)t2, 64, VD_INDIRECT, 0};
    set_desc(a, 0, (uintptr_t)t1, 64, VD_INDIRECT, 0);
    vq_publish(a, 0);
}

static void table_is_itself(struct vq *a)
{
    volatile struct vdesc *t = alloc(64, 16);
    t[0] = (struct vdesc){(uintptr_t)t, 64, VD_INDIRECT, 0};
    set_desc(a, 0, (uintptr_t)t, 64, VD_INDIRECT, 0);
    vq_publish(a, 0);
}

void hostile_case(void)
{
    const struct target *t = target();
    attack_chain(t, VIO_F_INDIRECT, 1, "indirect table inside an indirect table", two_levels);
    attack_chain(t, VIO_F_INDIRECT, 1, "indirect table naming itself", table_is_itself);
    t->fresh();
}
