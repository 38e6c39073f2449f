/* net.c — virtio-net device: features, config space, link state, transmit path, creation. */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/util.h"
#include "mmds/mmds.h"
#include "virtio/net.h"
#include "vm/vm.h"

#define PCI_CLASS_ETHERNET 0x020000

static bool dev_live(struct virtio_net *n)
{
    uint8_t st = n->vdev.status;
    return !n->stopped && !n->vdev.paused && (st & VIRTIO_CONFIG_S_DRIVER_OK) &&
           !(st & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* ---- bulk mode: how the I/O thread shares a CPU with its guest ---------------------------------
 * When the vCPU (or the host process feeding the tap) and the I/O thread share one host CPU
 * (overcommitted or nested hosts), every wake-up of the I/O thread by a guest notification or a
 * tap frame preempts the thread that produced it: each frame then costs its own notification,
 * two context switches and an interrupt, and nothing ever batches (measured in the nested lab:
 * one kick, one preemption of the vCPU and two MSIs per transmitted frame). While a device moves
 * bulk traffic (net_bulk_frame) its I/O thread runs as SCHED_BATCH, whose wake-ups do not
 * preempt: the producer fills the ring or the tap queue until it blocks or its time slice ends,
 * then the I/O thread moves the whole batch with one notification and one interrupt (EVENT_IDX
 * does the rest). Small frames only, both ways, put it back to SCHED_OTHER, so an interactive
 * request is served at once. With an idle CPU at hand neither policy changes anything. The
 * count of devices in bulk mode belongs to the I/O thread (thread-local: every caller runs
 * there, and each VM has its own I/O thread). Bulk mode outlives a device reset: it ends, like
 * any time, after enough small frames. */
static __thread unsigned io_bulk_devs; /* devices of this I/O thread in bulk mode */
static __thread int io_policy = -1;    /* the thread's own policy, read once */

/* Count N in (IN) or out of its I/O thread's bulk devices, switching the thread's policy on the
 * first in and the last out. A policy the user chose (not SCHED_OTHER) is left alone. */
static void bulk_count(struct virtio_net *n, bool in)
{
    struct sched_param sp = {0};
    if (n->bulk_off || n->bulk_counted == in)
        return;
    if (io_policy < 0 && pthread_getschedparam(pthread_self(), &io_policy, &sp))
        io_policy = SCHED_FIFO; /* unknown: do not touch it */
    if (io_policy != SCHED_OTHER) {
        n->bulk_off = true;
        return;
    }
    unsigned others = in ? io_bulk_devs : io_bulk_devs - 1;
    if (!others) { /* the first device in or the last one out switches the thread */
        sp.sched_priority = 0;
        int rc = pthread_setschedparam(pthread_self(), in ? SCHED_BATCH : SCHED_OTHER, &sp);
        if (rc) {
            log_warn("%s: cannot change the I/O thread's scheduling: %s", n->id, strerror(rc));
            n->bulk_off = true; /* counted stays as it is: the count matches the policy */
            return;
        }
    }
    n->bulk_counted = in;
    io_bulk_devs = in ? io_bulk_devs + 1 : others;
}

void net_bulk_account(struct virtio_net *n, unsigned dir, size_t frame_len, uint8_t gso_type)
{
    int change = net_bulk_frame(&n->bulk, dir, frame_len, gso_type);
    if (change)
        bulk_count(n, change > 0);
}

/* ---- transmit (I/O thread, device lock held) ------------------------------------------------- */

/* Hand the popped tx_chain to the backend. Returns 0 (sent or dropped) or -EAGAIN (keep it). */
static int tx_one(struct virtio_net *n)
{
    struct virtq_chain *c = &n->tx_chain;
    struct net_backend *be = n->be;
    uint64_t f = n->vdev.guest_features;
    if (c->out_len < NET_VNET_HDR_LEN)
        goto drop;
    size_t frame_len = c->out_len - NET_VNET_HDR_LEN;
    virtq_chain_read(c, 0, &n->tx_hdr, sizeof(n->tx_hdr)); /* our copy: checked, then sent */
    if (net_tx_hdr_check(&n->tx_hdr, f, frame_len) < 0 || !n->admin_up || !be->link_up)
        goto drop;
    if (!be->hdr_len && (n->tx_hdr.flags || n->tx_hdr.gso_type))
        goto drop; /* offloads were not offered for this backend */
    unsigned k = 0;
    if (be->hdr_len) {
        n->tx_hdr.num_buffers = 0;
        n->tx_send[k++] = (struct iovec){&n->tx_hdr, sizeof(n->tx_hdr)};
    }
    int m = net_iov_skip(n->tx_send + k, NET_TX_IOV, c->iov, c->nout, NET_VNET_HDR_LEN);
    if (m < 0)
        goto drop;
    int rc = be->ops->send(be, n->tx_send, k + (unsigned)m);
    if (rc == -EAGAIN)
        return -EAGAIN;
    if (rc < 0)
        goto drop;
    n->stats.tx_packets++;
    n->stats.tx_bytes += frame_len;
    net_bulk_account(n, 1, frame_len, n->tx_hdr.gso_type);
    return 0;
drop:
    n->stats.tx_dropped++;
    return 0;
}

/* Send what the guest queued, NET_TX_BUDGET chains at a time. */
static void net_tx(struct virtio_net *n)
{
    struct virtq *q = &n->vdev.vq[NET_TXQ];
    if (!dev_live(n) || !q->enabled || q->broken || !q->avail)
        return;
    if (n->tx_pending) {
        if (tx_one(n) == -EAGAIN)
            return; /* tx_ready will call again */
        n->tx_pending = false;
        virtq_push(q, n->tx_chain.head, 0);
    }
    unsigned budget = NET_TX_BUDGET;
    int r;
    do {
        if (rl_blocked(&n->tx_rl.rl))
            goto out; /* the limiter's timer calls us again */
        virtq_disable_notify(q);
        while (budget && (r = virtq_pop(q, &n->tx_chain)) > 0) {
            budget--;
            /* the whole chain (vnet header included) counts, as in Firecracker */
            if (!rl_request(&n->tx_rl.rl, n->tx_chain.out_len)) {
                q->last_avail--; /* undo the pop: the frame waits in the ring */
                n->tx_rl.throttled++;
                goto out;
            }
            if (tx_one(n) == -EAGAIN) {
                n->tx_pending = true;
                goto out;
            }
            virtq_push(q, n->tx_chain.head, 0);
        }
        if (!budget) { /* more later: re-kick ourselves through the queue's eventfd */
            virtio_queue_defer(q);
            goto out;
        }
    } while (r == 0 && virtq_enable_notify(q));
out:
    virtio_interrupt(&n->vdev, q);
}

/* ---- backend callbacks (I/O thread, lock not held) ------------------------------------------- */

static void net_rx_ready(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    net_rx_pump(n);
    virtio_unlock(&n->vdev);
}

static void net_tx_ready(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    net_tx(n);
    virtio_unlock(&n->vdev);
}

/* The rate limiters let frames go again (I/O thread, lock held). */
static void net_rx_rl_resume(void *opaque)
{
    net_rx_pump(opaque);
}

static void net_tx_rl_resume(void *opaque)
{
    net_tx(opaque);
}

/* evloop_call target after DRIVER_OK: start receiving. */
static void net_start(void *opaque)
{
    net_rx_ready(opaque);
}

/* ---- virtio device ops (device lock held) -----------------------------------------------------
 */

static void net_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_net *n = opaque;
    uint8_t cfg[NET_CONFIG_SIZE] = {0};
    uint16_t status = htole16(n->admin_up && n->be->link_up ? VIRTIO_NET_S_LINK_UP : 0);
    uint16_t pairs = htole16(1), mtu = htole16(NET_MTU);
    memcpy(cfg, n->mac, 6);
    memcpy(cfg + 6, &status, 2);
    memcpy(cfg + 8, &pairs, 2);
    memcpy(cfg + 10, &mtu, 2);
    memset(data, 0, size);
    if (off < sizeof(cfg))
        memcpy(data, cfg + off, MIN((size_t)size, sizeof(cfg) - off));
}

static bool net_features_ok(void *opaque, uint64_t features)
{
    return net_features_valid(features);
}

static int net_activate(void *opaque)
{
    struct virtio_net *n = opaque;
    uint64_t f = n->vdev.guest_features;
    n->tx_limit = net_tx_limit(f);
    if (n->be->ops->set_offload && n->be->ops->set_offload(n->be, net_guest_offloads(f)) < 0)
        log_warn("%s: cannot set the backend's offloads", n->be->desc);
    return evloop_call(n->vdev.vm->loop, net_start, n); /* rx starts on the I/O thread */
}

static void net_queue_notify(void *opaque, struct virtq *q)
{
    struct virtio_net *n = opaque;
    if (q->index == NET_RXQ)
        net_rx_pump(n); /* the guest added receive buffers */
    else if (q->index == NET_TXQ)
        net_tx(n);
}

static void net_reset(void *opaque)
{
    struct virtio_net *n = opaque;
    net_rx_reset(n);
    n->tx_pending = false;
    if (n->be->ops->set_offload)
        n->be->ops->set_offload(n->be, 0);
    /* the backend's rx is switched off by the next rx_ready, on the I/O thread */
}

/* Pause (vdev.paused set: backend callbacks touch no ring and switch the backend's rx off, so
 * frames wait in the tap's queue or slirp's). Chains popped and not used go back to the driver's
 * avail ring (they are the newest pops of their queue), so the ring indices are all a snapshot
 * needs: receive chains held for a frame, and a transmit chain the backend refused (EAGAIN). The
 * frame already read into rxbuf stays there and is delivered after resume. */
static void net_pause(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    net_rx_unpop(n);
    if (n->tx_pending) {
        n->vdev.vq[NET_TXQ].last_avail--;
        n->tx_pending = false;
    }
    virtio_unlock(&n->vdev);
}

static void net_stop(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    n->stopped = true;
    virtio_unlock(&n->vdev);
}

static void net_destroy(void *opaque)
{
    struct virtio_net *n = opaque;
    if (n->be)
        n->be->ops->close(n->be);
    virtio_rl_fini(&n->rx_rl);
    virtio_rl_fini(&n->tx_rl);
    free(n->held);
    free(n->rxbuf);
    free(n);
}

static const struct virtio_dev_ops net_ops = {
    .config_read = net_config_read,
    .features_ok = net_features_ok,
    .activate = net_activate,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
    .pause = net_pause,
    .stop = net_stop,
    .destroy = net_destroy,
};

/* ---- host-side API ----------------------------------------------------------------------------
 */

void virtio_net_counters(struct virtio_net *n, struct net_counters *out)
{
    virtio_lock(&n->vdev);
    *out = n->stats;
    out->rx_dropped += n->be->rx_dropped;
    out->rx_rl_throttled = n->rx_rl.throttled;
    out->rx_rl_events = n->rx_rl.events;
    out->tx_rl_throttled = n->tx_rl.throttled;
    out->tx_rl_events = n->tx_rl.events;
    virtio_unlock(&n->vdev);
}

int virtio_net_set_rate_limiter(struct virtio_net *n, bool tx, const struct rl_config *c, bool bw,
                                bool ops)
{
    return virtio_rl_update(tx ? &n->tx_rl : &n->rx_rl, c, bw, ops);
}

void virtio_net_set_link(struct virtio_net *n, bool up)
{
    virtio_lock(&n->vdev);
    if (n->admin_up != up) {
        n->admin_up = up;
        if (n->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK)
            virtio_config_changed(&n->vdev);
    }
    virtio_unlock(&n->vdev);
}

struct virtio_net *virtio_net_find(struct vm *vm, const char *id)
{
    struct virtio_dev *vdev = NULL;
    while ((vdev = virtio_find(vm, VIRTIO_ID_NET, vdev)))
        if (!strcmp(((struct virtio_net *)vdev->opaque)->id, id))
            return vdev->opaque;
    return NULL;
}

/* ---- creation ---------------------------------------------------------------------------------
 */

static int net_open_backend(struct virtio_net *n, const struct net_config *nc, struct vm *vm,
                            char *err, size_t errlen)
{
    struct net_backend_client cl = {
        .rx_ready = net_rx_ready, .tx_ready = net_tx_ready, .opaque = n};
    int rc = nc->kind == NET_TAP ? tap_backend_open(nc, vm->loop, &cl, &n->be, err, errlen)
                                 : slirp_backend_open(nc, vm->loop, &cl, &n->be, err, errlen);
    if (rc < 0 || !vm->cfg.mmds.enabled || !(vm->cfg.mmds.iface_mask & (1u << n->index)))
        return rc;
    if (!vm->mmds) { /* `truce run` has no MMDS: a restored snapshot's config is not served */
        log_warn("--net %s: MMDS configured but no data store here; not answered", nc->id);
        return 0;
    }
    return mmds_net_wrap(vm->mmds, &vm->cfg.mmds, vm->loop, &n->be, err, errlen);
}

int virtio_net_create(struct vm *vm, unsigned index, char *err, size_t errlen)
{
    const struct net_config *nc = &vm->cfg.nets[index];
    struct virtio_net *n = calloc(1, sizeof(*n));
    int rc = -ENOMEM;
    if (!n || !(n->rxbuf = malloc(NET_VNET_HDR_LEN + NET_MAX_FRAME)) ||
        !(n->held = calloc(NET_QUEUE_SIZE, sizeof(*n->held)))) {
        snprintf(err, errlen, "--net %s: out of memory", nc->id);
        goto fail;
    }
    str_copy(n->id, sizeof(n->id), nc->id);
    n->index = index;
    n->admin_up = true;
    n->tx_chain.iov = n->tx_iov;
    n->tx_chain.max_iov = NET_TX_IOV;
    net_bulk_init(&n->bulk);
    if (nc->mac_set)
        memcpy(n->mac, nc->mac, 6);
    else
        net_default_mac(vm->cfg.vm_id, index, n->mac);
    rc = net_open_backend(n, nc, vm, err, errlen);
    if (rc < 0)
        goto fail;
    rc = virtio_dev_init(&n->vdev, vm, "virtio-net", VIRTIO_ID_NET, PCI_CLASS_ETHERNET,
                         net_host_features(n->be->offload_caps), 2, NET_QUEUE_SIZE, NET_CONFIG_SIZE,
                         &net_ops, n);
    if (rc < 0) {
        snprintf(err, errlen, "--net %s: virtio_dev_init failed", nc->id);
        goto fail;
    }
    rc = virtio_rl_add(&n->vdev, &n->rx_rl, &nc->rx_rate_limiter, net_rx_rl_resume, n);
    if (rc == 0)
        rc = virtio_rl_add(&n->vdev, &n->tx_rl, &nc->tx_rate_limiter, net_tx_rl_resume, n);
    if (rc == 0)
        rc = virtio_dev_add(vm, &n->vdev, err, errlen);
    else
        snprintf(err, errlen, "--net %s: cannot set up its rate limiters: %s", nc->id,
                 strerror(-rc));
    if (rc < 0) {
        virtio_unwatch_all(&n->vdev);
        virtio_rl_fini(&n->rx_rl);
        virtio_rl_fini(&n->tx_rl);
        virtio_dev_fini(&n->vdev);
        goto fail;
    }
    log_info("%s: %s, mac %02x:%02x:%02x:%02x:%02x:%02x", nc->id, n->be->desc, n->mac[0], n->mac[1],
             n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
    return 0;
fail:
    if (n && n->be)
        n->be->ops->close(n->be);
    if (n) {
        free(n->held);
        free(n->rxbuf);
    }
    free(n);
    return rc;
}

static int net_class_create(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->cfg.nnets; i++) {
        int rc = virtio_net_create(vm, i, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static const struct device_class net_class = {
    .name = "virtio-net",
    .order = DEV_ORDER_PCI,
    .create = net_class_create,
};
DEVICE_CLASS(net_class);
