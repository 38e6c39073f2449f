/* migrate_int.h — the migration stream's socket I/O (machine/migrate_io.c), for migrate.c only. */
#ifndef TRUCE_MIGRATE_INT_H
#define TRUCE_MIGRATE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "machine/migrate.h"

/* Wait until FD is ready for EVENTS, at most MS milliseconds. Returns 0 or -ETIMEDOUT/-errno. */
int mig_wait_ready(int fd, short events, int ms);

/* All of BUF to / from FD, waiting at most MIG_IO_TIMEOUT for each step of progress; ST->bytes
 * counts what moved. Returns 0 or -errno (-EPIPE / -ECONNRESET when the peer went). */
int mig_send_all(int fd, const void *buf, size_t len, struct mig_stats *st);
int mig_recv_all(int fd, void *buf, size_t len, struct mig_stats *st);

/* Page runs out, many to a sendmsg: a dirty round is mostly single pages, and a header and a
 * page per system call (and per wake-up of the reader) made each page cost what a large run
 * does. Runs are gathered up to MIG_BATCH_RUNS or MIG_BATCH_BYTES; the page data is read from
 * guest RAM when the batch goes (a page the guest writes meanwhile is dirty again anyway). */
#define MIG_BATCH_RUNS  256
#define MIG_BATCH_BYTES (1u << 20)
struct mig_batch {
    int fd;
    struct mig_stats *st;
    size_t nruns, bytes;
    struct mig_run hdr[MIG_BATCH_RUNS];
    struct iovec iov[2 * MIG_BATCH_RUNS];
};
void mig_batch_init(struct mig_batch *b, int fd, struct mig_stats *st);
/* snap_mem_runs / snap_dirty_runs callback (ARG: the batch): queue one run of LEN bytes at
 * offset OFF (P: its data), sending the batch once full. Returns 0 or -errno. */
int mig_batch_add(void *arg, uint64_t off, const uint8_t *p, uint64_t len);
/* Send what is queued. Returns 0 or -errno. */
int mig_batch_flush(struct mig_batch *b);

/* The destination's reads, buffered: the small headers of a batch of runs come out of one
 * recv. A read of at least the buffer's size goes straight to its destination. */
#define MIG_READ_BUF (64u * 1024)
struct mig_reader {
    int fd;
    struct mig_stats *st;
    size_t pos, len;
    uint8_t buf[MIG_READ_BUF];
};
void mig_reader_init(struct mig_reader *r, int fd, struct mig_stats *st);
/* LEN bytes from the stream into DST. Returns 0 or -errno. */
int mig_read(struct mig_reader *r, void *dst, size_t len);

#endif
