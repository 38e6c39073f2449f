/* console.c — virtio-console with one port (the guest's hvc0), wired to the host console. */
#include <errno.h>
#include <linux/virtio_console.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define VCON_QUEUE_SIZE 64
#define VCON_MAX_IOV    16
#define VCON_RXQ        0 /* port 0 receiveq: host -> guest */
#define VCON_TXQ        1 /* port 0 transmitq: guest -> host */

_Static_assert(sizeof(struct virtio_console_config) == 12, "virtio-console config");

struct virtio_con {
    struct virtio_dev vdev;
    struct console *con;
    struct virtio_console_config config;
    uint64_t rx_bytes, tx_bytes; /* counters (metrics) */
};

/* Guest output: every readable byte of every chain goes to the host console. Lock held. */
static bool vcon_tx_chain(void *opaque, struct virtq *q, struct virtq_chain *c)
{
    struct virtio_con *v = opaque;
    for (unsigned i = 0; i < c->nout; i++)
        console_write(v->con, c->iov[i].iov_base, c->iov[i].iov_len);
    v->tx_bytes += c->out_len;
    virtq_push(q, c->head, 0);
    return true;
}

static void vcon_tx(struct virtio_con *v, struct virtq *q)
{
    struct iovec iov[VCON_MAX_IOV];
    struct virtq_chain c = {.iov = iov, .max_iov = VCON_MAX_IOV};
    virtq_serve(q, VIRTQ_BUDGET(q), &c, vcon_tx_chain, v);
}

/* Host console input (I/O thread): fill the guest's receive buffers. Returns the bytes taken;
 * fewer than LEN pauses the console until the driver adds buffers (console_rx_ready). */
static size_t vcon_rx(void *opaque, const uint8_t *buf, size_t len)
{
    struct virtio_con *v = opaque;
    struct virtq *q = &v->vdev.vq[VCON_RXQ];
    struct iovec iov[VCON_MAX_IOV];
    struct virtq_chain c = {.iov = iov, .max_iov = VCON_MAX_IOV};
    size_t done = 0;
    virtio_lock(&v->vdev);
    /* while paused nothing is taken: the console holds the input until resume re-kicks rx */
    if ((v->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) &&
        !(v->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET) && q->enabled && !v->vdev.paused) {
        while (done < len && virtq_pop(q, &c) > 0) {
            size_t n = virtq_chain_write(&c, 0, buf + done, len - done);
            virtq_push(q, c.head, (uint32_t)n);
            done += n;
        }
        if (done)
            virtio_interrupt(&v->vdev, q);
    }
    v->rx_bytes += done;
    virtio_unlock(&v->vdev);
    return done;
}

static void vcon_queue_notify(void *opaque, struct virtq *q)
{
    struct virtio_con *v = opaque;
    if (q->index == VCON_TXQ)
        vcon_tx(v, q);
    else
        console_rx_ready(v->con); /* new receive buffers: deliver waiting input */
}

static int vcon_activate(void *opaque)
{
    struct virtio_con *v = opaque;
    console_rx_ready(v->con);
    return 0;
}

static void vcon_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_con *v = opaque;
    memcpy(data, (uint8_t *)&v->config + off, size);
}

/* emerg_wr: one character written before (or instead of) the queues. */
static void vcon_config_write(void *opaque, uint32_t off, const uint8_t *data, unsigned size)
{
    struct virtio_con *v = opaque;
    if (off == offsetof(struct virtio_console_config, emerg_wr) && size == 4)
        console_write(v->con, data, 1);
}

static void vcon_stop(void *opaque)
{
    struct virtio_con *v = opaque;
    console_set_rx(v->con, NULL, NULL);
}

static void vcon_destroy(void *opaque)
{
    free(opaque);
}

static const struct virtio_dev_ops vcon_ops = {
    .config_read = vcon_config_read,
    .config_write = vcon_config_write,
    .activate = vcon_activate,
    .queue_notify = vcon_queue_notify,
    .stop = vcon_stop,
    .destroy = vcon_destroy,
};

static int vcon_class_create(struct vm *vm, char *err, size_t errlen)
{
    if (vm->cfg.console != CONSOLE_VIRTIO)
        return 0;
    struct virtio_con *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "virtio-console: out of memory");
        return -ENOMEM;
    }
    v->con = vm->console;
    int rc = virtio_dev_init(&v->vdev, vm, "virtio-console", VIRTIO_ID_CONSOLE, 0x078000,
                             1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE, 2, VCON_QUEUE_SIZE,
                             sizeof(v->config), &vcon_ops, v);
    if (rc < 0)
        snprintf(err, errlen, "virtio-console: bad device parameters");
    else
        rc = virtio_dev_add(vm, &v->vdev, err, errlen);
    if (rc < 0) {
        virtio_dev_fini(&v->vdev);
        free(v);
        return rc;
    }
    console_set_rx(v->con, vcon_rx, v);
    return 0;
}

static const struct device_class virtio_console_class = {
    .name = "virtio-console",
    .order = DEV_ORDER_PCI,
    .create = vcon_class_create,
};
DEVICE_CLASS(virtio_console_class);
