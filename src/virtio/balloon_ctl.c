/* balloon_ctl.c — virtio-balloon's control side: the API's operations, statistics, saved state. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/state.h"
#include "virtio/balloon_int.h"
#include "vm/vm.h"

const char *const balloon_stat_names[BALLOON_S_NR] = {
    "swap_in",        "swap_out",         "major_faults", "minor_faults",        "free_memory",
    "total_memory",   "available_memory", "disk_caches",  "hugetlb_allocations", "hugetlb_failures",
    "oom_kill",       "alloc_stall",      "async_scan",   "direct_scan",         "async_reclaim",
    "direct_reclaim",
};

unsigned balloon_stats_parse(const uint8_t *buf, size_t len, struct balloon_stats *s)
{
    unsigned unknown = 0;
    for (size_t off = 0; len - off >= 10; off += 10) {
        uint16_t tag;
        uint64_t val;
        memcpy(&tag, buf + off, 2);
        memcpy(&val, buf + off + 2, 8);
        tag = le16toh(tag);
        if (tag >= BALLOON_S_NR) {
            unknown++;
            continue;
        }
        s->val[tag] = le64toh(val);
        s->have |= 1u << tag;
    }
    return unknown;
}

struct virtio_balloon *virtio_balloon_find(struct vm *vm)
{
    struct virtio_dev *vdev = virtio_find(vm, VIRTIO_ID_BALLOON, NULL);
    return vdev ? vdev->opaque : NULL;
}

void balloon_get_info(struct virtio_balloon *b, struct balloon_info *out)
{
    virtio_lock(&b->vdev);
    uint64_t f = b->vdev.host_features;
    *out = (struct balloon_info){
        .target_pages = b->s.num_pages,
        .actual_pages = b->s.actual,
        .deflate_on_oom = f >> BALLOON_F_DEFLATE_ON_OOM & 1,
        .hinting = f >> BALLOON_F_FREE_PAGE_HINT & 1,
        .reporting = f >> BALLOON_F_REPORTING & 1,
        .stats_polling_interval_s = b->s.stats_interval,
        .active = balloon_live(b),
    };
    virtio_unlock(&b->vdev);
}

void balloon_get_counters(struct virtio_balloon *b, struct balloon_counters *out)
{
    virtio_lock(&b->vdev);
    *out = b->c;
    virtio_unlock(&b->vdev);
}

int balloon_set_target(struct virtio_balloon *b, uint32_t amount_mib, char *err, size_t errlen)
{
    uint64_t ram_mib = b->vdev.vm->mem.ram_size / MiB;
    if (amount_mib > ram_mib) {
        snprintf(err, errlen, "amount_mib: %u MiB is more than the guest's memory (%llu MiB)",
                 amount_mib, (unsigned long long)ram_mib);
        return -EINVAL;
    }
    int rc = 0;
    virtio_lock(&b->vdev);
    if (!balloon_live(b)) {
        snprintf(err, errlen, "Device not activated yet.");
        rc = -ENODEV;
    } else {
        b->s.num_pages = amount_mib * BALLOON_PAGES_PER_MIB;
        virtio_config_changed(&b->vdev);
    }
    virtio_unlock(&b->vdev);
    return rc;
}

int balloon_get_stats(struct virtio_balloon *b, struct balloon_stats *out, char *err, size_t errlen)
{
    int rc = 0;
    virtio_lock(&b->vdev);
    if (!b->s.stats_interval) {
        snprintf(err, errlen, "Received stats query when stats are disabled.");
        rc = -ENOTSUP;
    } else {
        *out = b->s.stats;
    }
    virtio_unlock(&b->vdev);
    return rc;
}

int balloon_set_stats_interval(struct virtio_balloon *b, uint16_t seconds, char *err, size_t errlen)
{
    int rc = 0;
    virtio_lock(&b->vdev);
    if (seconds == b->s.stats_interval) {
        /* nothing changes */
    } else if (!seconds || !b->s.stats_interval) {
        snprintf(err, errlen, "Statistics cannot be enabled/disabled after activation.");
        rc = -EINVAL;
    } else {
        b->s.stats_interval = seconds;
        b->timer_dirty = b->stats_request = true; /* the I/O thread re-arms and asks at once */
        if (balloon_live(b) && b->qi_stats >= 0)
            virtio_queue_defer(&b->vdev.vq[b->qi_stats]);
    }
    virtio_unlock(&b->vdev);
    return rc;
}

/* Hinting configured and the driver running? Lock held. */
static int hint_usable(struct virtio_balloon *b, bool need_live, char *err, size_t errlen)
{
    if (!(b->vdev.host_features >> BALLOON_F_FREE_PAGE_HINT & 1)) {
        snprintf(err, errlen, "Attempting to use hinting when not enabled");
        return -ENOTSUP;
    }
    if (need_live && !balloon_live(b)) {
        snprintf(err, errlen, "Device not activated yet.");
        return -ENODEV;
    }
    return 0;
}

int balloon_hint_start(struct virtio_balloon *b, bool ack_on_stop, char *err, size_t errlen)
{
    virtio_lock(&b->vdev);
    int rc = hint_usable(b, true, err, errlen);
    if (!rc) {
        uint32_t id = b->s.hint_last_cmd + 1;
        if (id <= BALLOON_HINT_CMD_DONE) /* 0 and 1 are STOP and DONE */
            id = BALLOON_HINT_CMD_DONE + 1;
        b->s.hint_last_cmd = id;
        b->s.hint_ack_on_stop = ack_on_stop;
        balloon_set_hint_cmd(b, id);
    }
    virtio_unlock(&b->vdev);
    return rc;
}

int balloon_hint_stop(struct virtio_balloon *b, char *err, size_t errlen)
{
    virtio_lock(&b->vdev);
    int rc = hint_usable(b, true, err, errlen);
    if (!rc)
        balloon_set_hint_cmd(b, BALLOON_HINT_CMD_DONE);
    virtio_unlock(&b->vdev);
    return rc;
}

int balloon_hint_status(struct virtio_balloon *b, uint32_t *host_cmd, uint32_t *guest_cmd,
                        bool *guest_set, char *err, size_t errlen)
{
    virtio_lock(&b->vdev);
    int rc = hint_usable(b, false, err, errlen);
    *host_cmd = b->s.hint_host_cmd;
    *guest_cmd = b->s.hint_guest_cmd;
    *guest_set = b->s.hint_guest_set;
    virtio_unlock(&b->vdev);
    return rc;
}

/* ---- saved state ----------------------------------------------------------------------------- */

void balloon_state_visit(void *opaque, struct state_visitor *v)
{
    struct virtio_balloon *b = opaque;
    struct balloon_dstate *s = v->loading ? &b->scratch : &b->s;
    if (v->loading)
        memset(s, 0, sizeof(*s));
    if (!state_begin(v, "balloon", BALLOON_STATE_VERSION))
        return;
    uint64_t ram_pages = b->vdev.vm->mem.ram_size >> BALLOON_PFN_SHIFT;
    STATE_U32(v, s->num_pages);
    STATE_CHECK(v, s->num_pages <= ram_pages);
    STATE_U32(v, s->actual);
    STATE_U32(v, s->hint_host_cmd);
    STATE_U32(v, s->hint_last_cmd);
    STATE_U32(v, s->hint_guest_cmd);
    STATE_BOOL(v, s->hint_guest_set);
    STATE_BOOL(v, s->hint_ack_on_stop);
    STATE_U16(v, s->stats_interval);
    /* statistics were on or off when the device was made; that never changes */
    STATE_CHECK(v, !s->stats_interval == !b->s.stats_interval);
    STATE_BOOL(v, s->stats_held);
    STATE_U16(v, s->stats_head);
    STATE_CHECK(v, s->stats_head < BALLOON_QUEUE_SIZE);
    STATE_U32(v, s->stats.have);
    STATE_CHECK(v, s->stats.have < 1u << BALLOON_S_NR);
    for (unsigned i = 0; i < BALLOON_S_NR; i++)
        STATE_U64(v, s->stats.val[i]);
    state_end(v);
}

void balloon_state_commit(void *opaque)
{
    struct virtio_balloon *b = opaque;
    b->s = b->scratch;
    b->timer_dirty = b->s.stats_interval != 0;
    b->stats_request = false;
    if (b->huge_map) /* which pages were inflated is not saved: none are, from now */
        memset(b->huge_map, 0, b->huge_words * sizeof(uint64_t));
}
