/* vsock_rx44.c — receive buffers of exactly the 44-byte header while the host has data to send
 * (issue 9, defect 2): truce must not spin or stall; then a fresh driver connects and reads. */
#include "hostile.h"

void hostile_case(void)
{
    struct vio d;
    struct vq q[3];
    rig(target(), 0, &d, q);
    unsigned hdr_only = arg("tiny") ? 8 : 44; /* "tiny": shorter than a header */
    for (unsigned i = 0; i < 32; i++) {
        struct vdesc rx = {(uintptr_t)alloc(64, 64), hdr_only, VD_WRITE, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    CHECK(vsock_send(&d, &q[1], 1234, VSOCK_OP_REQUEST, 0, 0) >= 0, "request not taken");
    /* The peer writes as soon as it accepts: the RESPONSE fits a 44-byte buffer, data never
     * does. Give the engine a while to (not) deliver, using buffers as they come back. */
    uint64_t start = rdtsc();
    unsigned got = 0;
    while (rdtsc() - start < 3000000000ULL) {
        uint32_t len;
        int id = vq_wait(&q[0], &len);
        if (id < 0)
            break;
        got++;
        vq_publish(&q[0], (uint16_t)id); /* the same 44-byte buffer again */
        vq_notify(&q[0]);
    }
    say_hex("receive buffers used", got);
    /* truce must still answer: a status read and a reset go through the device lock */
    say_hex("status", vio_status(&d));
    CHECK(!vio_reset(&d), "reset not completed");
    fresh_vsock();
    if (arg("park"))
        park();
}
