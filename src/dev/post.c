/* post.c — port 0x80 (POST codes, I/O delay): writes absorbed, the last one reads back. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

struct post {
    _Atomic uint8_t last; /* last code written */
};

static void post_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct post *p = opaque;
    data[0] = atomic_load(&p->last);
}

static void post_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct post *p = opaque;
    atomic_store(&p->last, data[0]);
}

static const struct io_ops post_io_ops = {.read = post_read, .write = post_write};

static void post_destroy(void *dev)
{
    free(dev);
}

static const struct device_ops post_dev_ops = {.name = "post", .destroy = post_destroy};

/* Register port 0x80 (byte accesses; wider ones are unmapped). Returns 0 or <0 with ERR. */
static int post_create(struct vm *vm, char *err, size_t errlen)
{
    struct post *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "post: out of memory");
        return -ENOMEM;
    }
    int rc = device_add_pio(vm, PORT_POST, 1, &post_io_ops, "post", &post_dev_ops, p, err, errlen);
    if (rc)
        free(p);
    return rc;
}

static const struct device_class post_class = {
    .name = "post",
    .order = DEV_ORDER_PLATFORM,
    .create = post_create,
};
DEVICE_CLASS(post_class);
