/* migrate.c — stop-and-copy migration of a VM over a UNIX or TCP socket: the snapshot state and
 * the non-zero pages of RAM go to a destination truce, which checks everything and answers. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
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
#include "machine/migrate_int.h"
#include "machine/snapshot.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define PAGE 4096u

static uint32_t crc(const void *p, size_t len)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

static uint64_t ms_now(void)
{
    return now_ns() / 1000000;
}

/* A downtime timeline, logged at debug level as one line: each step's microseconds after T0
 * (itself CLOCK_MONOTONIC in µs, so that the source's and a destination's lines on one host line
 * up). Below debug level it stays empty (T0 0): the switch formats nothing it would not print. */
struct timeline {
    uint64_t t0;
    size_t n;
    char line[512];
};

static void tl_begin(struct timeline *tl, const char *what)
{
    if (!log_enabled(LOG_LVL_DEBUG))
        return;
    tl->t0 = now_ns();
    tl->n = (size_t)snprintf(tl->line, sizeof(tl->line), "migration timeline: %s at %llu us:", what,
                             (unsigned long long)(tl->t0 / 1000));
}

/* Add " NAME=µs since T0" (and VALUE, when not negative, as "/VALUE"). */
static void tl_mark(struct timeline *tl, const char *name, long long value)
{
    if (!tl->t0 || tl->n >= sizeof(tl->line))
        return;
    unsigned long long us = (now_ns() - tl->t0) / 1000;
    tl->n += (size_t)(value < 0 ? snprintf(tl->line + tl->n, sizeof(tl->line) - tl->n, " %s=%llu",
                                           name, us)
                                : snprintf(tl->line + tl->n, sizeof(tl->line) - tl->n,
                                           " %s=%llu/%lld", name, us, value));
}

static void tl_log(const struct timeline *tl)
{
    if (tl->t0)
        log_debug("%s", tl->line);
}

/* ---- source ---------------------------------------------------------------------------------- */

/* The destination's answer: 0, or -errno with its message in ERR. */
static int read_reply(int fd, struct mig_stats *st, char *err, size_t errlen)
{
    uint32_t hdr[2];
    char msg[MIG_REPLY_MAX + 1] = "";
    int rc = mig_recv_all(fd, hdr, sizeof(hdr), st);
    if (rc)
        return snprintf(err, errlen, "no answer from the destination: %s", strerror(-rc)), rc;
    if (hdr[1] > MIG_REPLY_MAX)
        return snprintf(err, errlen, "the destination's answer is malformed"), -EINVAL;
    if ((rc = mig_recv_all(fd, msg, hdr[1], st)))
        return snprintf(err, errlen, "no answer from the destination: %s", strerror(-rc)), rc;
    if (hdr[0])
        return snprintf(err, errlen, "the destination refused: %s", msg), -(int)hdr[0];
    return 0;
}

/* After a yes: the destination's word that the guest runs there. The VM is the destination's
 * whatever comes: a missing word is only logged. */
static void read_resumed(int fd, struct mig_stats *st)
{
    uint32_t status = 0;
    int rc = mig_wait_ready(fd, POLLIN, MIG_DRAIN_MS);
    if (!rc)
        rc = mig_recv_all(fd, &status, sizeof(status), st);
    if (rc || status)
        log_warn("migration: the destination did not confirm that the guest runs there: %s",
                 strerror(rc ? -rc : (int)status));
}

/* One outgoing migration. */
struct source {
    struct vm *vm;
    int fd;
    struct mig_stats *st;
    uint64_t *bits;     /* pages dirtied and not sent yet */
    uint64_t downtime;  /* the target, ms */
    struct timeline tl; /* from the pause */
    struct mig_batch *batch;
};

/* A checksummed blob: length, CRC32, bytes. */
static int send_blob(struct source *s, const void *buf, uint64_t len)
{
    struct mig_blob b = {.len = len, .crc32 = crc(buf, len)};
    int rc = mig_send_all(s->fd, &b, sizeof(b), s->st);
    return rc ? rc : mig_send_all(s->fd, buf, len, s->st);
}

/* The hello and the configuration (the destination builds the VM from it before RAM comes). */
static int send_hello(struct source *s)
{
    struct state_visitor v;
    struct vm_config cfg = s->vm->cfg;
    state_save_init(&v);
    config_state_visit(&v, &cfg);
    int rc = state_finish(&v) ? -EINVAL : 0;
    struct mig_hello h = {.version = MIG_VERSION, .ram_size = s->vm->mem.ram_size};
    memcpy(h.magic, MIG_MAGIC, sizeof(h.magic));
    h.hello_crc32 = crc(&h, offsetof(struct mig_hello, hello_crc32));
    if (!rc)
        rc = mig_send_all(s->fd, &h, sizeof(h), s->st);
    if (!rc)
        rc = send_blob(s, v.buf, v.len);
    state_free(&v);
    return rc;
}

/* The pages set in S->bits, then a clean bitmap. */
static int send_dirty(struct source *s)
{
    int rc = snap_dirty_runs(&s->vm->mem, s->bits, (uint64_t)MIG_MAX_RUN * PAGE, mig_batch_add,
                             s->batch);
    if (!rc)
        rc = mig_batch_flush(s->batch);
    memset(s->bits, 0, DIRTY_WORDS(&s->vm->mem) * sizeof(*s->bits));
    return rc;
}

/* Every non-zero page of RAM. */
static int send_ram(struct source *s)
{
    int rc = snap_mem_runs(&s->vm->mem, (uint64_t)MIG_MAX_RUN * PAGE, mig_batch_add, s->batch);
    return rc ? rc : mig_batch_flush(s->batch);
}

/* RAM while the guest runs: every non-zero page, then round after round what it dirtied
 * meanwhile. The rounds go on while each leaves less than half the one before (what is left
 * then converges on what the guest dirties during a round's fixed costs: every page of the
 * final round costs downtime) and stop once they no longer shrink and what is left would go
 * within the downtime target at the rate measured over the whole pre-copy, or after
 * MIG_MAX_ROUNDS whatever the guest does. What is left stays in S->bits for the final round. */
static int precopy(struct source *s)
{
    uint64_t t0 = now_ns(), b0 = s->st->bytes, prev = UINT64_MAX;
    long n = vm_dirty_harvest(s->vm, s->bits); /* the interval starts now: drop the old set */
    memset(s->bits, 0, DIRTY_WORDS(&s->vm->mem) * sizeof(*s->bits));
    int rc = n < 0 ? (int)n : send_ram(s);
    for (s->st->rounds = 1; !rc; s->st->rounds++) {
        /* bytes per ms, from every byte so far: a small round only fills the socket's buffer */
        uint64_t rate = (s->st->bytes - b0) * 1000000 / MAX(now_ns() - t0, 1);
        if ((n = vm_dirty_harvest(s->vm, s->bits)) < 0)
            return (int)n;
        s->st->last_dirty = (uint64_t)n;
        uint64_t us = rate ? (uint64_t)n * PAGE * 1000 / rate : UINT64_MAX; /* to send the rest */
        bool fits = us <= s->downtime * 1000, shrinking = n > 0 && (uint64_t)n < prev / 2;
        log_debug("migration: round %llu: %ld pages dirtied, %llu us to send at %llu KiB/ms",
                  (unsigned long long)s->st->rounds, n, (unsigned long long)us,
                  (unsigned long long)(rate >> 10));
        if ((fits && !shrinking) || s->st->rounds >= MIG_MAX_ROUNDS)
            return 0;
        prev = (uint64_t)n;
        rc = send_dirty(s);
    }
    return rc;
}

/* Pause the guest (the downtime starts), send what is still dirty and the end of memory, then
 * save and send the whole state (the destination takes in the pages meanwhile). A VM that was
 * not running sends all its RAM here. */
static int stop_and_copy(struct source *s, bool running, char *err, size_t errlen)
{
    struct state_visitor v = {0};
    s->st->paused_at = now_ns();
    tl_begin(&s->tl, "source pause");
    if (running && vm_pause(s->vm) < 0)
        return snprintf(err, errlen, "the VM is stopping"), -EINVAL;
    tl_mark(&s->tl, "paused", -1);
    long n = running ? vm_dirty_harvest(s->vm, s->bits) : 0;
    tl_mark(&s->tl, "dirty-log", n);
    struct mig_run end = {0};
    uint64_t pages = s->st->pages;
    int rc = n < 0 ? (int)n : running ? send_dirty(s) : send_ram(s);
    if (!rc)
        rc = mig_send_all(s->fd, &end, sizeof(end), s->st);
    tl_mark(&s->tl, "pages-sent", (long long)(s->st->pages - pages));
    if (rc)
        return snprintf(err, errlen, "sending: %s", strerror(-rc)), rc;
    if ((rc = snapshot_state(s->vm, &v, err, errlen)))
        return rc;
    tl_mark(&s->tl, "state-saved", (long long)v.len);
    rc = send_blob(s, v.buf, v.len);
    tl_mark(&s->tl, "state-sent", -1);
    state_free(&v);
    if (rc)
        snprintf(err, errlen, "sending: %s", strerror(-rc));
    return rc;
}

/* The whole stream to S->fd. */
static int send_stream(struct source *s, bool running, char *err, size_t errlen)
{
    int rc = send_hello(s);
    if (!rc && running)
        rc = precopy(s);
    if (rc)
        return snprintf(err, errlen, "sending: %s", strerror(-rc)), rc;
    return stop_and_copy(s, running, err, errlen);
}

/* Dirty tracking for the migration: on (when it was not) with a bitmap for S. */
static int track_start(struct source *s, bool *started, char *err, size_t errlen)
{
    *started = false;
    s->bits = calloc(DIRTY_WORDS(&s->vm->mem), sizeof(*s->bits));
    if (!s->bits)
        return -ENOMEM;
    if (vm_dirty_tracking(s->vm))
        return 0;
    int rc = vm_dirty_start(s->vm);
    if (rc)
        return snprintf(err, errlen, "dirty page tracking: %s", strerror(-rc)), rc;
    *started = true;
    return 0;
}

/* After a failed migration: tracking as it was; a Diff interval that was running counts every
 * page as written (the migration consumed its record). */
static void track_end(struct source *s, bool started)
{
    if (started) {
        vm_dirty_stop(s->vm);
    } else if (vm_dirty_tracking(s->vm)) {
        memset(s->bits, 0xff, DIRTY_WORDS(&s->vm->mem) * sizeof(*s->bits));
        vm_dirty_put_back(s->vm, s->bits);
    }
}

int migrate_send(struct vm *vm, const char *url, uint64_t max_downtime_ms, struct mig_stats *st,
                 char *err, size_t errlen)
{
    uint64_t t0 = ms_now();
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&vm->lock);
    bool running = vm->state == VM_RUNNING, paused = vm->state == VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    if (!running && !paused)
        return snprintf(err, errlen, "the VM is not running"), -EINVAL;
    struct source s = {.vm = vm, .fd = -1, .st = st, .downtime = max_downtime_ms};
    bool started = false;
    int rc = track_start(&s, &started, err, errlen);
    if (!rc && (s.fd = migrate_connect(url, err, errlen)) < 0)
        rc = s.fd;
    if (!rc && (s.batch = malloc(sizeof(*s.batch))))
        mig_batch_init(s.batch, s.fd, st);
    else if (!rc)
        rc = -ENOMEM, snprintf(err, errlen, "no memory for the page batches");
    bool released = !rc;
    if (released)
        migrate_release_locks(vm);
    if (!rc && (rc = send_stream(&s, running, err, errlen))) {
        /* the destination may have stopped reading to refuse: its answer says why */
        char why[MIG_REPLY_MAX + 64];
        if (read_reply(s.fd, st, why, sizeof(why)) < 0 && strstr(why, "refused"))
            snprintf(err, errlen, "%s", why);
    } else if (!rc) {
        rc = read_reply(s.fd, st, err, errlen);
        tl_mark(&s.tl, rc ? "refused" : "answer", -1);
    }
    uint64_t now = now_ns(); /* the downtime ends at the answer */
    st->total_ms = now / 1000000 - t0;
    st->downtime_us = st->paused_at ? (now - st->paused_at) / 1000 : 0;
    st->downtime_ms = (st->downtime_us + 500) / 1000;
    if (!rc) {
        /* this process keeps quiet (it ends next) until the guest runs there: on one host its
         * teardown would take the CPU from the destination's resume */
        read_resumed(s.fd, st);
        tl_mark(&s.tl, "resumed", -1);
    }
    tl_log(&s.tl);
    if (s.fd >= 0)
        close(s.fd);
    if (rc && s.bits)
        track_end(&s, started);
    free(s.bits);
    free(s.batch);
    if (rc && running)
        vm_resume(vm); /* nothing happened, as far as the guest can tell */
    char lerr[200];
    if (rc && released && migrate_retake_locks(vm, lerr, sizeof(lerr)))
        log_warn("after the failed migration, a disk image stays unlocked: %s", lerr);
    return rc;
}

/* ---- destination ------------------------------------------------------------------------------
 */

/* RAM from the stream into VM, up to the end marker (TL begins there). */
static int recv_memory(struct mig_reader *in, struct vm *vm, struct timeline *tl, char *err,
                       size_t errlen)
{
    for (;;) {
        struct mig_run r;
        int rc = mig_read(in, &r, sizeof(r));
        if (rc)
            return snprintf(err, errlen, "memory stream: %s", strerror(-rc)), -EINVAL;
        if (!r.npages)
            return tl_begin(tl, "destination end of memory"), 0;
        uint64_t len = (uint64_t)r.npages * PAGE;
        if (r.npages > MIG_MAX_RUN || r.offset % PAGE || r.offset > vm->mem.ram_size ||
            len > vm->mem.ram_size - r.offset)
            return snprintf(err, errlen, "memory stream: a page run outside RAM"), -EINVAL;
        if ((rc = mig_read(in, (uint8_t *)vm->mem.base + r.offset, len)))
            return snprintf(err, errlen, "memory stream: %s", strerror(-rc)), -EINVAL;
        in->st->pages += r.npages;
    }
}

/* A checksummed blob of at most SNAP_MAX_PAYLOAD bytes into a malloc'd *BUF. */
static int recv_blob(struct mig_reader *in, const char *what, uint8_t **buf, uint64_t *len,
                     char *err, size_t errlen)
{
    struct mig_blob b;
    int rc = mig_read(in, &b, sizeof(b));
    if (rc)
        return snprintf(err, errlen, "migration %s: %s", what, strerror(-rc)), -EINVAL;
    if (b.len > SNAP_MAX_PAYLOAD)
        return snprintf(err, errlen, "migration %s of %llu bytes is too large", what,
                        (unsigned long long)b.len),
               -EINVAL;
    if (!(*buf = malloc(b.len ? b.len : 1)))
        return -ENOMEM;
    if ((rc = mig_read(in, *buf, b.len)))
        return snprintf(err, errlen, "migration %s: %s", what, strerror(-rc)), -EINVAL;
    if (crc(*buf, b.len) != b.crc32)
        return snprintf(err, errlen, "migration %s checksum mismatch", what), -EINVAL;
    *len = b.len;
    return 0;
}

/* Read and check the hello and the configuration into CFG. */
static int recv_hello(struct mig_reader *in, struct vm_config *cfg, char *err, size_t errlen)
{
    struct mig_hello h;
    uint8_t *blob = NULL;
    uint64_t len = 0;
    int rc = mig_read(in, &h, sizeof(h));
    if (rc)
        return snprintf(err, errlen, "no migration stream: %s", strerror(-rc)), -EINVAL;
    if (memcmp(h.magic, MIG_MAGIC, sizeof(h.magic)) ||
        h.hello_crc32 != crc(&h, offsetof(struct mig_hello, hello_crc32)))
        return snprintf(err, errlen, "not a truce migration stream"), -EINVAL;
    if (h.version != MIG_VERSION || h.flags || h.reserved[0] || h.reserved[1])
        return snprintf(err, errlen, "migration stream version %u, this truce takes %u", h.version,
                        MIG_VERSION),
               -EINVAL;
    if ((rc = recv_blob(in, "configuration", &blob, &len, err, errlen)) == 0) {
        struct state_visitor v;
        config_defaults(cfg);
        state_load_init(&v, blob, len);
        config_state_visit(&v, cfg);
        if (state_finish(&v))
            rc = err_inval(err, errlen, "migration configuration: %s", v.msg);
        else if (cfg->mem_bytes != h.ram_size)
            rc = err_inval(err, errlen, "the stream's RAM is %llu bytes, its machine's %llu",
                           (unsigned long long)h.ram_size, (unsigned long long)cfg->mem_bytes);
    }
    free(blob);
    return rc;
}

/* The final state: checked whole (snapshot_parse), then set from what the check read. The
 * guest's clock runs on through the downtime: kvmclock advances by the wall-clock time since the
 * source read it (the hosts' clocks are taken to be in step, as NTP keeps them; a destination
 * behind adds nothing). */
static int recv_state(struct mig_reader *in, struct vm *vm, struct timeline *tl, char *err,
                      size_t errlen)
{
    uint8_t *payload = NULL;
    uint64_t len = 0;
    struct snap_parsed parsed = {0};
    struct vm_config *saved = malloc(sizeof(*saved));
    int rc = saved ? recv_blob(in, "state", &payload, &len, err, errlen) : -ENOMEM;
    tl_mark(tl, "state-received", (long long)len);
    if (!rc)
        rc = snapshot_parse(payload, len, saved, &parsed, err, errlen);
    if (!rc && (saved->mem_bytes != vm->cfg.mem_bytes || saved->cpus != vm->cfg.cpus))
        rc = err_inval(err, errlen, "the final state is of another machine");
    tl_mark(tl, "checked", -1);
    if (!rc)
        rc = snapshot_load_parsed(vm, &parsed, true, err, errlen);
    vm_mark(vm, VM_MARK_STATE);
    tl_mark(tl, "state-set", -1);
    snapshot_parsed_free(&parsed);
    free(saved);
    free(payload);
    return rc;
}

/* Answer the source. After a refusal, read (and drop) what it still sends for up to
 * MIG_DRAIN_MS: closing a socket with unread data would reset it and lose the answer. */
static void send_reply(int fd, int rc, const char *msg, struct mig_stats *st)
{
    uint32_t hdr[2] = {(uint32_t)-rc, (uint32_t)MIN(strlen(msg), (size_t)MIG_REPLY_MAX)};
    if (!mig_send_all(fd, hdr, sizeof(hdr), st))
        mig_send_all(fd, msg, hdr[1], st);
    if (!rc)
        return;
    shutdown(fd, SHUT_WR);
    char sink[65536];
    for (uint64_t t0 = ms_now(); ms_now() - t0 < MIG_DRAIN_MS;)
        if (mig_wait_ready(fd, POLLIN, 200) || recv(fd, sink, sizeof(sink), MSG_DONTWAIT) == 0)
            break;
}

/* Build VM from the hello and configuration on FD, then start it paused (D->start) while RAM
 * comes. Returns 0 or <0 with ERR. */
static int recv_build(struct mig_reader *in, struct vm *vm, struct kvm_host *kvm,
                      const struct mig_dest *d, struct vm_config *cfg, char *err, size_t errlen)
{
    int rc = recv_hello(in, cfg, err, errlen);
    if (!rc)
        rc = snapshot_build(vm, kvm, cfg, NULL, d->ov, err, errlen);
    if (!rc && d->start && (rc = d->start(vm, d->start_arg)) < 0)
        snprintf(err, errlen, "cannot start the VM threads: %s", strerror(-rc));
    return rc;
}

int migrate_receive(struct vm *vm, struct kvm_host *kvm, const struct mig_dest *d,
                    struct mig_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    machine_clear(vm);
    int w = mig_wait_ready(d->lfd, POLLIN, d->wait_ms);
    if (w)
        return snprintf(err, errlen, "no migration source connected within %d s%s%s",
                        d->wait_ms / 1000, w == -ETIMEDOUT ? "" : ": ",
                        w == -ETIMEDOUT ? "" : strerror(-w)),
               w;
    int fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return snprintf(err, errlen, "accepting the source: %s", strerror(errno)), -errno;
    uint64_t t0 = ms_now();
    struct timeline tl = {0};
    struct vm_config *cfg = malloc(sizeof(*cfg));
    struct mig_reader *in = malloc(sizeof(*in));
    if (in)
        mig_reader_init(in, fd, st);
    int rc = cfg && in ? recv_build(in, vm, kvm, d, cfg, err, errlen) : -ENOMEM;
    if (!rc)
        rc = recv_memory(in, vm, &tl, err, errlen);
    if (!rc)
        rc = recv_state(in, vm, &tl, err, errlen);
    free(in);
    send_reply(fd, rc, rc ? err : "", st);
    tl_mark(&tl, rc ? "refused" : "answer", -1);
    bool yes = !rc;
    if (yes && d->start && vm_resume(vm) < 0)
        rc = err_inval(err, errlen, "the VM stopped before it could resume");
    tl_mark(&tl, "resumed", -1);
    uint32_t resumed = rc ? EIO : 0;
    if (yes)
        mig_send_all(fd, &resumed, sizeof(resumed), st);
    tl_log(&tl);
    close(fd);
    free(cfg);
    st->total_ms = ms_now() - t0;
    return rc;
}
