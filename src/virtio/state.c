/* state.c — save and restore of a virtio device's common state and its queues. */
#include <errno.h>
#include <string.h>

#include "util/state.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define STATUS_KNOWN                                                                               \
    (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK |            \
     VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)
#define NO_VECTOR 0xffff

void virtio_state_get(struct virtio_dev *vdev, struct virtio_state *s)
{
    memset(s, 0, sizeof(*s));
    s->status = vdev->status;
    s->config_generation = vdev->config_generation;
    s->isr = vdev->isr;
    s->host_features = vdev->host_features;
    s->guest_features = vdev->guest_features;
    s->dfselect = vdev->dfselect;
    s->gfselect = vdev->gfselect;
    s->queue_select = vdev->queue_select;
    s->msix_config = vdev->msix_config;
    for (unsigned i = 0; i < vdev->nqueues; i++) {
        const struct virtq *q = &vdev->vq[i];
        s->q[i] = (struct virtq_state){
            .size = q->size,
            .msix_vector = q->msix_vector,
            .enabled = q->enabled,
            .desc_gpa = q->desc_gpa,
            .avail_gpa = q->avail_gpa,
            .used_gpa = q->used_gpa,
            .last_avail = q->last_avail,
            .used_idx = q->used_idx,
            .signalled_used = q->signalled_used,
            .signalled_valid = q->signalled_valid,
            .broken = q->broken,
        };
    }
    s->nrl = vdev->nrl;
    for (unsigned i = 0; i < vdev->nrl; i++)
        rl_state_get(&vdev->rl[i]->rl, &s->rl[i]);
}

/* True when the queue's rings are in use: the device is live and the queue enabled. */
static bool queue_live(const struct virtio_state *s, const struct virtq_state *q)
{
    return (s->status & VIRTIO_CONFIG_S_DRIVER_OK) && q->enabled && !q->broken;
}

/* Loading: the rings of a live queue must resolve exactly as at activation. */
static void check_rings(struct state_visitor *v, const struct virtq_state *qs,
                        const struct virtq *dev_q, uint64_t features)
{
    struct virtq t = {.size = qs->size,
                      .max_size = dev_q->max_size,
                      .desc_gpa = qs->desc_gpa,
                      .avail_gpa = qs->avail_gpa,
                      .used_gpa = qs->used_gpa};
    if (virtq_activate(&t, &dev_q->vdev->vm->mem, features) < 0)
        state_fail(v, -EINVAL, "queue %u: rings outside guest RAM or misaligned", dev_q->index);
}

static void queue_visit(struct state_visitor *v, struct virtio_state *s, struct virtq_state *q,
                        const struct virtq *dev_q, unsigned nvec)
{
    STATE_U16(v, q->size);
    STATE_CHECK(v, q->size && q->size <= dev_q->max_size && !(q->size & (q->size - 1)));
    STATE_U16(v, q->msix_vector);
    STATE_CHECK(v, q->msix_vector == NO_VECTOR || q->msix_vector < nvec);
    STATE_BOOL(v, q->enabled);
    STATE_U64(v, q->desc_gpa);
    STATE_U64(v, q->avail_gpa);
    STATE_U64(v, q->used_gpa);
    STATE_U16(v, q->last_avail);
    STATE_U16(v, q->used_idx);
    /* chains popped and not yet used: at most a ring's worth */
    STATE_CHECK(v, (uint16_t)(q->last_avail - q->used_idx) <= q->size);
    STATE_U16(v, q->signalled_used);
    STATE_BOOL(v, q->signalled_valid);
    STATE_BOOL(v, q->broken);
    if (v->loading && !state_error(v) && queue_live(s, q))
        check_rings(v, q, dev_q, s->guest_features);
}

void virtio_state_visit(struct state_visitor *v, struct virtio_state *s, struct virtio_dev *vdev,
                        unsigned nvec)
{
    if (!state_begin(v, vdev->name, VIRTIO_STATE_VERSION))
        return;
    uint32_t version = v->version;
    STATE_U64(v, s->host_features);
    STATE_CHECK(v, s->host_features == vdev->host_features);
    STATE_U64(v, s->guest_features);
    STATE_CHECK(v, !(s->guest_features & ~s->host_features));
    STATE_U8(v, s->status);
    STATE_CHECK(v, !(s->status & ~STATUS_KNOWN));
    STATE_CHECK(v, !(s->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
                       (s->status & VIRTIO_CONFIG_S_FEATURES_OK));
    STATE_CHECK(v, !(s->status & VIRTIO_CONFIG_S_FEATURES_OK) ||
                       (s->guest_features >> VIRTIO_F_VERSION_1 & 1));
    STATE_U8(v, s->config_generation);
    STATE_U8(v, s->isr);
    STATE_CHECK(v, s->isr <= 3);
    STATE_U32(v, s->dfselect);
    STATE_U32(v, s->gfselect);
    STATE_U16(v, s->queue_select);
    STATE_U16(v, s->msix_config);
    STATE_CHECK(v, s->msix_config == NO_VECTOR || s->msix_config < nvec);
    if (version >= 3) { /* the queue count (multiqueue devices: virtio-blk queues=N, net pairs) */
        uint32_t nq = vdev->nqueues;
        STATE_U32(v, nq);
        if (v->loading && !state_error(v) && nq != vdev->nqueues)
            state_fail(v, -EINVAL, "%s: %u queues saved, the device has %u", vdev->name, nq,
                       vdev->nqueues);
    }
    for (unsigned i = 0; i < vdev->nqueues && !state_error(v); i++)
        queue_visit(v, s, &s->q[i], &vdev->vq[i], nvec);
    s->nrl = 0;
    if (version >= 2) { /* the rate limiters, in the device's order */
        uint32_t nrl = vdev->nrl;
        STATE_U32(v, nrl);
        if (v->loading && !state_error(v) && nrl != vdev->nrl)
            state_fail(v, -EINVAL, "%s: %u rate limiters saved, the device has %u", vdev->name, nrl,
                       vdev->nrl);
        for (unsigned i = 0; i < vdev->nrl && !state_error(v); i++)
            rl_state_visit(v, &s->rl[i], &vdev->rl[i]->rl);
        s->nrl = vdev->nrl;
    }
    if (vdev->ops->state_check && !state_error(v))
        vdev->ops->state_check(vdev->opaque, v);
    v->version = version; /* the device's section reads the layout of this common version */
    if (vdev->ops->state_visit && !state_error(v))
        vdev->ops->state_visit(vdev->opaque, v);
    state_end(v);
}

void virtio_state_set(struct virtio_dev *vdev, const struct virtio_state *s)
{
    vdev->status = s->status;
    vdev->config_generation = s->config_generation;
    vdev->isr = s->isr;
    vdev->guest_features = s->guest_features;
    vdev->dfselect = s->dfselect;
    vdev->gfselect = s->gfselect;
    vdev->queue_select = s->queue_select;
    vdev->msix_config = s->msix_config;
    for (unsigned i = 0; i < vdev->nqueues; i++) {
        struct virtq *q = &vdev->vq[i];
        const struct virtq_state *qs = &s->q[i];
        virtq_reset(q);
        q->size = qs->size;
        q->msix_vector = qs->msix_vector;
        q->enabled = qs->enabled;
        q->desc_gpa = qs->desc_gpa;
        q->avail_gpa = qs->avail_gpa;
        q->used_gpa = qs->used_gpa;
        if (queue_live(s, qs))
            virtq_activate(q, &vdev->vm->mem, s->guest_features); /* checked: cannot fail */
        q->last_avail = qs->last_avail;
        q->used_idx = qs->used_idx;
        q->signalled_used = qs->signalled_used;
        q->signalled_valid = qs->signalled_valid;
        q->broken = qs->broken;
    }
    for (unsigned i = 0; i < s->nrl && i < vdev->nrl; i++)
        rl_state_set(&vdev->rl[i]->rl, &s->rl[i]);
    if (vdev->ops->state_commit)
        vdev->ops->state_commit(vdev->opaque);
    bool live =
        (s->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(s->status & VIRTIO_CONFIG_S_NEEDS_RESET);
    if (live && vdev->ops->activate && vdev->ops->activate(vdev->opaque) < 0)
        virtio_set_needs_reset(vdev, "device could not start after restore");
    else if (live && vdev->ops->restored)
        vdev->ops->restored(vdev->opaque);
}
