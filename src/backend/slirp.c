/* slirp.c — user-mode network backend on libslirp: NAT, DHCP, DNS forwarding, host port forwards.
 *
 * Guest network 10.0.2.0/24 (QEMU's defaults): the guest gets 10.0.2.15 by DHCP, 10.0.2.2 is
 * the host (and reaches the host's loopback), 10.0.2.3 forwards DNS to the host's resolver.
 * Everything runs on the VM's I/O thread: slirp's sockets sit in one inner epoll set watched by
 * the event loop; slirp's poll timeout and timers drive one timerfd. Frames slirp emits for the
 * guest wait in a bounded queue; while it is half full slirp stops reading its host sockets, and
 * frames beyond it are dropped and counted (TCP retransmits them). */
#include <errno.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/net.h"
#include "util/util.h"

#define SLIRP_RXQ      256     /* frames waiting for the guest */
#define SLIRP_MAX_FDS  65536   /* fd numbers tracked for the inner epoll set */
#define SLIRP_GUEST_IP "10.0.2.15"

struct slirp_frame {
    size_t len;
    uint8_t data[];
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
    /* epoll events registered per fd number (0: not in the inner set) */
    uint32_t *reg;
    unsigned nreg;
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

/* Called before slirp closes FD: take it out of the inner set while it is still open. */
static void cb_unregister_poll_fd(int fd, void *opaque)
{
    struct slirp_backend *sb = opaque;
    if (fd >= 0 && (unsigned)fd < sb->nreg && sb->reg[fd]) {
        epoll_ctl(sb->epfd, EPOLL_CTL_DEL, fd, NULL);
        sb->reg[fd] = 0;
    }
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

/* ---- the poll cycle --------------------------------------------------------------------------- */

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

/* Bring the inner epoll set in line with the fds of the last fill. */
static void sync_epoll(struct slirp_backend *sb)
{
    for (unsigned i = 0; i < sb->npfd; i++) {
        int fd = sb->pfd[i].fd;
        if (fd < 0 || fd >= SLIRP_MAX_FDS)
            continue;
        if ((unsigned)fd >= sb->nreg) {
            unsigned n = MAX((unsigned)fd + 1, sb->nreg * 2);
            uint32_t *r = realloc(sb->reg, n * sizeof(*r));
            if (!r)
                continue; /* not watched: its timers still poll it every second */
            memset(r + sb->nreg, 0, (n - sb->nreg) * sizeof(*r));
            sb->reg = r;
            sb->nreg = n;
        }
        short want = sb->pfd[i].events;
        if (sb->throttled)
            want &= ~POLLIN;
        uint32_t ev = EPOLLERR | EPOLLHUP | (uint32_t)want; /* POLLIN/OUT/PRI == EPOLL* */
        if (want == 0)
            ev = 0;
        if (sb->reg[fd] == ev)
            continue;
        struct epoll_event e = {.events = ev, .data.fd = fd};
        int op = !sb->reg[fd] ? EPOLL_CTL_ADD : !ev ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
        if (epoll_ctl(sb->epfd, op, fd, &e) < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
            epoll_ctl(sb->epfd, EPOLL_CTL_ADD, fd, &e); /* closed and reused behind our back */
        sb->reg[fd] = ev;
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
            slirp_handle_timer(sb->slirp, t->id, t->cb_opaque);
    }
    if (sb->npfd) {
        int rc = poll(sb->pfd, sb->npfd, 0);
        if (sb->throttled)
            for (unsigned i = 0; i < sb->npfd; i++)
                sb->pfd[i].revents &= ~POLLIN;
        slirp_pollfds_poll(sb->slirp, rc < 0, cb_get_revents, sb);
    } else {
        slirp_pollfds_poll(sb->slirp, 0, cb_get_revents, sb); /* runs slirp's TCP timers */
    }
    uint32_t timeout = UINT32_MAX;
    sb->npfd = 0;
    slirp_pollfds_fill(sb->slirp, &timeout, cb_add_poll, sb);
    sync_epoll(sb);
    arm_timer(sb, timeout);
}

/* Event loop callbacks: the inner set, the timerfd and the work eventfd all mean "cycle". */
static void sb_event(void *opaque, uint32_t events)
{
    struct slirp_backend *sb = opaque;
    uint64_t v;
    if (read(sb->work_fd, &v, sizeof(v)) < 0 || read(sb->timer_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: the other one woke us */
    }
    slirp_cycle(sb);
}

static void sb_kick(void *opaque, uint32_t events)
{
    struct slirp_backend *sb = opaque;
    if (sb->rx_on && sb->be.client.rx_ready)
        sb->be.client.rx_ready(sb->be.client.opaque);
}
