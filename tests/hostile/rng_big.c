/* rng_big.c — entropy requests the host must bound: a 100 MiB buffer, 64 chains of 1 MiB at
 * once, 1024 one-byte segments, and readable-only buffers. Served (at most 64 KiB each) or
 * refused, with no host memory growth; a fresh driver works. */
#include "hostile.h"

void hostile_case(void)
{
    struct vio d;
    struct vq q;
    rig(target(), VIO_F_INDIRECT, &d, &q);
    struct vdesc big = {0x1000000, 100u << 20, VD_WRITE, 0}; /* 16..116 MiB of our RAM */
    vq_add(&q, &big, 1);
    vq_notify(&q);
    uint32_t len = 0;
    CHECK(vq_wait(&q, &len) >= 0, "100 MiB request not answered");
    say_hex("100 MiB request got", len);
    CHECK(len <= (64u << 10), "more than 64 KiB in one request");
    for (unsigned i = 0; i < 63; i++) {
        struct vdesc r = {0x1000000 + ((uint64_t)i << 20), 1u << 20, VD_WRITE, 0};
        vq_add(&q, &r, 1);
    }
    vq_notify(&q);
    for (unsigned i = 0; i < 63; i++)
        CHECK(vq_wait(&q, &len) >= 0, "a 1 MiB request not answered");
    volatile struct vdesc *t = alloc(16 * 1024, 4096);
    for (unsigned i = 0; i < 1024; i++)
        t[i] = (struct vdesc){0x1000000 + 4096ULL * i, 1, VD_WRITE | (i < 1023 ? VD_NEXT : 0),
                              (uint16_t)(i + 1)};
    set_desc(&q, 0, (uintptr_t)t, 16 * 1024, VD_INDIRECT, 0);
    vq_publish(&q, 0);
    vq_notify(&q);
    judge(&d, &q, 0, "1024 one-byte segments");
    rig(target(), 0, &d, &q);
    struct vdesc ro = {0x1000000, 4096, 0, 0};
    vq_add(&q, &ro, 1);
    vq_notify(&q);
    judge(&d, &q, 0, "readable-only buffer");
    fresh_rng();
}
