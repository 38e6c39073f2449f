/* debugcon.c — QEMU-compatible debug console at port 0x402: firmware debug output (SeaBIOS and
 * OVMF write there) becomes log lines at --log-level debug. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define DEBUGCON_READBACK 0xe9 /* what QEMU's debugcon reads as; firmware probes for it */
#define DEBUGCON_LINE     160

struct debugcon {
    pthread_mutex_t lock;
    char line[DEBUGCON_LINE + 1];
    size_t len;
};

/* Log the buffered line (lock held). */
static void debugcon_flush(struct debugcon *d)
{
    d->line[d->len] = 0;
    log_debug("firmware: %s", d->line);
    d->len = 0;
}

static void debugcon_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    memset(data, 0, size);
    data[0] = DEBUGCON_READBACK;
}

static void debugcon_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct debugcon *d = opaque;
    pthread_mutex_lock(&d->lock);
    for (unsigned i = 0; i < size; i++) {
        char c = (char)data[i];
        if (c == '\n' || d->len == DEBUGCON_LINE)
            debugcon_flush(d);
        if (c != '\n' && c != '\r')
            d->line[d->len++] = c >= 0x20 && c < 0x7f ? c : '.';
    }
    pthread_mutex_unlock(&d->lock);
}

static const struct io_ops debugcon_io = {.read = debugcon_read, .write = debugcon_write};

static void debugcon_destroy(void *dev)
{
    struct debugcon *d = dev;
    if (d->len)
        debugcon_flush(d);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* No guest-visible state: a partial line is only host-side log text. */
static const struct device_ops debugcon_ops = {.name = "debugcon", .destroy = debugcon_destroy};

/* Only with --firmware: a kernel has no use for it. Returns 0 or <0 with ERR. */
static int debugcon_create(struct vm *vm, char *err, size_t errlen)
{
    if (!vm->cfg.firmware[0])
        return 0;
    struct debugcon *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "debugcon: out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    int rc = device_add_pio(vm, PORT_DEBUGCON, 1, &debugcon_io, "debugcon", &debugcon_ops, d, err,
                            errlen);
    if (rc)
        debugcon_destroy(d);
    return rc;
}

static const struct device_class debugcon_class = {
    .name = "debugcon",
    .order = DEV_ORDER_PLATFORM,
    .create = debugcon_create,
};
DEVICE_CLASS(debugcon_class);
