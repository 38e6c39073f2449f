/* blk_mq.c — virtio-blk with N request queues (--disk ...,queues=N on N vCPUs, N from 2 to 4): the
 * driver reads a different sector through each queue and checks it, sets up no queue past the
 * last, then breaks the last queue with a descriptor loop (DEVICE_NEEDS_RESET) and notifies a
 * queue number that does not exist; a fresh driver then reads through every queue again. */
#include "hostile.h"

#define F_MQ (1ULL << 12)

static struct vio d;
static struct vq q[4];
static unsigned nq;

static void bring_up(void)
{
    CHECK(vio_find(VIO_BLK, &d) == 0, "no virtio-blk");
    CHECK(vio_begin(&d, F_MQ) == 0, "FEATURES_OK refused");
    CHECK(d.features & F_MQ, "VIRTIO_BLK_F_MQ not offered");
    nq = rd16(d.devcfg + 34);
    CHECK(nq >= 2 && nq <= 4, "num_queues is not 2 to 4");
    for (uint16_t i = 0; i < nq; i++)
        CHECK(vq_setup(&d, &q[i], i, 0) == 0, "a request queue is missing");
    struct vq extra;
    CHECK(vq_setup(&d, &extra, (uint16_t)nq, 0) != 0, "a queue past num_queues was accepted");
    vio_driver_ok(&d);
}

/* Read sector S through queue I and check its pattern. */
static void read_via(unsigned i, unsigned s)
{
    char *buf = alloc(512, 512);
    CHECK(blk_rw(&q[i], 0, s, buf, 512) == 0, "a read through one of the queues failed");
    char want[32] = DISK_PATTERN;
    unsigned n = sizeof(DISK_PATTERN) - 1;
    if (s >= 10)
        want[n++] = (char)('0' + s / 10);
    want[n++] = (char)('0' + s % 10);
    want[n++] = '\n';
    CHECK(memeq(buf, want, n), "a sector read through one of the queues has the wrong contents");
}

void hostile_case(void)
{
    bring_up();
    for (unsigned i = 0; i < nq; i++)
        read_via(i, 3 + i);
    say_hex("one read through each queue ok, queues", nq);
    /* the last queue: a chain whose descriptor points at itself */
    struct vq *l = &q[nq - 1];
    uint16_t h = (uint16_t)(l->next_desc % l->size);
    set_desc(l, h, (uintptr_t)alloc(16, 16), 16, VD_NEXT, h);
    l->next_desc++;
    vq_publish(l, h);
    vq_notify(l);
    CHECK(vio_wait_needs_reset(&d) & VIO_NEEDS_RESET, "a loop on the last queue was not flagged");
    wr16(d.notify + 9 * (uint64_t)d.notify_mult, 9); /* a queue that does not exist */
    bring_up();
    for (unsigned i = 0; i < nq; i++)
        read_via(nq - 1 - i, 10 + i);
    say("fresh driver: every queue ok");
}
