/* fresh.c — the good requests: after an attack, a fresh driver must get one request served. */
#include "hostile.h"

int blk_rw(struct vq *q, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    volatile uint32_t *hdr = alloc(16, 16);
    volatile uint8_t *status = alloc(1, 16);
    hdr[0] = type;
    hdr[1] = 0;
    *(volatile uint64_t *)(hdr + 2) = sector;
    *status = 0xee;
    struct vdesc d[3] = {{(uintptr_t)hdr, 16, 0, 0},
                         {(uintptr_t)buf, len, type == 0 ? VD_WRITE : 0, 0},
                         {(uintptr_t)status, 1, VD_WRITE, 0}};
    vq_add(q, d, 3);
    vq_notify(q);
    if (vq_wait(q, 0) < 0)
        return -1;
    return *status;
}

/* Start a fresh driver for ID with QUEUES queues of the default size. */
static void fresh_start(struct vio *d, uint16_t id, uint64_t want, struct vq *q, unsigned queues,
                        const char *name)
{
    if (vio_find(id, d))
        fail(name);
    if (vio_begin(d, want))
        fail("fresh driver: FEATURES_OK refused");
    for (unsigned i = 0; i < queues; i++)
        if (vq_setup(d, &q[i], (uint16_t)i, 0))
            fail("fresh driver: a queue is missing");
    vio_driver_ok(d);
    if (vio_status(d) & VIO_NEEDS_RESET)
        fail("fresh driver: DEVICE_NEEDS_RESET right after DRIVER_OK");
}

void fresh_blk(void)
{
    struct vio d;
    struct vq q;
    fresh_start(&d, VIO_BLK, 0, &q, 1, "no virtio-blk");
    char *buf = alloc(512, 512);
    int st = blk_rw(&q, 0, 5, buf, 512);
    CHECK(st == 0, "fresh virtio-blk: read of sector 5 failed");
    CHECK(memeq(buf, DISK_PATTERN "5\n", sizeof(DISK_PATTERN)),
          "fresh virtio-blk: sector 5 has the wrong contents");
    say("fresh virtio-blk ok");
}

void fresh_rng(void)
{
    struct vio d;
    struct vq q;
    fresh_start(&d, VIO_RNG, 0, &q, 1, "no virtio-rng");
    volatile uint8_t *buf = alloc(32, 16);
    struct vdesc desc = {(uintptr_t)buf, 32, VD_WRITE, 0};
    vq_add(&q, &desc, 1);
    vq_notify(&q);
    uint32_t len = 0;
    CHECK(vq_wait(&q, &len) >= 0, "fresh virtio-rng: no answer");
    CHECK(len == 32, "fresh virtio-rng: short answer");
    unsigned same = 0;
    for (unsigned i = 1; i < 32; i++)
        same += buf[i] == buf[0];
    CHECK(same < 31, "fresh virtio-rng: 32 equal bytes");
    say("fresh virtio-rng ok");
}

static const uint8_t ip_guest[4] = {10, 0, 2, 15}, ip_gw[4] = {10, 0, 2, 2};

void fresh_net(void)
{
    struct vio d;
    struct vq q[2];
    fresh_start(&d, VIO_NET, 1ULL << 5 /* MAC */, q, 2, "no virtio-net");
    uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    if (d.features & (1ULL << 5))
        for (unsigned i = 0; i < 6; i++)
            mac[i] = rd8(d.devcfg + i);
    for (unsigned i = 0; i < 8; i++) {
        struct vdesc rx = {(uintptr_t)alloc(2048, 64), 2048, VD_WRITE, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    uint8_t *f = alloc(12 + 42, 64), *e = f + 12; /* virtio_net_hdr_v1, then the frame */
    memset_(e, 0xff, 6);
    for (unsigned i = 0; i < 6; i++)
        e[6 + i] = e[22 + i] = mac[i];
    const uint8_t arp[] = {0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1};
    for (unsigned i = 0; i < sizeof(arp); i++)
        e[12 + i] = arp[i];
    for (unsigned i = 0; i < 4; i++)
        e[28 + i] = ip_guest[i], e[32 + 6 + i] = ip_gw[i];
    memset_(e + 32, 0, 6);
    struct vdesc tx = {(uintptr_t)f, 12 + 42, 0, 0};
    vq_add(&q[1], &tx, 1);
    vq_notify(&q[1]);
    CHECK(vq_wait(&q[1], 0) >= 0, "fresh virtio-net: transmit not completed");
    for (unsigned n = 0; n < 4096; n++) { /* frames still in flight from an attack come first */
        uint32_t len;
        int id = vq_wait(&q[0], &len);
        CHECK(id >= 0, "fresh virtio-net: no ARP reply from 10.0.2.2");
        const volatile uint8_t *r = (const volatile uint8_t *)(uintptr_t)q[0].desc[id].addr + 12;
        if (len >= 12 + 42 && r[12] == 8 && r[13] == 6 && r[21] == 2 && memeq(r + 28, ip_gw, 4)) {
            say_hex("fresh virtio-net ok; frames before the ARP reply", n);
            return;
        }
        vq_publish(&q[0], (uint16_t)id);
        vq_notify(&q[0]);
    }
    fail("fresh virtio-net: no ARP reply among 4096 frames");
}

void fresh_cons(void)
{
    struct vio d;
    struct vq q[2];
    fresh_start(&d, VIO_CONSOLE, 0, q, 2, "no virtio-console");
    static const char msg[] = "hostile: virtio-console fresh ok\n";
    char *b = alloc(sizeof(msg), 16);
    for (unsigned i = 0; i < sizeof(msg) - 1; i++)
        b[i] = msg[i];
    struct vdesc tx = {(uintptr_t)b, sizeof(msg) - 1, 0, 0};
    vq_add(&q[1], &tx, 1);
    vq_notify(&q[1]);
    CHECK(vq_wait(&q[1], 0) >= 0, "fresh virtio-console: transmit not completed");
    say("fresh virtio-console ok");
}

int vsock_send(struct vio *d, struct vq *tx, uint32_t sport, uint16_t op, const void *data,
               uint32_t len)
{
    uint8_t *b = alloc(44 + len, 16);
    struct vsock_hdr *h = (struct vsock_hdr *)b;
    h->src_cid = rd64(d->devcfg);
    h->dst_cid = 2;
    h->src_port = sport;
    h->dst_port = VSOCK_PEER_PORT;
    h->len = len;
    h->type = 1;
    h->op = op;
    h->buf_alloc = 65536;
    for (uint32_t i = 0; i < len; i++)
        b[44 + i] = ((const uint8_t *)data)[i];
    struct vdesc desc = {(uintptr_t)b, 44 + len, 0, 0};
    vq_add(tx, &desc, 1);
    vq_notify(tx);
    return vq_wait(tx, 0);
}

static uint32_t fresh_port = 40000;

void fresh_vsock(void)
{
    struct vio d;
    struct vq q[3];
    fresh_start(&d, VIO_VSOCK, 0, q, 3, "no virtio-vsock");
    for (unsigned i = 0; i < 16; i++) {
        struct vdesc rx = {(uintptr_t)alloc(4096, 64), 4096, VD_WRITE, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    uint32_t port = fresh_port++;
    CHECK(vsock_send(&d, &q[1], port, VSOCK_OP_REQUEST, 0, 0) >= 0,
          "fresh virtio-vsock: request not taken");
    int connected = 0;
    for (unsigned n = 0; n < 16; n++) {
        uint32_t len;
        int id = vq_wait(&q[0], &len);
        CHECK(id >= 0, "fresh virtio-vsock: no answer from the host peer");
        const volatile struct vsock_hdr *h =
            (const volatile struct vsock_hdr *)(uintptr_t)q[0].desc[id].addr;
        if (h->dst_port != port)
            continue;
        CHECK(h->op != VSOCK_OP_RST, "fresh virtio-vsock: connection refused");
        if (h->op == VSOCK_OP_RESPONSE)
            connected = 1;
        if (h->op == VSOCK_OP_RW && connected && len >= 44 + 12 &&
            memeq((const volatile uint8_t *)h + 44, "hostile-peer", 12)) {
            say("fresh virtio-vsock ok");
            return;
        }
    }
    fail("fresh virtio-vsock: no data from the host peer");
}
