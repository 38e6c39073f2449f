/* post.c — port 0x80 (POST codes, I/O delay): writes absorbed, the last one reads back. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/state.h"
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

/* The last code is the whole guest-visible state (it reads back). */
static void post_state_visit(struct state_visitor *v, uint8_t *last)
{
    if (!state_begin(v, "post", 1))
        return;
    STATE_U8(v, *last);
    state_end(v);
}

static int post_save(void *dev, struct state_visitor *v)
{
    struct post *p = dev;
    uint8_t last = atomic_load(&p->last);
    post_state_visit(v, &last);
    return state_error(v);
}

static int post_restore(void *dev, struct state_visitor *v)
{
    struct post *p = dev;
    uint8_t last = 0;
    post_state_visit(v, &last);
    if (!state_error(v))
        atomic_store(&p->last, last);
    return state_error(v);
}

static const struct device_ops post_dev_ops = {
    .name = "post",
    .save = post_save,
    .restore = post_restore,
    .destroy = post_destroy,
};

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
