/* balloon.c — virtio-balloon: inflate/deflate, statistics, free page hinting and reporting. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dev/dev.h"
#include "virtio/balloon_int.h"
#include "vm/vm.h"

#define BALLOON_MAX_IOV BALLOON_QUEUE_SIZE /* a chain cannot be longer than its queue */
/* Chains per wake-up: each may cost up to 256 madvise calls (scattered PFNs, or a report of 256
 * segments), so a queue's worth at once could hold the I/O thread for a long time. */
#define BALLOON_BUDGET 32u
#define HUGE_SHIFT     21 /* 2 MiB */
#define PFNS_PER_HUGE  (1u << (HUGE_SHIFT - BALLOON_PFN_SHIFT))

/* Log a guest mistake at most a few times per device (a guest cannot flood the log). */
static void guest_error(struct virtio_balloon *b, const char *what)
{
    b->c.event_fails++;
    if (b->logs < 8) {
        b->logs++;
        log_warn("virtio-balloon: %s", what);
    }
}

/* Which queue index has which role: inflate, deflate, then the optional queues the driver
 * negotiated, in order and without gaps (what Linux's driver does; the same as the spec's fixed
 * numbering when the driver takes every feature offered, which Linux does). */
static void assign_queues(struct virtio_balloon *b)
{
    int next = 2;
    b->qi_stats = b->qi_hint = b->qi_report = -1;
    if (virtio_has_feature(&b->vdev, BALLOON_F_STATS_VQ))
        b->qi_stats = next++;
    if (virtio_has_feature(&b->vdev, BALLOON_F_FREE_PAGE_HINT))
        b->qi_hint = next++;
    if (virtio_has_feature(&b->vdev, BALLOON_F_REPORTING))
        b->qi_report = next++;
}

bool balloon_live(const struct virtio_balloon *b)
{
    uint8_t st = b->vdev.status;
    return (st & VIRTIO_CONFIG_S_DRIVER_OK) && !(st & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* ---- giving memory back --------------------------------------------------------------------- */

/* True when [P, P + LEN) is guest RAM, not device memory (a pmem file, which gpa_to_hva also
 * resolves): only RAM is ever given back. */
static bool in_ram(const struct virtio_balloon *b, const void *p, uint64_t len)
{
    const uint8_t *base = b->vdev.vm->mem.base, *q = p;
    size_t size = b->vdev.vm->mem.map_size;
    return q >= base && len <= size && (uint64_t)(q - base) <= size - len;
}

static void give_back(struct virtio_balloon *b, void *hva, uint64_t len, uint64_t *fails)
{
    if (!in_ram(b, hva, len)) { /* a buffer in device memory: not the guest's to give */
        if (fails)
            (*fails)++;
        guest_error(b, "free pages outside guest RAM (ignored)");
        return;
    }
    int64_t n = guest_mem_discard(&b->vdev.vm->mem, hva, len);
    if (n < 0) {
        if (fails)
            (*fails)++;
        guest_error(b, "madvise failed on guest RAM");
        return;
    }
    b->c.returned_bytes += (uint64_t)n;
}

/* Page index (4 KiB units from the start of the RAM mapping) of HVA. */
static uint64_t page_index(const struct virtio_balloon *b, const void *hva)
{
    return (uint64_t)((const uint8_t *)hva - (const uint8_t *)b->vdev.vm->mem.base) >>
           BALLOON_PFN_SHIFT;
}

/* Huge pages: mark page IDX inflated (or not); when its whole 2 MiB page is inflated, give that
 * page back. */
static void huge_mark(struct virtio_balloon *b, uint64_t idx, bool inflated)
{
    uint64_t *w = &b->huge_map[idx / 64];
    uint64_t bit = 1ULL << (idx % 64);
    if (!inflated) {
        *w &= ~bit;
        return;
    }
    if (*w & bit)
        return;
    *w |= bit;
    const uint64_t *hw = &b->huge_map[(idx / PFNS_PER_HUGE) * (PFNS_PER_HUGE / 64)];
    for (unsigned i = 0; i < PFNS_PER_HUGE / 64; i++)
        if (hw[i] != ~0ULL)
            return;
    uint8_t *base = b->vdev.vm->mem.base;
    give_back(b, base + (idx / PFNS_PER_HUGE) * (PFNS_PER_HUGE << BALLOON_PFN_SHIFT),
              (uint64_t)PFNS_PER_HUGE << BALLOON_PFN_SHIFT, NULL);
}

/* Shell sort of N host addresses (not qsort: glibc's asks the kernel for the RAM size, a
 * syscall the I/O thread's seccomp list does not need otherwise). */
static void sort_hva(void **v, unsigned n)
{
    for (unsigned gap = n / 2; gap; gap /= 2)
        for (unsigned i = gap; i < n; i++) {
            void *x = v[i];
            unsigned j = i;
            for (; j >= gap && (uintptr_t)v[j - gap] > (uintptr_t)x; j -= gap)
                v[j] = v[j - gap];
            v[j] = x;
        }
}

/* Give back the 4 KiB pages at HVA[0..N): sorted, runs of adjacent pages in one madvise. */
static void give_back_pages(struct virtio_balloon *b, void **hva, unsigned n)
{
    sort_hva(hva, n);
    for (unsigned i = 0; i < n;) {
        unsigned j = i + 1;
        while (j < n && (uint8_t *)hva[j] <= (uint8_t *)hva[j - 1] + (1u << BALLOON_PFN_SHIFT))
            j++;
        uint64_t len =
            (uint64_t)((uint8_t *)hva[j - 1] - (uint8_t *)hva[i]) + (1u << BALLOON_PFN_SHIFT);
        give_back(b, hva[i], len, NULL);
        i = j;
    }
}

/* One inflate or deflate buffer: an array of le32 PFNs. Every PFN is checked against guest RAM
 * (a PFN outside it is counted and skipped). Inflated pages go back to the host. */
static void pfn_buffer(struct virtio_balloon *b, const struct virtq_chain *c, bool inflate)
{
    uint32_t pfn[BALLOON_MAX_PFNS];
    void *hva[BALLOON_MAX_PFNS];
    unsigned n = 0;
    if (c->out_len % 4 || c->out_len > sizeof(pfn)) {
        guest_error(b, "inflate/deflate buffer not a whole array of at most 256 PFNs (skipped)");
        return;
    }
    unsigned count = (unsigned)virtq_chain_read(c, 0, pfn, c->out_len) / 4;
    const struct guest_mem *mem = &b->vdev.vm->mem;
    for (unsigned i = 0; i < count; i++) {
        uint64_t gpa = (uint64_t)le32toh(pfn[i]) << BALLOON_PFN_SHIFT;
        void *p = gpa_to_hva(mem, gpa, 1u << BALLOON_PFN_SHIFT);
        if (!p || !in_ram(b, p, 1u << BALLOON_PFN_SHIFT)) {
            b->c.invalid_pfns++;
            if (b->logs < 8) {
                b->logs++;
                log_warn("virtio-balloon: PFN 0x%x is not guest RAM (skipped)", le32toh(pfn[i]));
            }
            continue;
        }
        if (b->huge_map)
            huge_mark(b, page_index(b, p), inflate);
        else
            hva[n++] = p;
    }
    if (inflate && n)
        give_back_pages(b, hva, n);
}

/* Free page reporting: every writable segment is free guest memory the host may take. */
static void report_buffer(struct virtio_balloon *b, const struct virtq_chain *c)
{
    for (unsigned i = c->nout; i < (unsigned)c->nout + c->nin; i++) {
        b->c.free_page_report_count++;
        uint64_t before = b->c.returned_bytes;
        give_back(b, c->iov[i].iov_base, c->iov[i].iov_len, &b->c.free_page_report_fails);
        b->c.free_page_report_freed += b->c.returned_bytes - before;
    }
}

/* Free page hinting: a 4-byte readable buffer carries the guest's command id; writable segments
 * are free blocks of the run that command id started. Blocks of an older run, or sent after the
 * host said STOP or DONE, are left alone. Returns true when the guest ended its run. */
static bool hint_buffer(struct virtio_balloon *b, const struct virtq_chain *c)
{
    bool ended = false;
    struct balloon_dstate *s = &b->s;
    if (c->out_len == 4) {
        uint32_t cmd;
        virtq_chain_read(c, 0, &cmd, 4);
        s->hint_guest_cmd = le32toh(cmd);
        s->hint_guest_set = true;
        ended = s->hint_guest_cmd == BALLOON_HINT_CMD_STOP ||
                s->hint_guest_cmd == BALLOON_HINT_CMD_DONE;
    } else if (c->out_len) {
        guest_error(b, "hinting buffer with a command id that is not 4 bytes (ignored)");
    }
    bool current = s->hint_host_cmd > BALLOON_HINT_CMD_DONE && s->hint_guest_set &&
                   s->hint_guest_cmd == s->hint_host_cmd;
    for (unsigned i = c->nout; current && i < (unsigned)c->nout + c->nin; i++) {
        b->c.free_page_hint_count++;
        uint64_t before = b->c.returned_bytes;
        give_back(b, c->iov[i].iov_base, c->iov[i].iov_len, &b->c.free_page_hint_fails);
        b->c.free_page_hint_freed += b->c.returned_bytes - before;
    }
    return ended;
}

/* ---- statistics ------------------------------------------------------------------------------ */

/* Hand the held statistics buffer back to the guest: it refills it and sends it again. */
void balloon_stats_request(struct virtio_balloon *b)
{
    if (!balloon_live(b) || b->qi_stats < 0 || !b->s.stats_held)
        return;
    struct virtq *q = &b->vdev.vq[b->qi_stats];
    if (!q->enabled || q->broken || !q->avail)
        return;
    b->s.stats_held = false;
    if (b->s.stats_head >= q->size)
        return; /* from a hostile snapshot: nothing to give back */
    virtq_push(q, b->s.stats_head, 0);
    virtio_interrupt(&b->vdev, q);
}

/* The driver sent statistics: read them and keep the buffer until the next poll. */
static void stats_buffer(struct virtio_balloon *b, struct virtq *q, const struct virtq_chain *c)
{
    uint8_t buf[BALLOON_MAX_STATS * 10];
    if (b->s.stats_held) { /* a driver that sent two: the older one goes back */
        guest_error(b, "a second statistics buffer while one is held");
        if (b->s.stats_head < q->size)
            virtq_push(q, b->s.stats_head, 0);
    }
    b->s.stats_held = true;
    b->s.stats_head = c->head;
    if (c->out_len > sizeof(buf)) {
        b->c.stats_update_fails++;
        guest_error(b, "statistics buffer larger than 256 tags (not read)");
        return;
    }
    size_t n = virtq_chain_read(c, 0, buf, c->out_len);
    b->c.stats_update_fails += balloon_stats_parse(buf, n, &b->s.stats);
    b->c.stats_updates_count++;
}

static void timer_arm(struct virtio_balloon *b)
{
    if (b->timer_fd < 0)
        return;
    time_t sec = b->s.stats_interval;
    struct itimerspec it = {.it_interval = {sec, 0}, .it_value = {sec, 0}};
    if (timerfd_settime(b->timer_fd, 0, &it, NULL) < 0)
        log_warn("virtio-balloon: statistics timer: %s", strerror(errno));
}

/* I/O thread, lock held: the polling interval elapsed. */
static void timer_cb(void *opaque, uint32_t events)
{
    struct virtio_balloon *b = opaque;
    uint64_t ticks;
    if (read(b->timer_fd, &ticks, sizeof(ticks)) < 0)
        return;
    balloon_stats_request(b);
}

/* ---- queues ---------------------------------------------------------------------------------- */

struct bl_pass {
    struct virtio_balloon *b;
    bool hint_ended; /* a hinting buffer said the guest's run ended */
};

/* One buffer of queue Q, by the queue's role; a stats buffer is held until the next poll. */
static bool bl_serve(void *opaque, struct virtq *q, struct virtq_chain *c)
{
    struct bl_pass *p = opaque;
    struct virtio_balloon *b = p->b;
    int qi = (int)q->index;
    if (qi == b->qi_stats) {
        stats_buffer(b, q, c);
        return true;
    }
    if (qi <= 1) {
        qi == 0 ? b->c.inflate_count++ : b->c.deflate_count++;
        pfn_buffer(b, c, qi == 0);
    } else if (qi == b->qi_report) {
        report_buffer(b, c);
    } else {
        p->hint_ended |= hint_buffer(b, c);
    }
    virtq_push(q, c->head, 0);
    return true;
}

static void bl_queue_notify(void *opaque, struct virtq *q)
{
    struct virtio_balloon *b = opaque;
    struct iovec iov[BALLOON_MAX_IOV];
    struct virtq_chain c = {.iov = iov, .max_iov = BALLOON_MAX_IOV};
    struct bl_pass pass = {.b = b};
    int qi = (int)q->index;
    if (qi >= 2 && qi != b->qi_stats && qi != b->qi_hint && qi != b->qi_report)
        return; /* a queue the negotiated features do not give a role */
    if (qi == b->qi_stats && b->timer_dirty) { /* armed here: only the I/O thread sets timers */
        b->timer_dirty = false;
        timer_arm(b);
    }
    virtq_serve(q, MIN(VIRTQ_BUDGET(q), BALLOON_BUDGET), &c, bl_serve, &pass);
    if (qi == b->qi_stats && b->stats_request) {
        b->stats_request = false;
        balloon_stats_request(b);
    }
    if (pass.hint_ended && b->s.hint_ack_on_stop && b->s.hint_host_cmd > BALLOON_HINT_CMD_DONE)
        balloon_set_hint_cmd(b, BALLOON_HINT_CMD_DONE);
}

void balloon_set_hint_cmd(struct virtio_balloon *b, uint32_t cmd)
{
    b->s.hint_host_cmd = cmd;
    virtio_config_changed(&b->vdev);
}

/* ---- configuration space: num_pages, actual, free_page_hint_cmd_id, poison_val --------------- */

static void config_bytes(const struct virtio_balloon *b, uint8_t out[BALLOON_CONFIG_SIZE])
{
    uint32_t v[4] = {htole32(b->s.num_pages), htole32(b->s.actual), htole32(b->s.hint_host_cmd), 0};
    memcpy(out, v, BALLOON_CONFIG_SIZE);
}

static void bl_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    uint8_t cfg[BALLOON_CONFIG_SIZE];
    config_bytes(opaque, cfg);
    memcpy(data, cfg + off, size); /* the transport checked off + size <= config_size */
}

/* Only `actual` is the driver's to write (poison_val needs PAGE_POISON, never offered). */
static void bl_config_write(void *opaque, uint32_t off, const uint8_t *data, unsigned size)
{
    struct virtio_balloon *b = opaque;
    uint8_t cfg[BALLOON_CONFIG_SIZE];
    config_bytes(b, cfg);
    for (unsigned i = 0; i < size; i++)
        if (off + i >= 4 && off + i < 8)
            cfg[off + i] = data[i];
    uint32_t actual;
    memcpy(&actual, cfg + 4, 4);
    b->s.actual = le32toh(actual);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int bl_activate(void *opaque)
{
    struct virtio_balloon *b = opaque;
    assign_queues(b);
    b->timer_dirty = b->qi_stats >= 0; /* armed by the statistics queue's first kick */
    return 0;
}

/* Driver reset: the guest's balloon is gone; so is any buffer the device held. */
static void bl_reset(void *opaque)
{
    struct virtio_balloon *b = opaque;
    b->s.actual = 0;
    b->s.stats_held = false;
    b->s.hint_guest_set = false;
    b->s.hint_guest_cmd = 0;
    b->qi_stats = b->qi_hint = b->qi_report = -1;
    b->stats_request = false;
    if (b->huge_map)
        memset(b->huge_map, 0, b->huge_words * sizeof(uint64_t));
}

static void bl_destroy(void *opaque)
{
    struct virtio_balloon *b = opaque;
    if (b->timer_fd >= 0)
        close(b->timer_fd);
    free(b->huge_map);
    free(b);
}

static const struct virtio_dev_ops balloon_ops = {
    .config_read = bl_config_read,
    .config_write = bl_config_write,
    .activate = bl_activate,
    .queue_notify = bl_queue_notify,
    .reset = bl_reset,
    .state_visit = balloon_state_visit,
    .state_commit = balloon_state_commit,
    .destroy = bl_destroy,
};

/* Offered features and queue count from the configuration. */
static uint64_t balloon_features(const struct balloon_config *bc, unsigned *nqueues)
{
    uint64_t f = 0;
    *nqueues = 2;
    if (bc->deflate_on_oom)
        f |= 1ULL << BALLOON_F_DEFLATE_ON_OOM;
    if (bc->stats_polling_interval_s) {
        f |= 1ULL << BALLOON_F_STATS_VQ;
        (*nqueues)++;
    }
    if (bc->free_page_hinting) {
        f |= 1ULL << BALLOON_F_FREE_PAGE_HINT;
        (*nqueues)++;
    }
    if (bc->free_page_reporting) {
        f |= 1ULL << BALLOON_F_REPORTING;
        (*nqueues)++;
    }
    return f;
}

/* Runtime parts: the statistics timer, the huge page map. Returns 0 or -errno. */
static int balloon_open(struct virtio_balloon *b, struct vm *vm)
{
    b->timer_fd = -1;
    if (vm->mem.hugepages) {
        b->huge_words = (vm->mem.map_size >> BALLOON_PFN_SHIFT) / 64;
        b->huge_map = calloc(b->huge_words, sizeof(uint64_t));
        if (!b->huge_map)
            return -ENOMEM;
    }
    if (!b->s.stats_interval)
        return 0;
    b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (b->timer_fd < 0)
        return -errno;
    return virtio_watch_fd(&b->vdev, b->timer_fd, EPOLLIN, timer_cb, b);
}

static int balloon_class_create(struct vm *vm, char *err, size_t errlen)
{
    const struct balloon_config *bc = &vm->cfg.balloon;
    if (!bc->enabled)
        return 0;
    struct virtio_balloon *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "virtio-balloon: out of memory");
        return -ENOMEM;
    }
    unsigned nq;
    uint64_t features = balloon_features(bc, &nq);
    int rc = virtio_dev_init(&b->vdev, vm, "virtio-balloon", VIRTIO_ID_BALLOON, 0x00ff00, features,
                             nq, BALLOON_QUEUE_SIZE, BALLOON_CONFIG_SIZE, &balloon_ops, b);
    if (rc < 0) {
        snprintf(err, errlen, "virtio-balloon: bad device parameters");
        free(b);
        return rc;
    }
    b->s.num_pages = bc->amount_mib * BALLOON_PAGES_PER_MIB;
    b->s.stats_interval = bc->stats_polling_interval_s;
    b->qi_stats = b->qi_hint = b->qi_report = -1;
    rc = balloon_open(b, vm);
    if (rc < 0)
        snprintf(err, errlen, "virtio-balloon: %s", strerror(-rc));
    else
        rc = virtio_dev_add(vm, &b->vdev, err, errlen);
    if (rc < 0) {
        virtio_unwatch_all(&b->vdev);
        virtio_dev_fini(&b->vdev);
        if (b->timer_fd >= 0)
            close(b->timer_fd);
        free(b->huge_map);
        free(b);
    }
    return rc;
}

/* "virtio-balloon" sorts before "virtio-blk": created first, as Firecracker attaches it first
 * (so its virtio-mmio window is the first one). */
static const struct device_class virtio_balloon_class = {
    .name = "virtio-balloon",
    .order = DEV_ORDER_PCI,
    .create = balloon_class_create,
};
DEVICE_CLASS(virtio_balloon_class);
