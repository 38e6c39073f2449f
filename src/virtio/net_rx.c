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
static struct net_rx_chain *held_at(struct virtio_net *n, unsigned i)
{
    return &n->held[(n->held_first + i) % NET_QUEUE_SIZE];
}

void net_rx_unpop(struct virtio_net *n)
{
    n->vdev.vq[NET_RXQ].last_avail -= (uint16_t)n->nheld;
    n->held_first = n->nheld = 0;
    n->held_cap = 0;
}

void net_rx_reset(struct virtio_net *n)
{
    n->held_first = n->nheld = 0;
    n->held_cap = 0;
    if (n->rx_len) {
        n->stats.rx_dropped++;
        n->rx_len = 0;
    }
    n->rx_charged = false;
}

/* Pop one more receive chain. Returns 1, 0 (queue empty) or <0 (queue broken). */
static int hold_one(struct virtio_net *n, struct virtq *q)
{
    struct net_rx_chain *h = held_at(n, n->nheld);
    h->chain.iov = h->iov;
    h->chain.max_iov = NET_RX_IOV;
    int r = virtq_pop(q, &h->chain);
    if (r <= 0)
        return r;
    if (h->chain.in_len == 0) { /* nothing writable: hand it straight back */
        virtq_push(q, h->chain.head, 0);
        return 1;
    }
    n->nheld++;
    n->held_cap += h->chain.in_len;
    return 1;
}

enum { HOLD_DRY, HOLD_FITS, HOLD_NEVER };

/* Hold chains until they can take NEED bytes (without mergeable buffers: until one is held).
 * Returns HOLD_FITS, HOLD_DRY (the queue ran dry first), HOLD_NEVER (every chain the queue can
 * have is held, or the single one is too small) or <0 (queue broken). */
static int hold_for(struct virtio_net *n, struct virtq *q, size_t need, bool mrg)
{
    while ((mrg || n->nheld == 0) && n->held_cap < need && n->nheld < q->size) {
        int r = hold_one(n, q);
        if (r <= 0)
            return r < 0 ? r : HOLD_DRY;
    }
    bool fits = mrg ? n->held_cap >= need : held_at(n, 0)->chain.in_len >= need;
    return fits ? HOLD_FITS : HOLD_NEVER;
}

/* Forget the oldest held chain (pushed). */
static void unhold_first(struct virtio_net *n)
{
    n->held_cap -= held_at(n, 0)->chain.in_len;
    n->held_first = (n->held_first + 1) % NET_QUEUE_SIZE;
    n->nheld--;
}

/* Push the first held chains that a frame of LEN bytes (vnet header included) filled, each with
 * its share of LEN, and forget them. */
static void push_filled(struct virtio_net *n, struct virtq *q, size_t len)
{
    for (size_t off = 0; off < len;) {
        struct net_rx_chain *h = held_at(n, 0);
        size_t part = MIN((size_t)h->chain.in_len, len - off);
        virtq_push(q, h->chain.head, (uint32_t)part);
        unhold_first(n);
        off += part;
    }
}

/* Chains needed for LEN bytes from the first held one. */
static unsigned chains_for(struct virtio_net *n, size_t len)
{
    unsigned k = 0;
    for (size_t cap = 0; cap < len; k++)
        cap += held_at(n, k)->chain.in_len;
    return k;
}

/* Fix up header H of a received frame for the guest. Returns 0 or -EINVAL (drop the frame). */
static int rx_hdr_fixup(struct virtio_net *n, struct virtio_net_hdr_v1 *h)
{
    uint64_t f = n->vdev.guest_features;
    if (!(f & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
        h->flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID; /* a hint the guest did not ask for */
    if (net_rx_hdr_check(h, f) < 0 || !n->admin_up)
        return -EINVAL;
    return 0;
}

/* Count a delivered frame of LEN bytes (vnet header included) with GSO_TYPE. */
static void rx_delivered(struct virtio_net *n, size_t len, uint8_t gso_type)
{
    n->stats.rx_packets++;
    n->stats.rx_bytes += len - NET_VNET_HDR_LEN;
    net_bulk_account(n, 0, len - NET_VNET_HDR_LEN, gso_type);
}

/* ---- straight into guest buffers ---------------------------------------------------------- */

/* Whether frames can be read straight into the held chains. */
static bool rx_direct_ok(struct virtio_net *n)
{
    struct net_backend *be = n->be;
    const struct ratelimiter *rl = &n->rx_rl.rl;
    return be->ops->recvv && be->hdr_len == NET_VNET_HDR_LEN &&
           virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF) && !rl->bw.on && !rl->ops.on;
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
static int rx_direct(struct virtio_net *n, struct virtq *q)
{
    struct net_backend *be = n->be;
    size_t max = NET_VNET_HDR_LEN + NET_MAX_FRAME;
    int r = hold_for(n, q, max, true);
    if (r != HOLD_FITS)
        return r < 0 ? r : -ENOBUFS;
    unsigned cnt = 0;
    for (unsigned i = 0, k = chains_for(n, max); i < k; i++) {
        struct net_rx_chain *h = held_at(n, i);
        if (cnt + h->chain.nin > NET_RX_DIRECT_IOV)
            return -ENOBUFS;
        memcpy(n->rx_iov + cnt, h->iov + h->chain.nout, h->chain.nin * sizeof(struct iovec));
        cnt += h->chain.nin;
    }
    ssize_t len = be->ops->recvv(be, n->rx_iov, cnt);
    if (len == -EAGAIN)
        return -EAGAIN;
    struct virtio_net_hdr_v1 h;
    if (len < NET_VNET_HDR_LEN + 14) {
        n->stats.rx_dropped++; /* backend error or a runt; the chains stay held */
        return 1;
    }
    iov_copy(n->rx_iov, cnt, &h, sizeof(h), false); /* our copy: checked, then written back */
    if (rx_hdr_fixup(n, &h) < 0) {
        n->stats.rx_dropped++;
        return 1;
    }
    h.num_buffers = htole16((uint16_t)chains_for(n, (size_t)len));
    iov_copy(n->rx_iov, cnt, &h, sizeof(h), true);
    push_filled(n, q, (size_t)len);
    rx_delivered(n, (size_t)len, h.gso_type);
    return 1;
}

/* ---- through rxbuf ------------------------------------------------------------------------ */

/* Deliver the pending frame in rxbuf. Returns 1 (delivered or dropped as undeliverable), -EAGAIN
 * (wait for the guest to add buffers) or another negative errno (queue broken). */
static int rx_deliver(struct virtio_net *n, struct virtq *q)
{
    bool mrg = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
    size_t need = n->rx_len;
    int r = hold_for(n, q, need, mrg);
    if (r < 0)
        return r;
    if (r == HOLD_DRY)
        return -EAGAIN; /* wait for the guest to add buffers */
    if (r == HOLD_NEVER) {
        /* Larger than anything the guest can give. Mergeable chains stay for the next frame; a
         * lone small chain goes back empty (the driver counts a length error and reuses it). */
        n->stats.rx_dropped++;
        if (!mrg) {
            virtq_push(q, held_at(n, 0)->chain.head, 0);
            unhold_first(n);
        }
        return 1;
    }
    struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)n->rxbuf;
    unsigned k = chains_for(n, need);
    h->num_buffers = htole16((uint16_t)k);
    size_t off = 0;
    for (unsigned i = 0; i < k; i++) {
        struct net_rx_chain *c = held_at(n, i);
        size_t len = MIN((size_t)c->chain.in_len, need - off);
        virtq_chain_write(&c->chain, 0, n->rxbuf + off, len);
        off += len;
    }
    push_filled(n, q, need);
    rx_delivered(n, need, h->gso_type);
    return 1;
}

/* Read the next frame from the backend into rxbuf. Returns 1 when one is pending, 0 when the
 * frame was dropped, -EAGAIN when the backend has nothing. */
static int rx_fetch(struct virtio_net *n)
{
    struct net_backend *be = n->be;
    size_t off = NET_VNET_HDR_LEN - be->hdr_len;
    ssize_t r = be->ops->recv(be, n->rxbuf + off, NET_MAX_FRAME + be->hdr_len);
    if (r == -EAGAIN)
        return -EAGAIN;
    if (r < (ssize_t)be->hdr_len + 14) {
        n->stats.rx_dropped++; /* backend error or a runt */
        return 0;
    }
    struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)n->rxbuf;
    if (!be->hdr_len)
        memset(h, 0, sizeof(*h));
    if (rx_hdr_fixup(n, h) < 0) {
        n->stats.rx_dropped++;
        return 0;
    }
    n->rx_len = (size_t)r + off;
    return 1;
}

/* ---- the pump ------------------------------------------------------------------------------ */

static bool rx_active(struct virtio_net *n)
{
    struct virtq *q = &n->vdev.vq[NET_RXQ];
    uint8_t st = n->vdev.status;
    return !n->stopped && !n->vdev.paused && (st & VIRTIO_CONFIG_S_DRIVER_OK) &&
           !(st & VIRTIO_CONFIG_S_NEEDS_RESET) && q->enabled && !q->broken && q->avail;
}

/* Receive one frame: straight into guest buffers when possible, else into rxbuf (then pending).
 * Returns 1 (delivered or dropped), 0 (pending in rxbuf), -EAGAIN (the backend has nothing) or
 * another negative errno (queue broken). */
static int rx_next(struct virtio_net *n, struct virtq *q)
{
    if (rx_direct_ok(n)) {
        int r = rx_direct(n, q);
        if (r != -ENOBUFS)
            return r;
    }
    int r = rx_fetch(n);
    if (r == 1)
        return 0;          /* pending in rxbuf */
    return r == 0 ? 1 : r; /* dropped, or -EAGAIN */
}

void net_rx_pump(struct virtio_net *n)
{
    struct virtq *q = &n->vdev.vq[NET_RXQ];
    struct net_backend *be = n->be;
    if (!rx_active(n)) {
        be->ops->rx_enable(be, false);
        return;
    }
    virtq_disable_notify(q);         /* buffers are only waited for when none are left */
    unsigned budget = NET_RX_BUDGET; /* frames delivered or dropped in this run */
    while (budget) {
        if (!n->rx_len && rl_blocked(&n->rx_rl.rl)) {
            be->ops->rx_enable(be, false); /* frames wait in the backend for the timer */
            break;
        }
        if (!n->rx_len) {
            int r = rx_next(n, q);
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
        if (!n->rx_charged && !rl_request(&n->rx_rl.rl, n->rx_len)) {
            n->rx_rl.throttled++;
            be->ops->rx_enable(be, false); /* it stays in rxbuf, the next ones in the backend */
            break;
        }
        n->rx_charged = true;
        int rc = rx_deliver(n, q);
        if (rc == -EAGAIN) {
            be->ops->rx_enable(be, false);
            if (virtq_enable_notify(q))
                continue; /* buffers arrived meanwhile */
            break;
        }
        if (rc < 0)
            break; /* queue broken: DEVICE_NEEDS_RESET is set */
        n->rx_len = 0;
        n->rx_charged = false;
        budget--;
    }
    if (!budget) /* more may be waiting: come back through the event loop, after other work */
        be->ops->rx_enable(be, true);
    virtio_interrupt(&n->vdev, q);
}
