/* vsock_flood.c — host memory the guest could grow: 64 connections to a host peer that never
 * reads (port 5001), each sent 64 KiB packets until the guest has used far more than the
 * credit the engine advertised. The engine must hold at most its buffers (the runner bounds
 * peak RSS) and answer; then a fresh driver connects to the echo peer and reads. */
#include "hostile.h"

#define SINK_PORT 5001

static struct vio d;
static struct vq q[3];

static void send_to(uint32_t sport, uint16_t op, uint32_t len)
{
    uint8_t *b = alloc(44, 16);
    struct vsock_hdr *h = (struct vsock_hdr *)b;
    h->src_cid = rd64(d.devcfg);
    h->dst_cid = 2;
    h->src_port = sport;
    h->dst_port = SINK_PORT;
    h->len = len;
    h->type = 1;
    h->op = op;
    h->buf_alloc = 65536;
    struct vdesc desc[2] = {{(uintptr_t)b, 44, 0, 0}, {0x2000000, len, 0, 0}};
    vq_add(&q[1], desc, len ? 2 : 1);
}

static unsigned drain_rx(void)
{
    int id;
    unsigned n = 0;
    uint32_t len;
    while ((id = vq_wait(&q[0], &len)) >= 0) {
        vq_publish(&q[0], (uint16_t)id);
        n++;
    }
    vq_notify(&q[0]);
    return n;
}

void hostile_case(void)
{
    rig(target(), 0, &d, q);
    for (unsigned i = 0; i < 64; i++) {
        struct vdesc rx = {(uintptr_t)alloc(4096, 64), 4096, VD_WRITE, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    for (uint32_t c = 0; c < 64; c++)
        send_to(30000 + c, VSOCK_OP_REQUEST, 0);
    vq_notify(&q[1]);
    say_hex("responses and resets", drain_rx());
    for (unsigned round = 0; round < 6; round++) { /* 6 x 64 KiB: beyond the 256 KiB credit */
        for (uint32_t c = 0; c < 64; c++) {
            send_to(30000 + c, VSOCK_OP_RW, 65536);
            if (q[1].avail_idx % 16 == 0) {
                vq_notify(&q[1]);
                while (q[1].used_seen != q[1].avail_idx && vq_wait(&q[1], 0) >= 0)
                    ;
            }
        }
        say_hex("round", round);
    }
    vq_notify(&q[1]);
    say_hex("control packets after the flood", drain_rx());
    say_hex("status", vio_status(&d));
    fresh_vsock();
}
