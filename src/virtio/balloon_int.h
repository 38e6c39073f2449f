/* balloon_int.h — virtio-balloon's state, shared by balloon.c (device) and balloon_ctl.c. */
#ifndef TRUCE_VIRTIO_BALLOON_INT_H
#define TRUCE_VIRTIO_BALLOON_INT_H

#include "virtio/balloon.h"

#define BALLOON_CONFIG_SIZE   16 /* struct virtio_balloon_config */
#define BALLOON_STATE_VERSION 1

/* Guest-visible state beyond the common virtio state (saved by snapshots). */
struct balloon_dstate {
    uint32_t num_pages;      /* config: the host's target */
    uint32_t actual;         /* config: written by the driver */
    uint32_t hint_host_cmd;  /* config free_page_hint_cmd_id: STOP, DONE or a run's id */
    uint32_t hint_last_cmd;  /* the last run's id (the next one is larger) */
    uint32_t hint_guest_cmd; /* the last command id the guest sent */
    bool hint_guest_set;
    bool hint_ack_on_stop;
    uint16_t stats_interval; /* seconds; 0: no statistics queue */
    bool stats_held;         /* the driver's statistics buffer is with the device */
    uint16_t stats_head;     /* its chain head */
    struct balloon_stats stats;
};

struct virtio_balloon {
    struct virtio_dev vdev;
    struct balloon_dstate s;
    struct balloon_dstate scratch; /* a restore's state until it is committed */
    /* runtime */
    int qi_stats, qi_hint, qi_report; /* queue index of each optional queue, -1: none */
    int timer_fd;                     /* statistics polling, -1 without statistics */
    bool timer_dirty;                 /* arm the timer at the next statistics queue kick */
    bool stats_request;               /* give the statistics buffer back at that kick */
    uint64_t *huge_map;               /* hugepages: one bit per inflated 4 KiB page */
    size_t huge_words;
    struct balloon_counters c;
    unsigned logs; /* guest errors logged (bounded) */
};

/* Lock held. */
bool balloon_live(const struct virtio_balloon *b);
void balloon_stats_request(struct virtio_balloon *b);
void balloon_set_hint_cmd(struct virtio_balloon *b, uint32_t cmd);
void balloon_state_visit(void *opaque, struct state_visitor *v);
void balloon_state_commit(void *opaque);

#endif
