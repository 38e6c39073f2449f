/* net.c — the MMDS backend: in front of an interface's tap or user-networking backend, it hands
 * frames for the MMDS address to the responder and the responder's frames to the guest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend/net.h"
#include "mmds/mmds.h"
#include "util/util.h"

#define PEEK 64 /* bytes of a frame that decide whether it is for the responder */

struct mmds_net {
    struct net_backend be; /* first: the frontend holds a struct net_backend * */
    struct net_backend *inner;
    struct net_backend_client front; /* the frontend's callbacks */
    struct mmds_stack *stack;
    int efd; /* written when the responder has frames and rx is on */
    bool rx_on;
    uint8_t *buf; /* a frame from the guest, gathered */
    uint8_t out[NET_VNET_HDR_LEN + MMDS_FRAME_MAX];
};

/* Copy the inner backend's state the frontend reads through our head. */
static void sync_head(struct mmds_net *w)
{
    w->be.link_up = w->inner->link_up;
    w->be.rx_dropped = w->inner->rx_dropped;
}

static void kick(struct mmds_net *w)
{
    uint64_t one = 1;
    if (w->rx_on && mmds_stack_pending(w->stack) && write(w->efd, &one, sizeof(one)) < 0)
        log_debug("%s: eventfd: %s", w->be.desc, strerror(errno));
}

static void efd_event(void *opaque, uint32_t events)
{
    struct mmds_net *w = opaque;
    uint64_t v;
    if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_debug("%s: eventfd: %s", w->be.desc, strerror(errno));
    sync_head(w);
    if (w->rx_on && mmds_stack_pending(w->stack) && w->front.rx_ready)
        w->front.rx_ready(w->front.opaque);
}

static void inner_rx_ready(void *opaque)
{
    struct mmds_net *w = opaque;
    sync_head(w);
    if (w->front.rx_ready)
        w->front.rx_ready(w->front.opaque);
}

static void inner_tx_ready(void *opaque)
{
    struct mmds_net *w = opaque;
    sync_head(w);
    if (w->front.tx_ready)
        w->front.tx_ready(w->front.opaque);
}

/* Gather up to CAP bytes of IOV from byte OFF into DST. Returns the bytes copied. */
static size_t gather(uint8_t *dst, size_t cap, const struct iovec *iov, unsigned n, size_t off)
{
    size_t got = 0;
    for (unsigned i = 0; i < n && got < cap; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - off;
        k = k < cap - got ? k : cap - got;
        memcpy(dst + got, (const uint8_t *)iov[i].iov_base + off, k);
        got += k;
        off = 0;
    }
    return got;
}

static int w_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
    struct mmds_net *w = (struct mmds_net *)be;
    uint8_t peek[PEEK];
    size_t n = gather(peek, sizeof(peek), iov, iovcnt, be->hdr_len);
    sync_head(w);
    if (!mmds_stack_wants(w->stack, peek, n))
        return w->inner->ops->send(w->inner, iov, iovcnt);
    n = gather(w->buf, NET_MAX_FRAME, iov, iovcnt, be->hdr_len);
    mmds_stack_input(w->stack, w->buf, n, mmds_now_ms());
    kick(w);
    return 0; /* answered here; never forwarded */
}

/* The responder's next frame into OUT with a zero vnet header when the backend uses one.
 * Returns its length or 0. */
static size_t next_frame(struct mmds_net *w)
{
    size_t h = w->be.hdr_len;
    size_t n = mmds_stack_output(w->stack, w->out + h, sizeof(w->out) - h);
    if (!n)
        return 0;
    memset(w->out, 0, h);
    return h + n;
}

static ssize_t w_recv(struct net_backend *be, void *buf, size_t len)
{
    struct mmds_net *w = (struct mmds_net *)be;
    size_t n = len >= sizeof(w->out) ? next_frame(w) : 0;
    sync_head(w);
    if (!n)
        return w->inner->ops->recv(w->inner, buf, len);
    memcpy(buf, w->out, n);
    return (ssize_t)n;
}

static ssize_t w_recvv(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
    struct mmds_net *w = (struct mmds_net *)be;
    size_t room = 0;
    for (unsigned i = 0; i < iovcnt; i++)
        room += iov[i].iov_len;
    size_t n = room >= sizeof(w->out) ? next_frame(w) : 0;
    sync_head(w);
    if (!n && w->inner->ops->recvv)
        return w->inner->ops->recvv(w->inner, iov, iovcnt);
    if (!n) { /* the inner backend reads into one buffer: read there, then scatter */
        ssize_t r = w->inner->ops->recv(w->inner, w->buf, NET_VNET_HDR_LEN + NET_MAX_FRAME);
        if (r <= 0 || (size_t)r > room)
            return r <= 0 ? r : -EMSGSIZE;
        size_t done = 0;
        for (unsigned i = 0; i < iovcnt && done < (size_t)r; i++) {
            size_t k = MIN(iov[i].iov_len, (size_t)r - done);
            memcpy(iov[i].iov_base, w->buf + done, k);
            done += k;
        }
        return r;
    }
    size_t done = 0;
    for (unsigned i = 0; i < iovcnt && done < n; i++) {
        size_t k = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
        memcpy(iov[i].iov_base, w->out + done, k);
        done += k;
    }
    return (ssize_t)n;
}

static void w_rx_enable(struct net_backend *be, bool on)
{
    struct mmds_net *w = (struct mmds_net *)be;
    w->rx_on = on;
    w->inner->ops->rx_enable(w->inner, on);
    kick(w);
}

static int w_set_offload(struct net_backend *be, unsigned offloads)
{
    struct mmds_net *w = (struct mmds_net *)be;
    return w->inner->ops->set_offload ? w->inner->ops->set_offload(w->inner, offloads) : 0;
}

static void w_close(struct net_backend *be)
{
    struct mmds_net *w = (struct mmds_net *)be;
    evloop_del(be->loop, w->efd);
    close(w->efd);
    w->inner->ops->close(w->inner);
    mmds_stack_free(w->stack);
    free(w->buf);
    free(w);
}

static const struct net_backend_ops mmds_net_ops = {
    .name = "mmds",
    .send = w_send,
    .recv = w_recv,
    .recvv = w_recvv,
    .rx_enable = w_rx_enable,
    .set_offload = w_set_offload,
    .close = w_close,
};

int mmds_net_wrap(struct mmds *m, const struct mmds_config *cfg, struct evloop *loop,
                  struct net_backend **be, char *err, size_t errlen)
{
    struct net_backend *inner = *be;
    struct mmds_net *w = calloc(1, sizeof(*w));
    struct mmds_policy p = {.version = cfg->version, .imds_compat = cfg->imds_compat};
    if (!w || !(w->buf = malloc(NET_VNET_HDR_LEN + NET_MAX_FRAME)) ||
        !(w->stack = mmds_stack_new(m, &p, cfg->ipv4))) {
        snprintf(err, errlen, "mmds: out of memory");
        goto fail;
    }
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0 || evloop_add(loop, w->efd, EPOLLIN, efd_event, w) < 0) {
        snprintf(err, errlen, "mmds: eventfd: %s", strerror(errno));
        if (w->efd >= 0)
            close(w->efd);
        goto fail;
    }
    w->be = *inner;
    w->be.ops = &mmds_net_ops;
    w->inner = inner;
    w->front = inner->client;
    inner->client = (struct net_backend_client){
        .rx_ready = inner_rx_ready, .tx_ready = inner_tx_ready, .opaque = w};
    snprintf(w->be.desc, sizeof(w->be.desc), "%s", inner->desc);
    *be = &w->be;
    return 0;
fail:
    if (w) {
        mmds_stack_free(w->stack);
        free(w->buf);
    }
    free(w);
    return -ENOMEM;
}
