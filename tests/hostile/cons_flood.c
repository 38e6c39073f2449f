/* cons_flood.c — virtio-console: a 1 MiB output chain, the transmit queue refilled 64 times,
 * emergency writes of every byte value through the config space, receive buffers of 1 byte
 * and readable-only ones, the control queues that were not offered. A fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    struct vio d;
    struct vq q[2];
    rig(target(), 0xffffffffULL, &d, q);
    uint8_t *big = (uint8_t *)0x1000000;
    for (unsigned i = 0; i < (1u << 20); i += 4096)
        big[i] = '.';
    struct vdesc r = {(uintptr_t)big, 1u << 20, 0, 0};
    vq_add(&q[1], &r, 1);
    vq_notify(&q[1]);
    CHECK(vq_wait(&q[1], 0) >= 0, "1 MiB output not consumed");
    for (unsigned round = 0; round < 64; round++) {
        for (unsigned i = 0; i < 8; i++) {
            struct vdesc s = {(uintptr_t)big + 4096 * i, 4096, 0, 0};
            vq_add(&q[1], &s, 1);
        }
        vq_notify(&q[1]);
        for (unsigned i = 0; i < 8; i++)
            CHECK(vq_wait(&q[1], 0) >= 0, "output not consumed");
    }
    for (unsigned v = 0; v < 256; v++) /* emerg_wr: config offset 8 */
        wr32(d.devcfg + 8, v);
    for (unsigned i = 0; i < 16; i++) {
        struct vdesc rx = {(uintptr_t)alloc(64, 64), i & 1 ? 1 : 64, i & 1 ? VD_WRITE : 0, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    for (uint16_t i = 2; i < 8; i++) /* queues of MULTIPORT, not offered */
        wr16(d.notify + (uint64_t)i * d.notify_mult, i);
    say_hex("status", vio_status(&d));
    fresh_cons();
}
