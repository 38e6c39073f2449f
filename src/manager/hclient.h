/* hclient.h — a small HTTP/1.1 client over a UNIX socket or TCP, one request per connection. */
#ifndef TRUCE_MANAGER_HCLIENT_H
#define TRUCE_MANAGER_HCLIENT_H

#include <stddef.h>

#define HC_MAX_REPLY (4u << 20)

struct hc_reply {
    int status; /* the HTTP status, e.g. 204 */
    char *body; /* malloc'ed, NUL-terminated (maybe empty); the caller frees it */
    size_t len;
};

/* Send METHOD PATH with BODY (NULL: none) to ADDR: a UNIX socket path, or "tcp:HOST:PORT".
 * TOKEN (NULL: none) is sent as a bearer token. Waits at most TIMEOUT_MS for each read/write.
 * Returns 0 with R filled, or -errno (connect or I/O failure, -EPROTO for a malformed reply). */
int hc_request(const char *addr, const char *method, const char *path, const char *body,
               const char *token, int timeout_ms, struct hc_reply *r);

/* A connected stream socket to ADDR (as hc_request's), or -errno. */
int hc_connect(const char *addr);
/* Send all N bytes of P on socket FD (no SIGPIPE; EINTR retried). Returns 0 or -errno (-EIO
 * when the peer stops taking them). */
int hc_send_all(int fd, const void *p, size_t n);

#endif
