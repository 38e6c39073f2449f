/* server.c — HTTP/1.1 on a UNIX socket through libmicrohttpd, one server thread, bounded input. */
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api_int.h"

#define SERVER_MEMORY_LIMIT (32 * 1024) /* per connection: request line + headers + read buffer */
#define SERVER_MAX_CONNS    32
#define SERVER_IDLE_TIMEOUT 60 /* seconds without a byte before a connection is closed */
#define SERVER_BACKLOG      32

struct api_server {
    struct api *api;
    struct MHD_Daemon *daemon;
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* One request being received on a connection. */
struct request {
    char *buf;
    size_t len, cap;
    bool too_big;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("api: http: %s", line);
}

/* Queue STATUS with BODY (may be NULL: no body). */
static enum MHD_Result send_reply(struct MHD_Connection *c, int status, const char *body)
{
    size_t len = body ? strlen(body) : 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (body)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Refuse a request before its body is read (the connection closes after the reply). */
static enum MHD_Result refuse(struct api *api, struct MHD_Connection *c, int status,
                              const char *fmt, ...)
{
    char msg[API_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s}", "fault_message", msg);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    pthread_mutex_lock(&api->lock);
    api_stats_record(api, -1, status, 0);
    pthread_mutex_unlock(&api->lock);
    enum MHD_Result rc = send_reply(c, status, body);
    free(body);
    return rc;
}

/* First call for a request: headers are in. Checks framing and size before any body byte. */
static enum MHD_Result request_begin(struct api *api, struct MHD_Connection *c, void **cls)
{
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (te && strcasecmp(te, "identity"))
        return refuse(api, c, 400,
                      "Transfer-Encoding '%s' is not supported: send the body "
                      "with a Content-Length",
                      te);
    uint64_t len = 0;
    if (cl && parse_uint(cl, 0, UINT64_MAX, &len) < 0)
        return refuse(api, c, 400, "invalid Content-Length '%s'", cl);
    if (len > api->max_payload)
        return refuse(api, c, 413, "request body of %llu bytes exceeds the limit of %zu bytes",
                      (unsigned long long)len, api->max_payload);
    struct request *rq = calloc(1, sizeof(*rq));
    if (!rq || (len && !(rq->buf = malloc(len)))) {
        free(rq);
        return refuse(api, c, 500, "out of memory");
    }
    rq->cap = len;
    *cls = rq;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **req_cls)
{
    struct api *api = cls;
    struct request *rq = *req_cls;
    if (!rq)
        return request_begin(api, c, req_cls);
    if (*size) {
        /* MHD enforces Content-Length; the check only guards our buffer. */
        if (*size > rq->cap - rq->len)
            rq->too_big = true;
        else
            memcpy(rq->buf + rq->len, data, *size);
        rq->len += rq->too_big ? 0 : *size;
        *size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return refuse(api, c, 413, "request body exceeds its Content-Length");
    struct api_reply reply;
    api_handle(api, method, url, rq->buf, rq->len, &reply);
    enum MHD_Result rc = send_reply(c, reply.status, reply.body);
    api_reply_free(&reply);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct request *rq = *req_cls;
    if (rq)
        free(rq->buf);
    free(rq);
    *req_cls = NULL;
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
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER,
                                 mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, s->fd,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_MEMORY_LIMIT,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVER_MAX_CONNS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_IDLE_TIMEOUT,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "--api-sock: cannot start the HTTP server on %s", path);
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
    MHD_stop_daemon(s->daemon); /* joins the server thread, closes connections and s->fd */
    unlink(s->path);
    free(s);
}
