/* backend.h — host backends of devices. Disk images here; network backends are in backend/net.h. */
#ifndef TRUCE_BACKEND_H
#define TRUCE_BACKEND_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ---- disk images (backend/disk.c) ------------------------------------------------------------
 * A raw image file (or block device) opened at VM creation (disk_swap() replaces it). I/O is
 * asynchronous through io_uring: submissions are queued by disk_*() and sent by disk_submit();
 * completions are signalled on disk.efd (watch it on the I/O thread) and collected by disk_reap().
 * When io_uring is unavailable (kernel too old, disabled by sysctl) each operation runs
 * synchronously at submission and its completion is reported the same way, so callers see one
 * behaviour. Not thread-safe: one thread (the device's, under its lock) uses a disk at a time. */
#define DISK_SECTOR 512

enum disk_op { DISK_READ, DISK_WRITE, DISK_FLUSH, DISK_DISCARD, DISK_WRITE_ZEROES };

/* Completion of one operation: TAG as given at submission, RES bytes transferred (reads and
 * writes) or 0, or -errno. */
typedef void (*disk_done_fn)(void *opaque, void *tag, int res);

/* One operation in flight (internal to disk.c). */
struct disk_req {
    void *tag;
    uint8_t op;   /* enum disk_op */
    uint8_t mode; /* fallocate mode used, for the ZERO_RANGE -> PUNCH_HOLE retry */
    uint64_t off, len;
    int res; /* synchronous fallback: result */
};

struct disk {
    int fd;
    int efd;            /* eventfd signalled on completions */
    uint64_t size;      /* bytes, as found at open */
    bool readonly;      /* opened O_RDONLY: writes are refused here too */
    bool can_punch;     /* FALLOC_FL_PUNCH_HOLE works on this file */
    bool no_zero_range; /* FALLOC_FL_ZERO_RANGE refused once: punch holes instead */
    bool uring;         /* io_uring in use (else synchronous fallback) */
    bool borrowed;      /* fd belongs to another struct disk (disk_open_queue) */
    int dfd;            /* direct=on: the same image with O_DIRECT, else -1 (disk_direct.c) */
    unsigned dio_align; /* what O_DIRECT asks of offsets, lengths and buffer addresses */
    struct io_uring ring;
    unsigned depth;       /* most operations in flight */
    unsigned inflight;    /* queued, submitted or completed, not yet reaped */
    struct disk_req *req; /* depth entries */
    uint16_t *free;       /* stack of free req indices */
    unsigned nfree;
    uint16_t *done; /* fallback: completed req indices, not yet reaped */
    unsigned ndone;
};

/* Open PATH (read-only when READONLY) for at most DEPTH operations in flight. Takes an advisory
 * lock (shared when read-only, exclusive otherwise) so two VMs do not write one image. Returns
 * 0 or -errno with one line naming PATH in ERR. */
int disk_open(struct disk *d, const char *path, bool readonly, unsigned depth, char *err,
              size_t errlen);
/* Open another queue on SRC's image (multiqueue devices): its own io_uring, completion eventfd
 * and DEPTH slots, on SRC's descriptor, which D borrows (SRC must be closed after D; closing D
 * leaves the file and its lock to SRC). Returns 0 or -errno with one line naming PATH in ERR. */
int disk_open_queue(struct disk *d, const struct disk *src, const char *path, unsigned depth,
                    char *err, size_t errlen);
/* After disk_swap() on SRC, make the queue D (from disk_open_queue, idle: disk_drain it before
 * the swap) use SRC's new file. */
void disk_follow(struct disk *d, const struct disk *src);
/* Open PATH for disk_swap() in D's mode (read-only or not); a regular file or block device. May
 * block: call it without locks. Returns the fd or -errno with one line naming PATH in ERR. */
int disk_open_file(const struct disk *d, const char *path, char *err, size_t errlen);
/* Switch D to FD (from disk_open_file; PATH for messages): lock it as disk_open() does (FD naming
 * the file D already uses keeps the current descriptor and its lock), find its size, wait for
 * every operation in flight (completions go to DONE), close the old file. FD is consumed. On
 * error D is unchanged. Returns 0 or -errno with one line naming PATH in ERR. */
int disk_swap(struct disk *d, int fd, const char *path, disk_done_fn done, void *opaque, char *err,
              size_t errlen);
/* direct=on (backend/disk_direct.c): open PATH again with O_DIRECT beside D's descriptor (the
 * same file, checked), so that reads and writes whose offset, lengths and buffers suit O_DIRECT
 * bypass the host's page cache, as QEMU's cache=none does; any other read or write, flushes and
 * hole punching go through D->fd as before. Queues opened after it share it. Returns 0 or -errno
 * with one line naming PATH in ERR (e.g. a file system that takes no O_DIRECT, like tmpfs). */
int disk_set_direct(struct disk *d, const char *path, char *err, size_t errlen);
/* Open PATH with O_DIRECT in READONLY's mode, checked to be the file REF_FD names; *ALIGN gets
 * its O_DIRECT alignment. Returns the fd or -errno with ERR. (disk_swap.) */
int disk_open_direct(const char *path, int ref_fd, bool readonly, unsigned *align, char *err,
                     size_t errlen);
/* The descriptor for a read or write of IOV (NIOV pieces) at OFF: D->dfd when all of it is
 * aligned to D->dio_align, else D->fd. */
int disk_io_fd(const struct disk *d, const struct iovec *iov, unsigned niov, uint64_t off);
/* Switch an idle disk (nothing in flight) to the synchronous fallback, e.g. where a sandbox
 * forbids io_uring. Returns 0 or -EBUSY. */
int disk_use_sync(struct disk *d);
/* Wait for every operation in flight (completions are dropped), then close. Idempotent. */
void disk_close(struct disk *d);

/* Queue one operation (sent by disk_submit). OFF/LEN in bytes. Return 0, -EBUSY when DEPTH
 * operations are in flight, -EROFS for a write-type operation on a read-only disk. */
int disk_readv(struct disk *d, uint64_t off, const struct iovec *iov, unsigned niov, void *tag);
int disk_writev(struct disk *d, uint64_t off, const struct iovec *iov, unsigned niov, void *tag);
int disk_flush(struct disk *d, void *tag);
/* Deallocate (PUNCH_HOLE) or zero (ZERO_RANGE, else PUNCH_HOLE) [OFF, OFF + LEN). */
int disk_discard(struct disk *d, uint64_t off, uint64_t len, void *tag);
int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, void *tag);
/* Send what was queued. Returns 0 or -errno. */
int disk_submit(struct disk *d);
/* Deliver every available completion to DONE. Returns the number delivered. */
unsigned disk_reap(struct disk *d, disk_done_fn done, void *opaque);
/* Block until nothing is in flight, delivering completions to DONE (may be NULL). */
void disk_drain(struct disk *d, disk_done_fn done, void *opaque);

#endif
