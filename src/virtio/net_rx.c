/* net_rx.c — virtio-net receive path: backend frames into the guest's (mergeable) buffers.
 *
 * One frame at a time is read from the backend into rxbuf. It is delivered into chains popped
 * from the receive queue; with MRG_RXBUF several chains are gathered first. When the queue runs
 * dry the frame stays pending, the gathered chains stay held (the guest does not see them until
 * they are pushed), the backend stops being read and the queue's notifications are enabled:
 * the guest's next refill resumes delivery. Nothing is dropped for lack of buffers; frames are
 * dropped (and counted) only when the guest could never take them. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "util/util.h"
#include "virtio/net.h"

void net_rx_reset(struct virtio_net *n)
{
    n->nheld = 0;
    if (n->rx_len) {
        n->stats.rx_dropped++;
        n->rx_len = 0;
    }
}

/* Total writable bytes of the held chains. */
static size_t held_capacity(const struct virtio_net *n)
{
    size_t have = 0;
    for (unsigned i = 0; i < n->nheld; i++)
        have += n->held[i].chain.in_len;
    return have;
}

/* Pop one more receive chain. Returns 1, 0 (queue empty) or <0 (queue broken). */
static int hold_one(struct virtio_net *n, struct virtq *q)
{
    struct net_rx_chain *h = &n->held[n->nheld];
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
    return 1;
}

/* Drop the first K held chains (they were pushed), keeping the rest in order. */
static void unhold(struct virtio_net *n, unsigned k)
{
    memmove(n->held, n->held + k, (n->nheld - k) * sizeof(n->held[0]));
    n->nheld -= k;
    for (unsigned i = 0; i < n->nheld; i++)
        n->held[i].chain.iov = n->held[i].iov;
}

/* Deliver the pending frame. Returns 1 (delivered or dropped as undeliverable), -EAGAIN (wait for
 * the guest to add buffers) or another negative errno (queue broken). */
static int rx_deliver(struct virtio_net *n, struct virtq *q)
{
    bool mrg = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
    size_t need = n->rx_len;
    while ((mrg || n->nheld == 0) && held_capacity(n) < need && n->nheld < q->size) {
        int r = hold_one(n, q);
        if (r < 0)
            return r;
        if (r == 0)
            return -EAGAIN;
    }
    if (mrg ? held_capacity(n) < need : n->held[0].chain.in_len < need) {
        /* Larger than anything the guest can give. Mergeable chains stay for the next frame; a
         * lone small chain goes back empty (the driver counts a length error and reuses it). */
        n->stats.rx_dropped++;
        if (!mrg) {
            virtq_push(q, n->held[0].chain.head, 0);
            unhold(n, 1);
        }
        return 1;
    }
    struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)n->rxbuf;
    unsigned k = 1;
    for (size_t cap = n->held[0].chain.in_len; cap < need; k++)
        cap += n->held[k].chain.in_len;
    h->num_buffers = htole16((uint16_t)k);
    size_t off = 0;
    for (unsigned i = 0; i < k; i++) {
        size_t len = MIN((size_t)n->held[i].chain.in_len, need - off);
        virtq_chain_write(&n->held[i].chain, 0, n->rxbuf + off, len);
        virtq_push(q, n->held[i].chain.head, (uint32_t)len);
        off += len;
    }
    unhold(n, k);
    n->stats.rx_packets++;
    n->stats.rx_bytes += need - NET_VNET_HDR_LEN;
    net_bulk_account(n, 0, need - NET_VNET_HDR_LEN, h->gso_type);
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
    uint64_t f = n->vdev.guest_features;
    if (!(f & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
        h->flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID; /* a hint the guest did not ask for */
    if (net_rx_hdr_check(h, f) < 0 || !n->admin_up) {
        n->stats.rx_dropped++;
        return 0;
    }
    n->rx_len = (size_t)r + off;
    return 1;
}

static bool rx_active(struct virtio_net *n)
{
    struct virtq *q = &n->vdev.vq[NET_RXQ];
    uint8_t st = n->vdev.status;
    return !n->stopped && (st & VIRTIO_CONFIG_S_DRIVER_OK) && !(st & VIRTIO_CONFIG_S_NEEDS_RESET) &&
           q->enabled && !q->broken && q->avail;
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
        if (!n->rx_len) {
            int r = rx_fetch(n);
            if (r == -EAGAIN) {
                be->ops->rx_enable(be, true);
                break;
            }
            if (r == 0) {
                budget--;
                continue;
            }
        }
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
        budget--;
    }
    if (!budget) /* more may be waiting: come back through the event loop, after other work */
        be->ops->rx_enable(be, true);
    virtio_interrupt(&n->vdev, q);
}
