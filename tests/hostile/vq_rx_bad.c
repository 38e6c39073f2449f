/* vq_rx_bad.c — broken receive queues that the device only walks when host data arrives: a
 * self-referencing indirect table, a loop, a buffer outside RAM, readable-only buffers, each
 * posted before traffic is provoked (an ARP request for net; a connection to the host peer for
 * vsock, whose greeting must then land). The held data must not wedge the device: after a
 * reset, a fresh driver works. */
#include "hostile.h"

static unsigned mode;

static void post_bad(struct vq *rx)
{
    if (mode == 0)
        set_desc(rx, 0, rx->desc_gpa, 16u * rx->size, VD_INDIRECT, 0);
    else if (mode == 1)
        set_desc(rx, 0, 0x300000, 64, VD_WRITE | VD_NEXT, 0);
    else if (mode == 2)
        set_desc(rx, 0, 0x7ff00000000ULL, 4096, VD_WRITE, 0);
    else
        set_desc(rx, 0, 0x300000, 4096, 0, 0);
    vq_publish(rx, 0);
    vq_notify(rx);
}

static void provoke(const struct target *t, struct vio *d, struct vq *q)
{
    if (t->id == VIO_VSOCK) {
        vsock_send(d, &q[1], 60000 + mode, VSOCK_OP_REQUEST, 0, 0);
        return;
    }
    uint8_t *f = alloc(12 + 42, 64), *e = f + 12;
    static const uint8_t arp[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34,
                                  0x56, 0x08, 0x06, 0,    1,    8,    0,    6,    4, 0,    1,
                                  0x52, 0x54, 0,    0x12, 0x34, 0x56, 10,   0,    2, 15};
    for (unsigned i = 0; i < sizeof(arp); i++)
        e[i] = arp[i];
    e[38] = 10, e[39] = 0, e[40] = 2, e[41] = 2;
    struct vdesc tx = {(uintptr_t)f, 12 + 42, 0, 0};
    vq_add(&q[1], &tx, 1);
    vq_notify(&q[1]);
    vq_wait(&q[1], 0);
}

void hostile_case(void)
{
    const struct target *t = target();
    static const char *const what[] = {"receive queue: self-referencing indirect table",
                                       "receive queue: loop", "receive queue: outside RAM",
                                       "receive queue: readable-only buffer"};
    for (mode = 0; mode < 4; mode++) {
        struct vio d;
        struct vq q[3];
        rig(t, VIO_F_INDIRECT, &d, q);
        post_bad(&q[0]);
        provoke(t, &d, q);
        judge(&d, &q[0], mode < 3, what[mode]);
    }
    t->fresh();
}
