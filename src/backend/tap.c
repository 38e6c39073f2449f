/* tap.c — tap network backend: a /dev/net/tun interface carrying virtio-net headers.
 *
 * `--net tap=NAME` attaches to the tap interface NAME, or creates it when it does not exist and
 * truce has CAP_NET_ADMIN (a created interface is brought up and disappears when truce exits).
 * To give an unprivileged user a persistent tap on a bridge:
 *     ip link add br0 type bridge && ip link set br0 up
 *     ip tuntap add dev tap0 mode tap user $USER vnet_hdr
 *     ip link set tap0 master br0 up
 * then `truce run ... --net tap=tap0`. Frames carry a 12-byte virtio_net_hdr_v1 on both sides,
 * so checksum and segmentation offloads pass between guest and host kernel untouched; the
 * offloads the host may send us follow what the guest negotiated (TUNSETOFFLOAD). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/net.h"
#include "util/util.h"

_Static_assert(NET_OFFLOAD_CSUM == TUN_F_CSUM && NET_OFFLOAD_TSO4 == TUN_F_TSO4 &&
                   NET_OFFLOAD_TSO6 == TUN_F_TSO6 && NET_OFFLOAD_ECN == TUN_F_TSO_ECN,
               "NET_OFFLOAD_* are the tun flags");

struct tap_backend {
    struct net_backend be; /* first: the frontend holds a struct net_backend * */
    int fd;
    bool watched;
    bool rx_on;    /* EPOLLIN wanted */
    bool tx_wait;  /* a send hit EAGAIN: EPOLLOUT wanted */
    bool dead;     /* the interface went away: every call fails with -EIO */
    bool attached; /* multiqueue: this queue is attached (TUNSETQUEUE) */
};

static void tap_update_events(struct tap_backend *t)
{
    if (!t->watched)
        return;
    uint32_t ev = (t->rx_on ? EPOLLIN : 0) | (t->tx_wait ? EPOLLOUT : 0);
    evloop_mod(t->be.loop, t->fd, ev);
}

/* Event loop callback for the tap fd. */
static void tap_event(void *opaque, uint32_t events)
{
    struct tap_backend *t = opaque;
    if (events & (EPOLLERR | EPOLLHUP)) {
        log_err("%s: interface gone (fd error); link down", t->be.desc);
        evloop_del(t->be.loop, t->fd); /* I/O thread: returns at once */
        t->watched = false;
        t->dead = true;
        t->be.link_up = false;
        return;
    }
    if ((events & EPOLLOUT) && t->tx_wait) {
        t->tx_wait = false;
        tap_update_events(t);
        if (t->be.client.tx_ready)
            t->be.client.tx_ready(t->be.client.opaque);
    }
    if ((events & EPOLLIN) && t->rx_on && t->be.client.rx_ready)
        t->be.client.rx_ready(t->be.client.opaque);
}

static int tap_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (t->dead)
        return -EIO;
    ssize_t n = writev(t->fd, iov, (int)iovcnt);
    if (n >= 0)
        return 0;
    if (errno == EAGAIN) {
        t->tx_wait = true;
        tap_update_events(t);
        return -EAGAIN;
    }
    return -errno; /* EIO: interface down; EINVAL: the kernel rejected the header */
}

static ssize_t tap_recv(struct net_backend *be, void *buf, size_t len)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (t->dead)
        return -EIO;
    ssize_t n = read(t->fd, buf, len);
    return n < 0 ? -errno : n;
}

static ssize_t tap_recvv(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (t->dead)
        return -EIO;
    ssize_t n = readv(t->fd, iov, (int)iovcnt);
    return n < 0 ? -errno : n;
}

static void tap_rx_enable(struct net_backend *be, bool on)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (t->rx_on == on)
        return;
    t->rx_on = on;
    tap_update_events(t);
}

static int tap_set_offload(struct net_backend *be, unsigned offloads)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0)
        return -errno;
    return 0;
}

static int tap_set_queue(struct net_backend *be, bool on)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (t->attached == on || t->dead)
        return 0;
    struct ifreq ifr = {.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE};
    if (ioctl(t->fd, TUNSETQUEUE, &ifr) < 0)
        return -errno;
    t->attached = on;
    return 0;
}

static void tap_close(struct net_backend *be)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (t->watched)
        evloop_del(be->loop, t->fd);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .name = "tap",
    .send = tap_send,
    .recv = tap_recv,
    .recvv = tap_recvv,
    .rx_enable = tap_rx_enable,
    .set_offload = tap_set_offload,
    .close = tap_close,
};

/* The same with set_queue: the queues of a multiqueue tap. */
static const struct net_backend_ops tap_mq_ops = {
    .name = "tap",
    .send = tap_send,
    .recv = tap_recv,
    .recvv = tap_recvv,
    .rx_enable = tap_rx_enable,
    .set_offload = tap_set_offload,
    .set_queue = tap_set_queue,
    .close = tap_close,
};

/* Set IFF_UP on NAME (an interface we just created). Returns 0 or -errno. */
static int tap_bring_up(const char *name)
{
    struct ifreq ifr = {0};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    rc = rc < 0 ? -errno : 0;
    close(s);
    return rc;
}

/* Attach FD to NAME as a tap with vnet headers; GOT receives the name of the interface the
 * kernel attached (IFNAMSIZ bytes). Returns 0 or -errno with ERR filled. */
static int tap_attach(int fd, const char *name, bool existed, bool multi, char *got, char *err,
                      size_t errlen)
{
    unsigned features = 0;
    if (ioctl(fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR)) {
        snprintf(err, errlen, "--net tap=%s: this kernel's tun driver lacks IFF_VNET_HDR", name);
        return -ENOTSUP;
    }
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
    if (multi && !(features & IFF_MULTI_QUEUE)) {
        snprintf(err, errlen, "--net tap=%s: this kernel's tun driver lacks IFF_MULTI_QUEUE", name);
        return -ENOTSUP;
    }
    memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        if (e == EPERM && !existed)
            snprintf(err, errlen,
                     "--net tap=%s: no such interface and creating one needs CAP_NET_ADMIN "
                     "(ip tuntap add dev %s mode tap user $USER)",
                     name, name);
        else if (e == EPERM)
            snprintf(err, errlen,
                     "--net tap=%s: permission denied (recreate it with "
                     "ip tuntap add dev %s mode tap user $USER)",
                     name, name);
        else if (e == EINVAL && multi)
            snprintf(err, errlen,
                     "--net tap=%s: exists but is not a multiqueue tap with vnet headers "
                     "(ip tuntap add dev %s mode tap multi_queue vnet_hdr)",
                     name, name);
        else if (e == EINVAL)
            snprintf(err, errlen, "--net tap=%s: exists but is not a tap with vnet headers", name);
        else
            snprintf(err, errlen, "--net tap=%s: TUNSETIFF: %s", name, strerror(e));
        return -e;
    }
    memcpy(got, ifr.ifr_name, IFNAMSIZ);
    got[IFNAMSIZ - 1] = '\0';
    if (strcmp(got, name)) { /* cannot happen for a validated name; never use the wrong one */
        snprintf(err, errlen, "--net tap=%s: the kernel attached interface %s instead", name, got);
        return -EINVAL;
    }
    int hdr = NET_VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
        int e = errno;
        snprintf(err, errlen, "--net tap=%s: cannot set the vnet header: %s", name, strerror(e));
        return -e;
    }
    return 0;
}

int tap_backend_open(const struct net_config *nc, unsigned queue, struct evloop *loop,
                     const struct net_backend_client *client, struct net_backend **out, char *err,
                     size_t errlen)
{
    struct tap_backend *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "--net tap=%s: out of memory", nc->tap);
        return -ENOMEM;
    }
    int rc;
    char name[IFNAMSIZ];
    const char *why = config_tap_name_error(nc->tap);
    if (why) {
        snprintf(err, errlen, "--net tap=%s: %s", nc->tap, why);
        free(t);
        return -EINVAL;
    }
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "--net tap=%s: cannot open /dev/net/tun: %s", nc->tap,
                 strerror(errno));
        goto fail;
    }
    bool existed = queue > 0 || if_nametoindex(nc->tap) != 0, multi = nc->queues > 1;
    rc = tap_attach(t->fd, nc->tap, existed, multi, name, err, errlen);
    if (rc < 0)
        goto fail;
    if (!existed && tap_bring_up(name) < 0)
        log_warn("--net tap=%s: created but could not bring it up", name);
    t->attached = true;
    t->be.ops = multi ? &tap_mq_ops : &tap_ops;
    t->be.loop = loop;
    t->be.client = *client;
    t->be.hdr_len = NET_VNET_HDR_LEN;
    t->be.offload_caps = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN;
    t->be.link_up = true;
    if (multi)
        snprintf(t->be.desc, sizeof(t->be.desc), "tap %s queue %u", name, queue);
    else
        snprintf(t->be.desc, sizeof(t->be.desc), "tap %s", name);
    rc = evloop_add(loop, t->fd, 0, tap_event, t);
    if (rc < 0) {
        snprintf(err, errlen, "--net tap=%s: cannot watch the fd: %s", nc->tap, strerror(-rc));
        goto fail;
    }
    t->watched = true;
    *out = &t->be;
    return 0;
fail:
    if (t->fd >= 0)
        close(t->fd);
    free(t);
    return rc;
}

int tap_backend_fd(struct net_backend *be)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (!be || (be->ops != &tap_ops && be->ops != &tap_mq_ops) || t->dead)
        return -1;
    return t->fd;
}
