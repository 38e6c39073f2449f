/* server.c — truced's listeners: UNIX socket, and TCP only with a bearer token; one thread per
 * connection, one request per connection, heads parsed by truce's bounded parser (api/http.c). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/http.h"
#include "manager/hclient.h"
#include "manager/routes.h"
#include "manager/server.h"
#include "manager/web.h"
#include "manager/wsconn.h"

#define MAX_BODY  (1u << 20)
#define MAX_CONNS 64 /* connections served at once; more are answered 503 and closed */

static int nconns; /* atomic */

struct conn {
    struct mgr *m;
    int fd;
    const char *token; /* NULL: no authentication (the UNIX socket) */
};

static const char *reason(int s)
{
    switch (s) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 403:
        return "Forbidden";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    }
    return s >= 500 ? "Server Error" : "Error";
}

void http_respond(int fd, struct answer *a)
{
    char *body = a->body && a->status != 204 ? json_dumps(a->body, JSON_COMPACT) : NULL;
    size_t blen = body ? strlen(body) : 0;
    char head[512];
    if (a->raw && !body) { /* a file or an image: its own type, no newline added */
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 %d %s\r\nServer: truced\r\nConnection: close\r\n"
                         "Content-Type: %s\r\nContent-Length: %zu\r\n"
                         "X-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\n\r\n",
                         a->status, reason(a->status), a->ctype, a->raw_len);
        hc_send_all(fd, head, n);
        hc_send_all(fd, a->raw, a->raw_len);
        return;
    }
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nServer: truced\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     a->status, reason(a->status), blen + (body ? 1 : 0));
    hc_send_all(fd, head, n);
    if (body) {
        hc_send_all(fd, body, blen);
        hc_send_all(fd, "\n", 1);
    }
    free(body);
}

/* The value of header NAME in the head HEAD (LEN bytes) into OUT; false when absent. */
bool http_header(const char *head, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', len), *end = head + len;
    while (p && ++p < end) {
        const char *eol = memchr(p, '\r', end - p);
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            snprintf(out, outlen, "%.*s", (int)(eol - v), v);
            return true;
        }
        p = memchr(p, '\n', end - p);
    }
    return false;
}

/* Constant-time comparison of the presented token. */
static bool token_ok(const char *want, const char *got)
{
    size_t a = strlen(want), b = strlen(got);
    unsigned char d = a != b;
    for (size_t i = 0; i < a; i++)
        d |= (unsigned char)want[i] ^ (unsigned char)(i < b ? got[i] : 0);
    return !d;
}

static void serve(struct conn *c)
{
    char *buf = malloc(HTTP_MAX_HEAD + MAX_BODY);
    size_t len = 0;
    struct http_head h;
    struct answer a = {0};
    int rc = 0;
    while (buf && len < HTTP_MAX_HEAD) {
        ssize_t r = recv(c->fd, buf + len, HTTP_MAX_HEAD - len, 0);
        if (r <= 0)
            goto out;
        len += r;
        if ((rc = http_parse_head(buf, len, MAX_BODY, &h)) != 0)
            break;
    }
    if (rc <= 0) {
        if (rc == 0)
            h.status = 431, snprintf(h.error, sizeof(h.error), "request head too large");
        fail(&a, h.status, "%s", h.error);
        goto reply;
    }
    size_t want = h.head_len + (h.have_length ? h.content_length : 0);
    while (len < want) {
        ssize_t r = recv(c->fd, buf + len, want - len, 0);
        if (r <= 0)
            goto out;
        len += r;
    }
    /* The web console's static files need no token (they hold none); everything under /v1
     * does: as Authorization, or (browsers' WebSockets) as a "bearer.TOKEN" subprotocol. */
    bool is_api = !strncmp(h.path, "/v1/", 4) || !strcmp(h.path, "/v1");
    bool upgrade = ws_is_upgrade(buf, h.head_len);
    char auth[512];
    if (c->token && is_api &&
        (!http_header(buf, h.head_len, "Authorization", auth, sizeof(auth)) ||
         strncmp(auth, "Bearer ", 7) || !token_ok(c->token, auth + 7)) &&
        !(upgrade && ws_bearer_ok(buf, h.head_len, c->token))) {
        fail(&a, 401, "Authorization: a valid bearer token is required");
        goto reply;
    }
    char name[VM_NAME_MAX + 1], what[16];
    if (upgrade && !strcmp(h.method, "GET") &&
        sscanf(h.path, "/v1/vms/%64[^/]/%15[^/]", name, what) == 2 &&
        (!strcmp(what, "console") || !strcmp(what, "vnc"))) {
        ws_serve(c->m, c->fd, buf, h.head_len, name, what, buf + h.head_len, len - h.head_len);
        goto out;
    }
    if (!is_api && !strcmp(h.method, "GET")) {
        web_file(c->m, h.path, &a);
        goto reply;
    }
    /* The query: after '?' on the request line. */
    char query[256] = "";
    const char *eol = memchr(buf, '\r', h.head_len), *q = memchr(buf, '?', h.head_len);
    if (q && eol && q < eol) {
        const char *sp = memchr(q, ' ', eol - q);
        snprintf(query, sizeof(query), "%.*s", (int)((sp ? sp : eol) - q - 1), q + 1);
    }
    route(c->m, h.method, h.path, query[0] ? query : NULL, buf + h.head_len, len - h.head_len, &a);
reply:
    http_respond(c->fd, &a);
out:
    json_decref(a.body);
    free(a.raw);
    free(buf);
}

static void *conn_thread(void *arg)
{
    struct conn *c = arg;
    struct timeval tv = {.tv_sec = 30};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    serve(c);
    close(c->fd);
    free(c);
    __atomic_sub_fetch(&nconns, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

struct listener {
    struct mgr *m;
    int fd;
    const char *token;
};

/* Over the cap: answer 503 here, without a thread. The request is read and dropped before the
 * close (waiting at most REFUSE_DRAIN_MS for it): closed with it unread, the socket would fail
 * the client's write (EPIPE on a UNIX socket, a reset on TCP) before it could read the answer. */
#define REFUSE_DRAIN_MS 100

static void refuse(int fd)
{
    struct answer a = {0};
    fail(&a, 503, "too many connections (%d at once)", MAX_CONNS);
    http_respond(fd, &a);
    json_decref(a.body);
    shutdown(fd, SHUT_WR);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char sink[4096];
    if (poll(&p, 1, REFUSE_DRAIN_MS) > 0)
        (void)!recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    close(fd);
}

static void *accept_loop(void *arg)
{
    struct listener *l = arg;
    while (!l->m->stopping) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        if (__atomic_add_fetch(&nconns, 1, __ATOMIC_SEQ_CST) > MAX_CONNS) {
            refuse(fd);
            __atomic_sub_fetch(&nconns, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        struct conn *c = malloc(sizeof(*c));
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (!c ||
            (*c = (struct conn){l->m, fd, l->token}, pthread_create(&t, &at, conn_thread, c))) {
            close(fd);
            free(c);
            __atomic_sub_fetch(&nconns, 1, __ATOMIC_SEQ_CST);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

static int start_loop(struct mgr *m, int fd, const char *token)
{
    struct listener *l = malloc(sizeof(*l));
    pthread_t t;
    if (!l)
        return -ENOMEM;
    *l = (struct listener){m, fd, token};
    return -pthread_create(&t, NULL, accept_loop, l);
}

int server_unix(struct mgr *m, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "--sock %s: longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
        listen(fd, 64) < 0) {
        snprintf(err, errlen, "--sock %s: %s", path, strerror(errno));
        return -errno;
    }
    return start_loop(m, fd, NULL);
}

int server_tcp(struct mgr *m, const char *hostport, const char *token, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof(host)) {
        snprintf(err, errlen, "--listen %s: want HOST:PORT", hostport);
        return -EINVAL;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int g = getaddrinfo(host, colon + 1, &hints, &ai);
    if (g) {
        snprintf(err, errlen, "--listen %s: %s", hostport, gai_strerror(g));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0 ? -errno : 0;
    freeaddrinfo(ai);
    if (rc < 0) {
        snprintf(err, errlen, "--listen %s: %s", hostport, strerror(-rc));
        return rc;
    }
    return start_loop(m, fd, token);
}
