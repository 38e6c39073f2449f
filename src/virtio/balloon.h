/* balloon.h — virtio-balloon's host side: target size, guest statistics, free page hinting. */
#ifndef TRUCE_VIRTIO_BALLOON_H
#define TRUCE_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

/* Feature bits (virtio 1.2 §5.5.3). truce offers DEFLATE_ON_OOM, STATS_VQ, FREE_PAGE_HINT and
 * REPORTING as configured, never MUST_TELL_HOST or PAGE_POISON (as Firecracker). */
#define BALLOON_F_STATS_VQ       1
#define BALLOON_F_DEFLATE_ON_OOM 2
#define BALLOON_F_FREE_PAGE_HINT 3
#define BALLOON_F_REPORTING      5
#define BALLOON_PFN_SHIFT        12 /* a PFN always names a 4 KiB page */
#define BALLOON_PAGES_PER_MIB    256
#define BALLOON_QUEUE_SIZE       256 /* >= 32: Linux's page reporting needs that many */
#define BALLOON_MAX_PFNS         256 /* PFNs in one inflate/deflate buffer (Linux sends <= 256) */
#define BALLOON_MAX_STATS        256 /* tags read from one statistics buffer */
#define BALLOON_HINT_CMD_STOP    0
#define BALLOON_HINT_CMD_DONE    1

/* The guest's statistics tags (virtio 1.2 §5.5.6.3, and Linux's later ones). */
enum {
    BALLOON_S_SWAP_IN,
    BALLOON_S_SWAP_OUT,
    BALLOON_S_MAJFLT,
    BALLOON_S_MINFLT,
    BALLOON_S_MEMFREE,
    BALLOON_S_MEMTOT,
    BALLOON_S_AVAIL,
    BALLOON_S_CACHES,
    BALLOON_S_HTLB_PGALLOC,
    BALLOON_S_HTLB_PGFAIL,
    BALLOON_S_OOM_KILL,
    BALLOON_S_ALLOC_STALL,
    BALLOON_S_ASYNC_SCAN,
    BALLOON_S_DIRECT_SCAN,
    BALLOON_S_ASYNC_RECLAIM,
    BALLOON_S_DIRECT_RECLAIM,
    BALLOON_S_NR
};
/* Firecracker's JSON name of each tag ("swap_in", ..., "direct_reclaim"). */
extern const char *const balloon_stat_names[BALLOON_S_NR];

/* The latest figures the guest sent: val[tag] is meaningful when bit tag of `have` is set. */
struct balloon_stats {
    uint64_t val[BALLOON_S_NR];
    uint32_t have;
};

/* Parse LEN bytes of a statistics buffer (packed {le16 tag; le64 val} records) into S. A trailing
 * partial record is ignored; unknown tags are skipped. Returns the number of unknown tags. */
unsigned balloon_stats_parse(const uint8_t *buf, size_t len, struct balloon_stats *s);

/* Firecracker's balloon metrics (counters since start; the metrics line makes them deltas), and
 * truce's own: PFNs outside guest RAM, and bytes given back to the host. */
struct balloon_counters {
    uint64_t activate_fails, inflate_count, deflate_count, stats_updates_count, stats_update_fails,
        event_fails;
    uint64_t free_page_report_count, free_page_report_freed, free_page_report_fails;
    uint64_t free_page_hint_count, free_page_hint_freed, free_page_hint_fails;
    uint64_t invalid_pfns, returned_bytes;
};

/* What GET /balloon and GET /balloon/statistics report. */
struct balloon_info {
    uint32_t target_pages, actual_pages;
    bool deflate_on_oom, hinting, reporting;
    uint16_t stats_polling_interval_s;
    bool active; /* the driver set DRIVER_OK */
};

struct virtio_balloon;

/* The VM's balloon, or NULL when it has none. */
struct virtio_balloon *virtio_balloon_find(struct vm *vm);

/* Each of these takes the device lock itself (API thread). The ones that fail return -errno and
 * write Firecracker's reason into ERR. */
void balloon_get_info(struct virtio_balloon *b, struct balloon_info *out);
void balloon_get_counters(struct virtio_balloon *b, struct balloon_counters *out);
/* New target: at most guest RAM; the driver must be running (-ENODEV otherwise). */
int balloon_set_target(struct virtio_balloon *b, uint32_t amount_mib, char *err, size_t errlen);
/* Statistics: -ENOTSUP when the balloon was configured without them. */
int balloon_get_stats(struct virtio_balloon *b, struct balloon_stats *out, char *err,
                      size_t errlen);
/* A new polling interval (statistics cannot be turned on or off after start: -EINVAL), with one
 * refresh asked for at once. */
int balloon_set_stats_interval(struct virtio_balloon *b, uint16_t seconds, char *err,
                               size_t errlen);
/* Free page hinting (-ENOTSUP when not configured, -ENODEV before the driver runs): start a run
 * with a new command id; ACK_ON_STOP answers the guest's STOP with DONE (the guest then frees
 * the hinted pages); stop sends DONE. */
int balloon_hint_start(struct virtio_balloon *b, bool ack_on_stop, char *err, size_t errlen);
int balloon_hint_stop(struct virtio_balloon *b, char *err, size_t errlen);
/* host_cmd, and guest_cmd when the guest has sent one (*GUEST_SET). */
int balloon_hint_status(struct virtio_balloon *b, uint32_t *host_cmd, uint32_t *guest_cmd,
                        bool *guest_set, char *err, size_t errlen);

#endif
