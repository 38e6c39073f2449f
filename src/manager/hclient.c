/* hclient.c — the manager's HTTP client: drives truce's API socket, and trucectl drives truced. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "manager/hclient.h"

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int connect_tcp(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host))
        return -EINVAL;
    memcpy(host, hostport, colon - hostport);
    host[colon - hostport] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai))
        return -EHOSTUNREACH;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int e = -errno;
        close(fd);
        fd = e;
    } else if (fd < 0)
        fd = -errno;
    freeaddrinfo(ai);
    return fd;
}

int hc_send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= w;
    }
    return 0;
}

/* Read until EOF (the request said Connection: close). Returns the bytes or NULL with *ERR. */
static char *recv_all(int fd, size_t *len, int *err)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            *err = -ENOMEM;
            return NULL;
        }
        if (n + 1 >= cap) {
            if (cap >= HC_MAX_REPLY) {
                free(buf);
                *err = -EFBIG;
                return NULL;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
            continue;
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err = -errno;
            free(buf);
            return NULL;
        }
        if (r == 0)
            break;
        n += r;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int parse_reply(char *raw, size_t n, struct hc_reply *r)
{
    int status;
    if (sscanf(raw, "HTTP/1.%*d %3d", &status) != 1 || status < 100 || status > 599)
        return -EPROTO;
    char *body = strstr(raw, "\r\n\r\n");
    if (!body)
        return -EPROTO;
    body += 4;
    r->status = status;
    r->len = n - (body - raw);
    r->body = malloc(r->len + 1);
    if (!r->body)
        return -ENOMEM;
    memcpy(r->body, body, r->len);
    r->body[r->len] = 0;
    return 0;
}

int hc_connect(const char *addr)
{
    return strncmp(addr, "tcp:", 4) ? connect_unix(addr) : connect_tcp(addr + 4);
}

int hc_request(const char *addr, const char *method, const char *path, const char *body,
               const char *token, int timeout_ms, struct hc_reply *r)
{
    int fd = hc_connect(addr);
    if (fd < 0)
        return fd;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t blen = body ? strlen(body) : 0;
    char head[1024];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                      "Accept: application/json\r\n%s%s%sContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                      token ? "\r\n" : "", blen);
    int rc = hn >= (int)sizeof(head) ? -ENAMETOOLONG : hc_send_all(fd, head, hn);
    if (!rc && blen)
        rc = hc_send_all(fd, body, blen);
    size_t n = 0;
    char *raw = rc ? NULL : recv_all(fd, &n, &rc);
    close(fd);
    if (!raw)
        return rc;
    rc = parse_reply(raw, n, r);
    free(raw);
    return rc;
}
