/* blk.h — virtio-blk device state and request parser, shared by blk.c and its unit tests. */
#ifndef TRUCE_VIRTIO_BLK_H
#define TRUCE_VIRTIO_BLK_H

#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend/backend.h"
#include "platform/config.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define BLK_QUEUE_SIZE    256
#define BLK_SEG_MAX       254               /* data segments per request (config seg_max) */
#define BLK_MAX_IOV       (BLK_SEG_MAX + 2) /* + header + status */
#define BLK_MAX_DISCARD   (1u << 22)        /* sectors per discard / write-zeroes (2 GiB) */
#define BLK_DISCARD_ALIGN 8                 /* sectors (4 KiB) */
#define BLK_NO_STATUS     0xff              /* blk_parse: the chain has no byte for a status */
#define BLK_MAX_QUEUES    CFG_MAX_QUEUES /* request queues (VIRTIO_BLK_F_MQ), at most the vCPUs */

struct blk_queue;

/* One request in flight: the popped chain and what the parser found in it. */
struct blk_req {
    struct virtq *q;
    struct blk_queue *bq; /* the queue whose pool it belongs to */
    struct virtq_chain chain;
    struct iovec iov[BLK_MAX_IOV];  /* the chain's segments */
    struct iovec data[BLK_MAX_IOV]; /* the data part (header and status cut off) */
    unsigned ndata;
    uint64_t data_len;
    uint32_t type;   /* VIRTIO_BLK_T_* */
    uint64_t sector; /* header sector, or the discard/write-zeroes range start */
    uint64_t nsect;  /* discard/write-zeroes range length */
    uint8_t *status; /* last writable byte of the chain; NULL when there is none */
};

/* One request queue: its virtqueue, its own io_uring (queue 0 uses the device's disk, the others
 * a disk_open_queue on it) and its pool of BLK_QUEUE_SIZE requests. Every queue is served on the
 * VM's I/O thread under the device lock. */
struct blk_queue {
    struct virtio_blk *b;
    struct virtq *q;
    struct disk *disk; /* &b->disk for queue 0, else &own */
    struct disk own;
    struct blk_req *req; /* BLK_QUEUE_SIZE */
    uint16_t free[BLK_QUEUE_SIZE];
    unsigned nfree;
    bool throttled; /* the pool ran dry: re-run the queue after completions */
};

/* Device state (plain values apart from the backend and the request pools). */
struct virtio_blk {
    struct virtio_dev vdev;
    struct disk disk;    /* the image (queue 0's io_uring) */
    char id[CFG_ID_LEN]; /* the drive's disk_config id (API) */
    const char *path;    /* the disk_config's path in vm->cfg: lives as long as the VM */
    char serial[CFG_SERIAL_LEN];
    bool readonly;
    uint64_t capacity; /* sectors: the image size rounded DOWN to 512 bytes */
    struct virtio_blk_config config;
    unsigned nq;              /* request queues (1: VIRTIO_BLK_F_MQ not offered) */
    struct blk_queue *queues; /* nq */
    unsigned rl_next;         /* the queue the limiter's next resume serves first */
    struct virtio_rl rl;      /* rate_limiter, shared by every queue: requests it refuses stay in
                                 their queue; when it lets work go on every queue is looked at */
    /* I/O thread scheduling while bulk traffic flows (blk.c, I/O thread only) */
    struct io_bulk_batch bulk; /* fed by the kicks: how many requests each one found */
    struct io_bulk bulk_sched;
    /* counters (metrics) */
    uint64_t nreads, nwrites, nflushes, ndiscards, nerrors, bytes_read, bytes_written;
};

/* Check R->chain against B (capacity, read-only, negotiated features) and fill R. Returns
 * VIRTIO_BLK_S_OK when the request must be executed, another VIRTIO_BLK_S_* to report now, or
 * BLK_NO_STATUS when the chain has no writable byte for a status (nothing can be reported). */
uint8_t blk_parse(const struct virtio_blk *b, struct blk_req *r);

/* Create a virtio-blk device for disk config DC, one of vm->cfg.disks, on VM (opens the image
 * now; the device keeps pointing at DC's path). Returns 0 or <0 with one line in ERR. */
int virtio_blk_create(struct vm *vm, const struct disk_config *dc, char *err, size_t errlen);

/* Swap the backing file of the virtio-blk drive whose disk_config id is DRIVE_ID for PATH, opened
 * and locked like at creation (same read-only mode), while the VM runs (from a thread not holding
 * the device lock, e.g. the API thread). In-flight I/O on the old file completes first; then
 * capacity and discard support are recomputed, the old file closed, vm->cfg.disks[].path updated
 * and the driver gets a configuration-change interrupt. Returns 0, -ENOENT (no such drive) or
 * -EINVAL (PATH cannot be used: the old file stays in place), with one line in ERR. */
int virtio_blk_swap(struct vm *vm, const char *drive_id, const char *path, char *err,
                    size_t errlen);

/* Replace the rate limiter buckets of drive DRIVE_ID named by BW / OPS with C's, live (any
 * thread not holding the device lock). Returns 0, -ENOENT (no such drive, ERR filled) or
 * -ENOMEM. */
int virtio_blk_set_rate_limiter(struct vm *vm, const char *drive_id, const struct rl_config *c,
                                bool bw, bool ops, char *err, size_t errlen);

#endif
