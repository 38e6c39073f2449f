/* vsock.c — virtio-vsock device: moves packets between the virtqueues and the vsock engine.
 *
 * Queues: 0 rx (host -> guest), 1 tx (guest -> host), 2 event (never used: no transport reset
 * yet). A packet is a 44-byte header followed by its payload; the header and payload may share
 * one descriptor or be spread over several, so both are read and written as byte ranges of the
 * chain. The host side (UNIX sockets, credit, connection table) is vsock_proto.c/vsock_host.c. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "dev/dev.h"
#include "util/util.h"
#include "virtio/virtio.h"
#include "virtio/vsock_proto.h"
#include "vm/vm.h"

#define VSOCK_QUEUE_SIZE            256
#define VSOCK_RXQ                   0
#define VSOCK_TXQ                   1
#define VSOCK_EVQ                   2
#define VSOCK_EVENT_TRANSPORT_RESET 0 /* virtio_vsock_event.id */
#define VSOCK_CHAIN_IOV             (VSOCK_MAX_IOV + 2)
#define VSOCK_HDR_LEN               sizeof(struct vsock_hdr)
#define PCI_CLASS_OTHER             0xff0000

struct virtio_vsock {
    struct virtio_dev vdev;
    struct vsock_engine *eng;
    uint64_t guest_cid;
    bool stopped;
    uint64_t bad_chains; /* chains too short for a header */
    /* a receive chain popped but not used yet (the engine had nothing after all) */
    struct virtq_chain rx_chain;
    struct iovec rx_iov[VSOCK_CHAIN_IOV];
    bool rx_held;
    bool reset_owed; /* a TRANSPORT_RESET event waits for an event buffer */
    struct virtq_chain tx_chain;
    struct iovec tx_iov[VSOCK_CHAIN_IOV];
    struct iovec payload[VSOCK_CHAIN_IOV];
};

static bool vs_live(struct virtio_vsock *v, struct virtq *q)
{
    uint8_t st = v->vdev.status;
    return !v->stopped && (st & VIRTIO_CONFIG_S_DRIVER_OK) && !(st & VIRTIO_CONFIG_S_NEEDS_RESET) &&
           q->enabled && !q->broken && q->avail;
}

/* Pop the next receive chain into v->rx_chain, dropping chains too short for a header.
 * Returns 1 with the chain held, 0 when the ring is empty (notifications re-enabled), <0 when
 * the queue broke. *PUSHED is set when a chain went back to the guest. */
static int vs_rx_take(struct virtio_vsock *v, struct virtq *q, bool *pushed)
{
    struct virtq_chain *c = &v->rx_chain;
    c->iov = v->rx_iov;
    c->max_iov = VSOCK_CHAIN_IOV;
    int r = virtq_pop(q, c);
    if (r == 0 && virtq_enable_notify(q))
        r = virtq_pop(q, c); /* buffers arrived meanwhile */
    if (r <= 0)
        return r;
    if (c->in_len < VSOCK_HDR_LEN) {
        v->bad_chains++;
        virtq_push(q, c->head, 0);
        *pushed = true;
        return 2; /* consumed, try the next one */
    }
    v->rx_held = true;
    return 1;
}

/* Fill receive chains with packets from the engine until either runs out, at most
 * VIRTQ_BUDGET chains per call; the rest is deferred to the next loop iteration, so the I/O
 * thread serves other devices meanwhile whatever the guest posts. Lock held. */
static void vs_rx(struct virtio_vsock *v)
{
    struct virtq *q = &v->vdev.vq[VSOCK_RXQ];
    if (!vs_live(v, q))
        return;
    bool pushed = false;
    unsigned budget = VIRTQ_BUDGET(q);
    virtq_disable_notify(q);
    while (vsock_engine_has_rx(v->eng)) {
        if (!budget--) {
            virtio_queue_defer(q); /* vs_queue_notify(RXQ) continues */
            break;
        }
        struct virtq_chain *c = &v->rx_chain;
        if (!v->rx_held) {
            int r = vs_rx_take(v, q, &pushed);
            if (r <= 0)
                break; /* empty: the guest's next refill kicks us; or broken */
            if (r == 2)
                continue;
        }
        struct vsock_hdr h;
        size_t cap = c->in_len - VSOCK_HDR_LEN;
        unsigned np = iov_slice(c->iov + c->nout, c->nin, VSOCK_HDR_LEN, SIZE_MAX, v->payload,
                                ARRAY_SIZE(v->payload));
        if (!vsock_engine_guest_rx(v->eng, &h, v->payload, np, cap)) {
            if (cap)
                break; /* nothing after all: keep the chain for the next packet */
            /* Only data waits and this chain has no room for any: give it back unused, so
             * the guest's next, larger buffer gets the data (a header-only buffer must not
             * stall the connection, nor be retried forever). */
            v->bad_chains++;
            virtq_push(q, c->head, 0);
            v->rx_held = false;
            pushed = true;
            continue;
        }
        virtq_chain_write(c, 0, &h, VSOCK_HDR_LEN);
        virtq_push(q, c->head, (uint32_t)(VSOCK_HDR_LEN + le32toh(h.len)));
        v->rx_held = false;
        pushed = true;
    }
    if (pushed)
        virtio_interrupt(&v->vdev, q);
}

/* Hand every queued guest packet to the engine. Lock held. */
static void vs_tx(struct virtio_vsock *v)
{
    struct virtq *q = &v->vdev.vq[VSOCK_TXQ];
    struct virtq_chain *c = &v->tx_chain;
    int r;
    do {
        virtq_disable_notify(q);
        while ((r = virtq_pop(q, c)) > 0) {
            struct vsock_hdr h;
            if (c->out_len < VSOCK_HDR_LEN) {
                v->bad_chains++;
            } else {
                virtq_chain_read(c, 0, &h, VSOCK_HDR_LEN);
                unsigned np = iov_slice(c->iov, c->nout, VSOCK_HDR_LEN, SIZE_MAX, v->payload,
                                        ARRAY_SIZE(v->payload));
                vsock_engine_guest_tx(v->eng, &h, v->payload, np, c->out_len - VSOCK_HDR_LEN);
            }
            virtq_push(q, c->head, 0);
        }
    } while (r == 0 && virtq_enable_notify(q));
    virtio_interrupt(&v->vdev, q);
}

/* ---- callbacks ---------------------------------------------------------------------------------
 */

/* The engine's epoll fd is readable (host sockets, timers). I/O thread, lock held. */
static void vs_engine_event(void *opaque, uint32_t events)
{
    struct virtio_vsock *v = opaque;
    if (v->stopped)
        return;
    vsock_engine_poll(v->eng);
    vs_rx(v);
}

static void vs_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_vsock *v = opaque;
    uint64_t cid = htole64(v->guest_cid);
    memset(data, 0, size);
    if (off < sizeof(cid))
        memcpy(data, (uint8_t *)&cid + off, MIN((size_t)size, sizeof(cid) - off));
}

/* Give the driver a VIRTIO_VSOCK_EVENT_TRANSPORT_RESET if one is owed and it posted an event
 * buffer (else it waits for the next one). Lock held. */
static void vs_deliver_reset(struct virtio_vsock *v)
{
    struct virtq *q = &v->vdev.vq[VSOCK_EVQ];
    struct iovec iov[2];
    struct virtq_chain c = {.iov = iov, .max_iov = 2};
    if (!v->reset_owed || !vs_live(v, q) || virtq_pop(q, &c) <= 0)
        return;
    uint32_t id = htole32(VSOCK_EVENT_TRANSPORT_RESET);
    virtq_push(q, c.head, (uint32_t)virtq_chain_write(&c, 0, &id, sizeof(id)));
    v->reset_owed = false;
    virtio_interrupt(&v->vdev, q);
}

static void vs_queue_notify(void *opaque, struct virtq *q)
{
    struct virtio_vsock *v = opaque;
    if (q->index == VSOCK_TXQ)
        vs_tx(v);
    if (q->index != VSOCK_EVQ)
        vs_rx(v); /* replies to what was sent, or buffers for what waits */
    else
        vs_deliver_reset(v);
}

static void vs_reset(void *opaque)
{
    struct virtio_vsock *v = opaque;
    vsock_engine_reset(v->eng); /* the guest forgot every connection */
    v->rx_held = false;
    v->reset_owed = false;
}

static void vs_stop(void *opaque)
{
    struct virtio_vsock *v = opaque;
    virtio_lock(&v->vdev);
    v->stopped = true;
    virtio_unlock(&v->vdev);
}

static void vs_destroy(void *opaque)
{
    struct virtio_vsock *v = opaque;
    vsock_engine_free(v->eng);
    free(v);
}

/* After a restore the host side has no connection left (as Firecracker documents): the guest
 * is told to drop its own and read its CID again. */
static void vs_restored(void *opaque)
{
    struct virtio_vsock *v = opaque;
    v->reset_owed = true;
    vs_deliver_reset(v);
}

static const struct virtio_dev_ops vsock_ops = {
    .restored = vs_restored,
    .config_read = vs_config_read,
    .queue_notify = vs_queue_notify,
    .reset = vs_reset,
    .stop = vs_stop,
    .destroy = vs_destroy,
};

/* Create the vsock device vm->cfg.vsock describes. Returns 0 or <0 with ERR. */
static int vsock_class_create(struct vm *vm, char *err, size_t errlen)
{
    const struct vsock_config *vc = &vm->cfg.vsock;
    if (!vc->enabled)
        return 0;
    struct virtio_vsock *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "--vsock: out of memory");
        return -ENOMEM;
    }
    v->guest_cid = vc->guest_cid;
    v->tx_chain.iov = v->tx_iov;
    v->tx_chain.max_iov = VSOCK_CHAIN_IOV;
    int rc = vsock_engine_new(vc->guest_cid, vc->uds_path, &v->eng);
    if (rc < 0) {
        snprintf(err, errlen, "--vsock: uds=%s: cannot listen there: %s", vc->uds_path,
                 strerror(-rc));
        free(v);
        return rc;
    }
    rc = virtio_dev_init(&v->vdev, vm, "virtio-vsock", VIRTIO_ID_VSOCK, PCI_CLASS_OTHER, 0, 3,
                         VSOCK_QUEUE_SIZE, sizeof(uint64_t), &vsock_ops, v);
    if (rc < 0) {
        snprintf(err, errlen, "--vsock: virtio_dev_init failed");
        goto fail;
    }
    rc = virtio_dev_add(vm, &v->vdev, err, errlen);
    if (rc < 0) {
        virtio_dev_fini(&v->vdev);
        goto fail;
    }
    /* From here the transport owns V (vs_destroy frees it). */
    rc = virtio_watch_fd(&v->vdev, vsock_engine_fd(v->eng), EPOLLIN, vs_engine_event, v);
    if (rc < 0)
        snprintf(err, errlen, "--vsock: cannot watch its sockets: %s", strerror(-rc));
    return rc;
fail:
    vsock_engine_free(v->eng);
    free(v);
    return rc;
}

static const struct device_class vsock_class = {
    .name = "virtio-vsock",
    .order = DEV_ORDER_PCI,
    .create = vsock_class_create,
};
DEVICE_CLASS(vsock_class);

int virtio_vsock_stats(struct vm *vm, struct vsock_stats *out)
{
    struct virtio_dev *vdev = virtio_find(vm, VIRTIO_ID_VSOCK, NULL);
    if (!vdev)
        return -ENODEV;
    struct virtio_vsock *v = (struct virtio_vsock *)vdev; /* vdev is the first member */
    virtio_lock(vdev);
    *out = *vsock_engine_stats(v->eng);
    virtio_unlock(vdev);
    return 0;
}
