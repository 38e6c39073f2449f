/* vq_indirect_loop.c — a full 1024-entry indirect table whose NEXT links go round in a circle,
 * and one whose last entry points past the table: the walk must end, DEVICE_NEEDS_RESET. */
#include "hostile.h"

static uint16_t last_next;

static void build(struct vq *a)
{
    volatile struct vdesc *t = alloc(16 * 1024, 4096);
    for (unsigned i = 0; i < 1024; i++)
        t[i] = (struct vdesc){0x300000, 0, VD_NEXT | VD_WRITE, (uint16_t)(i + 1)};
    t[1023].next = last_next;
    set_desc(a, 0, (uintptr_t)t, 16 * 1024, VD_INDIRECT, 0);
    vq_publish(a, 0);
}

void hostile_case(void)
{
    const struct target *t = target();
    last_next = 0;
    attack_chain(t, VIO_F_INDIRECT, 1, "indirect table looping", build);
    last_next = 1024;
    attack_chain(t, VIO_F_INDIRECT, 1, "indirect next past the table", build);
    last_next = 0xffff;
    attack_chain(t, VIO_F_INDIRECT, 1, "indirect next 0xffff", build);
    t->fresh();
}
