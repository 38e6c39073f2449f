/* vq_avail_jump.c — the available index jumps: by 0x8000, by size + 1, backwards by one; and a
 * ring entry naming a head beyond the queue. DEVICE_NEEDS_RESET, then a fresh driver works. */
#include "hostile.h"

static uint16_t jump;

static void build(struct vq *a)
{
    set_desc(a, 0, 0x300000, 16, VD_WRITE, 0);
    a->avail[2] = 0;
    a->avail_idx = (uint16_t)(a->avail_idx + jump);
    a->avail[1] = a->avail_idx;
    barrier();
}

static void bad_head(struct vq *a)
{
    vq_publish(a, (uint16_t)(a->size + 7));
}

void hostile_case(void)
{
    const struct target *t = target();
    jump = 0x8000;
    attack_chain(t, 0, 1, "avail idx + 0x8000", build);

    jump = (uint16_t)(64 + 1); /* rig() uses 64-entry queues (or the maximum when smaller) */
    attack_chain(t, 0, 1, "avail idx + size + 1", build);
    jump = 0xffff;
    attack_chain(t, 0, 1, "avail idx - 1", build);
    attack_chain(t, 0, 1, "head beyond the queue", bad_head);
    t->fresh();
}
