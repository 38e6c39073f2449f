/* iobus.h — contracts for the port-I/O and MMIO range maps that route guest accesses to devices. */
#ifndef TRUCE_IOBUS_H
#define TRUCE_IOBUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* A device's handlers for one range. OFF is relative to the range base; SIZE is 1, 2, 4 or 8.
 * read fills DATA (little-endian, SIZE bytes). Handlers run on vCPU threads and must do their
 * own locking. */
struct io_ops {
    void (*read)(void *opaque, uint64_t off, uint8_t *data, unsigned size);
    void (*write)(void *opaque, uint64_t off, const uint8_t *data, unsigned size);
};

struct io_range {
    uint64_t base;
    uint64_t len;
    const struct io_ops *ops;
    void *opaque;
    const char *name;
};

/* A sorted, non-overlapping set of ranges. Lookups take a read lock, (un)registration a write
 * lock, so BARs can move while vCPUs run. */
struct io_bus {
    struct io_range *r;
    unsigned n, cap;
    pthread_rwlock_t lock;
    const char *name; /* "pio" or "mmio", for logs */
};

void io_bus_init(struct io_bus *b, const char *name);
void io_bus_free(struct io_bus *b);
/* Register [base, base + len). Returns 0, -EINVAL (len 0 / overflow), -EEXIST (overlap) or
 * -ENOMEM. */
int io_bus_register(struct io_bus *b, uint64_t base, uint64_t len, const struct io_ops *ops,
                    void *opaque, const char *name);
/* Remove the range starting at BASE. Returns 0 or -ENOENT. */
int io_bus_unregister(struct io_bus *b, uint64_t base);
/* Perform an access. Returns 0 when a device handled it, -ENOENT when nothing is mapped there
 * (then a read fills DATA with all-ones) — the caller counts it. */
int io_bus_access(struct io_bus *b, uint64_t addr, uint8_t *data, unsigned size, bool write);

#endif
