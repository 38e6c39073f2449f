/* fuzz_net.c — libFuzzer target: a hostile driver against virtio-net (fuzz_virtio.h): transmit
 * headers with checksum/GSO offloads, segment layouts, and receive into mergeable or big buffers.
 * The backend is a host-side stand-in linked over tap_backend_open (-Wl,--wrap): it reads every
 * byte it is given to send (ASan checks them) and hands over frames the input makes arrive. */
#include <errno.h>

#include "backend/net.h"
#include "fuzz_virtio.h"
#include "virtio/net.h"

#define FRAMES 8

struct fake_be {
    struct net_backend be;
    bool rx_on, tx_full; /* tx_full: send answers -EAGAIN until the host drains */
    uint8_t frame[FRAMES][512];
    size_t len[FRAMES];
    unsigned head, count;
};

static struct fake_be fake;
static volatile uint8_t sink;

static int fake_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
    if (fake.tx_full)
        return -EAGAIN;
    uint8_t x = 0;
    for (unsigned i = 0; i < iovcnt; i++)
        for (size_t k = 0; k < iov[i].iov_len; k++)
            x ^= ((const uint8_t *)iov[i].iov_base)[k];
    sink = x;
    return 0;
}

/* The next waiting frame into the segments IOV, or -EAGAIN. */
static ssize_t fake_recvv(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
    if (!fake.count)
        return -EAGAIN;
    const uint8_t *fr = fake.frame[fake.head];
    size_t len = fake.len[fake.head], done = 0;
    for (unsigned i = 0; i < iovcnt && done < len; i++) {
        size_t l = MIN(iov[i].iov_len, len - done);
        memcpy(iov[i].iov_base, fr + done, l);
        done += l;
    }
    fake.head = (fake.head + 1) % FRAMES;
    fake.count--;
    return (ssize_t)done;
}

static ssize_t fake_recv(struct net_backend *be, void *buf, size_t len)
{
    struct iovec v = {buf, len};
    return fake_recvv(be, &v, 1);
}

static void fake_rx_enable(struct net_backend *be, bool on)
{
    fake.rx_on = on;
}

static int fake_set_offload(struct net_backend *be, unsigned offloads)
{
    return 0;
}

static void fake_close(struct net_backend *be)
{
}

static const struct net_backend_ops fake_ops = {
    .name = "fuzz",
    .send = fake_send,
    .recv = fake_recv,
    .recvv = fake_recvv,
    .rx_enable = fake_rx_enable,
    .set_offload = fake_set_offload,
    .close = fake_close,
};

int __wrap_tap_backend_open(const struct net_config *nc, unsigned queue, struct evloop *loop,
                            const struct net_backend_client *client, struct net_backend **out,
                            char *err, size_t errlen)
{
    fake.be = (struct net_backend){
        .ops = &fake_ops,
        .loop = loop,
        .client = *client,
        .hdr_len = NET_VNET_HDR_LEN,
        .offload_caps = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN,
        .link_up = true,
    };
    snprintf(fake.be.desc, sizeof(fake.be.desc), "fuzz %s", nc->id);
    *out = &fake.be;
    return 0;
}

static void net_create(struct vfix *f)
{
    char err[256] = "";
    strcpy(f->vm.cfg.vm_id, "vm-fuzz");
    f->vm.cfg.nnets = 1;
    strcpy(f->vm.cfg.nets[0].id, "net0");
    f->vm.cfg.nets[0].kind = NET_TAP;
    if (virtio_net_create(&f->vm, 0, err, sizeof(err)))
        fail_msg("virtio-net: %s", err);
}

/* On the I/O thread, as a backend's callbacks run. */
static void call_rx_ready(void *opaque)
{
    if (fake.rx_on)
        fake.be.client.rx_ready(fake.be.client.opaque);
}

static void call_tx_ready(void *opaque)
{
    fake.be.client.tx_ready(fake.be.client.opaque);
}

/* arg[0] bit 0: a frame (vnet header + Ethernet frame, the rest of ARG) arrives; bit 1: the host
 * transmit queue fills (sends answer -EAGAIN); bit 2: it drains (tx_ready). */
static void net_host(struct vfix *f, const uint8_t *arg, size_t len)
{
    if (!len)
        return;
    fv_quiesce(f); /* the fake backend belongs to the I/O thread: let it go idle */
    if (arg[0] & 2)
        fake.tx_full = true;
    if (arg[0] & 4)
        fake.tx_full = false;
    if ((arg[0] & 1) && fake.count < FRAMES) {
        unsigned k = (fake.head + fake.count++) % FRAMES;
        fake.len[k] = MIN(len - 1, sizeof(fake.frame[k]));
        memcpy(fake.frame[k], arg + 1, fake.len[k]);
        evloop_call(f->vm.loop, call_rx_ready, NULL);
    }
    if (arg[0] & 4)
        evloop_call(f->vm.loop, call_tx_ready, NULL);
}

static void net_end(struct vfix *f)
{
    fake.count = 0;
    fake.tx_full = false;
}

static const struct fv_device fv_device = {
    .name = "virtio-net", .create = net_create, .host = net_host, .end = net_end};
