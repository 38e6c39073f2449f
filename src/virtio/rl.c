/* rl.c — a virtio device's rate limiters: the timer on the I/O thread and live updates. */
#include <errno.h>
#include <sys/epoll.h>

#include "virtio/virtio.h"
#include "vm/vm.h"

/* The limiter's timerfd fired (I/O thread, lock held): requests may go again. */
static void rl_timer_cb(void *opaque, uint32_t events)
{
    struct virtio_rl *r = opaque;
    if (!rl_timer_event(&r->rl))
        return;
    r->events++;
    if (!r->vdev->paused)
        r->resume(r->opaque);
}

int virtio_rl_add(struct virtio_dev *vdev, struct virtio_rl *r, const struct rl_config *c,
                  void (*resume)(void *opaque), void *opaque)
{
    if (vdev->nrl >= VIRTIO_MAX_RL)
        return -ENOSPC;
    r->vdev = vdev;
    r->resume = resume;
    r->opaque = opaque;
    int rc = rl_init(&r->rl, c, true);
    if (rc < 0)
        return rc;
    rc = virtio_watch_fd(vdev, r->rl.timer_fd, EPOLLIN, rl_timer_cb, r);
    if (rc < 0) {
        rl_fini(&r->rl);
        return rc;
    }
    vdev->rl[vdev->nrl++] = r;
    return 0;
}

void virtio_rl_fini(struct virtio_rl *r)
{
    if (r->vdev) /* set up (a device freed before virtio_rl_add has none) */
        rl_fini(&r->rl);
}

/* evloop_call target after an update of a blocked limiter (I/O thread, lock not held). */
static void rl_lift(void *opaque)
{
    struct virtio_rl *r = opaque;
    virtio_lock(r->vdev);
    if (rl_blocked(&r->rl)) {
        rl_unblock(&r->rl);
        if (!r->vdev->paused)
            r->resume(r->opaque);
    }
    virtio_unlock(r->vdev);
}

int virtio_rl_update(struct virtio_rl *r, const struct rl_config *c, bool bw, bool ops)
{
    virtio_lock(r->vdev);
    rl_update(&r->rl, c, bw, ops);
    bool blocked = rl_blocked(&r->rl);
    virtio_unlock(r->vdev);
    return blocked ? evloop_call(r->vdev->vm->loop, rl_lift, r) : 0;
}
