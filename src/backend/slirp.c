/* slirp.c — user-mode network backend on libslirp: NAT, DHCP, DNS forwarding, host port forwards.
 *
 * Guest network 10.0.2.0/24 (QEMU's defaults): the guest gets 10.0.2.15 by DHCP, 10.0.2.2 is
 * the host (and reaches the host's loopback), 10.0.2.3 forwards DNS to the host's resolver.
 * Everything runs on the VM's I/O thread: slirp's sockets sit in one inner epoll set watched by
 * the event loop; slirp's poll timeout and timers drive one timerfd. Frames slirp emits for the
 * guest wait in a bounded queue; while it is half full slirp stops reading its host sockets, and
 * frames beyond it are dropped and counted (TCP retransmits them). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/net.h"
#include "backend/slirp_lib.h"
#include "util/util.h"

#define SLIRP_RXQ      256   /* frames waiting for the guest */
#define SLIRP_MAX_FDS  65536 /* fd numbers tracked for the inner epoll set */
#define SLIRP_GUEST_IP "10.0.2.15"

struct slirp_frame {
    size_t len;
    uint8_t data[];
};

/* One fd number's place in the inner epoll set. */
struct fd_reg {
    uint32_t ev;   /* events registered; 0: not in the set */
    uint32_t want; /* events the fill stamped GEN asks for */
    uint32_t gen;  /* the last fill that listed the fd */
    uint32_t slot; /* index in live[] while ev != 0 */
};

struct slirp_timer {
    struct slirp_backend *sb;
    SlirpTimerId id;
    SlirpTimerCb cb; /* legacy timer_new(); NULL with timer_new_opaque() */
    void *cb_opaque;
    int64_t expire_ms; /* -1: not armed */
    struct slirp_timer *next;
};

struct slirp_backend {
    struct net_backend be; /* first */
    const struct slirp_lib *lib;
    Slirp *slirp;
    int epfd;     /* slirp's sockets */
    int timer_fd; /* next slirp timeout or timer */
    int kick_fd;  /* eventfd: non-zero while frames wait; watched while rx is on */
    int work_fd;  /* eventfd: run a slirp cycle soon (after input, notify, queue drained) */
    bool rx_on;
    bool throttled; /* queue half full: host sockets not read */
    /* pollfds of the last slirp_pollfds_fill */
    struct pollfd *pfd;
    unsigned npfd, cap_pfd;
    /* the inner set: per fd number, and the list of fds in it (for the sweep) */
    struct fd_reg *reg;
    unsigned nreg;
    int *live;
    unsigned nlive, cap_live;
    uint32_t fill_gen; /* bumped on every fill */
    struct slirp_frame *rxq[SLIRP_RXQ];
    unsigned rxq_head, rxq_count;
    struct slirp_timer *timers;
    uint8_t txbuf[NET_MAX_FRAME];
};

static void sb_request_cycle(struct slirp_backend *sb)
{
    uint64_t one = 1;
    if (write(sb->work_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: counter saturated, a cycle is pending anyway */
    }
}

/* ---- libslirp callbacks ---------------------------------------------------------------------- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct slirp_backend *sb = opaque;
    struct slirp_frame *f = NULL;
    if (len <= NET_MAX_FRAME && sb->rxq_count < SLIRP_RXQ)
        f = malloc(sizeof(*f) + len);
    if (!f) {
        sb->be.rx_dropped++;
        return (ssize_t)len; /* dropped like a full NIC queue would */
    }
    f->len = len;
    memcpy(f->data, buf, len);
    sb->rxq[(sb->rxq_head + sb->rxq_count++) % SLIRP_RXQ] = f;
    if (sb->rxq_count == 1) {
        uint64_t one = 1;
        if (write(sb->kick_fd, &one, sizeof(one)) < 0) {
            /* cannot fail for a counter of 0 */
        }
    }
    if (sb->rxq_count >= SLIRP_RXQ / 2 && !sb->throttled) {
        sb->throttled = true;
        sb_request_cycle(sb);
    }
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    struct slirp_backend *sb = opaque;
    log_debug("%s: guest error: %s", sb->be.desc, msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    return (int64_t)now_ns();
}

static struct slirp_timer *timer_alloc(struct slirp_backend *sb)
{
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t)
        abort(); /* libslirp has no way to report it; out of memory at this size is fatal */
    t->sb = sb;
    t->expire_ms = -1;
    t->next = sb->timers;
    sb->timers = t;
    return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = timer_alloc(opaque);
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = timer_alloc(opaque);
    t->id = id;
    t->cb_opaque = cb_opaque;
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct slirp_backend *sb = opaque;
    for (struct slirp_timer **pp = &sb->timers; *pp; pp = &(*pp)->next) {
        if (*pp == timer) {
            *pp = (*pp)->next;
            free(timer);
            return;
        }
    }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    ((struct slirp_timer *)timer)->expire_ms = expire_ms;
    sb_request_cycle(opaque); /* re-arm the timerfd */
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    /* Sockets are picked up by the next slirp_pollfds_fill. */
}

static void reg_set(struct slirp_backend *sb, int fd, uint32_t ev);

/* Called before slirp closes FD: take it out of the inner set while it is still open. */
static void cb_unregister_poll_fd(int fd, void *opaque)
{
    struct slirp_backend *sb = opaque;
    if (fd >= 0 && (unsigned)fd < sb->nreg)
        reg_set(sb, fd, 0);
}

static void cb_notify(void *opaque)
{
    sb_request_cycle(opaque);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the poll cycle ---------------------------------------------------------------------------
 */

static int cb_add_poll(int fd, int events, void *opaque)
{
    struct slirp_backend *sb = opaque;
    if (sb->npfd == sb->cap_pfd) {
        unsigned cap = sb->cap_pfd ? sb->cap_pfd * 2 : 32;
        struct pollfd *p = realloc(sb->pfd, cap * sizeof(*p));
        if (!p)
            abort(); /* no error path through libslirp */
        sb->pfd = p;
        sb->cap_pfd = cap;
    }
    short ev = 0;
    ev |= (events & SLIRP_POLL_IN) ? POLLIN : 0;
    ev |= (events & SLIRP_POLL_OUT) ? POLLOUT : 0;
    ev |= (events & SLIRP_POLL_PRI) ? POLLPRI : 0;
    sb->pfd[sb->npfd] = (struct pollfd){.fd = fd, .events = ev};
    return (int)sb->npfd++;
}

static int cb_get_revents(int idx, void *opaque)
{
    struct slirp_backend *sb = opaque;
    if (idx < 0 || (unsigned)idx >= sb->npfd)
        return 0;
    short r = sb->pfd[idx].revents;
    int ev = 0;
    ev |= (r & POLLIN) ? SLIRP_POLL_IN : 0;
    ev |= (r & POLLOUT) ? SLIRP_POLL_OUT : 0;
    ev |= (r & POLLPRI) ? SLIRP_POLL_PRI : 0;
    ev |= (r & POLLERR) ? SLIRP_POLL_ERR : 0;
    ev |= (r & POLLHUP) ? SLIRP_POLL_HUP : 0;
    return ev;
}

/* ---- the inner epoll set ------------------------------------------------------------------
 * It holds exactly the fds of the last fill, with the events asked for. libslirp can stop listing
 * a socket without closing it (the host closed and nothing is left to write; its buffer toward
 * the guest is half full): a registration left behind would keep the level-triggered set ready
 * (a readable EOF, unread data) and the I/O thread would cycle without end. Each fill stamps
 * its fds with a new generation; a sweep over the registered fds drops the unstamped ones, so a
 * cycle costs O(fds listed + fds registered). */

/* The record of FD, growing the table to hold it. NULL when FD cannot be watched. */
static struct fd_reg *reg_get(struct slirp_backend *sb, int fd)
{
    if (fd < 0 || fd >= SLIRP_MAX_FDS)
        return NULL;
    if ((unsigned)fd >= sb->nreg) {
        unsigned n = MAX((unsigned)fd + 1, sb->nreg * 2);
        struct fd_reg *r = realloc(sb->reg, n * sizeof(*r));
        if (!r)
            return NULL; /* not watched: slirp's timers still poll it */
        memset(r + sb->nreg, 0, (n - sb->nreg) * sizeof(*r));
        sb->reg = r;
        sb->nreg = n;
    }
    return &sb->reg[fd];
}

/* Put FD in the set with EV (0: take it out), keeping live[] in step. */
static void reg_set(struct slirp_backend *sb, int fd, uint32_t ev)
{
    struct fd_reg *r = &sb->reg[fd];
    if (r->ev == ev)
        return;
    struct epoll_event e = {.events = ev, .data.fd = fd};
    if (!ev) {
        epoll_ctl(sb->epfd, EPOLL_CTL_DEL, fd, NULL); /* ENOENT/EBADF: closed behind our back */
        sb->live[r->slot] = sb->live[--sb->nlive];
        sb->reg[sb->live[r->slot]].slot = r->slot;
        r->ev = 0;
        return;
    }
    if (r->ev) {
        if (epoll_ctl(sb->epfd, EPOLL_CTL_MOD, fd, &e) == 0 || errno != ENOENT ||
            epoll_ctl(sb->epfd, EPOLL_CTL_ADD, fd, &e) == 0) /* closed and reused: add again */
            r->ev = ev;
        return;
    }
    if (sb->nlive == sb->cap_live) {
        unsigned cap = sb->cap_live ? sb->cap_live * 2 : 32;
        int *l = realloc(sb->live, cap * sizeof(*l));
        if (!l)
            return; /* not watched: slirp's timers still poll it */
        sb->live = l;
        sb->cap_live = cap;
    }
    if (epoll_ctl(sb->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
        return;
    r->ev = ev;
    r->slot = sb->nlive;
    sb->live[sb->nlive++] = fd;
}

/* The epoll events for one pollfd of the fill: none while throttled and only reading is asked. */
static uint32_t want_events(const struct slirp_backend *sb, const struct pollfd *p)
{
    short want = p->events;
    if (sb->throttled)
        want &= ~POLLIN;
    return want ? EPOLLERR | EPOLLHUP | (uint32_t)want : 0; /* POLLIN/OUT/PRI == EPOLL* */
}

/* Bring the inner epoll set in line with the fds of the fill just made. */
static void sync_epoll(struct slirp_backend *sb)
{
    uint32_t gen = ++sb->fill_gen;
    for (unsigned i = 0; i < sb->npfd; i++) { /* stamp, merging an fd listed twice */
        struct fd_reg *r = reg_get(sb, sb->pfd[i].fd);
        if (!r)
            continue;
        if (r->gen != gen)
            r->want = 0;
        r->gen = gen;
        r->want |= want_events(sb, &sb->pfd[i]);
    }
    for (unsigned i = 0; i < sb->npfd; i++) {
        int fd = sb->pfd[i].fd;
        if (fd >= 0 && (unsigned)fd < sb->nreg && sb->reg[fd].gen == gen)
            reg_set(sb, fd, sb->reg[fd].want);
    }
    for (unsigned i = 0; i < sb->nlive;) { /* sweep: registered, but not in this fill */
        int fd = sb->live[i];
        if (sb->reg[fd].gen != gen)
            reg_set(sb, fd, 0); /* moves the last entry into slot i */
        else
            i++;
    }
}

/* Arm the timerfd for the earliest of slirp's poll timeout and its timers. */
static void arm_timer(struct slirp_backend *sb, uint32_t timeout_ms)
{
    int64_t now_ms = (int64_t)(now_ns() / 1000000ULL);
    int64_t when = now_ms + timeout_ms;
    for (struct slirp_timer *t = sb->timers; t; t = t->next)
        if (t->expire_ms >= 0 && t->expire_ms < when)
            when = t->expire_ms;
    if (when <= now_ms)
        when = now_ms + 1;
    struct itimerspec its = {0};
    its.it_value.tv_sec = when / 1000;
    its.it_value.tv_nsec = (when % 1000) * 1000000;
    timerfd_settime(sb->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Run expired timers, let slirp handle its sockets, then collect its fds for the next round. */
static void slirp_cycle(struct slirp_backend *sb)
{
    int64_t now_ms = (int64_t)(now_ns() / 1000000ULL);
    for (struct slirp_timer *t = sb->timers, *n; t; t = n) {
        n = t->next; /* the handler may free or re-arm it */
        if (t->expire_ms < 0 || t->expire_ms > now_ms)
            continue;
        t->expire_ms = -1;
        if (t->cb)
            t->cb(t->cb_opaque);
        else
            sb->lib->handle_timer(sb->slirp, t->id, t->cb_opaque);
    }
    if (sb->npfd) {
        int rc = poll(sb->pfd, sb->npfd, 0);
        if (sb->throttled)
            for (unsigned i = 0; i < sb->npfd; i++)
                sb->pfd[i].revents &= ~POLLIN;
        sb->lib->pollfds_poll(sb->slirp, rc < 0, cb_get_revents, sb);
    } else {
        sb->lib->pollfds_poll(sb->slirp, 0, cb_get_revents, sb); /* runs slirp's TCP timers */
    }
    uint32_t timeout = UINT32_MAX;
    sb->npfd = 0;
    sb->lib->pollfds_fill(sb->slirp, &timeout, cb_add_poll, sb);
    sync_epoll(sb);
    arm_timer(sb, timeout);
}

/* Event loop callbacks: the inner set, the timerfd and the work eventfd all mean "cycle". */
static void sb_event(void *opaque, uint32_t events)
{
    struct slirp_backend *sb = opaque;
    uint64_t v;
    ssize_t a = read(sb->work_fd, &v, sizeof(v));
    ssize_t b = read(sb->timer_fd, &v, sizeof(v));
    (void)a; /* EAGAIN when another fd woke us */
    (void)b;
    slirp_cycle(sb);
}

static void sb_kick(void *opaque, uint32_t events)
{
    struct slirp_backend *sb = opaque;
    if (sb->rx_on && sb->be.client.rx_ready)
        sb->be.client.rx_ready(sb->be.client.opaque);
}

/* ---- backend ops ------------------------------------------------------------------------------
 */

static int sb_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
    struct slirp_backend *sb = (struct slirp_backend *)be;
    size_t len = 0;
    for (unsigned i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > sizeof(sb->txbuf) - len)
            return -EMSGSIZE;
        memcpy(sb->txbuf + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    sb->lib->input(sb->slirp, sb->txbuf, (int)len);
    sb_request_cycle(sb); /* new sockets to watch, or replies to flush */
    return 0;
}

static ssize_t sb_recv(struct net_backend *be, void *buf, size_t len)
{
    struct slirp_backend *sb = (struct slirp_backend *)be;
    if (!sb->rxq_count)
        return -EAGAIN;
    struct slirp_frame *f = sb->rxq[sb->rxq_head];
    if (f->len > len)
        return -EMSGSIZE;
    sb->rxq_head = (sb->rxq_head + 1) % SLIRP_RXQ;
    sb->rxq_count--;
    size_t n = f->len;
    memcpy(buf, f->data, n);
    free(f);
    if (!sb->rxq_count) {
        uint64_t v;
        ssize_t r = read(sb->kick_fd, &v, sizeof(v)); /* empty: stop signalling */
        (void)r;
    }
    if (sb->throttled && sb->rxq_count < SLIRP_RXQ / 4) {
        sb->throttled = false;
        sb_request_cycle(sb); /* read the host sockets again */
    }
    return (ssize_t)n;
}

static void sb_rx_enable(struct net_backend *be, bool on)
{
    struct slirp_backend *sb = (struct slirp_backend *)be;
    if (sb->rx_on == on)
        return;
    sb->rx_on = on;
    evloop_mod(be->loop, sb->kick_fd, on ? EPOLLIN : 0);
}

static void sb_close(struct net_backend *be)
{
    struct slirp_backend *sb = (struct slirp_backend *)be;
    int fds[] = {sb->epfd, sb->timer_fd, sb->kick_fd, sb->work_fd};
    for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            evloop_del(be->loop, fds[i]);
    if (sb->slirp)
        sb->lib->cleanup(sb->slirp);
    for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    while (sb->rxq_count) {
        free(sb->rxq[sb->rxq_head]);
        sb->rxq_head = (sb->rxq_head + 1) % SLIRP_RXQ;
        sb->rxq_count--;
    }
    while (sb->timers) {
        struct slirp_timer *t = sb->timers;
        sb->timers = t->next;
        free(t);
    }
    free(sb->pfd);
    free(sb->reg);
    free(sb->live);
    page_free(sb, sizeof(*sb));
}

static const struct net_backend_ops slirp_ops = {
    .name = "user",
    .send = sb_send,
    .recv = sb_recv,
    .rx_enable = sb_rx_enable,
    .set_offload = NULL,
    .close = sb_close,
};

/* Create the slirp instance with QEMU's default addressing, and NC's TFTP root and DHCP boot file
 * when it has them (libslirp serves the directory read-only, refusing ".."). Returns 0 or
 * -ENOMEM. */
static int sb_slirp_new(struct slirp_backend *sb, const struct net_config *nc)
{
    SlirpConfig cfg = {
        .version = 4,
        .in_enabled = true,
        .in6_enabled = true,
        .vprefix_len = 64,
        .tftp_path = nc->tftp[0] ? nc->tftp : NULL,
        .bootfile = nc->bootfile[0] ? nc->bootfile : NULL,
    };
    inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
    inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
    inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
    inet_pton(AF_INET, SLIRP_GUEST_IP, &cfg.vdhcp_start);
    inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
    inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
    inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
    inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);
    sb->slirp = sb->lib->new_(&cfg, &slirp_callbacks, sb);
    return sb->slirp ? 0 : -ENOMEM;
}

/* Install the host port forwards of NC. Returns 0 or -EADDRINUSE with ERR filled. */
static int sb_add_forwards(struct slirp_backend *sb, const struct net_config *nc, char *err,
                           size_t errlen)
{
    struct in_addr any = {.s_addr = htonl(INADDR_ANY)}, guest;
    inet_pton(AF_INET, SLIRP_GUEST_IP, &guest);
    for (unsigned i = 0; i < nc->nfwd; i++) {
        const struct hostfwd *h = &nc->fwd[i];
        if (sb->lib->add_hostfwd(sb->slirp, h->udp, any, h->host_port, guest, h->guest_port) < 0) {
            snprintf(err, errlen, "--net user: hostfwd=%s::%u-:%u: cannot listen on host port %u",
                     h->udp ? "udp" : "tcp", h->host_port, h->guest_port, h->host_port);
            return -EADDRINUSE;
        }
    }
    return 0;
}

/* Create the four fds and watch them on LOOP. Returns 0 or -errno. */
static int sb_open_fds(struct slirp_backend *sb, struct evloop *loop)
{
    sb->epfd = epoll_create1(EPOLL_CLOEXEC);
    sb->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    sb->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sb->work_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sb->epfd < 0 || sb->timer_fd < 0 || sb->kick_fd < 0 || sb->work_fd < 0)
        return -errno;
    int rc = evloop_add(loop, sb->epfd, EPOLLIN, sb_event, sb);
    if (!rc)
        rc = evloop_add(loop, sb->timer_fd, EPOLLIN, sb_event, sb);
    if (!rc)
        rc = evloop_add(loop, sb->work_fd, EPOLLIN, sb_event, sb);
    if (!rc)
        rc = evloop_add(loop, sb->kick_fd, 0, sb_kick, sb);
    return rc;
}

int slirp_backend_open(const struct net_config *nc, struct evloop *loop,
                       const struct net_backend_client *client, struct net_backend **out, char *err,
                       size_t errlen)
{
    /* 66 KiB, mostly txbuf: on pages of their own, backed as far as frames reach */
    struct slirp_backend *sb = page_zalloc(sizeof(*sb));
    if (!sb) {
        snprintf(err, errlen, "--net user: out of memory");
        return -ENOMEM;
    }
    sb->be.ops = &slirp_ops;
    sb->be.loop = loop;
    sb->be.client = *client;
    sb->be.link_up = true;
    snprintf(sb->be.desc, sizeof(sb->be.desc), "user %s", nc->id);
    sb->epfd = sb->timer_fd = sb->kick_fd = sb->work_fd = -1;
    char why[256];
    int rc = -ENOENT;
    if (!(sb->lib = slirp_lib_get(why, sizeof(why)))) {
        snprintf(err, errlen, "--net user: %s", why);
        goto fail;
    }
    rc = sb_slirp_new(sb, nc);
    if (rc < 0) {
        snprintf(err, errlen, "--net user: cannot create the user-mode network stack");
        goto fail;
    }
    rc = sb_add_forwards(sb, nc, err, errlen);
    if (rc < 0)
        goto fail;
    rc = sb_open_fds(sb, loop);
    if (rc < 0) {
        snprintf(err, errlen, "--net user: cannot create its event fds: %s", strerror(-rc));
        goto fail;
    }
    sb_request_cycle(sb); /* first fill: watch the forwarded ports */
    *out = &sb->be;
    return 0;
fail:
    sb_close(&sb->be);
    return rc;
}
