/* net_announce.c — a single-pair virtio-net (user networking) whose driver abuses
 * VIRTIO_NET_F_GUEST_ANNOUNCE's control command: ANNOUNCE_ACK with nothing pending (answered OK,
 * nothing changes), with data after it, an unknown ANNOUNCE command, 60 KiB of it, no ack byte, a
 * full queue of acks at once; then a driver that did not negotiate the feature (its acks refused)
 * and one asking for it without the control queue (FEATURES_OK refused). The config status never
 * shows VIRTIO_NET_S_ANNOUNCE (no restore happened), the device is never flagged, and a fresh
 * driver transmits. */
#include "hostile.h"

#define F_CTRL_VQ  (1ULL << 17)
#define F_ANNOUNCE (1ULL << 21)
#define CTRL_Q     2 /* rx0 tx0 ctrl */
#define NET_OK     0
#define NET_ERR    1
#define S_ANNOUNCE 2

static struct vio d;
static struct vq q[3];

/* Send command bytes CMD (LEN) with an ack byte (none when NO_ACK); wait. Returns the ack, or
 * 0x100 + used length when there was no ack byte, or -1 on timeout. */
static int ctrl(const void *cmd, uint32_t len, int no_ack)
{
    uint8_t *b = alloc(len + 64, 64), *ack = b + len + 16;
    for (uint32_t i = 0; i < len; i++)
        b[i] = ((const uint8_t *)cmd)[i];
    *ack = 0x5a;
    struct vdesc ds[2] = {{(uintptr_t)b, len, 0, 0}, {(uintptr_t)ack, 1, VD_WRITE, 0}};
    vq_add(&q[CTRL_Q], ds, no_ack ? 1 : 2);
    vq_notify(&q[CTRL_Q]);
    uint32_t used = 0;
    if (vq_wait(&q[CTRL_Q], &used) < 0)
        return -1;
    return no_ack ? 0x100 + (int)used : *ack;
}

static const uint8_t ack_cmd[] = {3, 0, 0}; /* VIRTIO_NET_CTRL_ANNOUNCE, ANNOUNCE_ACK */

/* Bring the device up with WANT (the control queue always); false when FEATURES_OK is refused. */
static int bring_up(uint64_t want)
{
    CHECK(vio_find(VIO_NET, &d) == 0, "no virtio-net");
    if (vio_begin(&d, want | F_CTRL_VQ))
        return 0;
    CHECK(d.features & F_CTRL_VQ, "no control queue offered on one pair");
    for (uint16_t i = 0; i < 3; i++)
        CHECK(vq_setup(&d, &q[i], i, 0) == 0, "queue setup failed");
    vio_driver_ok(&d);
    return 1;
}

static void tx_one(void)
{
    uint8_t *b = alloc(12 + 60, 64);
    for (int i = 0; i < 6; i++)
        b[12 + i] = 0xff; /* broadcast ARP-typed frame */
    b[12 + 12] = 0x08, b[12 + 13] = 0x06;
    struct vdesc ds = {(uintptr_t)b, 12 + 60, 0, 0};
    vq_add(&q[1], &ds, 1);
    vq_notify(&q[1]);
    CHECK(vq_wait(&q[1], 0) >= 0, "a frame was not transmitted");
}

void hostile_case(void)
{
    CHECK(bring_up(F_ANNOUNCE), "FEATURES_OK refused");
    CHECK(d.features & F_ANNOUNCE, "VIRTIO_NET_F_GUEST_ANNOUNCE not offered");
    CHECK(!(rd16(d.devcfg + 6) & S_ANNOUNCE), "an announcement pending without a restore");
    CHECK(ctrl(ack_cmd, 2, 0) == NET_OK, "an ack with nothing pending refused");
    CHECK(ctrl(ack_cmd, 3, 0) == NET_ERR, "an ack with data not refused");
    static const uint8_t other[] = {3, 1};
    CHECK(ctrl(other, 2, 0) == NET_ERR, "an unknown ANNOUNCE command not refused");
    CHECK(ctrl(ack_cmd, 2, 1) == 0x100, "an ack without an ack byte got a used length");
    uint8_t *big = alloc(60 * 1024, 64);
    for (uint32_t i = 0; i < 60 * 1024; i++)
        big[i] = (uint8_t)(i * 13);
    big[0] = 3, big[1] = 0;
    CHECK(ctrl(big, 60 * 1024, 0) == NET_ERR, "a 60 KiB ack not refused");
    /* a full queue of acks at once: every one answered OK, nothing else happens */
    struct vq *c = &q[CTRL_Q];
    uint8_t *acks = alloc(c->size, 64), *cmd = alloc(2, 64);
    cmd[0] = 3, cmd[1] = 0;
    for (unsigned i = 0; i < c->size / 2u; i++) {
        acks[i] = 0x5a;
        struct vdesc ds[2] = {{(uintptr_t)cmd, 2, 0, 0}, {(uintptr_t)&acks[i], 1, VD_WRITE, 0}};
        vq_add(c, ds, 2);
    }
    vq_notify(c);
    for (unsigned i = 0; i < c->size / 2u; i++)
        CHECK(vq_wait(c, 0) >= 0, "a flooded ack was not answered");
    for (unsigned i = 0; i < c->size / 2u; i++)
        CHECK(acks[i] == NET_OK, "a flooded ack was refused");
    CHECK(!(rd16(d.devcfg + 6) & S_ANNOUNCE), "acks raised an announcement");
    CHECK(!(vio_status(&d) & VIO_NEEDS_RESET), "bad acks broke the device");
    tx_one();
    say("bad acks refused, good ones harmless, the device transmits");
    /* without the feature: acks refused */
    CHECK(bring_up(0), "FEATURES_OK refused (control queue alone)");
    CHECK(!(d.features & F_ANNOUNCE), "features not as asked");
    CHECK(ctrl(ack_cmd, 2, 0) == NET_ERR, "an ack without GUEST_ANNOUNCE not refused");
    tx_one();
    /* GUEST_ANNOUNCE without the control queue breaks the spec's dependency */
    CHECK(vio_begin(&d, F_ANNOUNCE) != 0, "GUEST_ANNOUNCE without CTRL_VQ accepted");
    CHECK(bring_up(F_ANNOUNCE), "FEATURES_OK refused after a refused negotiation");
    tx_one();
    CHECK(!(vio_status(&d) & VIO_NEEDS_RESET), "the device was flagged");
    say("without the feature acks refused; GUEST_ANNOUNCE alone refused; fresh driver ok");
}
