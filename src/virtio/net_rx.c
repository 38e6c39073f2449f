/* net_rx.c — virtio-net receive path: backend frames into the guest's (mergeable) buffers.
 *
 * Receive chains are popped from the queue and held (a ring, in order) until a frame is written
 * into them; the guest does not see them until they are pushed. With mergeable buffers and a
 * backend that can read into an iovec (tap), the next frame is read straight into the held
 * chains once they can take the largest frame: no copy in truce. Otherwise (user-mode
 * networking, no mergeable buffers, or the guest offers less than a largest frame) one frame at
 * a time is read into rxbuf and copied into as many chains as it needs. When the queue runs dry
 * that frame stays pending, the backend stops being read and the queue's notifications are
 * enabled: the guest's next refill resumes delivery. Nothing is dropped for lack of buffers;
 * frames are dropped (and counted) only when the guest could never take them.
 *
 * With a receive rate limiter, frames go through rxbuf (their length must be known before the
 * guest sees them): a frame the limiter refuses stays pending there, the backend stops being
 * read (the next frames wait in the tap's queue or slirp's) and the limiter's timer resumes the
 * pump. Nothing is dropped for the limiter either. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "util/util.h"
#include "virtio/net.h"

/* Held chain I (0: the oldest). */
static struct net_rx_chain *held_at(struct net_pair *p, unsigned i)
{
    return &p->held[(p->held_first + i) % NET_QUEUE_SIZE];
}

void net_rx_unpop(struct net_pair *p)
{
    p->rxq->last_avail -= (uint16_t)p->nheld;
    p->held_first = p->nheld = 0;
    p->held_cap = 0;
}

void net_rx_reset(struct net_pair *p)
{
    p->held_first = p->nheld = 0;
    p->held_cap = 0;
    if (p->rx_len) {
        p->n->stats.rx_dropped++;
        p->rx_len = 0;
    }
    p->rx_charged = false;
}

/* Pop one more receive chain. Returns 1, 0 (queue empty) or <0 (queue broken). */
static int hold_one(struct net_pair *p, struct virtq *q)
{
    struct net_rx_chain *h = held_at(p, p->nheld);
    h->chain.iov = h->iov;
    h->chain.max_iov = NET_RX_IOV;
    int r = virtq_pop(q, &h->chain);
    if (r <= 0)
        return r;
    if (h->chain.in_len == 0) { /* nothing writable: hand it straight back */
        virtq_push(q, h->chain.head, 0);
        return 1;
    }
    p->nheld++;
    p->held_cap += h->chain.in_len;
    return 1;
}

enum { HOLD_DRY, HOLD_FITS, HOLD_NEVER };

/* Hold chains until they can take NEED bytes (without mergeable buffers: until one is held).
 * Returns HOLD_FITS, HOLD_DRY (the queue ran dry first), HOLD_NEVER (every chain the queue can
 * have is held, or the single one is too small) or <0 (queue broken). */
static int hold_for(struct net_pair *p, struct virtq *q, size_t need, bool mrg)
{
    while ((mrg || p->nheld == 0) && p->held_cap < need && p->nheld < q->size) {
        int r = hold_one(p, q);
        if (r <= 0)
            return r < 0 ? r : HOLD_DRY;
    }
    bool fits = mrg ? p->held_cap >= need : held_at(p, 0)->chain.in_len >= need;
    return fits ? HOLD_FITS : HOLD_NEVER;
}

/* Forget the oldest held chain (pushed). */
static void unhold_first(struct net_pair *p)
{
    p->held_cap -= held_at(p, 0)->chain.in_len;
    p->held_first = (p->held_first + 1) % NET_QUEUE_SIZE;
    p->nheld--;
}

/* Push the first held chains that a frame of LEN bytes (vnet header included) filled, each with
 * its share of LEN, and forget them. */
static void push_filled(struct net_pair *p, struct virtq *q, size_t len)
{
    for (size_t off = 0; off < len;) {
        struct net_rx_chain *h = held_at(p, 0);
        size_t part = MIN((size_t)h->chain.in_len, len - off);
        virtq_push(q, h->chain.head, (uint32_t)part);
        unhold_first(p);
        off += part;
    }
}

/* Chains needed for LEN bytes from the first held one. */
static unsigned chains_for(struct net_pair *p, size_t len)
{
    unsigned k = 0;
    for (size_t cap = 0; cap < len; k++)
        cap += held_at(p, k)->chain.in_len;
    return k;
}

/* Fix up header H of a received frame for the guest. Returns 0 or -EINVAL (drop the frame). */
static int rx_hdr_fixup(struct net_pair *p, struct virtio_net_hdr_v1 *h)
{
    uint64_t f = p->n->vdev.guest_features;
    if (!(f & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
        h->flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID; /* a hint the guest did not ask for */
    if (net_rx_hdr_check(h, f) < 0 || !p->n->admin_up)
        return -EINVAL;
    return 0;
}

/* Count a delivered frame of LEN bytes (vnet header included) with GSO_TYPE. */
static void rx_delivered(struct net_pair *p, size_t len, uint8_t gso_type)
{
    p->n->stats.rx_packets++;
    p->n->stats.rx_bytes += len - NET_VNET_HDR_LEN;
    net_bulk_account(p->n, 0, len - NET_VNET_HDR_LEN, gso_type);
}

/* ---- straight into guest buffers ---------------------------------------------------------- */

/* Whether frames can be read straight into the held chains. */
static bool rx_direct_ok(struct net_pair *p)
{
    struct net_backend *be = p->be;
    const struct ratelimiter *rl = &p->n->rx_rl.rl;
    return be->ops->recvv && be->hdr_len == NET_VNET_HDR_LEN &&
           virtio_has_feature(&p->n->vdev, VIRTIO_NET_F_MRG_RXBUF) && !rl->bw.on && !rl->ops.on;
}

/* Copy LEN bytes between BUF and the start of the segments IOV (CNT entries): TO_IOV or back. */
static void iov_copy(const struct iovec *iov, unsigned cnt, void *buf, size_t len, bool to_iov)
{
    uint8_t *p = buf;
    for (unsigned i = 0; i < cnt && len; i++) {
        size_t l = MIN(iov[i].iov_len, len);
        if (to_iov)
            memcpy(iov[i].iov_base, p, l);
        else
            memcpy(p, iov[i].iov_base, l);
        p += l;
        len -= l;
    }
}

/* Read the next frame straight into the held chains and deliver it. Returns 1 (delivered or
 * dropped), -EAGAIN (the backend has nothing), -ENOBUFS (the guest offers less than a largest
 * frame in few enough segments: use rxbuf) or another negative errno (queue broken). */
static int rx_direct(struct net_pair *p, struct virtq *q)
{
    struct net_backend *be = p->be;
    size_t max = NET_VNET_HDR_LEN + NET_MAX_FRAME;
    int r = hold_for(p, q, max, true);
    if (r != HOLD_FITS)
        return r < 0 ? r : -ENOBUFS;
    unsigned cnt = 0;
    for (unsigned i = 0, k = chains_for(p, max); i < k; i++) {
        struct net_rx_chain *h = held_at(p, i);
        if (cnt + h->chain.nin > NET_RX_DIRECT_IOV)
            return -ENOBUFS;
        memcpy(p->rx_iov + cnt, h->iov + h->chain.nout, h->chain.nin * sizeof(struct iovec));
        cnt += h->chain.nin;
    }
    ssize_t len = be->ops->recvv(be, p->rx_iov, cnt);
    if (len == -EAGAIN)
        return -EAGAIN;
    struct virtio_net_hdr_v1 h;
    if (len < NET_VNET_HDR_LEN + 14) {
        p->n->stats.rx_dropped++; /* backend error or a runt; the chains stay held */
        return 1;
    }
    iov_copy(p->rx_iov, cnt, &h, sizeof(h), false); /* our copy: checked, then written back */
    if (rx_hdr_fixup(p, &h) < 0) {
        p->n->stats.rx_dropped++;
        return 1;
    }
    h.num_buffers = htole16((uint16_t)chains_for(p, (size_t)len));
    iov_copy(p->rx_iov, cnt, &h, sizeof(h), true);
    push_filled(p, q, (size_t)len);
    rx_delivered(p, (size_t)len, h.gso_type);
    return 1;
}

/* ---- through rxbuf ------------------------------------------------------------------------ */

/* Deliver the pending frame in rxbuf. Returns 1 (delivered or dropped as undeliverable), -EAGAIN
 * (wait for the guest to add buffers) or another negative errno (queue broken). */
static int rx_deliver(struct net_pair *p, struct virtq *q)
{
    bool mrg = virtio_has_feature(&p->n->vdev, VIRTIO_NET_F_MRG_RXBUF);
    size_t need = p->rx_len;
    int r = hold_for(p, q, need, mrg);
    if (r < 0)
        return r;
    if (r == HOLD_DRY)
        return -EAGAIN; /* wait for the guest to add buffers */
    if (r == HOLD_NEVER) {
        /* Larger than anything the guest can give. Mergeable chains stay for the next frame; a
         * lone small chain goes back empty (the driver counts a length error and reuses it). */
        p->n->stats.rx_dropped++;
        if (!mrg) {
            virtq_push(q, held_at(p, 0)->chain.head, 0);
            unhold_first(p);
        }
        return 1;
    }
    struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)p->rxbuf;
    unsigned k = chains_for(p, need);
    h->num_buffers = htole16((uint16_t)k);
    size_t off = 0;
    for (unsigned i = 0; i < k; i++) {
        struct net_rx_chain *c = held_at(p, i);
        size_t len = MIN((size_t)c->chain.in_len, need - off);
        virtq_chain_write(&c->chain, 0, p->rxbuf + off, len);
        off += len;
    }
    push_filled(p, q, need);
    rx_delivered(p, need, h->gso_type);
    return 1;
}

/* Read the next frame from the backend into rxbuf. Returns 1 when one is pending, 0 when the
 * frame was dropped, -EAGAIN when the backend has nothing. */
static int rx_fetch(struct net_pair *p)
{
    struct net_backend *be = p->be;
    size_t off = NET_VNET_HDR_LEN - be->hdr_len;
    ssize_t r = be->ops->recv(be, p->rxbuf + off, NET_MAX_FRAME + be->hdr_len);
    if (r == -EAGAIN)
        return -EAGAIN;
    if (r < (ssize_t)be->hdr_len + 14) {
        p->n->stats.rx_dropped++; /* backend error or a runt */
        return 0;
    }
    struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)p->rxbuf;
    if (!be->hdr_len)
        memset(h, 0, sizeof(*h));
    if (rx_hdr_fixup(p, h) < 0) {
        p->n->stats.rx_dropped++;
        return 0;
    }
    p->rx_len = (size_t)r + off;
    return 1;
}

/* ---- the pump ------------------------------------------------------------------------------ */

static bool rx_active(struct net_pair *p)
{
    struct virtq *q = p->rxq;
    uint8_t st = p->n->vdev.status;
    return !p->n->stopped && !p->n->vdev.paused && (st & VIRTIO_CONFIG_S_DRIVER_OK) &&
           !(st & VIRTIO_CONFIG_S_NEEDS_RESET) && q->enabled && !q->broken && q->avail;
}

/* Receive one frame: straight into guest buffers when possible, else into rxbuf (then pending).
 * Returns 1 (delivered or dropped), 0 (pending in rxbuf), -EAGAIN (the backend has nothing) or
 * another negative errno (queue broken). */
static int rx_next(struct net_pair *p, struct virtq *q)
{
    if (rx_direct_ok(p)) {
        int r = rx_direct(p, q);
        if (r != -ENOBUFS)
            return r;
    }
    int r = rx_fetch(p);
    if (r == 1)
        return 0;          /* pending in rxbuf */
    return r == 0 ? 1 : r; /* dropped, or -EAGAIN */
}

void net_rx_pump(struct net_pair *p)
{
    struct virtq *q = p->rxq;
    struct net_backend *be = p->be;
    if (!rx_active(p)) {
        be->ops->rx_enable(be, false);
        return;
    }
    virtq_disable_notify(q);         /* buffers are only waited for when none are left */
    unsigned budget = NET_RX_BUDGET; /* frames delivered or dropped in this run */
    while (budget) {
        if (!p->rx_len && rl_blocked(&p->n->rx_rl.rl)) {
            be->ops->rx_enable(be, false); /* frames wait in the backend for the timer */
            break;
        }
        if (!p->rx_len) {
            int r = rx_next(p, q);
            if (r == -EAGAIN) {
                be->ops->rx_enable(be, true);
                break;
            }
            if (r < 0)
                break; /* queue broken: DEVICE_NEEDS_RESET is set */
            if (r == 1) {
                budget--;
                continue;
            }
        }
        /* the whole frame (vnet header included) counts, as in Firecracker */
        if (!p->rx_charged && !rl_request(&p->n->rx_rl.rl, p->rx_len)) {
            p->n->rx_rl.throttled++;
            be->ops->rx_enable(be, false); /* it stays in rxbuf, the next ones in the backend */
            break;
        }
        p->rx_charged = true;
        int rc = rx_deliver(p, q);
        if (rc == -EAGAIN) {
            be->ops->rx_enable(be, false);
            if (virtq_enable_notify(q))
                continue; /* buffers arrived meanwhile */
            break;
        }
        if (rc < 0)
            break; /* queue broken: DEVICE_NEEDS_RESET is set */
        p->rx_len = 0;
        p->rx_charged = false;
        budget--;
    }
    if (!budget) /* more may be waiting: come back through the event loop, after other work */
        be->ops->rx_enable(be, true);
    virtio_interrupt(&p->n->vdev, q);
}
