/* core.c — transport-independent virtio device state: init, lock, interrupts, reset, fd watches. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "virtio/virtio.h"
#include "vm/vm.h"

int virtio_dev_init(struct virtio_dev *vdev, struct vm *vm, const char *name, uint16_t device_id,
                    uint32_t pci_class, uint64_t features, unsigned nqueues, uint16_t queue_size,
                    uint32_t config_size, const struct virtio_dev_ops *ops, void *opaque)
{
    if (!nqueues || nqueues > VIRTIO_MAX_QUEUES || !queue_size || queue_size > VIRTQ_MAX_SIZE ||
        (queue_size & (queue_size - 1)) || config_size > 4096 || !ops)
        return -EINVAL;
    memset(vdev, 0, sizeof(*vdev));
    if (!(vdev->vq = calloc(nqueues, sizeof(*vdev->vq))))
        return -ENOMEM;
    vdev->name = name;
    vdev->device_id = device_id;
    vdev->pci_class = pci_class;
    vdev->host_features = VIRTIO_TRANSPORT_FEATURES | features;
    vdev->config_size = config_size;
    vdev->nqueues = nqueues;
    vdev->ops = ops;
    vdev->opaque = opaque;
    vdev->vm = vm;
    vdev->msix_config = 0xffff;
    pthread_mutex_init(&vdev->lock, NULL);
    for (unsigned i = 0; i < nqueues; i++) {
        struct virtq *q = &vdev->vq[i];
        q->index = i;
        q->vdev = vdev;
        q->kick_fd = -1;
        q->max_size = queue_size;
        virtq_reset(q);
    }
    return 0;
}

void virtio_dev_fini(struct virtio_dev *vdev)
{
    virtio_unwatch_all(vdev); /* nothing left on the loop pointing at freed watches */
    free(vdev->watch);
    vdev->watch = NULL;
    vdev->watch_cap = 0;
    pthread_mutex_destroy(&vdev->lock);
    free(vdev->vq);
    vdev->vq = NULL;
}

void virtio_lock(struct virtio_dev *vdev)
{
    pthread_mutex_lock(&vdev->lock);
}

void virtio_unlock(struct virtio_dev *vdev)
{
    pthread_mutex_unlock(&vdev->lock);
}

struct virtq *virtio_queue_for_config(struct virtio_dev *vdev, const char *why)
{
    struct virtq *q = virtio_selected_queue(vdev);
    uint8_t st = vdev->status;
    if (!st)
        return NULL;
    if (!q || !(st & VIRTIO_CONFIG_S_FEATURES_OK) || (st & VIRTIO_CONFIG_S_DRIVER_OK) ||
        q->enabled) {
        virtio_set_needs_reset(vdev, why);
        return NULL;
    }
    return q;
}

void virtio_dev_pause(struct virtio_dev *vdev)
{
    virtio_lock(vdev);
    vdev->paused = true;
    virtio_unlock(vdev);
    virtio_kicks_unwatch(vdev);
    if (vdev->ops->pause)
        vdev->ops->pause(vdev->opaque);
    virtio_watches_park(vdev);
}

void virtio_dev_resume(struct virtio_dev *vdev)
{
    int rc = virtio_watches_unpark(vdev);
    virtio_lock(vdev);
    vdev->paused = false;
    virtio_unlock(vdev);
    if (vdev->ops->resume)
        vdev->ops->resume(vdev->opaque);
    if (!rc)
        rc = virtio_kicks_watch(vdev);
    if (rc < 0) {
        vm_request_stop(vdev->vm, TRUCE_EXIT_HOST, "%s: cannot resume: %s", vdev->name,
                        strerror(-rc));
        return;
    }
    virtio_lock(vdev);
    for (unsigned i = 0; i < vdev->nqueues; i++)
        if ((vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && vdev->vq[i].enabled)
            virtio_queue_defer(&vdev->vq[i]);
    virtio_unlock(vdev);
}

void virtio_queue_defer(struct virtq *q)
{
    if (q->kick_fd >= 0)
        eventfd_write(q->kick_fd, 1);
}

bool virtq_serve(struct virtq *q, unsigned budget, struct virtq_chain *c,
                 bool (*serve)(void *opaque, struct virtq *q, struct virtq_chain *c), void *opaque)
{
    bool go = true;
    int rc = 0;
    do {
        virtq_disable_notify(q);
        while (go && budget && (rc = virtq_pop(q, c)) > 0) {
            budget--;
            go = serve(opaque, q, c);
        }
        if (go && !budget) {
            virtio_queue_defer(q);
            break;
        }
    } while (go && rc == 0 && virtq_enable_notify(q));
    virtio_interrupt(q->vdev, q);
    return go;
}

void virtio_interrupt(struct virtio_dev *vdev, struct virtq *q)
{
    if (!(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) || !virtq_should_interrupt(q))
        return;
    if (vdev->tops && vdev->tops->interrupt)
        vdev->tops->interrupt(vdev, q);
}

void virtio_interrupt_now(struct virtio_dev *vdev, struct virtq *q)
{
    if ((vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && vdev->tops && vdev->tops->interrupt)
        vdev->tops->interrupt(vdev, q);
}

void virtio_config_changed(struct virtio_dev *vdev)
{
    vdev->config_generation++;
    if ((vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && vdev->tops && vdev->tops->interrupt)
        vdev->tops->interrupt(vdev, NULL);
}

void virtio_set_needs_reset(struct virtio_dev *vdev, const char *why)
{
    if (!vdev->needs_reset_logged && vdev->needs_reset_logs < 8) { /* a guest cannot flood */
        log_warn("%s: driver error, device needs reset: %s", vdev->name, why);
        vdev->needs_reset_logged = true;
        vdev->needs_reset_logs++;
    }
    if (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
        return;
    vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    if ((vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && vdev->tops && vdev->tops->interrupt)
        vdev->tops->interrupt(vdev, NULL);
}

void virtio_reset(struct virtio_dev *vdev)
{
    if (vdev->ops->reset)
        vdev->ops->reset(vdev->opaque);
    for (unsigned i = 0; i < vdev->nqueues; i++)
        virtq_reset(&vdev->vq[i]);
    vdev->status = 0;
    vdev->guest_features = 0;
    vdev->dfselect = vdev->gfselect = 0;
    vdev->queue_select = 0;
    vdev->msix_config = 0xffff;
    vdev->isr = 0;
    vdev->needs_reset_logged = false;
    if (vdev->tops && vdev->tops->reset)
        vdev->tops->reset(vdev);
}

/* ---- status machine ------------------------------------------------------------------------ */

/* Features the driver may accept: a subset of the offered ones including VERSION_1. */
static bool features_acceptable(struct virtio_dev *vdev)
{
    uint64_t f = vdev->guest_features;
    if (f & ~vdev->host_features || !(f >> VIRTIO_F_VERSION_1 & 1))
        return false;
    return !vdev->ops->features_ok || vdev->ops->features_ok(vdev->opaque, f);
}

/* DRIVER_OK: resolve the enabled queues, start the device, look at buffers queued early. */
static void driver_ok(struct virtio_dev *vdev)
{
    for (unsigned i = 0; i < vdev->nqueues; i++) {
        struct virtq *q = &vdev->vq[i];
        if (q->enabled && virtq_activate(q, &vdev->vm->mem, vdev->guest_features) < 0) {
            q->broken = true;
            virtio_set_needs_reset(vdev, "queue rings outside guest RAM or misaligned");
            return;
        }
    }
    if (vdev->ops->activate && vdev->ops->activate(vdev->opaque) < 0) {
        virtio_set_needs_reset(vdev, "device could not start");
        return;
    }
    for (unsigned i = 0; i < vdev->nqueues; i++)
        if (vdev->vq[i].enabled && vdev->vq[i].kick_fd >= 0)
            eventfd_write(vdev->vq[i].kick_fd, 1);
}

void virtio_status_write(struct virtio_dev *vdev, uint8_t v)
{
    if (v == 0) {
        virtio_reset(vdev);
        return;
    }
    uint8_t old = vdev->status & ~VIRTIO_CONFIG_S_NEEDS_RESET;
    uint8_t nv = v & ~VIRTIO_CONFIG_S_NEEDS_RESET;
    uint8_t add = nv & ~old;
    if (old & ~nv) {
        virtio_set_needs_reset(vdev, "status bits cleared without a reset");
        return;
    }
    if (((add & VIRTIO_CONFIG_S_DRIVER) && !(nv & VIRTIO_CONFIG_S_ACKNOWLEDGE)) ||
        ((add & VIRTIO_CONFIG_S_FEATURES_OK) && !(nv & VIRTIO_CONFIG_S_DRIVER))) {
        virtio_set_needs_reset(vdev, "status bits set out of order");
        return;
    }
    if ((add & VIRTIO_CONFIG_S_FEATURES_OK) && !features_acceptable(vdev))
        add &= ~VIRTIO_CONFIG_S_FEATURES_OK; /* refused: the driver reads it back clear */
    if ((add & VIRTIO_CONFIG_S_DRIVER_OK) && !((old | add) & VIRTIO_CONFIG_S_FEATURES_OK)) {
        virtio_set_needs_reset(vdev, "DRIVER_OK without FEATURES_OK");
        return;
    }
    vdev->status |= add;
    if (add & VIRTIO_CONFIG_S_DRIVER_OK)
        driver_ok(vdev);
}

/* I/O thread: queue Q's eventfd fired. */
void virtio_kick_cb(void *opaque, uint32_t events)
{
    struct virtq *q = opaque;
    struct virtio_dev *vdev = q->vdev;
    eventfd_t v;
    if (eventfd_read(q->kick_fd, &v) < 0)
        return;
    virtio_lock(vdev);
    uint8_t st = vdev->status;
    if ((st & VIRTIO_CONFIG_S_DRIVER_OK) && !(st & VIRTIO_CONFIG_S_NEEDS_RESET) && q->enabled &&
        !q->broken && q->avail && !vdev->paused)
        vdev->ops->queue_notify(vdev->opaque, q);
    virtio_unlock(vdev);
}

/* evloop callback of a watch: run the device's callback with the device lock held. */
static void watch_cb(void *opaque, uint32_t events)
{
    struct virtio_watch *w = opaque;
    struct virtio_dev *vdev = w->vdev;
    virtio_lock(vdev);
    w->cb(w->opaque, events);
    virtio_unlock(vdev);
}

/* Room for one more watch in VDEV's table. Returns 0 or -ENOMEM. */
static int watch_table_grow(struct virtio_dev *vdev)
{
    if (vdev->nwatch < vdev->watch_cap)
        return 0;
    unsigned cap = vdev->watch_cap ? 2 * vdev->watch_cap : 4;
    struct virtio_watch **t = realloc(vdev->watch, cap * sizeof(*t));
    if (!t)
        return -ENOMEM;
    vdev->watch = t;
    vdev->watch_cap = cap;
    return 0;
}

int virtio_watch_fd(struct virtio_dev *vdev, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
    if (!vdev->vm || !vdev->vm->loop)
        return -ENODEV;
    int rc = watch_table_grow(vdev);
    if (rc < 0)
        return rc;
    struct virtio_watch *w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w =
        (struct virtio_watch){.vdev = vdev, .fd = fd, .events = events, .cb = cb, .opaque = opaque};
    rc = vdev->watches_parked ? 0 : evloop_add(vdev->vm->loop, fd, events, watch_cb, w);
    if (rc < 0) {
        free(w);
        return rc;
    }
    vdev->watch[vdev->nwatch++] = w;
    return 0;
}

void virtio_unwatch_all(struct virtio_dev *vdev)
{
    for (unsigned i = 0; i < vdev->nwatch; i++) {
        if (!vdev->watches_parked && vdev->vm && vdev->vm->loop)
            evloop_del(vdev->vm->loop, vdev->watch[i]->fd);
        free(vdev->watch[i]); /* off the loop: evloop_del waited out a running callback */
        vdev->watch[i] = NULL;
    }
    vdev->nwatch = 0;
    vdev->watches_parked = false;
}

void virtio_watches_park(struct virtio_dev *vdev)
{
    if (vdev->watches_parked || !vdev->vm || !vdev->vm->loop)
        return;
    for (unsigned i = 0; i < vdev->nwatch; i++)
        evloop_del(vdev->vm->loop, vdev->watch[i]->fd);
    vdev->watches_parked = true;
}

int virtio_watches_unpark(struct virtio_dev *vdev)
{
    int rc = 0;
    if (!vdev->watches_parked)
        return 0;
    for (unsigned i = 0; i < vdev->nwatch; i++) {
        struct virtio_watch *w = vdev->watch[i];
        int r = evloop_add(vdev->vm->loop, w->fd, w->events, watch_cb, w);
        if (r < 0 && !rc)
            rc = r;
    }
    vdev->watches_parked = false;
    return rc;
}

int virtio_kicks_watch(struct virtio_dev *vdev)
{
    if (vdev->kicks_watched)
        return 0;
    for (unsigned i = 0; i < vdev->nqueues; i++) {
        if (vdev->kicks_external >> i & 1)
            continue;
        int rc =
            evloop_add(vdev->vm->loop, vdev->vq[i].kick_fd, EPOLLIN, virtio_kick_cb, &vdev->vq[i]);
        if (rc < 0) {
            while (i--)
                if (!(vdev->kicks_external >> i & 1))
                    evloop_del(vdev->vm->loop, vdev->vq[i].kick_fd);
            return rc;
        }
    }
    vdev->kicks_watched = true;
    return 0;
}

void virtio_kicks_unwatch(struct virtio_dev *vdev)
{
    for (unsigned i = 0; i < vdev->nqueues && vdev->kicks_watched; i++)
        if (!(vdev->kicks_external >> i & 1))
            evloop_del(vdev->vm->loop, vdev->vq[i].kick_fd);
    vdev->kicks_watched = false;
}

int virtio_kicks_open(struct virtio_dev *vdev)
{
    for (unsigned i = 0; i < vdev->nqueues; i++) {
        vdev->vq[i].kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (vdev->vq[i].kick_fd < 0)
            return -errno;
    }
    return virtio_kicks_watch(vdev);
}

void virtio_kicks_close(struct virtio_dev *vdev)
{
    virtio_kicks_unwatch(vdev);
    for (unsigned i = 0; i < vdev->nqueues; i++) {
        struct virtq *q = &vdev->vq[i];
        if (q->kick_fd >= 0)
            close(q->kick_fd);
        q->kick_fd = -1;
    }
}
