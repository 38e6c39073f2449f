/* blk.c — virtio-blk on raw images: request execution through the disk backend, one queue. */
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

static struct blk_req *req_get(struct virtio_blk *b)
{
    if (!b->nfree)
        return NULL;
    struct blk_req *r = &b->req[b->free[--b->nfree]];
    r->chain = (struct virtq_chain){.iov = r->iov, .max_iov = BLK_MAX_IOV};
    return r;
}

static void req_put(struct virtio_blk *b, struct blk_req *r)
{
    b->free[b->nfree++] = (uint16_t)(r - b->req);
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
    req_put(b, r);
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
        req_put(b, r);
        return;
    }
    if (st != VIRTIO_BLK_S_OK) {
        req_complete(b, r, st);
        return;
    }
    uint64_t off = r->sector * DISK_SECTOR;
    int rc = 0;
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        if (!r->data_len) {
            req_complete(b, r, VIRTIO_BLK_S_OK);
            return;
        }
        rc = r->type == VIRTIO_BLK_T_IN ? disk_readv(&b->disk, off, r->data, r->ndata, r)
                                        : disk_writev(&b->disk, off, r->data, r->ndata, r);
        break;
    case VIRTIO_BLK_T_FLUSH:
        rc = disk_flush(&b->disk, r);
        break;
    case VIRTIO_BLK_T_GET_ID:
        req_complete(b, r, do_get_id(b, r));
        return;
    case VIRTIO_BLK_T_DISCARD:
        rc = disk_discard(&b->disk, off, r->nsect * DISK_SECTOR, r);
        break;
    case VIRTIO_BLK_T_WRITE_ZEROES:
        rc = disk_write_zeroes(&b->disk, off, r->nsect * DISK_SECTOR, r);
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
static int blk_one(struct virtio_blk *b, struct virtq *q)
{
    struct blk_req *r = req_get(b);
    if (!r)
        return -EBUSY;
    r->q = q;
    int rc = virtq_pop(q, &r->chain);
    if (rc <= 0) {
        req_put(b, r);
        return rc;
    }
    uint8_t st = blk_parse(b, r);
    if (st == VIRTIO_BLK_S_OK && !blk_rl_take(b, r)) {
        q->last_avail--; /* undo the pop: the timer brings us back to it */
        req_put(b, r);
        b->rl.throttled++;
        return -EAGAIN;
    }
    req_start(b, r, st);
    return 1;
}

/* Pop and start requests from Q until it is empty, the pool is dry or the rate limiter says
 * wait. Lock held. */
static void blk_process(struct virtio_blk *b, struct virtq *q)
{
    int rc = 0;
    if (b->vdev.paused)
        return; /* resume kicks the queue */
    b->throttled = false;
    do {
        if (rl_blocked(&b->rl.rl))
            break; /* the limiter's timer calls us again */
        virtq_disable_notify(q);
        while ((rc = blk_one(b, q)) > 0)
            ;
        if (rc == -EBUSY)
            b->throttled = true; /* completions free requests and call us again */
    } while (rc == 0 && virtq_enable_notify(q));
    if (disk_submit(&b->disk) < 0)
        log_warn("%s: io_uring submit failed", b->vdev.name);
    virtio_interrupt(&b->vdev, q);
}

/* ---- virtio ops ---------------------------------------------------------------------------- */

static void blk_queue_notify(void *opaque, struct virtq *q)
{
    blk_process(opaque, q);
}

/* Requests were completed (lock held): re-run a throttled queue, else interrupt the driver. */
static void blk_after_completions(struct virtio_blk *b)
{
    struct virtq *q = &b->vdev.vq[0];
    if (b->throttled && q->avail && !q->broken)
        blk_process(b, q);
    else
        virtio_interrupt(&b->vdev, q);
}

/* I/O thread, lock held: the backend completed operations. */
static void blk_disk_event(void *opaque, uint32_t events)
{
    struct virtio_blk *b = opaque;
    if (disk_reap(&b->disk, req_done, b))
        blk_after_completions(b);
}

/* The rate limiter lets requests go again (I/O thread, lock held). */
static void blk_rl_resume(void *opaque)
{
    struct virtio_blk *b = opaque;
    struct virtq *q = &b->vdev.vq[0];
    if ((b->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) &&
        !(b->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET) && q->enabled && q->avail && !q->broken)
        blk_process(b, q);
}

static void blk_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_blk *b = opaque;
    memcpy(data, (uint8_t *)&b->config + off, size);
}

/* Forget in-flight requests after their I/O finished: the queues are being reset. */
static void req_drop(void *opaque, void *tag, int res)
{
    req_put(opaque, tag);
}

static void blk_reset(void *opaque)
{
    struct virtio_blk *b = opaque;
    disk_drain(&b->disk, req_drop, b);
    b->throttled = false;
}

/* Pause: no new requests (blk_process looks at vdev.paused), every in-flight one completed and
 * handed back to the driver. Nothing else of the device is guest-visible beyond the common
 * state: a snapshot taken now holds no request in flight. */
static void blk_pause(void *opaque)
{
    struct virtio_blk *b = opaque;
    virtio_lock(&b->vdev);
    disk_drain(&b->disk, req_done, b);
    virtio_interrupt(&b->vdev, &b->vdev.vq[0]);
    virtio_unlock(&b->vdev);
}

static void blk_stop(void *opaque)
{
    struct virtio_blk *b = opaque;
    virtio_lock(&b->vdev);
    disk_drain(&b->disk, req_done, b);
    virtio_unlock(&b->vdev);
}

static void blk_destroy(void *opaque)
{
    struct virtio_blk *b = opaque;
    virtio_rl_fini(&b->rl);
    disk_close(&b->disk);
    free(b);
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
    c->num_queues = 1;
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

int virtio_blk_create(struct vm *vm, const struct disk_config *dc, char *err, size_t errlen)
{
    struct virtio_blk *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "disk %s: out of memory", dc->path);
        return -ENOMEM;
    }
    snprintf(b->id, sizeof(b->id), "%s", dc->id);
    snprintf(b->path, sizeof(b->path), "%s", dc->path);
    snprintf(b->serial, sizeof(b->serial), "%s", dc->serial);
    b->readonly = dc->readonly;
    int rc = disk_open(&b->disk, dc->path, dc->readonly, BLK_QUEUE_SIZE, err, errlen);
    if (rc < 0) {
        free(b);
        return rc;
    }
    blk_set_capacity(b);
    for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++)
        b->free[i] = (uint16_t)(BLK_QUEUE_SIZE - 1 - i);
    b->nfree = BLK_QUEUE_SIZE;
    uint64_t features = blk_setup_config(b);
    rc = virtio_dev_init(&b->vdev, vm, "virtio-blk", VIRTIO_ID_BLOCK, 0x018000, features, 1,
                         BLK_QUEUE_SIZE, sizeof(b->config), &blk_ops, b);
    if (rc < 0) {
        snprintf(err, errlen, "disk %s: bad device parameters", dc->path);
        disk_close(&b->disk);
        free(b);
        return rc;
    }
    rc = virtio_watch_fd(&b->vdev, b->disk.efd, EPOLLIN, blk_disk_event, b);
    if (rc < 0) {
        snprintf(err, errlen, "disk %s: cannot watch completions: %s", dc->path, strerror(-rc));
        goto fail;
    }
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
    disk_close(&b->disk);
    free(b);
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
    snprintf(b->path, sizeof(b->path), "%s", path);
    for (unsigned i = 0; i < vm->cfg.ndisks; i++)
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
    if (!path || !*path || strlen(path) >= sizeof(b->path)) {
        snprintf(err, errlen, "drive %s: the path is empty or too long", drive_id);
        return -EINVAL;
    }
    int fd = disk_open_file(&b->disk, path, err, errlen); /* may block: not under the lock */
    if (fd < 0)
        return -EINVAL;
    virtio_lock(&b->vdev);
    int rc = disk_swap(&b->disk, fd, path, req_done, b, err, errlen);
    if (rc == 0)
        blk_image_changed(b, path);
    blk_after_completions(b); /* the drain may have completed requests */
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
