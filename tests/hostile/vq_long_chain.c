/* vq_long_chain.c — legal but long: a chain of exactly queue-size descriptors, and an indirect
 * table of 1024 one-byte buffers (far more than the queue size). The device serves them or
 * flags the queue; either way the process stays alive and a fresh driver works. */
#include "hostile.h"

static void whole_queue(struct vq *a)
{
    for (uint16_t i = 0; i < a->size; i++)
        set_desc(a, i, 0x300000 + 64u * i, 64, VD_WRITE | (i + 1 < a->size ? VD_NEXT : 0),
                 (uint16_t)(i + 1));
    vq_publish(a, 0);
}

static void big_indirect(struct vq *a)
{
    volatile struct vdesc *t = alloc(16 * 1024, 4096);
    for (unsigned i = 0; i < 1024; i++)
        t[i] =
            (struct vdesc){0x400000 + i, 1, VD_WRITE | (i < 1023 ? VD_NEXT : 0), (uint16_t)(i + 1)};
    set_desc(a, 0, (uintptr_t)t, 16 * 1024, VD_INDIRECT, 0);
    vq_publish(a, 0);
}

void hostile_case(void)
{
    const struct target *t = target();
    attack_chain(t, 0, 0, "chain as long as the queue", whole_queue);
    attack_chain(t, VIO_F_INDIRECT, 0, "1024 one-byte buffers", big_indirect);
    t->fresh();
}
