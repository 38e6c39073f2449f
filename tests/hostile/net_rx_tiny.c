/* net_rx_tiny.c — receive buffers that cannot hold a frame: 1 byte, shorter than the virtio-net
 * header, readable-only (with every offered feature on "all", mergeable buffers included); then
 * frames arrive (ARP replies from user networking). The device drops or flags; the process lives;
 * a fresh driver works. */
#include "hostile.h"

static void arp_probe(struct vq *tx)
{
    uint8_t *f = alloc(12 + 42, 64), *e = f + 12;
    static const uint8_t hdr[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34,
                                  0x56, 0x08, 0x06, 0,    1,    8,    0,    6,    4, 0,    1,
                                  0x52, 0x54, 0,    0x12, 0x34, 0x56, 10,   0,    2, 15};
    for (unsigned i = 0; i < sizeof(hdr); i++)
        e[i] = hdr[i];
    e[38] = 10, e[39] = 0, e[40] = 2, e[41] = 2;
    struct vdesc desc = {(uintptr_t)f, 12 + 42, 0, 0};
    vq_add(tx, &desc, 1);
    vq_notify(tx);
    vq_wait(tx, 0);
}

void hostile_case(void)
{
    static const uint32_t sizes[] = {1, 11, 12, 13};
    for (unsigned k = 0; k < 5; k++) {
        struct vio d;
        struct vq q[2];
        rig(target(), arg("all") ? 0xffffffffULL : 0, &d, q); /* "all": mergeable buffers etc. */
        for (unsigned i = 0; i < 16; i++) {
            struct vdesc rx = {(uintptr_t)alloc(64, 64), k < 4 ? sizes[k] : 64,
                               k < 4 ? VD_WRITE : 0, 0};
            vq_add(&q[0], &rx, 1);
        }
        vq_notify(&q[0]);
        arp_probe(&q[1]);
        judge(&d, &q[0], 0, k < 4 ? "tiny receive buffers" : "readable receive buffers");
    }
    fresh_net();
}
