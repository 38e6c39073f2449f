/* migrate.c — stop-and-copy migration of a VM over a UNIX or TCP socket: the snapshot state and
 * the non-zero pages of RAM go to a destination truce, which checks everything and answers. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "machine/machine.h"
#include "machine/migrate.h"
#include "machine/snapshot.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define PAGE 4096u

static uint32_t crc(const void *p, size_t len)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

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

/* Wait until FD is ready for EVENTS, at most MS milliseconds (poll, so that no socket option
 * is needed: the API thread's seccomp list has none). Returns 0 or -ETIMEDOUT / -errno. */
static int wait_ready(int fd, short events, int ms)
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

static int send_all(int fd, const void *buf, size_t len, struct mig_stats *st)
{
    for (const uint8_t *p = buf; len;) {
        int rc = wait_ready(fd, POLLOUT, MIG_IO_TIMEOUT * 1000);
        if (rc)
            return rc;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EPIPE;
        p += n;
        len -= (size_t)n;
        st->bytes += (uint64_t)n;
    }
    return 0;
}

static int recv_all(int fd, void *buf, size_t len, struct mig_stats *st)
{
    for (uint8_t *p = buf; len;) {
        int rc = wait_ready(fd, POLLIN, MIG_IO_TIMEOUT * 1000);
        if (rc)
            return rc;
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ECONNRESET;
        p += n;
        len -= (size_t)n;
        st->bytes += (uint64_t)n;
    }
    return 0;
}

static uint64_t ms_now(void)
{
    return now_ns() / 1000000;
}

/* ---- source ---------------------------------------------------------------------------------- */

struct send_ctx {
    int fd;
    struct mig_stats *st;
};

/* snap_mem_runs callback: one page run, header then data. */
static int send_run(void *arg, uint64_t off, const uint8_t *p, uint64_t len)
{
    struct send_ctx *c = arg;
    struct mig_run r = {.offset = off, .npages = (uint32_t)(len / PAGE)};
    int rc = send_all(c->fd, &r, sizeof(r), c->st);
    if (!rc)
        rc = send_all(c->fd, p, len, c->st);
    c->st->pages += r.npages;
    return rc;
}

/* Every run of non-zero pages of RAM, then the end marker. */
static int send_memory(int fd, const struct guest_mem *m, struct mig_stats *st)
{
    struct send_ctx c = {fd, st};
    int rc = snap_mem_runs(m, (uint64_t)MIG_MAX_RUN * PAGE, send_run, &c);
    struct mig_run last = {0};
    return rc ? rc : send_all(fd, &last, sizeof(last), st);
}

/* The destination's answer: 0, or -errno with its message in ERR. */
static int read_reply(int fd, struct mig_stats *st, char *err, size_t errlen)
{
    uint32_t hdr[2];
    char msg[MIG_REPLY_MAX + 1] = "";
    int rc = recv_all(fd, hdr, sizeof(hdr), st);
    if (rc)
        return snprintf(err, errlen, "no answer from the destination: %s", strerror(-rc)), rc;
    if (hdr[1] > MIG_REPLY_MAX)
        return snprintf(err, errlen, "the destination's answer is malformed"), -EINVAL;
    if ((rc = recv_all(fd, msg, hdr[1], st)))
        return snprintf(err, errlen, "no answer from the destination: %s", strerror(-rc)), rc;
    if (hdr[0])
        return snprintf(err, errlen, "the destination refused: %s", msg), -(int)hdr[0];
    return 0;
}

int migrate_send(struct vm *vm, const char *url, struct mig_stats *st, char *err, size_t errlen)
{
    uint64_t t0 = ms_now();
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&vm->lock);
    bool was_running = vm->state == VM_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    if (was_running && vm_pause(vm) < 0)
        return snprintf(err, errlen, "the VM is stopping"), -EINVAL;
    struct state_visitor v = {0};
    int fd = -1, rc = snapshot_state(vm, &v, err, errlen);
    if (!rc && (fd = migrate_connect(url, err, errlen)) < 0)
        rc = fd;
    if (!rc) {
        struct mig_hello h = {.version = MIG_VERSION,
                              .ram_size = vm->mem.ram_size,
                              .state_len = v.len,
                              .state_crc32 = crc(v.buf, v.len)};
        memcpy(h.magic, MIG_MAGIC, sizeof(h.magic));
        h.hello_crc32 = crc(&h, offsetof(struct mig_hello, hello_crc32));
        if ((rc = send_all(fd, &h, sizeof(h), st)) || (rc = send_all(fd, v.buf, v.len, st)) ||
            (rc = send_memory(fd, &vm->mem, st))) {
            /* the destination may have stopped reading to refuse: its answer says why */
            snprintf(err, errlen, "sending to %s: %s", url, strerror(-rc));
            char why[MIG_REPLY_MAX + 64];
            if (read_reply(fd, st, why, sizeof(why)) < 0 && strstr(why, "refused"))
                snprintf(err, errlen, "%s", why);
        } else {
            rc = read_reply(fd, st, err, errlen);
        }
    }
    if (fd >= 0)
        close(fd);
    state_free(&v);
    st->total_ms = ms_now() - t0;
    if (rc && was_running)
        vm_resume(vm); /* nothing happened, as far as the guest can tell */
    return rc;
}

/* ---- destination ------------------------------------------------------------------------------
 */

struct recv_ctx {
    int fd;
    uint64_t ram_size;
    struct mig_stats *st;
};

/* FILL callback of snapshot_restore_payload: RAM from the stream into the new VM. */
static int recv_memory(struct vm *vm, void *arg, char *err, size_t errlen)
{
    struct recv_ctx *c = arg;
    if (vm->mem.ram_size != c->ram_size)
        return snprintf(err, errlen, "the stream's RAM is %llu bytes, its machine's %llu",
                        (unsigned long long)c->ram_size, (unsigned long long)vm->mem.ram_size),
               -EINVAL;
    for (;;) {
        struct mig_run r;
        int rc = recv_all(c->fd, &r, sizeof(r), c->st);
        if (rc)
            return snprintf(err, errlen, "memory stream: %s", strerror(-rc)), -EINVAL;
        if (!r.npages)
            return 0;
        uint64_t len = (uint64_t)r.npages * PAGE;
        if (r.npages > MIG_MAX_RUN || r.offset % PAGE || r.offset > vm->mem.ram_size ||
            len > vm->mem.ram_size - r.offset)
            return snprintf(err, errlen, "memory stream: a page run outside RAM"), -EINVAL;
        if ((rc = recv_all(c->fd, (uint8_t *)vm->mem.base + r.offset, len, c->st)))
            return snprintf(err, errlen, "memory stream: %s", strerror(-rc)), -EINVAL;
        c->st->pages += r.npages;
    }
}

/* Read and check the hello and the state payload (malloc'd into *PAYLOAD). */
static int recv_state(int fd, struct mig_hello *h, uint8_t **payload, struct mig_stats *st,
                      char *err, size_t errlen)
{
    int rc = recv_all(fd, h, sizeof(*h), st);
    if (rc)
        return snprintf(err, errlen, "no migration stream: %s", strerror(-rc)), -EINVAL;
    if (memcmp(h->magic, MIG_MAGIC, sizeof(h->magic)) ||
        h->hello_crc32 != crc(h, offsetof(struct mig_hello, hello_crc32)))
        return snprintf(err, errlen, "not a truce migration stream"), -EINVAL;
    if (h->version != MIG_VERSION || h->flags)
        return snprintf(err, errlen, "migration stream version %u, this truce takes %u", h->version,
                        MIG_VERSION),
               -EINVAL;
    if (h->state_len > SNAP_MAX_PAYLOAD)
        return snprintf(err, errlen, "migration state of %llu bytes is too large",
                        (unsigned long long)h->state_len),
               -EINVAL;
    if (!(*payload = malloc(h->state_len ? h->state_len : 1)))
        return -ENOMEM;
    if ((rc = recv_all(fd, *payload, h->state_len, st)))
        return snprintf(err, errlen, "migration state: %s", strerror(-rc)), -EINVAL;
    if (crc(*payload, h->state_len) != h->state_crc32)
        return snprintf(err, errlen, "migration state checksum mismatch"), -EINVAL;
    return 0;
}

/* Answer the source. After a refusal, read (and drop) what it still sends for up to
 * MIG_DRAIN_MS: closing a socket with unread data would reset it and lose the answer. */
static void send_reply(int fd, int rc, const char *msg, struct mig_stats *st)
{
    uint32_t hdr[2] = {(uint32_t)-rc, (uint32_t)MIN(strlen(msg), (size_t)MIG_REPLY_MAX)};
    if (!send_all(fd, hdr, sizeof(hdr), st))
        send_all(fd, msg, hdr[1], st);
    if (!rc)
        return;
    shutdown(fd, SHUT_WR);
    char sink[65536];
    for (uint64_t t0 = ms_now(); ms_now() - t0 < MIG_DRAIN_MS;)
        if (wait_ready(fd, POLLIN, 200) || recv(fd, sink, sizeof(sink), MSG_DONTWAIT) == 0)
            break;
}

int migrate_receive(struct vm *vm, struct kvm_host *kvm, int lfd,
                    const struct snapshot_overrides *ov, struct mig_stats *st, char *err,
                    size_t errlen)
{
    memset(st, 0, sizeof(*st));
    struct mmds *mmds = vm->mmds; /* the caller's store (vm.h) */
    memset(vm, 0, sizeof(*vm));
    vm->mmds = mmds;
    vm->fd = -1;
    vm->stop_pipe[0] = vm->stop_pipe[1] = -1;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return snprintf(err, errlen, "accepting the source: %s", strerror(errno)), -errno;
    uint64_t t0 = ms_now();
    struct mig_hello h;
    uint8_t *payload = NULL;
    int rc = recv_state(fd, &h, &payload, st, err, errlen);
    struct recv_ctx c = {.fd = fd, .ram_size = h.ram_size, .st = st};
    if (!rc)
        rc = snapshot_restore_payload(vm, kvm, payload, h.state_len, NULL, ov, recv_memory, &c, err,
                                      errlen);
    send_reply(fd, rc, rc ? err : "", st);
    close(fd);
    free(payload);
    st->total_ms = ms_now() - t0;
    return rc;
}
