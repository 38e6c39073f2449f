/* iobus.c — sorted range maps for port I/O and MMIO; one implementation serves both buses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm/iobus.h"

void io_bus_init(struct io_bus *b, const char *name)
{
    memset(b, 0, sizeof(*b));
    pthread_rwlock_init(&b->lock, NULL);
    b->name = name;
}

void io_bus_free(struct io_bus *b)
{
    free(b->r);
    b->r = NULL;
    b->n = b->cap = 0;
    pthread_rwlock_destroy(&b->lock);
}

/* Index of the first range whose end is above ADDR (binary search); caller holds the lock. */
static unsigned lower_bound(const struct io_bus *b, uint64_t addr)
{
    unsigned lo = 0, hi = b->n;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (b->r[mid].base + b->r[mid].len <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int io_bus_register(struct io_bus *b, uint64_t base, uint64_t len, const struct io_ops *ops,
                    void *opaque, const char *name)
{
    if (!len || base + len < base)
        return -EINVAL;
    int rc = 0;
    pthread_rwlock_wrlock(&b->lock);
    unsigned i = lower_bound(b, base);
    if (i < b->n && b->r[i].base < base + len) {
        rc = -EEXIST;
        goto out;
    }
    if (b->n == b->cap) {
        unsigned cap = b->cap ? b->cap * 2 : 16;
        struct io_range *r = realloc(b->r, cap * sizeof(*r));
        if (!r) {
            rc = -ENOMEM;
            goto out;
        }
        b->r = r;
        b->cap = cap;
    }
    memmove(&b->r[i + 1], &b->r[i], (b->n - i) * sizeof(*b->r));
    b->r[i] = (struct io_range){base, len, ops, opaque, name};
    b->n++;
out:
    pthread_rwlock_unlock(&b->lock);
    return rc;
}

int io_bus_unregister(struct io_bus *b, uint64_t base)
{
    int rc = -ENOENT;
    pthread_rwlock_wrlock(&b->lock);
    unsigned i = lower_bound(b, base);
    if (i < b->n && b->r[i].base == base) {
        memmove(&b->r[i], &b->r[i + 1], (b->n - i - 1) * sizeof(*b->r));
        b->n--;
        rc = 0;
    }
    pthread_rwlock_unlock(&b->lock);
    return rc;
}

int io_bus_access(struct io_bus *b, uint64_t addr, uint8_t *data, unsigned size, bool write)
{
    pthread_rwlock_rdlock(&b->lock);
    unsigned i = lower_bound(b, addr);
    if (i >= b->n || b->r[i].base > addr || addr + size > b->r[i].base + b->r[i].len) {
        pthread_rwlock_unlock(&b->lock);
        if (!write)
            memset(data, 0xff, size);
        return -ENOENT;
    }
    struct io_range r = b->r[i];
    /* Handlers run unlocked so they may move ranges (BAR programming through ECAM). Devices are
     * only destroyed after every vCPU thread has been joined, so R stays valid. */
    pthread_rwlock_unlock(&b->lock);
    if (write) {
        if (r.ops->write)
            r.ops->write(r.opaque, addr - r.base, data, size);
    } else {
        memset(data, 0xff, size);
        if (r.ops->read)
            r.ops->read(r.opaque, addr - r.base, data, size);
    }
    return 0;
}
