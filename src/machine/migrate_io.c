/* migrate_io.c — the migration stream's sockets: connecting and listening by URL, page runs sent
 * in batches, buffered reads at the destination. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "machine/migrate_int.h"
#include "util/util.h"

/* ---- sockets ------------------------------------------------------------------------------- */

/* Parse URL into a UNIX address or a resolved TCP address list. */
static int resolve(const char *url, struct sockaddr_un *un, struct addrinfo **ai, bool listen,
                   char *err, size_t errlen)
{
    *ai = NULL;
    if (!strncmp(url, "unix:", 5)) {
        memset(un, 0, sizeof(*un));
        un->sun_family = AF_UNIX;
        if (!url[5] || strlen(url + 5) >= sizeof(un->sun_path))
            return snprintf(err, errlen, "%s: UNIX socket path empty or too long", url), -EINVAL;
        strcpy(un->sun_path, url + 5);
        return 0;
    }
    const char *host = url + 4, *colon = strrchr(url, ':');
    if (strncmp(url, "tcp:", 4) || colon <= host || !colon[1])
        return snprintf(err, errlen, "%s: not unix:PATH or tcp:HOST:PORT", url), -EINVAL;
    char h[256];
    snprintf(h, sizeof(h), "%.*s", (int)(colon - host), host);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = listen ? AI_PASSIVE : 0};
    int rc = getaddrinfo(h, colon + 1, &hints, ai);
    if (rc)
        return snprintf(err, errlen, "%s: %s", url, gai_strerror(rc)), -EINVAL;
    return 0;
}

/* poll, so that no socket option is needed: the API thread's seccomp list has none */
int mig_wait_ready(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return n < 0 ? -errno : n == 0 ? -ETIMEDOUT : 0;
}

/* Connect (or bind + listen) to URL. Returns the socket or -errno with ERR. */
static int open_url(const char *url, bool listening, char *err, size_t errlen)
{
    struct sockaddr_un un;
    struct addrinfo *ai;
    int rc = resolve(url, &un, &ai, listening, err, errlen);
    if (rc)
        return rc;
    const struct sockaddr *sa = ai ? ai->ai_addr : (struct sockaddr *)&un;
    socklen_t salen = ai ? ai->ai_addrlen : sizeof(un);
    int fd = socket(ai ? ai->ai_family : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0 && listening && ai)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 ||
        (listening ? bind(fd, sa, salen) < 0 || listen(fd, 1) < 0 : connect(fd, sa, salen) < 0)) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot %s: %s", url, listening ? "listen" : "connect",
                 strerror(-rc));
        if (fd >= 0)
            close(fd);
        fd = rc;
    }
    if (ai)
        freeaddrinfo(ai);
    return fd;
}

int migrate_connect(const char *url, char *err, size_t errlen)
{
    return open_url(url, false, err, errlen);
}

int migrate_listen(const char *url, char *err, size_t errlen)
{
    struct stat sb;
    if (!strncmp(url, "unix:", 5) && lstat(url + 5, &sb) == 0 && S_ISSOCK(sb.st_mode))
        unlink(url + 5); /* a stale socket of an earlier listener (never any other file) */
    return open_url(url, true, err, errlen);
}

/* ---- moving bytes ------------------------------------------------------------------------- */

/* Send the N iovecs at IOV whole (they are consumed as they go). */
static int send_iov(int fd, struct iovec *iov, size_t n, struct mig_stats *st)
{
    while (n) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
        ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN) {
            int rc = mig_wait_ready(fd, POLLOUT, MIG_IO_TIMEOUT * 1000);
            if (rc)
                return rc;
            continue;
        }
        if (k <= 0)
            return k < 0 ? -errno : -EPIPE;
        st->bytes += (uint64_t)k;
        for (; n && (size_t)k >= iov->iov_len; iov++, n--)
            k -= (ssize_t)iov->iov_len;
        if (n) {
            iov->iov_base = (uint8_t *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

int mig_send_all(int fd, const void *buf, size_t len, struct mig_stats *st)
{
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    return len ? send_iov(fd, &v, 1, st) : 0;
}

/* At most LEN bytes into BUF, at least one: what the socket holds, or the first to come. */
static ssize_t recv_some(int fd, void *buf, size_t len, struct mig_stats *st)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n > 0) {
            st->bytes += (uint64_t)n;
            return n;
        }
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int rc = mig_wait_ready(fd, POLLIN, MIG_IO_TIMEOUT * 1000);
        if (rc)
            return rc;
    }
}

int mig_recv_all(int fd, void *buf, size_t len, struct mig_stats *st)
{
    for (uint8_t *p = buf; len;) {
        ssize_t n = recv_some(fd, p, len, st);
        if (n < 0)
            return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- batches of page runs, out -------------------------------------------------------------- */

void mig_batch_init(struct mig_batch *b, int fd, struct mig_stats *st)
{
    b->fd = fd;
    b->st = st;
    b->nruns = b->bytes = 0;
}

int mig_batch_flush(struct mig_batch *b)
{
    int rc = b->nruns ? send_iov(b->fd, b->iov, 2 * b->nruns, b->st) : 0;
    b->nruns = b->bytes = 0;
    return rc;
}

int mig_batch_add(void *arg, uint64_t off, const uint8_t *p, uint64_t len)
{
    struct mig_batch *b = arg;
    struct mig_run *r = &b->hdr[b->nruns];
    *r = (struct mig_run){.offset = off, .npages = (uint32_t)(len / 4096)};
    b->iov[2 * b->nruns] = (struct iovec){.iov_base = r, .iov_len = sizeof(*r)};
    b->iov[2 * b->nruns + 1] = (struct iovec){.iov_base = (void *)p, .iov_len = len};
    b->nruns++;
    b->bytes += sizeof(*r) + len;
    b->st->pages += r->npages;
    if (b->nruns < MIG_BATCH_RUNS && b->bytes < MIG_BATCH_BYTES)
        return 0;
    return mig_batch_flush(b);
}

/* ---- buffered reads, in -----------------------------------------------------------------------
 */

void mig_reader_init(struct mig_reader *r, int fd, struct mig_stats *st)
{
    r->fd = fd;
    r->st = st;
    r->pos = r->len = 0;
}

int mig_read(struct mig_reader *r, void *dst, size_t len)
{
    uint8_t *p = dst;
    for (;;) {
        size_t k = MIN(len, r->len - r->pos);
        memcpy(p, r->buf + r->pos, k);
        r->pos += k;
        p += k;
        len -= k;
        if (!len)
            return 0;
        if (len >= sizeof(r->buf))
            return mig_recv_all(r->fd, p, len, r->st);
        ssize_t n = recv_some(r->fd, r->buf, sizeof(r->buf), r->st);
        if (n < 0)
            return (int)n;
        r->pos = 0;
        r->len = (size_t)n;
    }
}
