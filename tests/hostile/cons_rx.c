/* cons_rx.c — virtio-console receive while the host types (run.sh feeds 64 KiB of 'y' on
 * stdin): a self-referencing indirect table and a loop on the receive queue, then 1-byte
 * receive buffers recycled until 4 KiB came through, every byte a 'y'. Then a fresh driver. */
#include "hostile.h"

static void self_table(struct vq *rx)
{
    set_desc(rx, 0, rx->desc_gpa, 16u * rx->size, VD_INDIRECT, 0);
    vq_publish(rx, 0);
}

static void loop(struct vq *rx)
{
    set_desc(rx, 0, 0x300000, 1, VD_WRITE | VD_NEXT, 1);
    set_desc(rx, 1, 0x300001, 1, VD_WRITE | VD_NEXT, 0);
    vq_publish(rx, 0);
}

void hostile_case(void)
{
    const struct target *t = target();
    struct target rxt = *t;
    rxt.q = 0; /* the receive queue is the one attacked */
    attack_chain(&rxt, VIO_F_INDIRECT, 1, "receive queue: self-referencing table", self_table);
    attack_chain(&rxt, 0, 1, "receive queue: loop", loop);
    struct vio d;
    struct vq q[2];
    rig(t, 0, &d, q);
    volatile uint8_t *b = alloc(64, 64);
    for (unsigned i = 0; i < 32; i++) {
        struct vdesc rx = {(uintptr_t)(b + i), 1, VD_WRITE, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    unsigned got = 0;
    while (got < 4096) {
        uint32_t len;
        int id = vq_wait(&q[0], &len);
        CHECK(id >= 0, "host input stopped arriving in 1-byte buffers");
        CHECK(len == 1 && b[id] == 'y', "a 1-byte receive buffer got something else");
        got++;
        vq_publish(&q[0], (uint16_t)id);
        if (got % 16 == 0)
            vq_notify(&q[0]);
    }
    say("4 KiB of host input through 1-byte buffers");
    t->fresh();
}
