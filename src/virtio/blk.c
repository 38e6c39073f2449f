/* blk.c — virtio-blk on raw images: request execution through the disk backend, 1..N queues. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "dev/dev.h"
#include "util/state.h"
#include "virtio/blk.h"
#include "vm/vm.h"

_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio-blk request header");
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "discard segment");
_Static_assert(BLK_QUEUE_SIZE <= VIRTQ_MAX_SIZE, "queue size");

/* ---- request pool -------------------------------------------------------------------------- */

static struct blk_req *req_get(struct blk_queue *bq)
{
    if (!bq->nfree)
        return NULL;
    struct blk_req *r = &bq->req[bq->free[--bq->nfree]];
    r->chain = (struct virtq_chain){.iov = r->iov, .max_iov = BLK_MAX_IOV};
    r->bq = bq;
    r->q = bq->q;
    return r;
}

static void req_put(struct blk_req *r)
{
    struct blk_queue *bq = r->bq;
    bq->free[bq->nfree++] = (uint16_t)(r - bq->req);
}

/* Report STATUS for R to the driver and retire R. */
static void req_complete(struct virtio_blk *b, struct blk_req *r, uint8_t status)
{
    uint32_t written = 0;
    if (r->status) {
        *r->status = status;
        written = 1;
        if (status == VIRTIO_BLK_S_OK &&
            (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID))
            written += (uint32_t)r->data_len;
    }
    if (status == VIRTIO_BLK_S_IOERR)
        b->nerrors++;
    virtq_push(r->q, r->chain.head, written);
    req_put(r);
}

/* ---- execution ----------------------------------------------------------------------------- */

/* GET_ID: the serial, zero-padded to 20 bytes (truncated to what the driver gave). */
static uint8_t do_get_id(struct virtio_blk *b, struct blk_req *r)
{
    uint8_t id[VIRTIO_BLK_ID_BYTES] = {0};
    memcpy(id, b->serial, strnlen(b->serial, sizeof(id)));
    size_t done = 0;
    for (unsigned i = 0; i < r->ndata; i++) {
        memcpy(r->data[i].iov_base, id + done, r->data[i].iov_len);
        done += r->data[i].iov_len;
    }
    return VIRTIO_BLK_S_OK;
}

/* Hand request R, parsed with status ST (blk_parse), to the backend (or finish it now). */
static void req_start(struct virtio_blk *b, struct blk_req *r, uint8_t st)
{
    if (st == BLK_NO_STATUS) {
        virtq_push(r->q, r->chain.head, 0); /* nowhere to put a status: the driver's loss */
        req_put(r);
        return;
    }
    if (st != VIRTIO_BLK_S_OK) {
        req_complete(b, r, st);
        return;
    }
    uint64_t off = r->sector * DISK_SECTOR;
    struct disk *d = r->bq->disk;
    int rc = 0;
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        if (!r->data_len) {
            req_complete(b, r, VIRTIO_BLK_S_OK);
            return;
        }
        rc = r->type == VIRTIO_BLK_T_IN ? disk_readv(d, off, r->data, r->ndata, r)
                                        : disk_writev(d, off, r->data, r->ndata, r);
        break;
    case VIRTIO_BLK_T_FLUSH:
        rc = disk_flush(d, r);
        break;
    case VIRTIO_BLK_T_GET_ID:
        req_complete(b, r, do_get_id(b, r));
        return;
    case VIRTIO_BLK_T_DISCARD:
        rc = disk_discard(d, off, r->nsect * DISK_SECTOR, r);
        break;
    case VIRTIO_BLK_T_WRITE_ZEROES:
        rc = disk_write_zeroes(d, off, r->nsect * DISK_SECTOR, r);
        break;
    }
    if (rc < 0)
        req_complete(b, r, rc == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR);
}

/* disk_reap callback: map the backend result to a virtio-blk status. */
static void req_done(void *opaque, void *tag, int res)
{
    struct virtio_blk *b = opaque;
    struct blk_req *r = tag;
    uint8_t st = VIRTIO_BLK_S_OK;
    if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT) {
        if (res < 0 || (uint64_t)res != r->data_len)
            st = VIRTIO_BLK_S_IOERR;
        else if (r->type == VIRTIO_BLK_T_IN)
            b->nreads++, b->bytes_read += r->data_len;
        else
            b->nwrites++, b->bytes_written += r->data_len;
    } else if (res < 0) {
        st = res == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
    } else {
        b->nflushes += r->type == VIRTIO_BLK_T_FLUSH;
        b->ndiscards += r->type != VIRTIO_BLK_T_FLUSH;
    }
    if (st == VIRTIO_BLK_S_IOERR && !b->nerrors)
        log_warn("%s: I/O error on %s (type %u, sector %llu): %s", b->vdev.name, b->path, r->type,
                 (unsigned long long)r->sector, res < 0 ? strerror(-res) : "short transfer");
    req_complete(b, r, st);
}

/* Take the rate limiter's tokens for R (parsed, to be executed), as Firecracker: the data bytes
 * of a read or write, then one op; both or neither. False: refused, the limiter's timer armed. */
static bool blk_rl_take(struct virtio_blk *b, const struct blk_req *r)
{
    struct ratelimiter *rl = &b->rl.rl;
    bool data = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;
    if (data && !rl_consume(rl, r->data_len, RL_BYTES))
        return false;
    if (!rl_consume(rl, 1, RL_OPS)) {
        if (data)
            rl_replenish(rl, r->data_len, RL_BYTES);
        return false;
    }
    return true;
}

/* Pop, parse and start one request of Q. Returns 1 (started), 0 (queue empty), -EBUSY (the pool
 * is dry), -EAGAIN (the rate limiter refused it: it is back in the ring) or <0 (queue broken). */
static int blk_one(struct virtio_blk *b, struct blk_queue *bq)
{
    struct virtq *q = bq->q;
    struct blk_req *r = req_get(bq);
    if (!r)
        return -EBUSY;
    int rc = virtq_pop(q, &r->chain);
    if (rc <= 0) {
        req_put(r);
        return rc;
    }
    uint8_t st = blk_parse(b, r);
    if (st == VIRTIO_BLK_S_OK && !blk_rl_take(b, r)) {
        q->last_avail--; /* undo the pop: the timer brings us back to it */
        req_put(r);
        b->rl.throttled++;
        return -EAGAIN;
    }
    req_start(b, r, st);
    return 1;
}

/* Pop and start requests from BQ until it is empty, the pool is dry (at most BLK_QUEUE_SIZE
 * requests per run: the loop is bounded by the pool), or the rate limiter says wait. Lock held.
 * Returns the number of requests started. */
static unsigned blk_process(struct virtio_blk *b, struct blk_queue *bq)
{
    struct virtq *q = bq->q;
    int rc = 0;
    unsigned started = 0;
    if (b->vdev.paused)
        return 0; /* resume kicks the queue */
    bq->throttled = false;
    do {
        if (rl_blocked(&b->rl.rl))
            break; /* the limiter's timer calls us again */
        virtq_disable_notify(q);
        while ((rc = blk_one(b, bq)) > 0)
            started++;
        if (rc == -EBUSY)
            bq->throttled = true; /* completions free requests and call us again */
    } while (rc == 0 && virtq_enable_notify(q));
    if (disk_submit(bq->disk) < 0)
        log_warn("%s: io_uring submit failed", b->vdev.name);
    virtio_interrupt(&b->vdev, q);
    return started;
}

/* The queue of virtqueue Q. */
static struct blk_queue *queue_of(struct virtio_blk *b, const struct virtq *q)
{
    return &b->queues[q->index];
}

/* Whether BQ may be processed now (the device live, the queue enabled and whole). */
static bool queue_ready(struct virtio_blk *b, const struct blk_queue *bq)
{
    const struct virtq *q = bq->q;
    return (b->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) &&
           !(b->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET) && q->enabled && q->avail && !q->broken;
}

/* ---- virtio ops ---------------------------------------------------------------------------- */

/* A kick (I/O thread: the only caller that feeds bulk mode, which switches this thread's
 * scheduling; the other passes run on the I/O thread too, except a drive swap's). */
static void blk_queue_notify(void *opaque, struct virtq *q)
{
    struct virtio_blk *b = opaque;
    int change = io_bulk_batch(&b->bulk, blk_process(b, queue_of(b, q)));
    if (change)
        io_bulk_count(&b->bulk_sched, b->vdev.name, change > 0);
}

/* Requests of BQ were completed (lock held): re-run it if it was throttled, else interrupt the
 * driver. */
static void blk_after_completions(struct virtio_blk *b, struct blk_queue *bq)
{
    struct virtq *q = bq->q;
    if (bq->throttled && q->avail && !q->broken)
        blk_process(b, bq);
    else
        virtio_interrupt(&b->vdev, q);
}

/* I/O thread, lock held: queue BQ's backend ring completed operations. */
static void blk_disk_event(void *opaque, uint32_t events)
{
    struct blk_queue *bq = opaque;
    if (disk_reap(bq->disk, req_done, bq->b))
        blk_after_completions(bq->b, bq);
}

/* The rate limiter, shared by every queue, lets requests go again (I/O thread, lock held): each
 * queue gets its turn, the one after the queue served first last time first, so a queue that
 * takes every token cannot starve the others. */
static void blk_rl_resume(void *opaque)
{
    struct virtio_blk *b = opaque;
    unsigned first = b->rl_next++ % b->nq;
    for (unsigned i = 0; i < b->nq && !rl_blocked(&b->rl.rl); i++) {
        struct blk_queue *bq = &b->queues[(first + i) % b->nq];
        if (queue_ready(b, bq))
            blk_process(b, bq);
    }
}

static void blk_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_blk *b = opaque;
    memcpy(data, (uint8_t *)&b->config + off, size);
}

/* Forget in-flight requests after their I/O finished: the queues are being reset. */
static void req_drop(void *opaque, void *tag, int res)
{
    req_put(tag);
}

/* Wait for every queue's requests in flight, completing them with DONE. */
static void blk_drain(struct virtio_blk *b, disk_done_fn done)
{
    for (unsigned i = 0; i < b->nq; i++)
        disk_drain(b->queues[i].disk, done, b);
}

static void blk_reset(void *opaque)
{
    struct virtio_blk *b = opaque;
    blk_drain(b, req_drop);
    for (unsigned i = 0; i < b->nq; i++)
        b->queues[i].throttled = false;
}

/* Pause: no new requests (blk_process looks at vdev.paused), every in-flight one completed and
 * handed back to the driver. Nothing else of the device is guest-visible beyond the common
 * state: a snapshot taken now holds no request in flight. */
static void blk_pause(void *opaque)
{
    struct virtio_blk *b = opaque;
    virtio_lock(&b->vdev);
    blk_drain(b, req_done);
    for (unsigned i = 0; i < b->nq; i++)
        virtio_interrupt(&b->vdev, b->queues[i].q);
    virtio_unlock(&b->vdev);
}

static void blk_stop(void *opaque)
{
    struct virtio_blk *b = opaque;
    virtio_lock(&b->vdev);
    blk_drain(b, req_done);
    virtio_unlock(&b->vdev);
}

/* Close the queues' rings (the other queues before queue 0, which owns the file) and free. */
static void blk_free(struct virtio_blk *b)
{
    for (unsigned i = b->nq; i-- > 1;)
        disk_close(&b->queues[i].own);
    disk_close(&b->disk);
    for (unsigned i = 0; b->queues && i < b->nq; i++)
        page_free(b->queues[i].req, BLK_QUEUE_SIZE * sizeof(*b->queues[i].req));
    free(b->queues);
    free(b);
}

static void blk_destroy(void *opaque)
{
    struct virtio_blk *b = opaque;
    virtio_rl_fini(&b->rl);
    blk_free(b);
}

/* The capacity the guest saw must be the image's now: a snapshot restored onto a disk of
 * another size is refused. */
static void blk_state_check(void *opaque, struct state_visitor *v)
{
    struct virtio_blk *b = opaque;
    uint64_t capacity = b->capacity;
    if (!state_begin(v, "blk", 1))
        return;
    STATE_U64(v, capacity);
    if (v->loading && !state_error(v) && capacity != b->capacity)
        state_fail(v, -EINVAL, "disk %s: the image has %llu sectors, the saved device had %llu",
                   b->id, (unsigned long long)b->capacity, (unsigned long long)capacity);
    state_end(v);
}

static const struct virtio_dev_ops blk_ops = {
    .state_check = blk_state_check,
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
    .pause = blk_pause,
    .stop = blk_stop,
    .destroy = blk_destroy,
};

/* ---- creation ------------------------------------------------------------------------------ */

/* Fill the config image and return the offered device features. */
static uint64_t blk_setup_config(struct virtio_blk *b)
{
    struct virtio_blk_config *c = &b->config;
    uint64_t f =
        1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH;
    *c = (struct virtio_blk_config){0};
    c->capacity = b->capacity;
    c->seg_max = BLK_SEG_MAX;
    c->blk_size = DISK_SECTOR;
    c->num_queues = (uint16_t)b->nq;
    if (b->nq > 1)
        f |= 1ULL << VIRTIO_BLK_F_MQ;
    if (b->readonly)
        f |= 1ULL << VIRTIO_BLK_F_RO;
    if (b->disk.can_punch) {
        f |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
        c->max_discard_sectors = BLK_MAX_DISCARD;
        c->max_discard_seg = 1;
        c->discard_sector_alignment = BLK_DISCARD_ALIGN;
        c->max_write_zeroes_sectors = BLK_MAX_DISCARD;
        c->max_write_zeroes_seg = 1;
        c->write_zeroes_may_unmap = 1;
    }
    return f;
}

/* Capacity from the image size. A size that is not a multiple of 512: the partial tail is not
 * exposed (never read or written), so the guest sees a whole number of sectors. */
static void blk_set_capacity(struct virtio_blk *b)
{
    b->capacity = b->disk.size / DISK_SECTOR;
    if (b->disk.size % DISK_SECTOR)
        log_warn("disk %s: size is not a multiple of 512; the last %llu bytes are not used",
                 b->path, (unsigned long long)(b->disk.size % DISK_SECTOR));
}

/* Set up B's NQ queues: pools, and a ring for each queue after the first (queue 0 uses the disk
 * opened by the caller). Returns 0 or <0 with ERR; what was set up is freed by blk_free. */
static int blk_setup_queues(struct virtio_blk *b, unsigned nq, char *err, size_t errlen)
{
    b->queues = calloc(nq, sizeof(*b->queues));
    if (!b->queues)
        goto nomem;
    for (unsigned i = 0; i < nq; i++) {
        struct blk_queue *bq = &b->queues[i];
        bq->b = b; /* bq->q: once virtio_dev_init has allocated the queues */
        bq->disk = i ? &bq->own : &b->disk;
        bq->own.fd = bq->own.efd = -1;
        /* 2 MiB, on pages of their own: a request's page is backed once used (the free list
         * hands out the lowest first) */
        bq->req = page_zalloc(BLK_QUEUE_SIZE * sizeof(*bq->req));
        b->nq = i + 1; /* blk_free frees this one from here on */
        if (!bq->req)
            goto nomem;
        for (unsigned k = 0; k < BLK_QUEUE_SIZE; k++)
            bq->free[k] = (uint16_t)(BLK_QUEUE_SIZE - 1 - k);
        bq->nfree = BLK_QUEUE_SIZE;
        if (i) {
            int rc = disk_open_queue(&bq->own, &b->disk, b->path, BLK_QUEUE_SIZE, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
nomem:
    snprintf(err, errlen, "disk %s: out of memory", b->path);
    return -ENOMEM;
}

/* The queue count DC asks for on VM: 1 by default, at most one per vCPU. Returns it or -EINVAL
 * with ERR. */
static int blk_queue_count(const struct vm *vm, const struct disk_config *dc, char *err,
                           size_t errlen)
{
    unsigned nq = dc->queues ? dc->queues : 1;
    if (nq > BLK_MAX_QUEUES || (nq > 1 && nq > vm->cfg.cpus)) {
        snprintf(err, errlen,
                 "disk %s: queues=%u: at most one queue per vCPU (%u vCPUs) and at most %u", dc->id,
                 nq, vm->cfg.cpus, BLK_MAX_QUEUES);
        return -EINVAL;
    }
    return (int)nq;
}

/* Watch every queue's completion eventfd. Returns 0 or <0 with ERR. */
static int blk_watch_queues(struct virtio_blk *b, char *err, size_t errlen)
{
    for (unsigned i = 0; i < b->nq; i++) {
        int rc = virtio_watch_fd(&b->vdev, b->queues[i].disk->efd, EPOLLIN, blk_disk_event,
                                 &b->queues[i]);
        if (rc < 0) {
            snprintf(err, errlen, "disk %s: cannot watch completions: %s", b->path, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int virtio_blk_create(struct vm *vm, const struct disk_config *dc, char *err, size_t errlen)
{
    int nq = blk_queue_count(vm, dc, err, errlen);
    if (nq < 0)
        return nq;
    struct virtio_blk *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "disk %s: out of memory", dc->path);
        return -ENOMEM;
    }
    snprintf(b->id, sizeof(b->id), "%s", dc->id);
    b->path = dc->path;
    snprintf(b->serial, sizeof(b->serial), "%s", dc->serial);
    b->readonly = dc->readonly;
    int rc = disk_open(&b->disk, dc->path, dc->readonly, BLK_QUEUE_SIZE, err, errlen);
    if (rc == 0 && dc->direct && (rc = disk_set_direct(&b->disk, dc->path, err, errlen)) < 0)
        disk_close(&b->disk);
    if (rc < 0) {
        free(b);
        return rc;
    }
    blk_set_capacity(b);
    rc = blk_setup_queues(b, (unsigned)nq, err, errlen);
    if (rc < 0) {
        blk_free(b);
        return rc;
    }
    uint64_t features = blk_setup_config(b);
    rc = virtio_dev_init(&b->vdev, vm, "virtio-blk", VIRTIO_ID_BLOCK, 0x018000, features,
                         (unsigned)nq, BLK_QUEUE_SIZE, sizeof(b->config), &blk_ops, b);
    if (rc < 0) {
        snprintf(err, errlen, "disk %s: bad device parameters", dc->path);
        blk_free(b);
        return rc;
    }
    for (unsigned i = 0; i < (unsigned)nq; i++)
        b->queues[i].q = &b->vdev.vq[i];
    rc = blk_watch_queues(b, err, errlen);
    if (rc < 0)
        goto fail;
    rc = virtio_rl_add(&b->vdev, &b->rl, &dc->rate_limiter, blk_rl_resume, b);
    if (rc < 0) {
        snprintf(err, errlen, "disk %s: cannot set up its rate limiter: %s", dc->path,
                 strerror(-rc));
        goto fail;
    }
    rc = virtio_dev_add(vm, &b->vdev, err, errlen);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    virtio_unwatch_all(&b->vdev);
    virtio_rl_fini(&b->rl);
    virtio_dev_fini(&b->vdev);
    blk_free(b);
    return rc;
}

/* ---- swapping the backing file (API) ------------------------------------------------------- */

#define BLK_IMAGE_FEATURES (1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES)

/* The virtio-blk device of VM created for drive ID, or NULL. */
static struct virtio_blk *blk_find(struct vm *vm, const char *id)
{
    struct virtio_dev *v = NULL;
    while ((v = virtio_find(vm, VIRTIO_ID_BLOCK, v)))
        if (!strcmp(((struct virtio_blk *)v->opaque)->id, id))
            return v->opaque;
    return NULL;
}

/* The disk now holds the image at PATH (lock held): refresh what depends on it, tell the driver. */
static void blk_image_changed(struct virtio_blk *b, const char *path)
{
    struct vm *vm = b->vdev.vm;
    for (unsigned i = 0; i < vm->cfg.ndisks; i++) /* b->path is the one whose id is b's */
        if (!strcmp(vm->cfg.disks[i].id, b->id))
            snprintf(vm->cfg.disks[i].path, sizeof(vm->cfg.disks[i].path), "%s", path);
    blk_set_capacity(b);
    /* offered for the next negotiation; a driver that negotiated discard on a file that cannot
     * punch holes gets VIRTIO_BLK_S_UNSUPP */
    uint64_t f = blk_setup_config(b) & BLK_IMAGE_FEATURES;
    b->vdev.host_features = (b->vdev.host_features & ~BLK_IMAGE_FEATURES) | f;
    virtio_config_changed(&b->vdev);
}

int virtio_blk_swap(struct vm *vm, const char *drive_id, const char *path, char *err, size_t errlen)
{
    struct virtio_blk *b = drive_id && *drive_id ? blk_find(vm, drive_id) : NULL;
    if (!b) {
        snprintf(err, errlen, "drive %s: no such virtio-blk drive", drive_id ? drive_id : "");
        return -ENOENT;
    }
    if (!path || !*path || strlen(path) >= sizeof(vm->cfg.disks[0].path)) {
        snprintf(err, errlen, "drive %s: the path is empty or too long", drive_id);
        return -EINVAL;
    }
    int fd = disk_open_file(&b->disk, path, err, errlen); /* may block: not under the lock */
    if (fd < 0)
        return -EINVAL;
    virtio_lock(&b->vdev);
    for (unsigned i = 1; i < b->nq; i++) /* queue 0's in-flight requests: disk_swap drains them */
        disk_drain(b->queues[i].disk, req_done, b);
    int rc = disk_swap(&b->disk, fd, path, req_done, b, err, errlen);
    if (rc == 0) {
        for (unsigned i = 1; i < b->nq; i++)
            disk_follow(b->queues[i].disk, &b->disk);
        blk_image_changed(b, path);
    }
    for (unsigned i = 0; i < b->nq; i++) /* the drains may have completed requests */
        blk_after_completions(b, &b->queues[i]);
    virtio_unlock(&b->vdev);
    return rc < 0 ? -EINVAL : 0;
}

int virtio_blk_set_rate_limiter(struct vm *vm, const char *drive_id, const struct rl_config *c,
                                bool bw, bool ops, char *err, size_t errlen)
{
    struct virtio_blk *b = drive_id && *drive_id ? blk_find(vm, drive_id) : NULL;
    if (!b) {
        snprintf(err, errlen, "drive %s: no such virtio-blk drive", drive_id ? drive_id : "");
        return -ENOENT;
    }
    int rc = virtio_rl_update(&b->rl, c, bw, ops);
    if (rc < 0)
        snprintf(err, errlen, "drive %s: out of memory", drive_id);
    return rc;
}

/* is_root_device, as Firecracker: "root=/dev/vdX rw" (ro for a read-only disk) goes on the
 * command line; X is the disk's letter among the virtio disks (their creation order). */
static int blk_root_arg(struct vm *vm, unsigned letter, bool readonly, char *err, size_t errlen)
{
    char *cmd = vm->cfg.cmdline;
    size_t n = strnlen(cmd, sizeof(vm->cfg.cmdline));
    int w = snprintf(cmd + n, sizeof(vm->cfg.cmdline) - n, "%sroot=/dev/vd%c %s", n ? " " : "",
                     'a' + letter, readonly ? "ro" : "rw");
    if (w < 0 || (size_t)w >= sizeof(vm->cfg.cmdline) - n) {
        cmd[n] = 0;
        snprintf(err, errlen, "--cmdline: no room for the disk's root= argument");
        return -EINVAL;
    }
    return 0;
}

static int blk_class_create(struct vm *vm, char *err, size_t errlen)
{
    unsigned letter = 0;
    for (unsigned i = 0; i < vm->cfg.ndisks; i++) {
        const struct disk_config *d = &vm->cfg.disks[i];
        if (d->iface != DISK_IF_VIRTIO)
            continue; /* on the AHCI controller (dev/ahci.c) */
        int rc = virtio_blk_create(vm, &vm->cfg.disks[i], err, errlen);
        if (!rc && d->is_root && !vm->restoring)
            rc = blk_root_arg(vm, letter, d->readonly, err, errlen);
        if (rc < 0)
            return rc;
        letter++;
    }
    return 0;
}

static const struct device_class virtio_blk_class = {
    .name = "virtio-blk",
    .order = DEV_ORDER_PCI,
    .create = blk_class_create,
};
DEVICE_CLASS(virtio_blk_class);
