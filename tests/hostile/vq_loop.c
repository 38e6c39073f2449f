/* vq_loop.c — direct descriptor loops: 0 -> 1 -> 0, a descriptor naming itself, and a cycle
 * through the whole table; and next beyond the queue: the walk ends with DEVICE_NEEDS_RESET. */
#include "hostile.h"

static unsigned mode;

static void build(struct vq *a)
{
    uint16_t n = a->size;
    if (mode == 0) {
        set_desc(a, 0, 0x300000, 16, VD_NEXT | VD_WRITE, 1);
        set_desc(a, 1, 0x300100, 16, VD_NEXT | VD_WRITE, 0);
    } else if (mode == 1) {
        set_desc(a, 0, 0x300000, 0, VD_NEXT | VD_WRITE, 0);
    } else if (mode == 2) {
        for (uint16_t i = 0; i < n; i++)
            set_desc(a, i, 0x300000 + 16u * i, 16, VD_NEXT | VD_WRITE, (uint16_t)((i + 1) % n));
    } else {
        set_desc(a, 0, 0x300000, 16, VD_NEXT | VD_WRITE, n);
    }
    vq_publish(a, 0);
}

void hostile_case(void)
{
    const struct target *t = target();
    static const char *const what[] = {"two-descriptor loop", "self loop of empty descriptors",
                                       "loop through the whole table", "next beyond the queue"};
    for (mode = 0; mode < 4; mode++)
        attack_chain(t, 0, 1, what[mode], build);
    t->fresh();
}
