/* vsock_garbage.c — hostile vsock packets: unknown ops and types, a len field larger than the
 * payload, wrong CIDs, data on unconnected ports, connects to a port nobody listens on, and more
 * connections than the engine holds. Answered with RSTs or dropped; a fresh driver works. */
#include "hostile.h"

static struct vio d;
static struct vq q[3];

static void raw(uint64_t dst_cid, uint32_t sport, uint32_t dport, uint16_t type, uint16_t op,
                uint32_t len_field, uint32_t payload)
{
    uint8_t *b = alloc(44 + payload, 16);
    struct vsock_hdr *h = (struct vsock_hdr *)b;
    h->src_cid = rd64(d.devcfg);
    h->dst_cid = dst_cid;
    h->src_port = sport;
    h->dst_port = dport;
    h->len = len_field;
    h->type = type;
    h->op = op;
    h->buf_alloc = 0xffffffffu;
    h->fwd_cnt = 0x80000000u;
    struct vdesc desc = {(uintptr_t)b, 44 + payload, 0, 0};
    vq_add(&q[1], &desc, 1);
}

/* Keep the receive queue stocked and drained so RSTs have somewhere to go. */
static void drain(void)
{
    int id;
    uint32_t len, n = 0;
    while ((id = vq_wait(&q[0], &len)) >= 0) {
        vq_publish(&q[0], (uint16_t)id);
        vq_notify(&q[0]);
        n++;
    }
    say_hex("packets received", n);
}

void hostile_case(void)
{
    rig(target(), 0, &d, q);
    vq_wait_cycles = 800000000ULL; /* drains end with a timeout: keep them short */
    for (unsigned i = 0; i < 32; i++) {
        struct vdesc rx = {(uintptr_t)alloc(4096, 64), 4096, VD_WRITE, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    raw(2, 1, VSOCK_PEER_PORT, 1, 0, 0, 0);                      /* op 0 */
    raw(2, 2, VSOCK_PEER_PORT, 1, 99, 0, 0);                     /* op 99 */
    raw(2, 3, VSOCK_PEER_PORT, 2, VSOCK_OP_REQUEST, 0, 0);       /* SEQPACKET */
    raw(2, 4, VSOCK_PEER_PORT, 1, VSOCK_OP_RW, 0xffffffffu, 16); /* len > payload */
    raw(2, 5, VSOCK_PEER_PORT, 1, VSOCK_OP_RW, 8, 16);           /* len < payload */
    raw(1, 6, VSOCK_PEER_PORT, 1, VSOCK_OP_REQUEST, 0, 0);       /* to CID 1 */
    raw(0xffffffffffffffffULL, 7, 1, 1, VSOCK_OP_REQUEST, 0, 0); /* to CID -1 */
    raw(2, 8, 4999, 1, VSOCK_OP_REQUEST, 0, 0);                  /* nobody listens */
    raw(2, 9, VSOCK_PEER_PORT, 1, VSOCK_OP_SHUTDOWN, 0, 0);      /* not connected */
    raw(2, 10, VSOCK_PEER_PORT, 1, VSOCK_OP_RESPONSE, 0, 0);     /* unsolicited */
    raw(2, 11, VSOCK_PEER_PORT, 1, 6, 0, 0);                     /* CREDIT_UPDATE, nothing */
    raw(2, 12, VSOCK_PEER_PORT, 1, 7, 0, 0);                     /* CREDIT_REQUEST, nothing */
    raw(2, 13, 0xffffffffu, 1, VSOCK_OP_REQUEST, 0, 0);          /* port -1 */
    vq_notify(&q[1]);
    drain();
    /* 300 connections: more than the engine holds; each chain in its own descriptor */
    for (unsigned i = 0; i < 300; i++) {
        raw(2, 20000 + i, VSOCK_PEER_PORT, 1, VSOCK_OP_REQUEST, 0, 0);
        if (i % 32 == 31) {
            vq_notify(&q[1]);
            drain();
        }
    }
    vq_notify(&q[1]);
    drain();
    say_hex("status after the garbage", vio_status(&d));
    vq_wait_cycles = 4000000000ULL;
    fresh_vsock();
}
