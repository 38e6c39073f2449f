/* mmio_dev.c — virtio-mmio devices: placement, ioeventfds, the device instance, state, cmdline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bus/device.h"
#include "util/state.h"
#include "virtio/virtio_mmio.h"
#include "vm/vm.h"

#define VMMIO_STATE_VERSION 1

static const struct io_ops vmmio_ops = {.read = vmmio_read, .write = vmmio_write};

static void vmmio_transport_reset(struct virtio_dev *vdev)
{
    vmmio_irq_sync(vdev->transport);
}

static const struct virtio_transport_ops vmmio_tops = {
    .interrupt = vmmio_interrupt,
    .reset = vmmio_transport_reset,
};

/* ---- notifications: one eventfd per queue, KVM ioeventfd with datamatch on QueueNotify ------ */

static int ioeventfd_set(struct virtio_mmio *m, unsigned qi, bool assign)
{
    struct vm *vm = m->vdev->vm;
    if (vm->fd < 0)
        return -EBADF;
    struct kvm_ioeventfd io = {
        .datamatch = qi,
        .addr = m->base + VMMIO_QUEUE_NOTIFY,
        .len = 4,
        .fd = m->vdev->vq[qi].kick_fd,
        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    return ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static void ioeventfds_assign(struct virtio_mmio *m)
{
    for (unsigned i = 0; i < m->vdev->nqueues; i++) {
        int rc = ioeventfd_set(m, i, true);
        m->ioeventfd[i] = rc == 0;
        if (rc < 0 && rc != -EBADF && i == 0)
            log_warn("%s: KVM_IOEVENTFD failed (%s): queue notifications exit to the vCPU thread",
                     m->vdev->name, strerror(-rc));
    }
}

static void ioeventfds_release(struct virtio_mmio *m)
{
    for (unsigned i = 0; i < m->vdev->nqueues; i++)
        if (m->ioeventfd[i])
            ioeventfd_set(m, i, false);
    memset(m->ioeventfd, 0, sizeof(m->ioeventfd));
}

/* ---- the device instance ------------------------------------------------------------------- */

static void inst_reset(void *opaque)
{
    struct virtio_mmio *m = opaque;
    virtio_lock(m->vdev);
    virtio_reset(m->vdev);
    virtio_unlock(m->vdev);
}

static void inst_stop(void *opaque)
{
    struct virtio_mmio *m = opaque;
    virtio_kicks_unwatch(m->vdev);
    virtio_unwatch_all(m->vdev);
    if (m->vdev->ops->stop)
        m->vdev->ops->stop(m->vdev->opaque);
}

static void inst_destroy(void *opaque)
{
    struct virtio_mmio *m = opaque;
    struct virtio_dev *vdev = m->vdev;
    inst_stop(m);
    if (m->bad_accesses || m->slow_kicks)
        log_info("%s: virtio-mmio: %llu bad register accesses ignored, %llu notifications "
                 "through vCPU exits",
                 vdev->name, (unsigned long long)m->bad_accesses,
                 (unsigned long long)m->slow_kicks);
    ioeventfds_release(m);
    io_bus_unregister(&vdev->vm->mmio, m->base);
    virtio_kicks_close(m->vdev);
    virtio_dev_fini(vdev);
    if (vdev->ops->destroy)
        vdev->ops->destroy(vdev->opaque);
    free(m);
}

/* Pause/resume as the PCI transport: kicks stay pending in their eventfds while paused. */
static void inst_pause(void *opaque)
{
    struct virtio_mmio *m = opaque;
    virtio_dev_pause(m->vdev);
}

static void inst_resume(void *opaque)
{
    struct virtio_mmio *m = opaque;
    virtio_dev_resume(m->vdev);
}

/* The transport's own facts (window and GSI: fixed by the configuration, checked), then the
 * virtio state (no MSI-X: no vectors). */
static void transport_visit(struct state_visitor *v, struct virtio_mmio *m, uint64_t *base,
                            uint32_t *gsi)
{
    if (!state_begin(v, "virtio-mmio", VMMIO_STATE_VERSION))
        return;
    STATE_U64(v, *base);
    STATE_CHECK(v, *base == m->base);
    STATE_U32(v, *gsi);
    STATE_CHECK(v, *gsi == m->gsi);
    state_end(v);
}

static int inst_save(void *opaque, struct state_visitor *v)
{
    struct virtio_mmio *m = opaque;
    struct virtio_state s;
    uint64_t base = m->base;
    uint32_t gsi = m->gsi;
    transport_visit(v, m, &base, &gsi);
    virtio_lock(m->vdev);
    virtio_state_get(m->vdev, &s);
    virtio_state_visit(v, &s, m->vdev, 0);
    virtio_unlock(m->vdev);
    return state_error(v);
}

static int inst_restore(void *opaque, struct state_visitor *v)
{
    struct virtio_mmio *m = opaque;
    struct virtio_state s = {0};
    uint64_t base = 0;
    uint32_t gsi = 0;
    transport_visit(v, m, &base, &gsi);
    virtio_lock(m->vdev);
    if (!state_error(v))
        virtio_state_visit(v, &s, m->vdev, 0);
    if (!state_error(v)) {
        virtio_state_set(m->vdev, &s);
        vmmio_irq_sync(m);
    }
    virtio_unlock(m->vdev);
    return state_error(v);
}

static const struct device_ops vmmio_inst_ops = {
    .name = "virtio-mmio",
    .reset = inst_reset,
    .pause = inst_pause,
    .resume = inst_resume,
    .save = inst_save,
    .restore = inst_restore,
    .stop = inst_stop,
    .destroy = inst_destroy,
};

struct virtio_dev *virtio_mmio_vdev(const struct device_instance *d)
{
    return d->ops == &vmmio_inst_ops ? ((struct virtio_mmio *)d->dev)->vdev : NULL;
}

/* How many virtio-mmio devices VM has (the next one's index). */
static unsigned mmio_count(struct vm *vm)
{
    unsigned n = 0;
    for (struct device_instance *d = vm->devices; d; d = d->next)
        n += d->ops == &vmmio_inst_ops;
    return n;
}

/* ---- adding a device ------------------------------------------------------------------------ */

int virtio_mmio_add(struct vm *vm, struct virtio_dev *vdev, char *err, size_t errlen)
{
    unsigned n = mmio_count(vm);
    if (!vm->loop)
        return snprintf(err, errlen, "%s: no I/O thread", vdev->name), -ENODEV;
    if (n >= VIRTIO_MMIO_MAX)
        return snprintf(err, errlen, "%s: more than %d virtio-mmio devices", vdev->name,
                        VIRTIO_MMIO_MAX),
               -ENOSPC;
    struct virtio_mmio *m = calloc(1, sizeof(*m));
    if (!m)
        return snprintf(err, errlen, "%s: out of memory", vdev->name), -ENOMEM;
    *m = (struct virtio_mmio){.vdev = vdev,
                              .index = n,
                              .base = LAYOUT_VIRTIO_MMIO + n * LAYOUT_VIRTIO_MMIO_DEV,
                              .gsi = VIRTIO_MMIO_GSI(n),
                              .line = irq_line};
    vdev->vm = vm;
    vdev->tops = &vmmio_tops;
    vdev->transport = m;
    int rc = virtio_kicks_open(m->vdev);
    if (rc < 0) {
        snprintf(err, errlen, "%s: queue eventfds: %s", vdev->name, strerror(-rc));
        goto fail;
    }
    rc = io_bus_register(&vm->mmio, m->base, LAYOUT_VIRTIO_MMIO_DEV, &vmmio_ops, m, vdev->name);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot register MMIO at %#llx: %s", vdev->name,
                 (unsigned long long)m->base, strerror(-rc));
        goto fail;
    }
    ioeventfds_assign(m);
    rc = device_add(vm, &vmmio_inst_ops, m);
    if (rc < 0) {
        snprintf(err, errlen, "%s: out of memory", vdev->name);
        ioeventfds_release(m);
        io_bus_unregister(&vm->mmio, m->base);
        goto fail;
    }
    log_info("%s: virtio-mmio at %#llx, IRQ %u", vdev->name, (unsigned long long)m->base, m->gsi);
    return 0;
fail:
    virtio_kicks_close(m->vdev);
    vdev->tops = NULL;
    vdev->transport = NULL;
    free(m);
    return rc;
}

int virtio_dev_add(struct vm *vm, struct virtio_dev *vdev, char *err, size_t errlen)
{
    if (vm->cfg.transport == TRANSPORT_MMIO)
        return virtio_mmio_add(vm, vdev, err, errlen);
    return virtio_pci_add(vm, vdev, err, errlen);
}

int virtio_mmio_cmdline(struct vm *vm, char *cmdline, size_t len)
{
    size_t used = strnlen(cmdline, len);
    size_t at = used;
    for (struct device_instance *d = vm->devices; d; d = d->next) {
        if (d->ops != &vmmio_inst_ops)
            continue;
        const struct virtio_mmio *m = d->dev;
        int w = snprintf(cmdline + at, len - at, "%svirtio_mmio.device=4K@%#llx:%u", at ? " " : "",
                         (unsigned long long)m->base, m->gsi);
        if (w < 0 || (size_t)w >= len - at) {
            cmdline[used] = 0;
            return -ENOSPC;
        }
        at += (size_t)w;
    }
    return 0;
}
