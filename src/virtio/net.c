/* net.c — virtio-net device: features, config space, link state, transmit path, queue pairs,
 * creation. */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/state.h"
#include "util/util.h"
#include "mmds/mmds.h"
#include "virtio/net.h"
#include "vm/vm.h"

#define PCI_CLASS_ETHERNET 0x020000

bool net_live(const struct virtio_net *n)
{
    uint8_t st = n->vdev.status;
    return !n->stopped && !n->vdev.paused && (st & VIRTIO_CONFIG_S_DRIVER_OK) &&
           !(st & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* ---- bulk mode (vm/io_bulk.c): large or GSO frames either way; small frames each way end it,
 * so an interactive request is served at once. Bulk mode outlives a device reset: it ends, like
 * any time, after enough small frames. -----------------------------------------------------------
 */

void net_bulk_account(struct virtio_net *n, unsigned dir, size_t frame_len, uint8_t gso_type)
{
    int change = net_bulk_frame(&n->bulk, dir, frame_len, gso_type);
    if (change)
        io_bulk_count(&n->bulk_sched, n->id, change > 0);
}

/* ---- transmit (I/O thread, device lock held) ------------------------------------------------- */

/* Hand the popped tx_chain to the backend. Returns 0 (sent or dropped) or -EAGAIN (keep it). */
static int tx_one(struct net_pair *p)
{
    struct virtio_net *n = p->n;
    struct virtq_chain *c = &p->tx_chain;
    struct net_backend *be = p->be;
    uint64_t f = n->vdev.guest_features;
    if (c->out_len < NET_VNET_HDR_LEN)
        goto drop;
    size_t frame_len = c->out_len - NET_VNET_HDR_LEN;
    virtq_chain_read(c, 0, &p->tx_hdr, sizeof(p->tx_hdr)); /* our copy: checked, then sent */
    if (net_tx_hdr_check(&p->tx_hdr, f, frame_len) < 0 || !n->admin_up || !be->link_up)
        goto drop;
    if (!be->hdr_len && (p->tx_hdr.flags || p->tx_hdr.gso_type))
        goto drop; /* offloads were not offered for this backend */
    unsigned k = 0;
    if (be->hdr_len) {
        p->tx_hdr.num_buffers = 0;
        p->tx_send[k++] = (struct iovec){&p->tx_hdr, sizeof(p->tx_hdr)};
    }
    int m = net_iov_skip(p->tx_send + k, NET_TX_IOV, c->iov, c->nout, NET_VNET_HDR_LEN);
    if (m < 0)
        goto drop;
    int rc = be->ops->send(be, p->tx_send, k + (unsigned)m);
    if (rc == -EAGAIN)
        return -EAGAIN;
    if (rc < 0)
        goto drop;
    n->stats.tx_packets++;
    n->stats.tx_bytes += frame_len;
    net_bulk_account(n, 1, frame_len, p->tx_hdr.gso_type);
    return 0;
drop:
    n->stats.tx_dropped++;
    return 0;
}

/* Send what the guest queued on P, NET_TX_BUDGET chains at a time. */
static void net_tx(struct net_pair *p)
{
    struct virtio_net *n = p->n;
    struct virtq *q = p->txq;
    if (!net_live(n) || !q->enabled || q->broken || !q->avail)
        return;
    if (p->tx_pending) {
        if (tx_one(p) == -EAGAIN)
            return; /* tx_ready will call again */
        p->tx_pending = false;
        virtq_push(q, p->tx_chain.head, 0);
    }
    unsigned budget = NET_TX_BUDGET;
    int r;
    do {
        if (rl_blocked(&n->tx_rl.rl))
            goto out; /* the limiter's timer calls us again */
        virtq_disable_notify(q);
        while (budget && (r = virtq_pop(q, &p->tx_chain)) > 0) {
            budget--;
            /* the whole chain (vnet header included) counts, as in Firecracker */
            if (!rl_request(&n->tx_rl.rl, p->tx_chain.out_len)) {
                q->last_avail--; /* undo the pop: the frame waits in the ring */
                n->tx_rl.throttled++;
                goto out;
            }
            if (tx_one(p) == -EAGAIN) {
                p->tx_pending = true;
                goto out;
            }
            virtq_push(q, p->tx_chain.head, 0);
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
    struct net_pair *p = opaque;
    virtio_lock(&p->n->vdev);
    net_rx_pump(p);
    virtio_unlock(&p->n->vdev);
}

static void net_tx_ready(void *opaque)
{
    struct net_pair *p = opaque;
    virtio_lock(&p->n->vdev);
    net_tx(p);
    virtio_unlock(&p->n->vdev);
}

/* The rate limiters, each shared by every pair, let frames go again (I/O thread, lock held):
 * every pair in use gets its turn, starting one further each time, so that one busy pair cannot
 * take every token. */
static void net_rx_rl_resume(void *opaque)
{
    struct virtio_net *n = opaque;
    unsigned first = n->rx_next++ % n->pairs;
    for (unsigned i = 0; i < n->pairs && !rl_blocked(&n->rx_rl.rl); i++)
        net_rx_pump(&n->pair[(first + i) % n->pairs]);
}

static void net_tx_rl_resume(void *opaque)
{
    struct virtio_net *n = opaque;
    unsigned first = n->tx_next++ % n->max_pairs;
    for (unsigned i = 0; i < n->max_pairs && !rl_blocked(&n->tx_rl.rl); i++)
        net_tx(&n->pair[(first + i) % n->max_pairs]);
}

/* evloop_call target after DRIVER_OK: start receiving on the pairs in use. */
static void net_start(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    for (unsigned i = 0; i < n->pairs; i++)
        net_rx_pump(&n->pair[i]);
    virtio_unlock(&n->vdev);
}

/* ---- virtio device ops (device lock held) -----------------------------------------------------
 */

static void net_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_net *n = opaque;
    uint8_t cfg[NET_CONFIG_SIZE] = {0};
    uint16_t status = htole16((n->admin_up && n->be->link_up ? VIRTIO_NET_S_LINK_UP : 0) |
                              (n->announce ? VIRTIO_NET_S_ANNOUNCE : 0));
    uint16_t pairs = htole16((uint16_t)n->max_pairs), mtu = htole16(NET_MTU);
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

/* Tell every pair's backend which offloads the guest takes (0: none). */
static void net_set_offloads(struct virtio_net *n, unsigned offloads)
{
    for (unsigned i = 0; i < n->max_pairs; i++) {
        struct net_backend *be = n->pair[i].be;
        if (be->ops->set_offload && be->ops->set_offload(be, offloads) < 0 && offloads)
            log_warn("%s: cannot set the backend's offloads", be->desc);
    }
}

static int net_activate(void *opaque)
{
    struct virtio_net *n = opaque;
    uint64_t f = n->vdev.guest_features;
    n->tx_limit = net_tx_limit(f);
    net_set_offloads(n, net_guest_offloads(f));
    if (n->vhost) /* a paused VM (a restore) starts the rings at resume */
        return n->vdev.paused ? 0 : net_vhost_start(n);
    return evloop_call(n->vdev.vm->loop, net_start, n); /* rx starts on the I/O thread */
}

static void net_queue_notify(void *opaque, struct virtq *q)
{
    struct virtio_net *n = opaque;
    /* the control queue follows the pairs the driver negotiated: 2N with VIRTIO_NET_F_MQ, else
     * 2 (a driver taking the control queue alone) */
    bool mq = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MQ);
    if (q->index == (mq ? 2 * n->max_pairs : 2u)) {
        if (virtio_has_feature(&n->vdev, VIRTIO_NET_F_CTRL_VQ))
            net_ctrl_process(n, q);
        return;
    }
    if (!mq && q->index >= 2)
        return; /* not a queue of this negotiation */
    if (q->index >= 2 * n->max_pairs || n->vhost)
        return; /* vhost=on: the rings' kicks go to vhost-net, never here */
    struct net_pair *p = &n->pair[q->index / 2];
    if (q->index % 2 == NET_RXQ)
        net_rx_pump(p); /* the guest added receive buffers */
    else
        net_tx(p);
}

static void net_reset(void *opaque)
{
    struct virtio_net *n = opaque;
    net_vhost_stop(n); /* before the queues are forgotten: vhost lets go of guest memory */
    for (unsigned i = 0; i < n->max_pairs; i++) {
        net_rx_reset(&n->pair[i]);
        n->pair[i].tx_pending = false;
    }
    net_set_offloads(n, 0);
    n->announce = n->announce_owed = false;
    if (n->pairs != 1)
        net_set_pairs(n, 1); /* the spec's default after a reset: the first pair only */
    /* the backends' rx is switched off by the next rx_ready, on the I/O thread */
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
    net_vhost_stop(n); /* vhost=on: the rings' indices back in the queues */
    for (unsigned i = 0; i < n->max_pairs; i++) {
        struct net_pair *p = &n->pair[i];
        net_rx_unpop(p);
        if (p->tx_pending) {
            p->txq->last_avail--;
            p->tx_pending = false;
        }
    }
    virtio_unlock(&n->vdev);
}

/* Resume: vhost=on starts the rings again from the indices saved at pause (or restored); after
 * a restore or a migration the guest is asked to announce itself. */
static void net_resume(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    if (n->vhost && net_live(n) && net_vhost_start(n) < 0)
        virtio_set_needs_reset(&n->vdev, "vhost-net could not start again");
    net_announce_resume(n);
    virtio_unlock(&n->vdev);
}

static void net_restored(void *opaque)
{
    net_announce_restored(opaque);
}

/* MSI-X changed: vhost=on points each running ring's interrupt at its irqfd or back at truce. */
static void net_irq_changed(void *opaque)
{
    struct virtio_net *n = opaque;
    if (n->vhost)
        net_vhost_irq_update(n);
}

static void net_stop(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    net_vhost_stop(n);
    n->stopped = true;
    virtio_unlock(&n->vdev);
}

/* Close every pair's backend and free N. */
static void net_free(struct virtio_net *n)
{
    net_vhost_detach(n); /* vhost's dirty log goes before vhost itself */
    for (unsigned i = 0; n->pair && i < n->max_pairs; i++) {
        struct net_pair *p = &n->pair[i];
        net_vhost_close(p); /* first: vhost lets go of the tap */
        if (p->be)
            p->be->ops->close(p->be);
        page_free(p->held, NET_QUEUE_SIZE * sizeof(*p->held));
        page_free(p->rxbuf, NET_VNET_HDR_LEN + NET_MAX_FRAME);
    }
    free(n->pair);
    free(n);
}

static void net_destroy(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_rl_fini(&n->rx_rl);
    virtio_rl_fini(&n->tx_rl);
    net_free(n);
}

/* The pairs in use (version 3 of the common state; older states: one) and, from version 2 of
 * the "net" section, VIRTIO_NET_S_ANNOUNCE (older: clear). Loading checks them against this
 * device into pairs_load and announce_load; net_state_commit makes them live. */
#define NET_STATE_VERSION 2
static void net_state_visit(void *opaque, struct state_visitor *v)
{
    struct virtio_net *n = opaque;
    uint32_t pairs = n->pairs;
    bool announce = n->announce;
    n->pairs_load = 1;
    n->announce_load = false;
    if (v->loading && v->version < 3)
        return;
    if (!state_begin(v, "net", NET_STATE_VERSION))
        return;
    STATE_U32(v, pairs);
    if (v->loading && !state_error(v) && (pairs < 1 || pairs > n->max_pairs))
        state_fail(v, -EINVAL, "%s: %u queue pairs in use saved, the device has %u", n->id, pairs,
                   n->max_pairs);
    if (v->version >= 2) {
        STATE_BOOL(v, announce);
        if (v->loading && !state_error(v) && announce &&
            !(n->vdev.host_features & 1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE))
            state_fail(v, -EINVAL,
                       "%s: an announcement pending saved, the device has no "
                       "VIRTIO_NET_F_GUEST_ANNOUNCE",
                       n->id);
    }
    n->pairs_load = pairs;
    n->announce_load = announce && v->version >= 2;
    state_end(v);
}

static void net_state_commit(void *opaque)
{
    struct virtio_net *n = opaque;
    net_set_pairs(n, n->pairs_load);
    n->announce = n->announce_load;
    n->announce_owed = false; /* ops->restored decides */
}

static const struct virtio_dev_ops net_ops = {
    .state_visit = net_state_visit,
    .state_commit = net_state_commit,
    .restored = net_restored,
    .config_read = net_config_read,
    .features_ok = net_features_ok,
    .activate = net_activate,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
    .pause = net_pause,
    .resume = net_resume,
    .irq_changed = net_irq_changed,
    .stop = net_stop,
    .destroy = net_destroy,
};

/* ---- host-side API ----------------------------------------------------------------------------
 */

void virtio_net_counters(struct virtio_net *n, struct net_counters *out)
{
    virtio_lock(&n->vdev);
    *out = n->stats;
    for (unsigned i = 0; i < n->max_pairs; i++)
        out->rx_dropped += n->pair[i].be->rx_dropped;
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

/* Open pair P's backend (a tap queue, or user networking for the single pair), MMDS-wrapped when
 * configured for this interface. */
static int net_open_backend(struct virtio_net *n, struct net_pair *p, const struct net_config *nc,
                            struct vm *vm, char *err, size_t errlen)
{
    struct net_backend_client cl = {
        .rx_ready = net_rx_ready, .tx_ready = net_tx_ready, .opaque = p};
    int rc = nc->kind == NET_TAP
                 ? tap_backend_open(nc, p->index, vm->loop, &cl, &p->be, err, errlen)
                 : slirp_backend_open(nc, vm->loop, &cl, &p->be, err, errlen);
    bool mmds = vm->cfg.mmds.enabled && (vm->cfg.mmds.iface_mask & (1u << n->index));
    if (rc == 0 && nc->vhost && mmds) {
        snprintf(err, errlen,
                 "--net %s: vhost=on moves frames in the host kernel, where the MMDS cannot "
                 "answer them: drop vhost=on or the MMDS on this interface",
                 nc->id);
        return -EINVAL;
    }
    if (rc == 0 && nc->vhost)
        return net_vhost_open(p, nc->id, err, errlen);
    if (rc < 0 || !mmds)
        return rc;
    if (n->max_pairs > 1) {
        snprintf(err, errlen, "--net %s: MMDS on a multiqueue interface is not supported yet",
                 nc->id);
        return -EINVAL;
    }
    if (!vm->mmds) { /* `truce run` has no MMDS: a restored snapshot's config is not served */
        log_warn("--net %s: MMDS configured but no data store here; not answered", nc->id);
        return 0;
    }
    return mmds_net_wrap(vm->mmds, &vm->cfg.mmds, vm->loop, &p->be, err, errlen);
}

/* Set up N's pairs for NC: buffers and backends. Returns 0 or <0 with ERR (net_free cleans). */
static int net_setup_pairs(struct virtio_net *n, const struct net_config *nc, struct vm *vm,
                           char *err, size_t errlen)
{
    n->pair = calloc(n->max_pairs, sizeof(*n->pair));
    if (!n->pair)
        goto nomem;
    for (unsigned i = 0; i < n->max_pairs; i++) {
        struct net_pair *p = &n->pair[i];
        p->n = n;
        p->index = i;
        p->tx_chain.iov = p->tx_iov;
        p->tx_chain.max_iov = NET_TX_IOV;
        /* on pages of their own: backed once frames flow, as far as they reach */
        if (!(p->rxbuf = page_zalloc(NET_VNET_HDR_LEN + NET_MAX_FRAME)) ||
            !(p->held = page_zalloc(NET_QUEUE_SIZE * sizeof(*p->held))))
            goto nomem;
        int rc = net_open_backend(n, p, nc, vm, err, errlen);
        if (rc < 0)
            return rc;
    }
    n->be = n->pair[0].be;
    return 0;
nomem:
    snprintf(err, errlen, "--net %s: out of memory", nc->id);
    return -ENOMEM;
}

/* The pair count NC asks for on VM: 1 by default, at most one per vCPU. Returns it or -EINVAL. */
static int net_pair_count(const struct vm *vm, const struct net_config *nc, char *err,
                          size_t errlen)
{
    unsigned np = nc->queues ? nc->queues : 1;
    if (np > NET_MAX_PAIRS || (np > 1 && np > vm->cfg.cpus)) {
        snprintf(err, errlen,
                 "--net %s: queues=%u: at most one queue pair per vCPU (%u vCPUs) and at most %u",
                 nc->id, np, vm->cfg.cpus, NET_MAX_PAIRS);
        return -EINVAL;
    }
    if (np > 1 && nc->kind != NET_TAP) {
        snprintf(err, errlen, "--net %s: queues=%u needs a tap", nc->id, np);
        return -EINVAL;
    }
    return (int)np;
}

int virtio_net_create(struct vm *vm, unsigned index, char *err, size_t errlen)
{
    const struct net_config *nc = &vm->cfg.nets[index];
    int np = net_pair_count(vm, nc, err, errlen);
    if (np < 0)
        return np;
    int vrc = config_net_vhost_error(nc, err, errlen); /* also for a restored or API config */
    if (vrc < 0)
        return vrc;
    struct virtio_net *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "--net %s: out of memory", nc->id);
        return -ENOMEM;
    }
    str_copy(n->id, sizeof(n->id), nc->id);
    n->index = index;
    n->admin_up = true;
    n->max_pairs = (unsigned)np;
    n->pairs = 1;
    n->vhost = nc->vhost;
    net_bulk_init(&n->bulk);
    if (nc->mac_set)
        memcpy(n->mac, nc->mac, 6);
    else
        net_default_mac(vm->cfg.vm_id, index, n->mac);
    int rc = net_setup_pairs(n, nc, vm, err, errlen);
    if (rc < 0)
        goto fail;
    uint64_t features = net_host_features(n->be->offload_caps);
    unsigned nq = 2 * n->max_pairs;
    if (n->max_pairs > 1)
        features |= 1ULL << VIRTIO_NET_F_MQ;
    if (!nc->no_announce) /* an older snapshot's device (config.h) had no announcements */
        features |= 1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE;
    if (features & (1ULL << VIRTIO_NET_F_MQ | 1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE)) {
        features |= 1ULL << VIRTIO_NET_F_CTRL_VQ; /* the control queue, after the pairs */
        nq++;
    }
    rc = virtio_dev_init(&n->vdev, vm, "virtio-net", VIRTIO_ID_NET, PCI_CLASS_ETHERNET, features,
                         nq, NET_QUEUE_SIZE, NET_CONFIG_SIZE, &net_ops, n);
    if (rc < 0) {
        snprintf(err, errlen, "--net %s: virtio_dev_init failed", nc->id);
        goto fail;
    }
    if (features & 1ULL << VIRTIO_NET_F_CTRL_VQ)
        n->vdev.vq[nq - 1].max_size = NET_CTRL_SIZE;
    for (unsigned i = 0; i < n->max_pairs; i++) { /* the queues exist from virtio_dev_init on */
        n->pair[i].rxq = &n->vdev.vq[2 * i + NET_RXQ];
        n->pair[i].txq = &n->vdev.vq[2 * i + NET_TXQ];
    }
    net_set_pairs(n, 1); /* the other tap queues stay detached until the driver asks */
    rc = n->vhost ? net_vhost_attach(n, err, errlen) : 0;
    bool err_set = rc < 0;
    if (rc == 0)
        rc = virtio_rl_add(&n->vdev, &n->rx_rl, &nc->rx_rate_limiter, net_rx_rl_resume, n);
    if (rc == 0)
        rc = virtio_rl_add(&n->vdev, &n->tx_rl, &nc->tx_rate_limiter, net_tx_rl_resume, n);
    if (rc == 0)
        rc = virtio_dev_add(vm, &n->vdev, err, errlen);
    else if (!err_set)
        snprintf(err, errlen, "--net %s: cannot set up its rate limiters: %s", nc->id,
                 strerror(-rc));
    if (rc < 0) {
        virtio_unwatch_all(&n->vdev);
        virtio_rl_fini(&n->rx_rl);
        virtio_rl_fini(&n->tx_rl);
        virtio_dev_fini(&n->vdev);
        goto fail;
    }
    log_info("%s: %s, mac %02x:%02x:%02x:%02x:%02x:%02x, %u queue pair%s%s", nc->id, n->be->desc,
             n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5], n->max_pairs,
             n->max_pairs > 1 ? "s" : "", n->vhost ? ", vhost-net" : "");
    return 0;
fail:
    net_free(n);
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
