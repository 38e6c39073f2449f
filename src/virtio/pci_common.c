/* pci_common.c — virtio-pci common configuration: feature negotiation, status machine, queues. */
#include <linux/virtio_pci.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>

#include "virtio/virtio_pci.h"
#include "vm/vm.h"

#define COMMON(f) offsetof(struct virtio_pci_common_cfg, f)
_Static_assert(sizeof(struct virtio_pci_common_cfg) == VPCI_COMMON_LEN, "common config layout");

/* Snapshot the common structure as the driver reads it. Device lock held. */
static void common_image(struct virtio_pci *vp, struct virtio_pci_common_cfg *c)
{
    struct virtio_dev *vdev = vp->vdev;
    struct virtq *q = virtio_selected_queue(vdev);
    memset(c, 0, sizeof(*c));
    c->device_feature_select = vdev->dfselect;
    c->device_feature =
        vdev->dfselect < 2 ? (uint32_t)(vdev->host_features >> (32 * vdev->dfselect)) : 0;
    c->guest_feature_select = vdev->gfselect;
    c->guest_feature =
        vdev->gfselect < 2 ? (uint32_t)(vdev->guest_features >> (32 * vdev->gfselect)) : 0;
    c->msix_config = vdev->msix_config;
    c->num_queues = (uint16_t)vdev->nqueues;
    c->device_status = vdev->status;
    c->config_generation = vdev->config_generation;
    c->queue_select = vdev->queue_select;
    c->queue_msix_vector = VIRTIO_MSI_NO_VECTOR;
    if (!q)
        return;
    c->queue_size = q->size;
    c->queue_msix_vector = q->msix_vector;
    c->queue_enable = q->enabled;
    c->queue_notify_off = (uint16_t)q->index;
    c->queue_desc_lo = (uint32_t)q->desc_gpa;
    c->queue_desc_hi = (uint32_t)(q->desc_gpa >> 32);
    c->queue_avail_lo = (uint32_t)q->avail_gpa;
    c->queue_avail_hi = (uint32_t)(q->avail_gpa >> 32);
    c->queue_used_lo = (uint32_t)q->used_gpa;
    c->queue_used_hi = (uint32_t)(q->used_gpa >> 32);
}

void vpci_common_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    struct virtio_pci_common_cfg c;
    if (off + size > sizeof(c))
        return; /* all-ones */
    virtio_lock(vp->vdev);
    common_image(vp, &c);
    virtio_unlock(vp->vdev);
    memcpy(data, (uint8_t *)&c + off, size);
}

/* ---- register writes ----------------------------------------------------------------------- */

/* Store the 32-bit half selected by OFF (lo/hi pair starting at BASE) into *GPA. */
static void addr_half(uint64_t *gpa, uint64_t off, size_t base, uint32_t v)
{
    if (off == base)
        *gpa = (*gpa & ~0xffffffffULL) | v;
    else
        *gpa = (*gpa & 0xffffffffULL) | (uint64_t)v << 32;
}

static void queue_write(struct virtio_pci *vp, uint64_t off, uint32_t v)
{
    struct virtio_dev *vdev = vp->vdev;
    struct virtq *q;
    if (off == COMMON(queue_msix_vector)) {
        q = virtio_selected_queue(vdev);
        if (!q)
            return;
        if (v == VIRTIO_MSI_NO_VECTOR && !(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
            q->msix_vector = VIRTIO_MSI_NO_VECTOR; /* teardown, any time before/after use */
            return;
        }
        if ((q = virtio_queue_for_config(vdev, "queue_msix_vector written outside queue setup")))
            q->msix_vector = v < vp->pci.msix.nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
        return;
    }
    if (off == COMMON(queue_enable)) {
        if (v != 1) /* 0 needs VIRTIO_F_RING_RESET, which is not offered */
            return;
        if ((q = virtio_queue_for_config(vdev, "queue_enable written outside queue setup")))
            q->enabled = true;
        return;
    }
    if (!(q = virtio_queue_for_config(vdev, "queue configuration written outside queue setup")))
        return;
    if (off == COMMON(queue_size)) {
        if (!v || v > q->max_size || (v & (v - 1)))
            virtio_set_needs_reset(vdev, "queue_size not a power of 2 within the maximum");
        else
            q->size = (uint16_t)v;
    } else if (off >= COMMON(queue_desc_lo) && off <= COMMON(queue_desc_hi)) {
        addr_half(&q->desc_gpa, off, COMMON(queue_desc_lo), v);
    } else if (off >= COMMON(queue_avail_lo) && off <= COMMON(queue_avail_hi)) {
        addr_half(&q->avail_gpa, off, COMMON(queue_avail_lo), v);
    } else if (off >= COMMON(queue_used_lo) && off <= COMMON(queue_used_hi)) {
        addr_half(&q->used_gpa, off, COMMON(queue_used_lo), v);
    }
}

/* Width of the field at OFF (0: no field starts there or it is read-only). 64-bit addresses
 * are written as two 32-bit halves (virtio 1.2 §4.1.3.1). */
static unsigned field_width(uint64_t off)
{
    switch (off) {
    case COMMON(device_feature_select):
    case COMMON(guest_feature_select):
    case COMMON(guest_feature):
    case COMMON(queue_desc_lo):
    case COMMON(queue_desc_hi):
    case COMMON(queue_avail_lo):
    case COMMON(queue_avail_hi):
    case COMMON(queue_used_lo):
    case COMMON(queue_used_hi):
        return 4;
    case COMMON(msix_config):
    case COMMON(queue_select):
    case COMMON(queue_size):
    case COMMON(queue_msix_vector):
    case COMMON(queue_enable):
        return 2;
    case COMMON(device_status):
        return 1;
    default:
        return 0;
    }
}

void vpci_common_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    struct virtio_dev *vdev = vp->vdev;
    if (size == 8 && field_width(off) == 4 && field_width(off + 4) == 4 &&
        (off == COMMON(queue_desc_lo) || off == COMMON(queue_avail_lo) ||
         off == COMMON(queue_used_lo))) {
        vpci_common_write(opaque, off, data, 4); /* a 64-bit address in one access */
        vpci_common_write(opaque, off + 4, data + 4, 4);
        return;
    }
    if (size != field_width(off))
        return; /* partial or read-only field: ignored */
    uint32_t v = 0;
    memcpy(&v, data, size);
    virtio_lock(vdev);
    switch (off) {
    case COMMON(device_feature_select):
        vdev->dfselect = v;
        break;
    case COMMON(guest_feature_select):
        vdev->gfselect = v;
        break;
    case COMMON(guest_feature):
        if (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK)
            virtio_set_needs_reset(vdev, "features written after FEATURES_OK");
        else if (vdev->gfselect < 2)
            vdev->guest_features =
                (vdev->guest_features & ~(0xffffffffULL << (32 * vdev->gfselect))) |
                (uint64_t)v << (32 * vdev->gfselect);
        break;
    case COMMON(msix_config):
        vdev->msix_config = v < vp->pci.msix.nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
        break;
    case COMMON(device_status):
        virtio_status_write(vdev, (uint8_t)v);
        break;
    case COMMON(queue_select):
        vdev->queue_select = (uint16_t)v;
        break;
    default:
        queue_write(vp, off, v);
        break;
    }
    virtio_unlock(vdev);
}
