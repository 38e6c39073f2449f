/* server.c — the API's HTTP/1.1 server on a UNIX socket: one thread, poll, bounded buffers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/http.h"
#include "sandbox/sandbox.h"

#define SERVER_MAX_CONNS 32
#define SERVER_BACKLOG   32
/* A request must arrive whole, and a response leave, within this many ms of the previous
 * exchange on the connection (or of the accept): trickling bytes does not extend it. Idle
 * keep-alive connections are closed after it too. */
#define SERVER_DEADLINE_MS 30000
#define SERVER_OUT_MAX     (256 * 1024) /* pending response bytes before reading stops */
/* After refusing a request, up to this many more bytes of it are read and dropped before the
 * close, so that a client still sending sees the error response rather than EPIPE/a reset. */
#define SERVER_DRAIN_MAX (1024 * 1024)
#define SERVER_DRAIN_MS  2000 /* ... and while the client sends again within this many ms */
/* accept() out of descriptors or memory leaves the connection queued and the listener readable:
 * stop polling it for this long instead of spinning on it. */
#define SERVER_ACCEPT_PAUSE_MS 100

struct conn {
    int fd;
    char *in; /* received bytes: the current request, then what was pipelined after it */
    size_t ilen, icap;
    char *out; /* responses not yet written */
    size_t olen, ocap;
    bool continued; /* "100 Continue" sent for the current request */
    bool eof;       /* the client shut down its side */
    bool closing;   /* close once OUT is written (error, Connection: close, EOF) */
    size_t drain;   /* closing after a refusal: bytes still to read and drop (SERVER_DRAIN_MAX) */
    uint64_t deadline;
};

struct api_server {
    struct api *api;
    int fd;
    int wake[2];    /* written by api_server_stop */
    bool sandboxed; /* this thread entered its seccomp filter (once the VM started) */
    pthread_t thread;
    struct conn *conns[SERVER_MAX_CONNS];
    uint64_t accept_paused_until; /* listener not polled before this (now_ns), 0: polled */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

/* Append LEN bytes to C's output. Returns false (and marks C closing) when out of memory. */
static bool out_append(struct conn *c, const char *p, size_t len)
{
    if (c->olen + len > c->ocap) {
        size_t cap = MAX(c->ocap * 2, c->olen + len);
        char *n = realloc(c->out, cap);
        if (!n) {
            c->closing = true;
            return false;
        }
        c->out = n;
        c->ocap = cap;
    }
    memcpy(c->out + c->olen, p, len);
    c->olen += len;
    return true;
}

/* Queue a response: STATUS with BODY (NULL: none) of LEN bytes (0: a string) and TYPE (NULL:
 * JSON); CLOSE adds "Connection: close". */
static void respond_as(struct conn *c, int status, const char *body, size_t len, const char *type,
                       bool close)
{
    char head[256];
    size_t blen = body ? (len ? len : strlen(body)) : 0;
    int n =
        snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nServer: truce\r\n", status, reason(status));
    if (status != 204)
        n += snprintf(head + n, sizeof(head) - n, "Content-Length: %zu\r\n", blen);
    if (blen)
        n += snprintf(head + n, sizeof(head) - n, "Content-Type: %s\r\n",
                      type ? type : "application/json");
    n += snprintf(head + n, sizeof(head) - n, "%s\r\n", close ? "Connection: close\r\n" : "");
    if (out_append(c, head, (size_t)n) && blen)
        out_append(c, body, blen);
    c->closing |= close;
}

static void respond(struct conn *c, int status, const char *body, bool close)
{
    respond_as(c, status, body, 0, NULL, close);
}

/* Refuse the request at the HTTP level: STATUS with a fault_message, then close. */
static void refuse(struct api *api, struct conn *c, int status, const char *msg)
{
    json_t *j = json_pack("{s:s}", "fault_message", msg);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    pthread_mutex_lock(&api->lock);
    api_stats_record(api, -1, status, 0);
    pthread_mutex_unlock(&api->lock);
    respond(c, status, body, true);
    free(body);
    c->ilen = 0;
    c->drain = c->eof ? 0 : SERVER_DRAIN_MAX;
}

/* C's deadline from now: the exchange's, or while draining a refused request the shorter wait. */
static void conn_extend(struct conn *c)
{
    c->deadline = now_ns() + (c->drain ? SERVER_DRAIN_MS : SERVER_DEADLINE_MS) * 1000000ULL;
}

/* Handle every complete request in C's input (in order). */
static void process(struct api *api, struct conn *c)
{
    while (!c->closing && c->ilen && c->olen < SERVER_OUT_MAX) {
        struct http_head h;
        int rc = http_parse_head(c->in, c->ilen, api->max_payload, &h);
        if (rc < 0)
            return refuse(api, c, h.status, h.error);
        if (rc == 0)
            return;
        if (!strcmp(h.method, "HEAD")) /* its response could not carry the fault_message */
            return refuse(api, c, 400, "invalid request method: HEAD");
        if (h.head_len + h.content_length > c->ilen) {
            if (h.expect_continue && !c->continued && !c->eof)
                out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            c->continued = true;
            return; /* the body is still on its way */
        }
        struct api_reply r;
        api_handle(api, h.method, h.path, c->in + h.head_len, h.content_length, &r);
        respond_as(c, r.status, r.body, r.body_len, r.content_type, !h.keep_alive);
        api_reply_free(&r);
        size_t used = h.head_len + h.content_length;
        memmove(c->in, c->in + used, c->ilen - used);
        c->ilen -= used;
        c->continued = false;
        conn_extend(c);
    }
}

static void conn_free(struct conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Read and drop what a refused client still sends, up to C->drain bytes. Returns false when C
 * must be closed now. */
static bool conn_drain(struct conn *c)
{
    ssize_t n = recv(c->fd, c->in, MIN(c->icap, c->drain), MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    c->drain = n == 0 ? 0 : c->drain - (size_t)n;
    conn_extend(c);
    return true;
}

/* Read what C has sent. Returns false when C must be closed now. */
static bool conn_read(struct api *api, struct conn *c)
{
    if (c->drain)
        return conn_drain(c);
    if (c->ilen == c->icap || c->eof)
        return true; /* no room (or nothing more to come): process() makes room */
    ssize_t n = recv(c->fd, c->in + c->ilen, c->icap - c->ilen, MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0)
        c->eof = true;
    c->ilen += (size_t)n;
    process(api, c);
    if (c->eof)
        c->closing = true; /* answer what is complete, then close */
    return true;
}

/* Write pending output. Returns false when C must be closed now. */
static bool conn_write(struct conn *c)
{
    /* sendmsg, not send: the API thread's seccomp list has one sending call, and a migration's
     * batches of page runs need sendmsg (machine/migrate_io.c) */
    struct iovec v = {.iov_base = c->out, .iov_len = c->olen};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
    ssize_t n = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    memmove(c->out, c->out + n, c->olen - (size_t)n);
    c->olen -= (size_t)n;
    conn_extend(c);
    return true;
}

static void accept_one(struct api_server *s)
{
    int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            if (!s->accept_paused_until)
                log_warn("api: cannot accept a connection: %s; retrying every %d ms",
                         strerror(errno), SERVER_ACCEPT_PAUSE_MS);
            s->accept_paused_until = now_ns() + SERVER_ACCEPT_PAUSE_MS * 1000000ULL;
        }
        return;
    }
    s->accept_paused_until = 0;
    for (int i = 0; i < SERVER_MAX_CONNS; i++) {
        if (s->conns[i])
            continue;
        struct conn *c = calloc(1, sizeof(*c));
        if (c) {
            c->icap = HTTP_MAX_HEAD + s->api->max_payload;
            c->in = malloc(c->icap);
        }
        if (!c || !c->in) {
            free(c);
            break;
        }
        c->fd = fd;
        conn_extend(c);
        s->conns[i] = c;
        return;
    }
    close(fd); /* out of memory */
}

/* The poll set: wake pipe, listener (while a slot is free), connections. Returns the count. */
static nfds_t poll_set(struct api_server *s, struct pollfd *p, int *idx, int *timeout)
{
    nfds_t n = 0;
    bool slot = false;
    uint64_t now = now_ns(), first = UINT64_MAX;
    p[n++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
    for (int i = 0; i < SERVER_MAX_CONNS; i++) {
        struct conn *c = s->conns[i];
        slot |= !c;
        if (!c)
            continue;
        short ev = 0;
        if ((!c->closing && !c->eof && c->ilen < c->icap && c->olen < SERVER_OUT_MAX) || c->drain)
            ev |= POLLIN;
        if (c->olen)
            ev |= POLLOUT;
        idx[n] = i;
        p[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        first = MIN(first, c->deadline);
    }
    if (slot && s->accept_paused_until > now)
        first = MIN(first, s->accept_paused_until);
    else if (slot)
        p[n++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
    if (!s->sandboxed) /* a VM started by another thread (--config-file) wakes us */
        p[n++] = (struct pollfd){.fd = s->api->start_efd, .events = POLLIN};
    *timeout = first == UINT64_MAX ? -1 : first <= now ? 0 : (int)((first - now) / 1000000 + 1);
    return n;
}

/* Once a VM runs, this thread enters the API seccomp filter (sandbox/sandbox.h): it built the
 * VM itself (InstanceStart), so it cannot be filtered earlier. */
static void server_sandbox(struct api_server *s)
{
    pthread_mutex_lock(&s->api->lock);
    struct vm *vm = s->api->vm;
    pthread_mutex_unlock(&s->api->lock);
    if (vm) {
        sandbox_enter(vm, SANDBOX_API); /* on failure the VM is stopping */
        s->sandboxed = true;
    }
}

static void *server_thread(void *arg)
{
    struct api_server *s = arg;
    struct pollfd p[SERVER_MAX_CONNS + 3];
    int idx[SERVER_MAX_CONNS + 3];
    for (;;) {
        int timeout;
        if (!s->sandboxed)
            server_sandbox(s);
        nfds_t n = poll_set(s, p, idx, &timeout);
        if (poll(p, n, timeout) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break; /* api_server_stop */
        uint64_t now = now_ns();
        for (nfds_t i = 1; i < n; i++) {
            if (p[i].fd == s->fd) {
                if (p[i].revents)
                    accept_one(s);
                continue;
            }
            if (p[i].fd == s->api->start_efd)
                continue; /* handled at the top of the loop */
            struct conn *c = s->conns[idx[i]];
            bool ok = true;
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
                ok = conn_read(s->api, c);
            if (ok && (p[i].revents & POLLOUT))
                ok = conn_write(c);
            if (ok && p[i].revents)
                process(s->api, c); /* requests left waiting while the output was full */
            if (ok && c->olen && !(p[i].revents & POLLOUT))
                ok = conn_write(c); /* a response queued just now: try at once */
            if (!ok || (c->closing && !c->olen && !c->drain) || now > c->deadline) {
                conn_free(c);
                s->conns[idx[i]] = NULL;
            }
        }
    }
    return NULL;
}

/* A new listening UNIX socket at PATH (mode 0600). Returns the fd or -errno with ERR. */
static int listen_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (!*path || strlen(path) >= sizeof(a.sun_path)) {
        snprintf(err, errlen, "--api-sock: path must be 1 to %zu bytes", sizeof(a.sun_path) - 1);
        return -EINVAL;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        snprintf(err, errlen, "--api-sock: cannot bind %s: %s%s", path, strerror(e),
                 e == EADDRINUSE ? " (remove the stale socket first)" : "");
        if (fd >= 0)
            close(fd);
        return -e;
    }
    /* Not listening yet, so nobody can connect before the mode is tightened. */
    if (chmod(path, 0600) < 0 || listen(fd, SERVER_BACKLOG) < 0) {
        int e = errno;
        snprintf(err, errlen, "--api-sock: %s: %s", path, strerror(e));
        close(fd);
        unlink(path);
        return -e;
    }
    return fd;
}

struct api_server *api_server_start(struct api *api, const char *path, char *err, size_t errlen)
{
    struct api_server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->api = api;
    s->fd = listen_unix(path, err, errlen);
    if (s->fd < 0) {
        free(s);
        return NULL;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    if (pipe2(s->wake, O_CLOEXEC) < 0 || pthread_create(&s->thread, NULL, server_thread, s)) {
        snprintf(err, errlen, "--api-sock: cannot start the server thread");
        close(s->fd);
        unlink(path);
        free(s);
        return NULL;
    }
    log_info("api: listening on %s", path);
    return s;
}

void api_server_stop(struct api_server *s)
{
    if (!s)
        return;
    if (write(s->wake[1], "x", 1) != 1)
        log_err("api: cannot wake the server thread: %s", strerror(errno));
    pthread_join(s->thread, NULL);
    for (int i = 0; i < SERVER_MAX_CONNS; i++)
        if (s->conns[i])
            conn_free(s->conns[i]);
    close(s->wake[0]);
    close(s->wake[1]);
    close(s->fd);
    unlink(s->path);
    free(s);
}
