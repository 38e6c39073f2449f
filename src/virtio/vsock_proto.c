/* vsock_proto.c — virtio-vsock engine, guest side: packet checks, connection table, credit. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/util.h"
#include "virtio/vsock_proto.h"

#define OP_REQUEST        1
#define OP_RESPONSE       2
#define OP_RST            3
#define OP_SHUTDOWN       4
#define OP_RW             5
#define OP_CREDIT_UPDATE  6
#define OP_CREDIT_REQUEST 7
#define SHUT_FLAG_RCV     1
#define SHUT_FLAG_SEND    2

/* A guest packet with its fields in host byte order. */
struct pkt {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
    uint16_t type, op;
};

uint32_t vsock_peer_credit(uint32_t buf_alloc, uint32_t fwd_cnt, uint32_t tx_cnt)
{
    uint32_t in_flight = tx_cnt - fwd_cnt; /* wraps like the counters themselves */
    return in_flight > buf_alloc ? 0 : buf_alloc - in_flight;
}

int vsock_parse_connect(const char *line, size_t len, uint32_t *port)
{
    static const char pfx[] = "CONNECT ";
    size_t plen = sizeof(pfx) - 1;
    if (len < plen + 2 || len > plen + 11 || memcmp(line, pfx, plen) || line[len - 1] != '\n')
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = plen; i < len - 1; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(line[i] - '0');
    }
    if (v > UINT32_MAX)
        return -EINVAL;
    *port = (uint32_t)v;
    return 0;
}

/* ---- connection table ----------------------------------------------------------------------- */

struct vconn *vconn_alloc(struct vsock_engine *e)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct vconn *c = &e->conns[i];
        if (c->state == VC_FREE) {
            memset(c, 0, sizeof(*c));
            c->fd = -1;
            e->nconns++;
            return c;
        }
    }
    return NULL;
}

static void ready_remove(struct vsock_engine *e, unsigned idx)
{
    unsigned n = e->ready_count, kept = 0;
    for (unsigned i = 0; i < n; i++) {
        uint16_t v = e->ready[(e->ready_head + i) % VSOCK_MAX_CONNS];
        if (v != idx)
            e->ready[(e->ready_head + kept++) % VSOCK_MAX_CONNS] = v;
    }
    e->ready_count = kept;
}

void vconn_free(struct vsock_engine *e, struct vconn *c)
{
    if (c->state == VC_FREE)
        return;
    if (c->queued)
        ready_remove(e, (unsigned)(c - e->conns));
    vsock_host_release(e, c);
    free(c->buf);
    if (c->deadline_ns)
        e->timer_dirty = true;
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    e->nconns--;
}

void vsock_queue_rst(struct vsock_engine *e, uint32_t local_port, uint32_t peer_port)
{
    if (e->rst_count == VSOCK_RST_QUEUE) {
        e->stats.rst_dropped++;
        return;
    }
    struct vsock_rst *r = &e->rst[(e->rst_head + e->rst_count++) % VSOCK_RST_QUEUE];
    r->local_port = local_port;
    r->peer_port = peer_port;
}

void vconn_reset(struct vsock_engine *e, struct vconn *c)
{
    vsock_queue_rst(e, c->local_port, c->peer_port);
    vconn_free(e, c);
}

static struct vconn *vconn_find(struct vsock_engine *e, uint32_t local_port, uint32_t peer_port)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct vconn *c = &e->conns[i];
        if (c->state > VC_HANDSHAKE && c->local_port == local_port && c->peer_port == peer_port)
            return c;
    }
    return NULL;
}

static uint32_t vconn_credit(const struct vconn *c)
{
    return vsock_peer_credit(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt);
}

/* True when C can put host bytes into a packet for the guest now. */
static bool vconn_can_send_data(const struct vconn *c)
{
    return c->state == VC_ESTABLISHED && c->host_readable && !c->guest_shut_rcv &&
           vconn_credit(c) > 0;
}

void vconn_refresh(struct vsock_engine *e, struct vconn *c)
{
    if (c->state == VC_FREE)
        return;
    if (c->state == VC_ESTABLISHED && c->host_readable && !c->guest_shut_rcv &&
        vconn_credit(c) == 0 && !c->credit_requested) {
        c->ctl |= VC_CTL_CREDIT_REQUEST;
        c->credit_requested = true;
    }
    if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CONN_BUF / 4)
        c->ctl |= VC_CTL_CREDIT_UPDATE;
    if (!c->queued && (c->ctl || vconn_can_send_data(c))) {
        e->ready[(e->ready_head + e->ready_count++) % VSOCK_MAX_CONNS] = (uint16_t)(c - e->conns);
        c->queued = true;
    }
    vsock_host_update_events(e, c);
}

void vconn_try_finish(struct vsock_engine *e, struct vconn *c)
{
    if (c->state == VC_CLOSING && c->buf_len == 0)
        vconn_reset(e, c);
}

/* ---- packets from the guest ----------------------------------------------------------------- */

static void pkt_decode(const struct vsock_hdr *h, struct pkt *p)
{
    p->src_cid = le64toh(h->src_cid);
    p->dst_cid = le64toh(h->dst_cid);
    p->src_port = le32toh(h->src_port);
    p->dst_port = le32toh(h->dst_port);
    p->len = le32toh(h->len);
    p->type = le16toh(h->type);
    p->op = le16toh(h->op);
    p->flags = le32toh(h->flags);
    p->buf_alloc = le32toh(h->buf_alloc);
    p->fwd_cnt = le32toh(h->fwd_cnt);
}

/* The guest asks for host port P->dst_port: connect to "<uds>_P" or answer RST. */
static void guest_connect(struct vsock_engine *e, const struct pkt *p)
{
    struct vconn *c = NULL;
    int fd = -1;
    if (e->nconns >= VSOCK_MAX_CONNS)
        goto refuse;
    fd = vsock_host_connect(e, p->dst_port);
    if (fd < 0)
        goto refuse;
    c = vconn_alloc(e);
    c->fd = fd;
    c->state = VC_ESTABLISHED;
    c->local_port = p->dst_port;
    c->peer_port = p->src_port;
    c->peer_buf_alloc = p->buf_alloc;
    c->peer_fwd_cnt = p->fwd_cnt;
    c->ctl = VC_CTL_RESPONSE;
    e->stats.conns_opened++;
    vconn_refresh(e, c);
    return;
refuse:
    e->stats.conns_refused++;
    vsock_queue_rst(e, p->dst_port, p->src_port);
}

/* Payload from the guest: enforce its credit, then forward. */
static void guest_rw(struct vsock_engine *e, struct vconn *c, const struct iovec *iov,
                     unsigned niov, uint32_t len)
{
    if ((c->state != VC_ESTABLISHED && c->state != VC_CLOSING) || c->guest_shut_send) {
        vconn_reset(e, c);
        return;
    }
    uint32_t outstanding = c->rx_cnt - c->fwd_cnt_sent;
    if (outstanding > VSOCK_CONN_BUF || len > VSOCK_CONN_BUF - outstanding) {
        e->stats.credit_violations++;
        vconn_reset(e, c);
        return;
    }
    c->rx_cnt += len;
    if (len && vsock_host_write(e, c, iov, niov, len) < 0) {
        vconn_reset(e, c);
        return;
    }
    vconn_refresh(e, c);
}

static void guest_shutdown(struct vsock_engine *e, struct vconn *c, uint32_t flags)
{
    if (flags & SHUT_FLAG_SEND)
        c->guest_shut_send = true;
    if (flags & SHUT_FLAG_RCV)
        c->guest_shut_rcv = true;
    if (c->guest_shut_send && c->guest_shut_rcv) {
        if (c->state != VC_CLOSING) {
            c->state = VC_CLOSING;
            c->deadline_ns = now_ns() + VSOCK_CLOSE_MS * 1000000ULL;
            e->timer_dirty = true;
        }
        vconn_try_finish(e, c);
        return;
    }
    if (c->guest_shut_send && c->buf_len == 0 && !c->host_wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->host_wr_shut = true;
    }
    vconn_refresh(e, c);
}

/* The guest answered our REQUEST: tell the host client which port it got. */
static void guest_response(struct vsock_engine *e, struct vconn *c)
{
    if (c->state != VC_CONNECTING) {
        vconn_reset(e, c);
        return;
    }
    char ok[24];
    int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
    if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
        vconn_reset(e, c);
        return;
    }
    c->state = VC_ESTABLISHED;
    c->deadline_ns = 0;
    e->timer_dirty = true;
    vconn_refresh(e, c);
}

static void guest_tx(struct vsock_engine *e, const struct vsock_hdr *hdr,
                     const struct iovec *payload, unsigned niov, size_t payload_len)
{
    struct pkt p;
    pkt_decode(hdr, &p);
    e->stats.tx_packets++;
    if (p.src_cid != e->guest_cid || p.dst_cid != VSOCK_HOST_CID || p.len > VSOCK_MAX_PKT ||
        p.len > payload_len) {
        e->stats.malformed++; /* cannot be answered sensibly: drop */
        return;
    }
    if (p.op == OP_RW)
        e->stats.tx_bytes += p.len;
    struct vconn *c = vconn_find(e, p.dst_port, p.src_port);
    if (p.type != VSOCK_TYPE_STREAM || p.op < OP_REQUEST || p.op > OP_CREDIT_REQUEST) {
        e->stats.malformed++;
        if (c)
            vconn_reset(e, c);
        else if (p.op != OP_RST)
            vsock_queue_rst(e, p.dst_port, p.src_port);
        return;
    }
    if (p.op == OP_REQUEST) {
        if (c)
            vconn_reset(e, c); /* a second REQUEST on a live connection: both ends start over */
        else
            guest_connect(e, &p);
        return;
    }
    if (!c) {
        if (p.op != OP_RST)
            vsock_queue_rst(e, p.dst_port, p.src_port);
        return;
    }
    c->peer_buf_alloc = p.buf_alloc;
    c->peer_fwd_cnt = p.fwd_cnt;
    if (vconn_credit(c) > 0)
        c->credit_requested = false;
    switch (p.op) {
    case OP_RESPONSE:
        guest_response(e, c);
        break;
    case OP_RST:
        vconn_free(e, c);
        break;
    case OP_SHUTDOWN:
        guest_shutdown(e, c, p.flags);
        break;
    case OP_RW:
        guest_rw(e, c, payload, niov, p.len);
        break;
    case OP_CREDIT_REQUEST:
        c->ctl |= VC_CTL_CREDIT_UPDATE;
        vconn_refresh(e, c);
        break;
    default: /* OP_CREDIT_UPDATE: the counters above are all it carries */
        vconn_refresh(e, c);
        break;
    }
}

void vsock_engine_guest_tx(struct vsock_engine *e, const struct vsock_hdr *hdr,
                           const struct iovec *payload, unsigned niov, size_t payload_len)
{
    guest_tx(e, hdr, payload, niov, payload_len);
    if (e->timer_dirty)
        vsock_host_arm_timer(e);
}

/* ---- packets to the guest ------------------------------------------------------------------- */

static void hdr_fill(struct vsock_engine *e, struct vsock_hdr *h, uint32_t local_port,
                     uint32_t peer_port, uint16_t op)
{
    memset(h, 0, sizeof(*h));
    h->src_cid = htole64(VSOCK_HOST_CID);
    h->dst_cid = htole64(e->guest_cid);
    h->src_port = htole32(local_port);
    h->dst_port = htole32(peer_port);
    h->type = htole16(VSOCK_TYPE_STREAM);
    h->op = htole16(op);
}

/* Control packet C owes the guest, in protocol order; 0 when none. */
static uint16_t vconn_next_ctl(struct vconn *c, uint32_t *flags)
{
    static const struct {
        uint32_t bit;
        uint16_t op;
    } order[] = {
        {VC_CTL_REQUEST, OP_REQUEST},
        {VC_CTL_RESPONSE, OP_RESPONSE},
        {VC_CTL_SHUTDOWN, OP_SHUTDOWN},
        {VC_CTL_CREDIT_REQUEST, OP_CREDIT_REQUEST},
        {VC_CTL_CREDIT_UPDATE, OP_CREDIT_UPDATE},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(order); i++) {
        if (c->ctl & order[i].bit) {
            c->ctl &= ~order[i].bit;
            *flags = order[i].op == OP_SHUTDOWN ? SHUT_FLAG_SEND : 0;
            return order[i].op;
        }
    }
    return 0;
}

/* Try to read host bytes for C into a RW packet. Returns 1 with H filled, 0 when nothing was
 * read (EOF turns into a SHUTDOWN owed), -1 when C was reset. */
static int vconn_read_data(struct vsock_engine *e, struct vconn *c, struct vsock_hdr *h,
                           const struct iovec *iov, unsigned niov, size_t cap)
{
    size_t want = MIN(MIN(cap, (size_t)VSOCK_MAX_PKT), (size_t)vconn_credit(c));
    if (want == 0)
        return 0;
    ssize_t n = vsock_host_read(c, iov, niov, want);
    if (n == -EAGAIN) {
        c->host_readable = false;
        return 0;
    }
    if (n < 0) {
        vconn_reset(e, c);
        return -1;
    }
    if (n == 0) {
        c->host_readable = false;
        c->host_eof = true;
        c->ctl |= VC_CTL_SHUTDOWN;
        return 0;
    }
    hdr_fill(e, h, c->local_port, c->peer_port, OP_RW);
    h->len = htole32((uint32_t)n);
    c->tx_cnt += (uint32_t)n;
    e->stats.rx_bytes += (uint64_t)n;
    return 1;
}

/* Build C's next packet. Returns 1 with H filled, 0 when C had nothing after all. */
static int vconn_build(struct vsock_engine *e, struct vconn *c, struct vsock_hdr *h,
                       const struct iovec *iov, unsigned niov, size_t cap)
{
    int r = 0;
    if (!(c->ctl & (VC_CTL_REQUEST | VC_CTL_RESPONSE)) && vconn_can_send_data(c))
        r = vconn_read_data(e, c, h, iov, niov, cap);
    if (r < 0)
        return 0;
    if (r == 0) {
        uint32_t flags = 0;
        uint16_t op = vconn_next_ctl(c, &flags);
        if (!op)
            return 0;
        hdr_fill(e, h, c->local_port, c->peer_port, op);
        h->flags = htole32(flags);
    }
    h->buf_alloc = htole32(VSOCK_CONN_BUF);
    h->fwd_cnt = htole32(c->fwd_cnt);
    c->fwd_cnt_sent = c->fwd_cnt;
    c->ctl &= ~VC_CTL_CREDIT_UPDATE; /* every packet carries the credit */
    return 1;
}

bool vsock_engine_has_rx(const struct vsock_engine *e)
{
    return e->rst_count > 0 || e->ready_count > 0;
}

int vsock_engine_guest_rx(struct vsock_engine *e, struct vsock_hdr *hdr,
                          const struct iovec *payload, unsigned niov, size_t cap)
{
    if (e->rst_count) {
        struct vsock_rst *r = &e->rst[e->rst_head];
        e->rst_head = (e->rst_head + 1) % VSOCK_RST_QUEUE;
        e->rst_count--;
        hdr_fill(e, hdr, r->local_port, r->peer_port, OP_RST);
        e->stats.rst_sent++;
        e->stats.rx_packets++;
        return 1;
    }
    /* Each connection queued now is visited at most once: one that cannot build a packet (no
     * room for payload, no credit) goes back to the end and must not be retried in this call. */
    for (unsigned budget = e->ready_count; budget && e->ready_count; budget--) {
        struct vconn *c = &e->conns[e->ready[e->ready_head]];
        e->ready_head = (e->ready_head + 1) % VSOCK_MAX_CONNS;
        e->ready_count--;
        c->queued = false;
        int r = vconn_build(e, c, hdr, payload, niov, cap);
        vconn_refresh(e, c); /* back in the FIFO (at its end) when it has more */
        if (r) {
            e->stats.rx_packets++;
            return 1;
        }
        if (e->rst_count) /* C was reset while reading: deliver that */
            return vsock_engine_guest_rx(e, hdr, payload, niov, cap);
    }
    return 0;
}

const struct vsock_stats *vsock_engine_stats(const struct vsock_engine *e)
{
    return &e->stats;
}

unsigned vsock_engine_nconns(const struct vsock_engine *e)
{
    return e->nconns;
}
