/* mmio.c — virtio-mmio registers (virtio 1.2 §4.2.2, version 2): the driver's view of a device. */
#include <string.h>
#include <sys/eventfd.h>

#include "virtio/virtio_mmio.h"
#include "vm/vm.h"

static void bad(struct virtio_mmio *m)
{
    atomic_fetch_add(&m->bad_accesses, 1);
}

/* ---- reads ---------------------------------------------------------------------------------- */

static uint32_t queue_reg(struct virtio_dev *vdev, uint64_t off)
{
    struct virtq *q = virtio_selected_queue(vdev);
    if (!q)
        return 0; /* QueueNumMax 0: the queue is not available */
    switch (off) {
    case VMMIO_QUEUE_NUM_MAX:
        return q->max_size;
    case VMMIO_QUEUE_READY:
        return q->enabled;
    default:
        return 0;
    }
}

/* Value of the 32-bit register at OFF (device lock held); *OK false for a write-only or unknown
 * register. */
static uint32_t reg_read(struct virtio_mmio *m, uint64_t off, bool *ok)
{
    struct virtio_dev *vdev = m->vdev;
    *ok = true;
    switch (off) {
    case VMMIO_MAGIC:
        return VMMIO_MAGIC_VALUE;
    case VMMIO_VERSION:
        return VMMIO_VERSION_2;
    case VMMIO_DEVICE_ID:
        return vdev->device_id;
    case VMMIO_VENDOR_ID:
        return VMMIO_VENDOR;
    case VMMIO_DEVICE_FEATURES:
        return vdev->dfselect < 2 ? (uint32_t)(vdev->host_features >> (32 * vdev->dfselect)) : 0;
    case VMMIO_QUEUE_NUM_MAX:
    case VMMIO_QUEUE_READY:
        return queue_reg(vdev, off);
    case VMMIO_INTERRUPT_STATUS:
        return vdev->isr;
    case VMMIO_STATUS:
        return vdev->status;
    case VMMIO_SHM_LEN_LOW:
    case VMMIO_SHM_LEN_HIGH:
    case VMMIO_SHM_BASE_LOW:
    case VMMIO_SHM_BASE_HIGH:
        return 0xffffffff; /* no shared memory regions: length -1 (§4.2.2) */
    case VMMIO_CONFIG_GENERATION:
        return vdev->config_generation;
    default:
        *ok = false;
        return 0;
    }
}

void vmmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_mmio *m = opaque;
    struct virtio_dev *vdev = m->vdev;
    memset(data, 0, size);
    if (off >= VMMIO_CONFIG) {
        if (off - VMMIO_CONFIG + size > vdev->config_size || !vdev->ops->config_read) {
            bad(m);
            return;
        }
        virtio_lock(vdev);
        vdev->ops->config_read(vdev->opaque, (uint32_t)(off - VMMIO_CONFIG), data, size);
        virtio_unlock(vdev);
        return;
    }
    if (size != 4 || (off & 3)) {
        bad(m);
        return;
    }
    bool ok;
    virtio_lock(vdev);
    uint32_t v = reg_read(m, off, &ok);
    virtio_unlock(vdev);
    if (!ok)
        bad(m);
    memcpy(data, &v, 4);
}

/* ---- interrupts ---------------------------------------------------------------------------- */

/* Make the line follow InterruptStatus; RETRIGGER lowers a raised line first (a new edge). */
static void line_update(struct virtio_mmio *m, bool retrigger)
{
    struct vm *vm = m->vdev->vm;
    bool want = m->vdev->isr != 0;
    if (m->level && (!want || retrigger)) {
        m->line(vm, m->gsi, 0);
        m->level = false;
    }
    if (want && !m->level) {
        m->line(vm, m->gsi, 1);
        m->level = true;
    }
}

void vmmio_interrupt(struct virtio_dev *vdev, struct virtq *q)
{
    struct virtio_mmio *m = vdev->transport;
    vdev->isr |= q ? VMMIO_INT_VRING : VMMIO_INT_CONFIG;
    line_update(m, true);
}

void vmmio_irq_sync(struct virtio_mmio *m)
{
    line_update(m, false);
}

/* ---- writes -------------------------------------------------------------------------------- */

/* QueueReady: 1 checks the rings now (a driver learns of a bad ring at once), 0 takes back a
 * queue that is not in use (Linux writes 0 when deleting queues, after a reset). */
static void queue_ready(struct virtio_dev *vdev, uint32_t v)
{
    struct virtq *q = virtio_selected_queue(vdev);
    if (v == 0) {
        if (q && q->enabled && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK))
            virtio_set_needs_reset(vdev, "QueueReady cleared on a live queue");
        else if (q)
            q->enabled = false;
        return;
    }
    if (v != 1 || !(q = virtio_queue_for_config(vdev, "QueueReady written outside queue setup")))
        return;
    struct virtq t = {.size = q->size,
                      .max_size = q->max_size,
                      .desc_gpa = q->desc_gpa,
                      .avail_gpa = q->avail_gpa,
                      .used_gpa = q->used_gpa};
    if (virtq_activate(&t, &vdev->vm->mem, vdev->guest_features) < 0) {
        virtio_set_needs_reset(vdev, "QueueReady with rings outside guest RAM or misaligned");
        return;
    }
    q->enabled = true;
}

static void addr_half(uint64_t *gpa, bool high, uint32_t v)
{
    if (high)
        *gpa = (*gpa & 0xffffffffULL) | (uint64_t)v << 32;
    else
        *gpa = (*gpa & ~0xffffffffULL) | v;
}

static void queue_write(struct virtio_dev *vdev, uint64_t off, uint32_t v)
{
    struct virtq *q =
        virtio_queue_for_config(vdev, "queue configuration written outside queue setup");
    if (!q)
        return;
    switch (off) {
    case VMMIO_QUEUE_NUM:
        if (!v || v > q->max_size || (v & (v - 1)))
            virtio_set_needs_reset(vdev, "QueueNum not a power of 2 within QueueNumMax");
        else
            q->size = (uint16_t)v;
        break;
    case VMMIO_QUEUE_DESC_LOW:
    case VMMIO_QUEUE_DESC_HIGH:
        addr_half(&q->desc_gpa, off == VMMIO_QUEUE_DESC_HIGH, v);
        break;
    case VMMIO_QUEUE_DRIVER_LOW:
    case VMMIO_QUEUE_DRIVER_HIGH:
        addr_half(&q->avail_gpa, off == VMMIO_QUEUE_DRIVER_HIGH, v);
        break;
    default:
        addr_half(&q->used_gpa, off == VMMIO_QUEUE_DEVICE_HIGH, v);
        break;
    }
}

static void features_write(struct virtio_dev *vdev, uint32_t v)
{
    if (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK)
        virtio_set_needs_reset(vdev, "features written after FEATURES_OK");
    else if (vdev->gfselect < 2)
        vdev->guest_features = (vdev->guest_features & ~(0xffffffffULL << (32 * vdev->gfselect))) |
                               (uint64_t)v << (32 * vdev->gfselect);
}

/* A notification KVM did not take as an ioeventfd: signal the queue's eventfd ourselves. */
static void notify(struct virtio_mmio *m, uint32_t v)
{
    struct virtio_dev *vdev = m->vdev;
    if (v >= vdev->nqueues || vdev->vq[v].kick_fd < 0) {
        bad(m);
        return;
    }
    atomic_fetch_add(&m->slow_kicks, 1);
    eventfd_write(vdev->vq[v].kick_fd, 1);
}

/* Device lock held. Returns false for a read-only or unknown register. */
static bool reg_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
    struct virtio_dev *vdev = m->vdev;
    switch (off) {
    case VMMIO_DEVICE_FEATURES_SEL:
        vdev->dfselect = v;
        return true;
    case VMMIO_DRIVER_FEATURES:
        features_write(vdev, v);
        return true;
    case VMMIO_DRIVER_FEATURES_SEL:
        vdev->gfselect = v;
        return true;
    case VMMIO_QUEUE_SEL:
        vdev->queue_select = (uint16_t)(v > 0xffff ? 0xffff : v);
        return true;
    case VMMIO_QUEUE_READY:
        queue_ready(vdev, v);
        return true;
    case VMMIO_INTERRUPT_ACK:
        vdev->isr &= (uint8_t)~v;
        line_update(m, false);
        return true;
    case VMMIO_STATUS:
        virtio_status_write(vdev, (uint8_t)v); /* 0: reset, which also lowers the line */
        return true;
    case VMMIO_SHM_SEL:
        return true;
    case VMMIO_QUEUE_NUM:
    case VMMIO_QUEUE_DESC_LOW:
    case VMMIO_QUEUE_DESC_HIGH:
    case VMMIO_QUEUE_DRIVER_LOW:
    case VMMIO_QUEUE_DRIVER_HIGH:
    case VMMIO_QUEUE_DEVICE_LOW:
    case VMMIO_QUEUE_DEVICE_HIGH:
        queue_write(vdev, off, v);
        return true;
    default:
        return false;
    }
}

void vmmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_mmio *m = opaque;
    struct virtio_dev *vdev = m->vdev;
    if (off >= VMMIO_CONFIG) {
        if (off - VMMIO_CONFIG + size > vdev->config_size || !vdev->ops->config_write) {
            bad(m);
            return;
        }
        virtio_lock(vdev);
        vdev->ops->config_write(vdev->opaque, (uint32_t)(off - VMMIO_CONFIG), data, size);
        virtio_unlock(vdev);
        return;
    }
    if (size != 4 || (off & 3)) {
        bad(m);
        return;
    }
    uint32_t v;
    memcpy(&v, data, 4);
    if (off == VMMIO_QUEUE_NOTIFY) { /* no lock: the I/O thread does the work */
        notify(m, v);
        return;
    }
    virtio_lock(vdev);
    bool ok = reg_write(m, off, v);
    virtio_unlock(vdev);
    if (!ok)
        bad(m);
}
