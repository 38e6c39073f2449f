/* disk.c — raw disk images: open/lock/size once, asynchronous I/O through io_uring (sync fallback).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "util/util.h"

#define FALLOC_PUNCH (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
#define FALLOC_ZERO  (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)

/* Does punching a hole work here? Probed past the end of the file, where it changes nothing. */
static bool probe_punch(int fd, uint64_t size)
{
    off_t at = (off_t)ALIGN_UP(size, 1 * MiB) + (off_t)MiB;
    return fallocate(fd, FALLOC_PUNCH, at, 4096) == 0;
}

/* Allocate the request table and set up io_uring (or the synchronous fallback). */
static int disk_setup_queue(struct disk *d, const char *path)
{
    /* on pages of their own: a slot's page is backed once used (the free list hands out the
     * lowest first) */
    d->req = page_zalloc(d->depth * sizeof(*d->req));
    d->free = calloc(d->depth, sizeof(*d->free));
    d->done = calloc(d->depth, sizeof(*d->done));
    if (!d->req || !d->free || !d->done)
        return -ENOMEM;
    for (unsigned i = 0; i < d->depth; i++)
        d->free[i] = (uint16_t)(d->depth - 1 - i);
    d->nfree = d->depth;
    d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->efd < 0)
        return -errno;
    int rc = io_uring_queue_init(d->depth, &d->ring, 0);
    if (rc == 0) {
        rc = io_uring_register_eventfd(&d->ring, d->efd);
        if (rc == 0) {
            d->uring = true;
            return 0;
        }
        io_uring_queue_exit(&d->ring);
    }
    log_warn("disk %s: io_uring unavailable (%s): using synchronous I/O", path, strerror(-rc));
    return 0;
}

/* Open PATH (read-only when READONLY) and check it is a regular file or block device. Returns the
 * fd or -errno with one line naming PATH in ERR. */
static int open_image(const char *path, bool readonly, char *err, size_t errlen)
{
    int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "disk %s: cannot open: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        snprintf(err, errlen, "disk %s: not a regular file or block device", path);
        close(fd);
        return -EINVAL;
    }
    return fd;
}

/* Take the advisory lock on FD: shared when READONLY, else exclusive. Returns 0 or -errno. */
static int lock_image(int fd, const char *path, bool readonly, char *err, size_t errlen)
{
    if (flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
        return 0;
    int rc = -errno;
    snprintf(err, errlen, "disk %s: in use by another process (%s)", path, strerror(errno));
    return rc;
}

/* Drop FD's image lock, then FD. The unlock is explicit because io_uring may keep the open file
 * (and so a flock on it) alive for a moment after close(), which would make reopening the same
 * image (swapping back to it) fail as "in use". */
static void release_image(int fd)
{
    flock(fd, LOCK_UN);
    close(fd);
}

/* Find FD's size and whether holes can be punched in it (never when READONLY). Returns 0 or
 * -errno. */
static int measure_image(int fd, const char *path, bool readonly, uint64_t *size, bool *can_punch,
                         char *err, size_t errlen)
{
    struct stat st;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0 || fstat(fd, &st) < 0) {
        int rc = -errno;
        snprintf(err, errlen, "disk %s: cannot find its size: %s", path, strerror(errno));
        return rc;
    }
    *size = (uint64_t)end;
    *can_punch = !readonly && S_ISREG(st.st_mode) && probe_punch(fd, *size);
    return 0;
}

int disk_open(struct disk *d, const char *path, bool readonly, unsigned depth, char *err,
              size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->fd = d->efd = d->dfd = -1;
    d->readonly = readonly;
    d->depth = depth;
    if (!depth || depth > 4096) {
        snprintf(err, errlen, "disk %s: bad queue depth %u", path, depth);
        return -EINVAL;
    }
    int rc = open_image(path, readonly, err, errlen);
    if (rc < 0)
        return rc;
    d->fd = rc;
    rc = lock_image(d->fd, path, readonly, err, errlen);
    if (rc < 0)
        goto fail;
    rc = measure_image(d->fd, path, readonly, &d->size, &d->can_punch, err, errlen);
    if (rc < 0)
        goto fail;
    rc = disk_setup_queue(d, path);
    if (rc < 0) {
        snprintf(err, errlen, "disk %s: %s", path, strerror(-rc));
        goto fail;
    }
    return 0;
fail:
    disk_close(d);
    return rc;
}

int disk_open_queue(struct disk *d, const struct disk *src, const char *path, unsigned depth,
                    char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->efd = d->dfd = -1;
    if (!depth || depth > 4096) {
        d->fd = -1;
        snprintf(err, errlen, "disk %s: bad queue depth %u", path, depth);
        return -EINVAL;
    }
    d->depth = depth;
    d->borrowed = true;
    disk_follow(d, src);
    int rc = disk_setup_queue(d, path);
    if (rc < 0) {
        snprintf(err, errlen, "disk %s: %s", path, strerror(-rc));
        disk_close(d);
    }
    return rc;
}

void disk_follow(struct disk *d, const struct disk *src)
{
    d->fd = src->fd;
    d->size = src->size;
    d->readonly = src->readonly;
    d->can_punch = src->can_punch;
    d->no_zero_range = src->no_zero_range;
    d->dfd = src->dfd;
    d->dio_align = src->dio_align;
}

int disk_open_file(const struct disk *d, const char *path, char *err, size_t errlen)
{
    return open_image(path, d->readonly, err, errlen);
}

int disk_swap(struct disk *d, int fd, const char *path, disk_done_fn done, void *opaque, char *err,
              size_t errlen)
{
    uint64_t size;
    bool can_punch;
    unsigned align = d->dio_align;
    int rc, dfd = d->dfd;
    if (fd_same_file(fd, d->fd)) {
        close(fd); /* the file in use (resized?): keep the descriptor that holds the lock */
        fd = d->fd;
    } else if ((rc = lock_image(fd, path, d->readonly, err, errlen)) < 0) {
        goto fail;
    }
    rc = measure_image(fd, path, d->readonly, &size, &can_punch, err, errlen);
    if (rc < 0)
        goto fail;
    if (d->dfd >= 0 && fd != d->fd &&
        (rc = dfd = disk_open_direct(path, fd, d->readonly, &align, err, errlen)) < 0)
        goto fail;
    disk_drain(d, done, opaque); /* nothing may complete against the old descriptor */
    if (d->inflight) {
        snprintf(err, errlen, "disk %s: I/O on the old image did not finish", path);
        rc = -EIO;
        goto fail;
    }
    if (fd != d->fd)
        release_image(d->fd);
    if (dfd != d->dfd)
        close(d->dfd);
    d->fd = fd;
    d->dfd = dfd;
    d->dio_align = align;
    d->size = size;
    d->can_punch = can_punch;
    d->no_zero_range = false;
    return 0;
fail:
    if (fd != d->fd)
        release_image(fd);
    if (dfd >= 0 && dfd != d->dfd)
        close(dfd);
    return rc;
}

/* Synchronous fallback: perform R now. Returns bytes or 0, or -errno. */
static int run_sync(struct disk *d, struct disk_req *r, const struct iovec *iov, unsigned niov)
{
    ssize_t n;
    switch (r->op) {
    case DISK_READ:
        n = preadv(disk_io_fd(d, iov, niov, r->off), iov, (int)niov, (off_t)r->off);
        return n < 0 ? -errno : (int)n;
    case DISK_WRITE:
        n = pwritev(disk_io_fd(d, iov, niov, r->off), iov, (int)niov, (off_t)r->off);
        return n < 0 ? -errno : (int)n;
    case DISK_FLUSH:
        return fdatasync(d->fd) < 0 ? -errno : 0;
    default:
        if (fallocate(d->fd, r->mode, (off_t)r->off, (off_t)r->len) == 0)
            return 0;
        if (errno == EOPNOTSUPP && r->mode == FALLOC_ZERO && d->can_punch) {
            d->no_zero_range = true;
            r->mode = FALLOC_PUNCH;
            return fallocate(d->fd, r->mode, (off_t)r->off, (off_t)r->len) < 0 ? -errno : 0;
        }
        return -errno;
    }
}

/* Fill an SQE for R. Returns 0 or -EBUSY (no SQE, cannot happen with depth-sized rings). */
static int prep_sqe(struct disk *d, struct disk_req *r, const struct iovec *iov, unsigned niov)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
    if (!sqe) {
        io_uring_submit(&d->ring);
        sqe = io_uring_get_sqe(&d->ring);
        if (!sqe)
            return -EBUSY;
    }
    switch (r->op) {
    case DISK_READ:
        io_uring_prep_readv(sqe, disk_io_fd(d, iov, niov, r->off), iov, niov, r->off);
        break;
    case DISK_WRITE:
        io_uring_prep_writev(sqe, disk_io_fd(d, iov, niov, r->off), iov, niov, r->off);
        break;
    case DISK_FLUSH:
        io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
        break;
    default:
        io_uring_prep_fallocate(sqe, d->fd, r->mode, r->off, r->len);
        break;
    }
    io_uring_sqe_set_data(sqe, r);
    return 0;
}

/* Queue one operation. IOV must stay valid until its completion is reaped. */
static int queue_op(struct disk *d, enum disk_op op, uint64_t off, uint64_t len,
                    const struct iovec *iov, unsigned niov, void *tag)
{
    if (d->readonly && op != DISK_READ && op != DISK_FLUSH)
        return -EROFS;
    if (!d->nfree)
        return -EBUSY;
    uint16_t idx = d->free[d->nfree - 1];
    struct disk_req *r = &d->req[idx];
    *r = (struct disk_req){.tag = tag, .op = (uint8_t)op, .off = off, .len = len};
    if (op == DISK_DISCARD)
        r->mode = FALLOC_PUNCH;
    else if (op == DISK_WRITE_ZEROES)
        r->mode = d->no_zero_range ? FALLOC_PUNCH : FALLOC_ZERO;
    if (d->uring) {
        int rc = prep_sqe(d, r, iov, niov);
        if (rc < 0)
            return rc;
    } else {
        r->res = run_sync(d, r, iov, niov);
        d->done[d->ndone++] = idx;
        eventfd_write(d->efd, 1);
    }
    d->nfree--;
    d->inflight++;
    return 0;
}

int disk_readv(struct disk *d, uint64_t off, const struct iovec *iov, unsigned niov, void *tag)
{
    return queue_op(d, DISK_READ, off, 0, iov, niov, tag);
}

int disk_writev(struct disk *d, uint64_t off, const struct iovec *iov, unsigned niov, void *tag)
{
    return queue_op(d, DISK_WRITE, off, 0, iov, niov, tag);
}

int disk_flush(struct disk *d, void *tag)
{
    return queue_op(d, DISK_FLUSH, 0, 0, NULL, 0, tag);
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len, void *tag)
{
    return d->can_punch ? queue_op(d, DISK_DISCARD, off, len, NULL, 0, tag) : -EOPNOTSUPP;
}

int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, void *tag)
{
    return queue_op(d, DISK_WRITE_ZEROES, off, len, NULL, 0, tag);
}

int disk_submit(struct disk *d)
{
    if (!d->uring)
        return 0;
    for (;;) {
        int rc = io_uring_submit(&d->ring);
        if (rc != -EINTR)
            return rc < 0 ? rc : 0;
    }
}

/* Retire request R with RES: free its slot and tell DONE. */
static void finish(struct disk *d, struct disk_req *r, int res, disk_done_fn done, void *opaque)
{
    void *tag = r->tag;
    d->free[d->nfree++] = (uint16_t)(r - d->req);
    d->inflight--;
    if (done)
        done(opaque, tag, res);
}

/* A write-zeroes the file system refused as ZERO_RANGE: retry it as a hole. True if resent. */
static bool retry_as_punch(struct disk *d, struct disk_req *r, int res)
{
    if (r->op != DISK_WRITE_ZEROES || res != -EOPNOTSUPP || r->mode != FALLOC_ZERO || !d->can_punch)
        return false;
    d->no_zero_range = true;
    r->mode = FALLOC_PUNCH;
    if (prep_sqe(d, r, NULL, 0) < 0)
        return false;
    io_uring_submit(&d->ring);
    return true;
}

unsigned disk_reap(struct disk *d, disk_done_fn done, void *opaque)
{
    eventfd_t v;
    unsigned n = 0;
    eventfd_read(d->efd, &v); /* clear the counter; EAGAIN when already clear */
    if (!d->uring) {
        while (d->ndone) {
            struct disk_req *r = &d->req[d->done[0]];
            memmove(d->done, d->done + 1, --d->ndone * sizeof(*d->done));
            finish(d, r, r->res, done, opaque);
            n++;
        }
        return n;
    }
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&d->ring, &cqe) == 0) {
        struct disk_req *r = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&d->ring, cqe);
        if (retry_as_punch(d, r, res))
            continue;
        finish(d, r, res, done, opaque);
        n++;
    }
    return n;
}

void disk_drain(struct disk *d, disk_done_fn done, void *opaque)
{
    if (d->uring)
        disk_submit(d);
    while (d->inflight) {
        if (d->uring) {
            struct io_uring_cqe *cqe;
            int rc = io_uring_wait_cqe(&d->ring, &cqe);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
                log_err("disk: waiting for I/O failed: %s", strerror(-rc));
                return;
            }
        }
        disk_reap(d, done, opaque);
    }
}

int disk_use_sync(struct disk *d)
{
    if (d->inflight)
        return -EBUSY;
    if (d->uring)
        io_uring_queue_exit(&d->ring);
    d->uring = false;
    return 0;
}

void disk_close(struct disk *d)
{
    if (d->req) {
        disk_drain(d, NULL, NULL);
        if (d->uring)
            io_uring_queue_exit(&d->ring);
    }
    d->uring = false;
    if (d->efd >= 0)
        close(d->efd);
    if (d->fd >= 0 && !d->borrowed)
        release_image(d->fd);
    if (d->dfd >= 0 && !d->borrowed)
        close(d->dfd);
    d->fd = d->efd = d->dfd = -1;
    page_free(d->req, d->depth * sizeof(*d->req));
    free(d->free);
    free(d->done);
    d->req = NULL;
    d->free = d->done = NULL;
}
