/* rng.c — virtio-rng (entropy device) fed from the host's getrandom(), bounded per request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dev/dev.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define RNG_QUEUE_SIZE 64
#define RNG_MAX_IOV    16
#define RNG_MAX_CHAIN  (64 * 1024) /* bytes given per request, whatever the driver offered */

struct virtio_rng {
    struct virtio_dev vdev;
    uint64_t bytes;      /* counter (metrics) */
    struct virtio_rl rl; /* rate_limiter: requests it refuses stay in the queue */
};

/* Fill up to LIMIT bytes of C's writable part with random bytes. Returns the bytes written. */
static uint32_t rng_fill(const struct virtq_chain *c, uint32_t limit)
{
    uint32_t done = 0;
    for (unsigned i = c->nout; i < (unsigned)c->nout + c->nin && done < limit; i++) {
        uint8_t *p = c->iov[i].iov_base;
        size_t want = MIN(c->iov[i].iov_len, (size_t)(limit - done));
        size_t got = 0;
        while (got < want) {
            ssize_t n = getrandom(p + got, want - got, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return done + (uint32_t)got; /* cannot happen on Linux >= 3.17 */
            got += (size_t)n;
        }
        done += (uint32_t)got;
    }
    return done;
}

/* Serve one popped request C of Q, unless the rate limiter refuses it (then it goes back to the
 * ring and false is returned). The bytes counted are those given: at most RNG_MAX_CHAIN. */
static bool rng_serve(void *opaque, struct virtq *q, struct virtq_chain *c)
{
    struct virtio_rng *r = opaque;
    if (!rl_request(&r->rl.rl, MIN(c->in_len, RNG_MAX_CHAIN))) {
        q->last_avail--; /* undo the pop: the timer brings us back to it */
        r->rl.throttled++;
        return false;
    }
    uint32_t n = rng_fill(c, RNG_MAX_CHAIN);
    r->bytes += n;
    virtq_push(q, c->head, n);
    return true;
}

static void rng_queue_notify(void *opaque, struct virtq *q)
{
    struct virtio_rng *r = opaque;
    struct iovec iov[RNG_MAX_IOV];
    struct virtq_chain c = {.iov = iov, .max_iov = RNG_MAX_IOV};
    if (!rl_blocked(&r->rl.rl)) /* else the limiter's timer calls us again */
        virtq_serve(q, VIRTQ_BUDGET(q), &c, rng_serve, r);
}

/* The rate limiter lets requests go again (I/O thread, lock held). */
static void rng_rl_resume(void *opaque)
{
    struct virtio_rng *r = opaque;
    struct virtq *q = &r->vdev.vq[0];
    if ((r->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) &&
        !(r->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET) && q->enabled && q->avail && !q->broken)
        rng_queue_notify(r, q);
}

int virtio_rng_set_rate_limiter(struct vm *vm, const struct rl_config *c, bool bw, bool ops)
{
    struct virtio_dev *v = virtio_find(vm, VIRTIO_ID_RNG, NULL);
    if (!v)
        return -ENOENT;
    return virtio_rl_update(&((struct virtio_rng *)v->opaque)->rl, c, bw, ops);
}

void virtio_rng_counters(struct vm *vm, struct rng_counters *out)
{
    struct virtio_dev *v = virtio_find(vm, VIRTIO_ID_RNG, NULL);
    *out = (struct rng_counters){0};
    if (!v)
        return;
    struct virtio_rng *r = v->opaque;
    virtio_lock(v);
    out->bytes = r->bytes;
    out->throttled = r->rl.throttled;
    out->events = r->rl.events;
    virtio_unlock(v);
}

static void rng_destroy(void *opaque)
{
    struct virtio_rng *r = opaque;
    virtio_rl_fini(&r->rl);
    free(r);
}

static const struct virtio_dev_ops rng_ops = {
    .queue_notify = rng_queue_notify,
    .destroy = rng_destroy,
};

static int rng_class_create(struct vm *vm, char *err, size_t errlen)
{
    if (!vm->cfg.entropy)
        return 0;
    struct virtio_rng *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "virtio-rng: out of memory");
        return -ENOMEM;
    }
    int rc = virtio_dev_init(&r->vdev, vm, "virtio-rng", VIRTIO_ID_RNG, 0x00ff00, 0, 1,
                             RNG_QUEUE_SIZE, 0, &rng_ops, r);
    if (rc < 0) {
        snprintf(err, errlen, "virtio-rng: bad device parameters");
        free(r);
        return rc;
    }
    rc = virtio_rl_add(&r->vdev, &r->rl, &vm->cfg.entropy_rate_limiter, rng_rl_resume, r);
    if (rc < 0)
        snprintf(err, errlen, "virtio-rng: cannot set up its rate limiter: %s", strerror(-rc));
    else
        rc = virtio_dev_add(vm, &r->vdev, err, errlen);
    if (rc < 0) {
        virtio_unwatch_all(&r->vdev);
        virtio_rl_fini(&r->rl);
        virtio_dev_fini(&r->vdev);
        free(r);
    }
    return rc;
}

static const struct device_class virtio_rng_class = {
    .name = "virtio-rng",
    .order = DEV_ORDER_PCI,
    .create = rng_class_create,
};
DEVICE_CLASS(virtio_rng_class);
