/* vsock_host.c — virtio-vsock engine, host side: UNIX listener, CONNECT handshake, socket I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/util.h"
#include "virtio/vsock_proto.h"

/* After accept() ran out of fds, the listener stays out of the set this long. */
#define VSOCK_ACCEPT_PAUSE_MS 100

static int sockaddr_for(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    return str_copy(sa->sun_path, sizeof(sa->sun_path), path);
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa;
    struct stat st;
    if (sockaddr_for(&sa, path))
        return -ENAMETOOLONG;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST; /* never remove something that is not a stale socket */
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int ep_add(int epfd, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int vsock_host_open(struct vsock_engine *e)
{
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0)
        return -errno;
    e->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (e->timer_fd < 0)
        return -errno;
    e->listen_fd = listen_on(e->uds_path);
    if (e->listen_fd < 0)
        return e->listen_fd;
    int rc = ep_add(e->epfd, e->listen_fd, EPOLLIN, VSOCK_EV_LISTEN);
    if (!rc)
        rc = ep_add(e->epfd, e->timer_fd, EPOLLIN, VSOCK_EV_TIMER);
    return rc;
}

void vsock_host_close(struct vsock_engine *e)
{
    if (e->listen_fd >= 0) {
        close(e->listen_fd);
        unlink(e->uds_path);
    }
    if (e->timer_fd >= 0)
        close(e->timer_fd);
    if (e->epfd >= 0)
        close(e->epfd);
    e->listen_fd = e->timer_fd = e->epfd = -1;
}

void vsock_host_release(struct vsock_engine *e, struct vconn *c)
{
    if (c->fd < 0)
        return;
    if (c->events)
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->events = 0;
}

void vsock_host_update_events(struct vsock_engine *e, struct vconn *c)
{
    uint32_t want = 0;
    if (c->state == VC_HANDSHAKE)
        want = EPOLLIN;
    if (c->state == VC_ESTABLISHED && !c->host_readable && !c->host_eof && !c->guest_shut_rcv)
        want = EPOLLIN;
    if ((c->state == VC_ESTABLISHED || c->state == VC_CLOSING) && c->buf_len)
        want |= EPOLLOUT;
    if (want == c->events || c->fd < 0)
        return;
    /* Not watching at all takes the fd out of the set: EPOLLHUP would otherwise keep firing. */
    struct epoll_event ev = {.events = want, .data.u64 = (uint64_t)(c - e->conns)};
    int op = !c->events ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(e->epfd, op, c->fd, &ev) < 0)
        log_warn("vsock: epoll_ctl for port %u: %s", c->local_port, strerror(errno));
    c->events = want;
}

void vsock_host_arm_timer(struct vsock_engine *e)
{
    uint64_t first = 0;
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        uint64_t d = e->conns[i].state != VC_FREE ? e->conns[i].deadline_ns : 0;
        if (d && (!first || d < first))
            first = d;
    }
    if (e->listen_retry_ns && (!first || e->listen_retry_ns < first))
        first = e->listen_retry_ns;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(first / 1000000000ULL);
    its.it_value.tv_nsec = (long)(first % 1000000000ULL);
    timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    e->timer_dirty = false;
}

int vsock_host_connect(struct vsock_engine *e, uint32_t port)
{
    char path[sizeof(e->uds_path) + 12];
    struct sockaddr_un sa;
    snprintf(path, sizeof(path), "%s_%u", e->uds_path, port);
    if (sockaddr_for(&sa, path))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* A UNIX stream connect completes at once; EAGAIN (backlog full) counts as refused. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int vsock_host_write(struct vsock_engine *e, struct vconn *c, const struct iovec *iov,
                     unsigned niov, size_t len)
{
    size_t done = 0;
    if (c->buf_len == 0) {
        struct iovec t[VSOCK_MAX_IOV];
        struct msghdr m = {.msg_iov = t,
                           .msg_iovlen = iov_slice(iov, niov, 0, len, t, ARRAY_SIZE(t))};
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN)
            return -errno;
        done = n > 0 ? (size_t)n : 0;
        c->fwd_cnt += (uint32_t)done;
    }
    size_t rest = len - done;
    if (!rest)
        return 0;
    if (c->buf_len + rest > VSOCK_CONN_BUF)
        return -ENOBUFS; /* cannot happen while the credit check holds */
    if (!c->buf && !(c->buf = malloc(VSOCK_CONN_BUF)))
        return -ENOMEM;
    uint32_t tail = (c->buf_off + c->buf_len) % VSOCK_CONN_BUF;
    size_t first = MIN(rest, (size_t)(VSOCK_CONN_BUF - tail));
    iov_to_buf(iov, niov, done, c->buf + tail, first);
    iov_to_buf(iov, niov, done + first, c->buf, rest - first);
    c->buf_len += (uint32_t)rest;
    return 0;
}

int vsock_host_flush(struct vsock_engine *e, struct vconn *c)
{
    while (c->buf_len) {
        uint32_t first = MIN(c->buf_len, VSOCK_CONN_BUF - c->buf_off);
        struct iovec v[2] = {{c->buf + c->buf_off, first}, {c->buf, c->buf_len - first}};
        struct msghdr m = {.msg_iov = v, .msg_iovlen = c->buf_len > first ? 2 : 1};
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN ? 0 : -errno;
        c->buf_off = (c->buf_off + (uint32_t)n) % VSOCK_CONN_BUF;
        c->buf_len -= (uint32_t)n;
        c->fwd_cnt += (uint32_t)n;
    }
    free(c->buf); /* idle connections hold no buffer */
    c->buf = NULL;
    c->buf_off = 0;
    if (c->guest_shut_send && !c->host_wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->host_wr_shut = true;
    }
    return 0;
}

ssize_t vsock_host_read(struct vconn *c, const struct iovec *iov, unsigned niov, size_t cap)
{
    struct iovec t[VSOCK_MAX_IOV];
    struct msghdr m = {.msg_iov = t, .msg_iovlen = iov_slice(iov, niov, 0, cap, t, ARRAY_SIZE(t))};
    ssize_t n = recvmsg(c->fd, &m, MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

/* A free local port >= VSOCK_EPHEMERAL_BASE for a connection to guest port PEER. */
static uint32_t ephemeral_port(struct vsock_engine *e, uint32_t peer)
{
    for (;;) {
        uint32_t p = e->next_ephemeral++;
        if (e->next_ephemeral == 0)
            e->next_ephemeral = VSOCK_EPHEMERAL_BASE;
        bool used = false;
        for (unsigned i = 0; i < VSOCK_MAX_CONNS && !used; i++)
            used = e->conns[i].state > VC_HANDSHAKE && e->conns[i].local_port == p &&
                   e->conns[i].peer_port == peer;
        if (!used) /* at most VSOCK_MAX_CONNS ports are taken: the loop ends */
            return p;
    }
}

/* Read the host client's "CONNECT P\n" one byte at a time (nothing after it is consumed). */
static void handshake_read(struct vsock_engine *e, struct vconn *c)
{
    for (;;) {
        char ch;
        ssize_t n = recv(c->fd, &ch, 1, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0 || c->line_len == sizeof(c->line)) {
            vconn_free(e, c);
            return;
        }
        c->line[c->line_len++] = ch;
        if (ch == '\n')
            break;
    }
    uint32_t port;
    if (vsock_parse_connect(c->line, c->line_len, &port)) {
        vconn_free(e, c);
        return;
    }
    c->peer_port = port;
    c->local_port = ephemeral_port(e, port);
    c->state = VC_CONNECTING;
    c->ctl = VC_CTL_REQUEST;
    c->deadline_ns = now_ns() + VSOCK_CONNECT_MS * 1000000ULL;
    e->timer_dirty = true;
    vconn_refresh(e, c);
}

static void accept_clients(struct vsock_engine *e)
{
    for (unsigned i = 0; i < 64; i++) {
        int fd = accept4(e->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* The client stays queued and the listener readable: watching it now would spin. */
            log_warn("vsock: cannot accept a connection: %s; retrying in %d ms", strerror(errno),
                     VSOCK_ACCEPT_PAUSE_MS);
            epoll_ctl(e->epfd, EPOLL_CTL_DEL, e->listen_fd, NULL);
            e->listen_retry_ns = now_ns() + VSOCK_ACCEPT_PAUSE_MS * 1000000ULL;
            e->timer_dirty = true;
        }
        if (fd < 0)
            return;
        struct vconn *c = e->nconns < VSOCK_MAX_CONNS ? vconn_alloc(e) : NULL;
        if (!c) {
            e->stats.conns_refused++;
            close(fd);
            continue;
        }
        c->fd = fd;
        c->state = VC_HANDSHAKE;
        c->deadline_ns = now_ns() + VSOCK_HANDSHAKE_MS * 1000000ULL;
        e->timer_dirty = true;
        e->stats.conns_opened++;
        vconn_refresh(e, c);
    }
}

static void expire(struct vsock_engine *e)
{
    uint64_t v, now = now_ns();
    if (read(e->timer_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: woken by a deadline that moved; the scan below is still right */
    }
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct vconn *c = &e->conns[i];
        if (c->state == VC_FREE || !c->deadline_ns || c->deadline_ns > now)
            continue;
        if (c->state == VC_HANDSHAKE)
            vconn_free(e, c); /* the guest never heard of it */
        else
            vconn_reset(e, c);
    }
    if (e->listen_retry_ns && e->listen_retry_ns <= now &&
        ep_add(e->epfd, e->listen_fd, EPOLLIN, VSOCK_EV_LISTEN) == 0)
        e->listen_retry_ns = 0;
    e->timer_dirty = true;
}

static void conn_event(struct vsock_engine *e, struct vconn *c, uint32_t events)
{
    if (c->state == VC_FREE || c->fd < 0)
        return; /* freed earlier in this batch */
    if (c->state == VC_HANDSHAKE) {
        handshake_read(e, c);
        return;
    }
    if ((c->events & EPOLLIN) && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        c->host_readable = true;
    if ((c->events & EPOLLOUT) && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
        if (vsock_host_flush(e, c) < 0) {
            vconn_reset(e, c);
            return;
        }
        if (c->buf_len == 0 && c->state == VC_CLOSING) {
            vconn_try_finish(e, c);
            return;
        }
    }
    vconn_refresh(e, c);
}

void vsock_engine_poll(struct vsock_engine *e)
{
    struct epoll_event ev[64];
    int n = epoll_wait(e->epfd, ev, ARRAY_SIZE(ev), 0);
    for (int i = 0; i < n; i++) {
        uint64_t tag = ev[i].data.u64;
        if (tag == VSOCK_EV_LISTEN)
            accept_clients(e);
        else if (tag == VSOCK_EV_TIMER)
            expire(e);
        else if (tag < VSOCK_MAX_CONNS)
            conn_event(e, &e->conns[tag], ev[i].events);
    }
    if (e->timer_dirty)
        vsock_host_arm_timer(e);
}

int vsock_engine_new(uint64_t guest_cid, const char *uds_path, struct vsock_engine **out)
{
    /* "<uds_path>_4294967295" must fit in sun_path too */
    if (!uds_path[0] || strlen(uds_path) + 12 > sizeof(((struct sockaddr_un *)0)->sun_path))
        return -ENAMETOOLONG;
    struct vsock_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->guest_cid = guest_cid;
    str_copy(e->uds_path, sizeof(e->uds_path), uds_path);
    e->listen_fd = e->epfd = e->timer_fd = -1;
    e->next_ephemeral = VSOCK_EPHEMERAL_BASE;
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        e->conns[i].fd = -1;
    int rc = vsock_host_open(e);
    if (rc < 0) {
        vsock_host_close(e);
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void vsock_engine_reset(struct vsock_engine *e)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        vconn_free(e, &e->conns[i]);
    e->rst_count = e->rst_head = 0;
    e->ready_count = e->ready_head = 0;
    vsock_host_arm_timer(e);
}

void vsock_engine_free(struct vsock_engine *e)
{
    if (!e)
        return;
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        vconn_free(e, &e->conns[i]);
    vsock_host_close(e);
    free(e);
}

int vsock_engine_fd(const struct vsock_engine *e)
{
    return e->epfd;
}
