/* net_ctrl.c — virtio-net's control queue: queue pairs (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) and
 * gratuitous packets after a restore or a migration (VIRTIO_NET_F_GUEST_ANNOUNCE). */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "util/util.h"
#include "virtio/net.h"

_Static_assert(sizeof(struct virtio_net_ctrl_hdr) == 2, "control header");
_Static_assert(sizeof(struct virtio_net_ctrl_mq) == 2, "VQ_PAIRS_SET data");

uint8_t net_ctrl_parse(const uint8_t *out, size_t len, size_t total, unsigned max_pairs,
                       struct net_ctrl_cmd *c)
{
    memset(c, 0, sizeof(*c));
    if (len < sizeof(struct virtio_net_ctrl_hdr) || len > total)
        return VIRTIO_NET_ERR;
    c->cls = out[0];
    c->cmd = out[1];
    if (c->cls == VIRTIO_NET_CTRL_ANNOUNCE && c->cmd == VIRTIO_NET_CTRL_ANNOUNCE_ACK)
        return total == 2 && len == total ? VIRTIO_NET_OK : VIRTIO_NET_ERR; /* no data */
    if (c->cls != VIRTIO_NET_CTRL_MQ || c->cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET)
        return VIRTIO_NET_ERR; /* RX, MAC, VLAN, RSS, offloads: not offered */
    if (total != 2 + sizeof(struct virtio_net_ctrl_mq) || len != total)
        return VIRTIO_NET_ERR;
    uint16_t pairs;
    memcpy(&pairs, out + 2, 2);
    pairs = le16toh(pairs);
    if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > max_pairs)
        return VIRTIO_NET_ERR; /* more pairs than offered (or none) */
    c->pairs = pairs;
    return VIRTIO_NET_OK;
}

void net_set_pairs(struct virtio_net *n, unsigned pairs)
{
    if (n->vhost) /* leaving pairs: vhost lets go of their rings and tap queues first */
        net_vhost_stop_from(n, pairs);
    for (unsigned i = 0; i < n->max_pairs; i++) {
        struct net_pair *p = &n->pair[i];
        bool on = i < pairs;
        if (!on && i < n->pairs) /* leaving: its held buffers go back; its next rx_ready (on
                                    the I/O thread) switches its backend's rx off */
            net_rx_unpop(p);
        if (p->be->ops->set_queue && p->be->ops->set_queue(p->be, on) < 0)
            log_warn("%s: cannot %s tap queue %u", n->id, on ? "attach" : "detach", i);
    }
    n->pairs = pairs;
}

/* ---- gratuitous packets ----------------------------------------------------------------------
 */

/* evloop_call target (I/O thread): raise an owed request if the device is live (a VM paused
 * again first keeps it owed for the next resume). */
static void announce_raise(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    if (n->announce_owed && net_live(n)) {
        n->announce_owed = false;
        n->announce = true;
        n->announces++;
        virtio_config_changed(&n->vdev);
        log_info("%s: asked the guest to announce itself (VIRTIO_NET_S_ANNOUNCE)", n->id);
    }
    virtio_unlock(&n->vdev);
}

void net_announce_restored(struct virtio_net *n)
{
    n->announce_owed = virtio_has_feature(&n->vdev, VIRTIO_NET_F_GUEST_ANNOUNCE);
    net_announce_resume(n); /* a VM restored running is never resumed: its I/O thread raises it */
}

void net_announce_resume(struct virtio_net *n)
{
    if (n->announce_owed && evloop_call(n->vdev.vm->loop, announce_raise, n) < 0)
        log_warn("%s: cannot ask the guest to announce itself", n->id);
}

/* VIRTIO_NET_CTRL_ANNOUNCE_ACK: the driver has sent its gratuitous packets. An ack with nothing
 * pending changes nothing (a config interrupt for the link may make the driver ack twice). */
static uint8_t announce_ack(struct virtio_net *n)
{
    if (!virtio_has_feature(&n->vdev, VIRTIO_NET_F_GUEST_ANNOUNCE))
        return VIRTIO_NET_ERR;
    if (n->announce)
        n->announce_acks++;
    n->announce = false;
    return VIRTIO_NET_OK;
}

/* ---- the queue --------------------------------------------------------------------------------
 */

/* Carry out one popped command C (READ: its readable bytes). Returns the ack. */
static uint8_t ctrl_one(struct virtio_net *n, const struct virtq_chain *c)
{
    uint8_t buf[NET_CTRL_MAX_DATA];
    size_t len = virtq_chain_read(c, 0, buf, MIN((size_t)c->out_len, sizeof(buf)));
    struct net_ctrl_cmd cmd;
    uint8_t ack = net_ctrl_parse(buf, len, c->out_len, n->max_pairs, &cmd);
    if (ack == VIRTIO_NET_OK && cmd.cls == VIRTIO_NET_CTRL_ANNOUNCE) {
        ack = announce_ack(n);
        n->ctrl_errors += ack != VIRTIO_NET_OK;
        return ack;
    }
    if (ack != VIRTIO_NET_OK || !virtio_has_feature(&n->vdev, VIRTIO_NET_F_MQ)) {
        n->ctrl_errors++;
        return VIRTIO_NET_ERR;
    }
    unsigned old = n->pairs;
    net_set_pairs(n, cmd.pairs);
    if (n->vhost && net_vhost_start(n) < 0) /* vhost=on: the new pairs' rings start */
        virtio_set_needs_reset(&n->vdev, "vhost-net could not start a queue pair");
    for (unsigned i = old; i < cmd.pairs && !n->vhost; i++) /* new pairs start receiving */
        net_rx_pump(&n->pair[i]);
    return VIRTIO_NET_OK;
}

void net_ctrl_process(struct virtio_net *n, struct virtq *q)
{
    if (!net_live(n) || !q->enabled || q->broken || !q->avail)
        return;
    unsigned budget = VIRTQ_BUDGET(q);
    int r = 0;
    n->ctrl_chain.iov = n->ctrl_iov;
    n->ctrl_chain.max_iov = NET_CTRL_IOV;
    do {
        virtq_disable_notify(q);
        while (budget && (r = virtq_pop(q, &n->ctrl_chain)) > 0) {
            budget--;
            n->ctrl_cmds++;
            struct virtq_chain *c = &n->ctrl_chain;
            if (!c->in_len) { /* nowhere to put the ack: nothing is done */
                n->ctrl_errors++;
                virtq_push(q, c->head, 0);
                continue;
            }
            uint8_t ack = ctrl_one(n, c);
            virtq_chain_write(c, 0, &ack, 1);
            virtq_push(q, c->head, 1);
        }
        if (!budget) {
            virtio_queue_defer(q);
            break;
        }
    } while (r == 0 && virtq_enable_notify(q));
    virtio_interrupt(&n->vdev, q);
}
