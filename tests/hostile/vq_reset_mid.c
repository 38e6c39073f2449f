/* vq_reset_mid.c — reset while requests are in flight (a queue full of 64 KiB disk reads, or
 * of big entropy requests), then scribble the old rings and buffers: after the reset returns the
 * device must not write guest memory the old driver gave it. Repeated, then a fresh driver. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    for (unsigned round = 0; round < 8; round++) {
        struct vio d;
        struct vq q[3];
        say_hex("round", round);
        rig(t, 0, &d, q);
        struct vq *a = &q[t->id == VIO_BLK || t->id == VIO_RNG ? 0 : t->q];
        uint8_t *buf = alloc(64 * 65536ULL, 4096);
        for (unsigned i = 0; i < a->size / 3; i++) {
            if (t->id == VIO_BLK) {
                volatile uint32_t *h = alloc(16, 16);
                h[0] = 0;
                *(volatile uint64_t *)(h + 2) = i * 128u;
                struct vdesc r[3] = {{(uintptr_t)h, 16, 0, 0},
                                     {(uintptr_t)(buf + 65536ULL * i), 65536, VD_WRITE, 0},
                                     {(uintptr_t)alloc(1, 16), 1, VD_WRITE, 0}};
                vq_add(a, r, 3);
            } else {
                struct vdesc r = {(uintptr_t)(buf + 65536ULL * i), 65536,
                                  a->index == 0 && t->id != VIO_NET ? VD_WRITE : 0, 0};
                vq_add(a, &r, 1);
            }
        }
        vq_notify(a);
        if (round & 1)
            for (volatile unsigned spin = 0; spin < 50 * round; spin++)
                ;
        CHECK(!vio_reset(&d), "reset with requests in flight not completed");
        /* the rings and buffers are ours again */
        memset_((void *)a->used, 0x5a, 6 + 8ULL * a->size);
        for (uint64_t i = 0; i < 64 * 65536ULL; i += 512)
            buf[i] = 0x5a;
        for (volatile unsigned spin = 0; spin < 20000; spin++)
            ;
        for (uint64_t i = 0; i < 6 + 8ULL * a->size; i++)
            CHECK(a->used[i] == 0x5a, "the device wrote the used ring after reset");
        for (uint64_t i = 0; i < 64 * 65536ULL; i += 512)
            CHECK(buf[i] == 0x5a, "the device wrote a buffer after reset");
    }
    t->fresh();
}
