/* net_mq_ctrl.c — a multiqueue virtio-net (tap, 2 pairs) whose driver abuses the control queue:
 * VQ_PAIRS_SET asking for more pairs than offered (3, 0x8000, 0xffff) or none, unknown classes
 * and commands, a header alone, a command with no ack byte, 60 KiB of garbage, a flood of a full
 * queue of commands at once, then a descriptor loop on the control queue (DEVICE_NEEDS_RESET).
 * Every bad command is answered VIRTIO_NET_ERR, the device never gives more than 2 pairs, and a
 * fresh driver then gets 2 pairs and transmits on the second pair. A driver taking the control
 * queue without VIRTIO_NET_F_MQ finds it at index 2 (the spec's place) and is refused pairs. */
#include "hostile.h"

#define F_CTRL_VQ (1ULL << 17)
#define F_MQ      (1ULL << 22)
#define CTRL_Q    4 /* rx0 tx0 rx1 tx1 ctrl */
#define NET_OK    0
#define NET_ERR   1

static struct vio d;
static struct vq q[5];
static unsigned ctrl_q = CTRL_Q;

/* Send command bytes CMD (LEN) with an ack byte (none when NO_ACK); wait. Returns the ack, or
 * 0x100 + used length when there was no ack byte, or -1 on timeout. */
static int ctrl(const void *cmd, uint32_t len, int no_ack)
{
    uint8_t *b = alloc(len + 64, 64), *ack = b + len + 16;
    for (uint32_t i = 0; i < len; i++)
        b[i] = ((const uint8_t *)cmd)[i];
    *ack = 0x5a;
    struct vdesc ds[2] = {{(uintptr_t)b, len, 0, 0}, {(uintptr_t)ack, 1, VD_WRITE, 0}};
    vq_add(&q[ctrl_q], ds, no_ack ? 1 : 2);
    vq_notify(&q[ctrl_q]);
    uint32_t used = 0;
    if (vq_wait(&q[ctrl_q], &used) < 0)
        return -1;
    return no_ack ? 0x100 + (int)used : *ack;
}

static int pairs_set(uint16_t n)
{
    uint8_t c[4] = {4, 0, (uint8_t)n, (uint8_t)(n >> 8)}; /* VIRTIO_NET_CTRL_MQ, VQ_PAIRS_SET */
    return ctrl(c, 4, 0);
}

static void bring_up(void)
{
    CHECK(vio_find(VIO_NET, &d) == 0, "no virtio-net");
    CHECK(vio_begin(&d, F_CTRL_VQ | F_MQ) == 0, "FEATURES_OK refused");
    CHECK((d.features & (F_CTRL_VQ | F_MQ)) == (F_CTRL_VQ | F_MQ), "MQ and CTRL_VQ not offered");
    CHECK(rd16(d.devcfg + 8) == 2, "max_virtqueue_pairs is not 2");
    for (uint16_t i = 0; i < 5; i++)
        CHECK(vq_setup(&d, &q[i], i, 0) == 0, "queue setup failed");
    vio_driver_ok(&d);
}

/* Transmit one minimal frame on pair P's transmit queue and wait for it to be used. */
static void tx_on(unsigned p)
{
    uint8_t *b = alloc(12 + 60, 64);
    for (int i = 0; i < 6; i++)
        b[12 + i] = 0xff; /* broadcast */
    b[12 + 12] = 0x08, b[12 + 13] = 0x06;
    struct vdesc ds = {(uintptr_t)b, 12 + 60, 0, 0};
    vq_add(&q[2 * p + 1], &ds, 1);
    vq_notify(&q[2 * p + 1]);
    CHECK(vq_wait(&q[2 * p + 1], 0) >= 0, "a frame on the second pair was not transmitted");
}

void hostile_case(void)
{
    bring_up();
    CHECK(pairs_set(3) == NET_ERR, "3 pairs (2 offered) not refused");
    CHECK(pairs_set(0) == NET_ERR, "0 pairs not refused");
    CHECK(pairs_set(0x8000) == NET_ERR, "0x8000 pairs not refused");
    CHECK(pairs_set(0xffff) == NET_ERR, "0xffff pairs not refused");
    static const uint8_t rx[] = {0, 0, 1}, mac[] = {1, 1, 0, 0, 0, 0, 0, 0}, bad[] = {0xff, 0xff};
    CHECK(ctrl(rx, 3, 0) == NET_ERR, "RX class (not offered) not refused");
    CHECK(ctrl(mac, 8, 0) == NET_ERR, "MAC class (not offered) not refused");
    CHECK(ctrl(bad, 2, 0) == NET_ERR, "unknown class not refused");
    CHECK(ctrl(bad, 1, 0) == NET_ERR, "a 1-byte command not refused");
    static const uint8_t longer[] = {4, 0, 2, 0, 0};
    CHECK(ctrl(longer, 5, 0) == NET_ERR, "VQ_PAIRS_SET with a trailing byte not refused");
    CHECK(ctrl(longer, 4, 1) == 0x100, "a command without an ack byte got a used length");
    uint8_t *big = alloc(60 * 1024, 64);
    for (uint32_t i = 0; i < 60 * 1024; i++)
        big[i] = (uint8_t)(i * 7);
    big[0] = 4, big[1] = 0;
    CHECK(ctrl(big, 60 * 1024, 0) == NET_ERR, "60 KiB command not refused");
    /* a full queue of commands at once: every one answered */
    struct vq *c = &q[CTRL_Q];
    uint8_t *acks = alloc(c->size, 64), *cmd = alloc(4, 64);
    cmd[0] = 4, cmd[1] = 0, cmd[2] = 9, cmd[3] = 0;
    for (unsigned i = 0; i < c->size / 2u; i++) {
        acks[i] = 0x5a;
        struct vdesc ds[2] = {{(uintptr_t)cmd, 4, 0, 0}, {(uintptr_t)&acks[i], 1, VD_WRITE, 0}};
        vq_add(c, ds, 2);
    }
    vq_notify(c);
    for (unsigned i = 0; i < c->size / 2u; i++)
        CHECK(vq_wait(c, 0) >= 0, "a flooded command was not answered");
    for (unsigned i = 0; i < c->size / 2u; i++)
        CHECK(acks[i] == NET_ERR, "a flooded 9-pair command was not refused");
    CHECK(!(vio_status(&d) & VIO_NEEDS_RESET), "bad commands broke the device");
    CHECK(pairs_set(2) == NET_OK, "2 pairs refused");
    tx_on(1);
    say("bad commands refused, 2 pairs work");
    /* a loop in the control queue's descriptors: the queue is broken, the device flagged */
    uint16_t h = (uint16_t)(c->next_desc % c->size);
    set_desc(c, h, (uintptr_t)cmd, 4, VD_NEXT, h);
    c->next_desc++;
    vq_publish(c, h);
    vq_notify(c);
    CHECK(vio_wait_needs_reset(&d) & VIO_NEEDS_RESET, "a control queue loop was not flagged");
    /* a fresh driver: 2 pairs again, the second one transmits */
    bring_up();
    CHECK(pairs_set(2) == NET_OK, "2 pairs refused after reset");
    tx_on(1);
    say("fresh driver after reset: 2 pairs work");
    /* the control queue without multiqueue: queue 2, pairs refused, one pair transmits */
    CHECK(vio_begin(&d, F_CTRL_VQ) == 0, "FEATURES_OK refused (control queue alone)");
    CHECK((d.features & (F_CTRL_VQ | F_MQ)) == F_CTRL_VQ, "features not as asked");
    for (uint16_t i = 0; i < 3; i++)
        CHECK(vq_setup(&d, &q[i], i, 0) == 0, "queue setup failed");
    vio_driver_ok(&d);
    ctrl_q = 2;
    CHECK(pairs_set(1) == NET_ERR, "VQ_PAIRS_SET without VIRTIO_NET_F_MQ not refused");
    tx_on(0);
    CHECK(!(vio_status(&d) & VIO_NEEDS_RESET), "the control queue at index 2 broke the device");
    say("control queue without multiqueue: at index 2, pairs refused");
}
