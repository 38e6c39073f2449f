/* net.h — virtio-net device state, its counters, and the pure header/feature helpers. */
#ifndef TRUCE_VIRTIO_NET_H
#define TRUCE_VIRTIO_NET_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend/net.h"
#include "platform/config.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define NET_QUEUE_SIZE    256
#define NET_RXQ           0 /* queue 2K: pair K's receive queue, 2K + 1 its transmit queue */
#define NET_TXQ           1
#define NET_MAX_PAIRS     CFG_MAX_NET_PAIRS
#define NET_CTRL_SIZE     64 /* the control queue (VIRTIO_NET_F_CTRL_VQ: multiqueue, announce) */
#define NET_CTRL_IOV      8  /* segments of one control command */
#define NET_CTRL_MAX_DATA 64 /* command bytes read; longer commands are refused (no such class) */
#define NET_MTU           1500
#define NET_RX_IOV        32 /* segments per receive chain (Linux uses at most MAX_SKB_FRAGS + 2) */
#define NET_TX_IOV        64 /* segments per transmit chain */
#define NET_TX_BUDGET     256 /* chains per queue run before yielding to other work */
#define NET_RX_BUDGET     256 /* frames per run */
#define NET_RX_DIRECT_IOV 128 /* segments one frame may be read into straight (net_rx.c) */
#define NET_BULK_QUIET    64  /* small frames each way after which bulk mode ends */

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_VNET_HDR_LEN, "virtio_net_hdr_v1 size");
_Static_assert(sizeof(struct virtio_net_config) >= 12, "virtio_net_config has mac/status/mtu");
#define NET_CONFIG_SIZE 12 /* mac[6], status, max_virtqueue_pairs, mtu */

/* Counters for the metrics API (read with virtio_net_counters). */
struct net_counters {
    uint64_t rx_packets, rx_bytes; /* delivered to the guest */
    uint64_t rx_dropped;           /* frames that never reached the guest */
    uint64_t tx_packets, tx_bytes; /* accepted by the backend */
    uint64_t tx_dropped;           /* malformed, oversized, link down or refused by the host */
    /* rate limiters: frames held back, timer expirations */
    uint64_t rx_rl_throttled, rx_rl_events, tx_rl_throttled, tx_rl_events;
};

/* Bulk-traffic detector (net_bulk_frame): on while large or GSO frames flow in either direction,
 * off once NET_BULK_QUIET small frames passed each way since the last large one. */
struct net_bulk {
    uint32_t quiet[2]; /* small frames since the last large one: [0] receive, [1] transmit */
    bool on;
};

/* A receive chain popped from the ring but not yet returned (mergeable buffers gather several). */
struct net_rx_chain {
    struct virtq_chain chain;
    struct iovec iov[NET_RX_IOV];
};

struct virtio_net;

/* One queue pair: its receive and transmit queues and its backend (a tap queue: with several
 * pairs, each has its own tap file descriptor, IFF_MULTI_QUEUE). I/O thread, device lock held. */
struct net_pair {
    struct virtio_net *n;
    unsigned index;
    struct virtq *rxq, *txq;
    struct net_backend *be;
    /* receive */
    uint8_t *rxbuf;  /* vnet header + frame read from the backend */
    size_t rx_len;   /* bytes of the pending frame in rxbuf including the header; 0: none */
    bool rx_charged; /* the pending frame's tokens were taken from rx_rl */
    struct net_rx_chain *held; /* ring of NET_QUEUE_SIZE entries, oldest at held_first */
    unsigned held_first, nheld;
    size_t held_cap;                        /* writable bytes of the held chains */
    struct iovec rx_iov[NET_RX_DIRECT_IOV]; /* the held chains' segments for one read */
    /* transmit */
    struct virtq_chain tx_chain;
    struct iovec tx_iov[NET_TX_IOV];
    struct iovec tx_send[NET_TX_IOV + 1];
    struct virtio_net_hdr_v1 tx_hdr;
    bool tx_pending;      /* tx_chain popped, backend said EAGAIN */
    struct net_vhost *vh; /* vhost=on: the rings are served by vhost-net (net_vhost.c); else NULL */
};

struct virtio_net {
    struct virtio_dev vdev;
    struct net_backend *be; /* pair 0's backend (link state, MMDS) */
    char id[CFG_ID_LEN];
    unsigned index; /* position in vm->cfg.nets */
    uint8_t mac[6];
    bool admin_up;     /* link state set from the host (API) */
    bool stopped;      /* VM teardown started: backend callbacks do nothing */
    uint32_t tx_limit; /* largest frame (without the vnet header) the guest may send */
    /* multiqueue: max_pairs pairs (VIRTIO_NET_F_MQ and the control queue offered when > 1), of
     * which the first `pairs` are in use (guest-visible state, saved); pairs_load is the scratch
     * copy a restore checks before state_commit */
    unsigned max_pairs, pairs, pairs_load;
    struct net_pair *pair;     /* max_pairs */
    unsigned rx_next, tx_next; /* the pair a shared rate limiter's resume serves first */
    struct virtq_chain ctrl_chain;
    struct iovec ctrl_iov[NET_CTRL_IOV];
    uint64_t ctrl_cmds, ctrl_errors; /* control commands handled, refused */
    /* VIRTIO_NET_F_GUEST_ANNOUNCE (net_ctrl.c): `announce` is VIRTIO_NET_S_ANNOUNCE in the config
     * status (guest-visible, saved; announce_load is a restore's scratch copy); announce_owed: a
     * restore or migration made the device live again and the request goes out (I/O thread) as
     * soon as the VM runs */
    bool announce, announce_load, announce_owed;
    uint64_t announces, announce_acks; /* requests raised, acknowledged by the driver */
    /* I/O thread scheduling while bulk traffic flows (net.c, I/O thread only) */
    struct net_bulk bulk;
    struct io_bulk bulk_sched;
    struct net_counters stats;
    /* rate limiters: a frame the receive limiter refuses stays in rxbuf (and the next ones in
     * the backend); a chain the transmit limiter refuses stays in the queue */
    struct virtio_rl rx_rl, tx_rl;
    bool vhost; /* vhost=on: every pair's rings live in the host kernel (net_vhost.c) */
    /* vhost=on and dirty tracking on: the log every pair's vhost-net writes (net_vhost.c) */
    struct dirty_source vh_dirty;
    struct vm *vh_vm;         /* where vh_dirty is registered; NULL: not registered */
    _Atomic uint64_t *vh_log; /* NULL: tracking is off */
    uint64_t vh_log_pages;
};

/* ---- net.c ------------------------------------------------------------------------------------
 */
/* Create the virtio-net device for vm->cfg.nets[INDEX] (opens the backend now). Returns 0 or <0
 * with one line in ERR. */
int virtio_net_create(struct vm *vm, unsigned index, char *err, size_t errlen);
/* The device for interface ID, or NULL. */
struct virtio_net *virtio_net_find(struct vm *vm, const char *id);
/* Copy N's counters (backend drops included). Any thread. */
void virtio_net_counters(struct virtio_net *n, struct net_counters *out);
/* Replace the buckets named by BW / OPS of N's receive (TX false) or transmit limiter, live (any
 * thread not holding the device lock). Returns 0 or -ENOMEM. */
int virtio_net_set_rate_limiter(struct virtio_net *n, bool tx, const struct rl_config *c, bool bw,
                                bool ops);
/* Set the host side of the link up or down; the guest gets a config-change interrupt. */
void virtio_net_set_link(struct virtio_net *n, bool up);

/* ---- net_rx.c (I/O thread, device lock held) ------------------------------------------------- */
/* Move frames from P's backend into P's receive queue until one of them runs dry (nothing when
 * P is not among the pairs in use). */
void net_rx_pump(struct net_pair *p);
/* Give P's held receive chains back to the avail ring (lock held; pause, fewer pairs). */
void net_rx_unpop(struct net_pair *p);
/* Forget held chains and the pending frame (device reset). */
void net_rx_reset(struct net_pair *p);

/* ---- net_ctrl.c: the control queue (multiqueue, announce) ----------------------------------
 * A command is a readable header (class, command: one byte each) and data, then one writable
 * ack byte (VIRTIO_NET_OK or VIRTIO_NET_ERR). Known: VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (with
 * VIRTIO_NET_F_MQ) and VIRTIO_NET_CTRL_ANNOUNCE_ACK (with VIRTIO_NET_F_GUEST_ANNOUNCE; no data);
 * the other classes need features truce does not offer. */
struct net_ctrl_cmd {
    uint8_t cls, cmd;
    uint16_t pairs; /* VQ_PAIRS_SET: the pairs asked for */
};
/* Parse a command from its readable bytes OUT (LEN of them, a prefix of at most
 * NET_CTRL_MAX_DATA when longer: then TOTAL is the full length) for a device of MAX_PAIRS pairs.
 * Returns VIRTIO_NET_OK with C filled when the command is to be carried out, VIRTIO_NET_ERR
 * otherwise (unknown class or command, wrong length, a pair count out of 1..MAX_PAIRS). */
uint8_t net_ctrl_parse(const uint8_t *out, size_t len, size_t total, unsigned max_pairs,
                       struct net_ctrl_cmd *c);
/* Gratuitous packets (virtio 1.2 5.1.6.5.4): after a restore or a migration the driver is asked
 * once, by VIRTIO_NET_S_ANNOUNCE in the config status and a configuration-change interrupt, to
 * announce the guest's addresses itself; VIRTIO_NET_CTRL_ANNOUNCE_ACK clears the bit. One
 * request per restore: a driver that never acknowledges leaves the bit set and gets no other
 * interrupt for it. A device reset clears both. restored: ops->restored (lock held) owes the
 * request when the driver negotiated GUEST_ANNOUNCE; it and resume (ops->resume, lock held) hand
 * an owed request to the I/O thread, which raises it if the device is live, else it stays owed
 * (a VM restored paused: its devices are paused before its threads start, and resume raises
 * it; a VM restored running is never resumed: the I/O thread raises it as it starts). */
void net_announce_restored(struct virtio_net *n);
void net_announce_resume(struct virtio_net *n);
/* Handle the control queue Q: at most VIRTQ_BUDGET(Q) commands per call (then deferred). */
void net_ctrl_process(struct virtio_net *n, struct virtq *q);
/* Use the first PAIRS pairs (1..max_pairs): tap queues attached or detached, held chains of
 * pairs leaving handed back, vhost=on: their rings stopped first (the caller starts new pairs:
 * receive, or vhost's rings). I/O thread or a vCPU thread, lock held. */
void net_set_pairs(struct virtio_net *n, unsigned pairs);

/* ---- net_vhost.c: the data path in the host kernel (vhost=on) -------------------------------
 * Ring features vhost-net implements itself: the device offers them only when vhost has them.
 * Not ANY_LAYOUT: its bit (27) is also VHOST_NET_F_VIRTIO_NET_HDR, which would make vhost add the
 * vnet header the tap already carries (VERSION_1 implies any layout anyway). */
#define NET_VHOST_RING_FEATURES                                                                    \
    ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |                            \
     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |                    \
     (1ULL << VIRTIO_F_NOTIFY_ON_EMPTY))
/* The device features to offer: OFFERED without the ring features VHOST_FEATURES lacks (offloads
 * are the tap's business and pass). */
uint64_t net_vhost_offer(uint64_t offered, uint64_t vhost_features);
/* What VHOST_SET_FEATURES gets for a driver that accepted GUEST_FEATURES: its ring features that
 * vhost has (never VHOST_NET_F_VIRTIO_NET_HDR: the tap adds and strips the vnet header). */
uint64_t net_vhost_ack(uint64_t guest_features, uint64_t vhost_features);
/* The vnet header the tap must use for GUEST_FEATURES: 12 bytes with MRG_RXBUF or VERSION_1, else
 * 10 (truce is modern-only: always 12, which is what tap.c sets). */
unsigned net_vhost_hdr_len(uint64_t guest_features);
/* Open /dev/vhost-net for P, own it, read its features, make the call eventfds. Returns 0 or <0
 * with ERR naming the device (-EINVAL when the host has none or refuses access: exit status 2);
 * P->vh is set even on failure (net_vhost_close frees it). */
int net_vhost_open(struct net_pair *p, const char *id, char *err, size_t errlen);
/* After virtio_dev_init, before virtio_dev_add: limit the offered features to vhost's, mark the
 * rings' kicks as vhost's, watch the call eventfds. Returns 0 or <0 with ERR. */
int net_vhost_attach(struct virtio_net *n, char *err, size_t errlen);
/* Start the rings of the pairs in use (the device is live), or stop every running ring, reading
 * the avail and used indices back into the queues. Lock held. Start returns 0 or -errno (logged).
 */
int net_vhost_start(struct virtio_net *n);
void net_vhost_stop(struct virtio_net *n);
/* Stop the running rings of pairs FIRST and up (VQ_PAIRS_SET leaving them unused). Lock held. */
void net_vhost_stop_from(struct virtio_net *n, unsigned first);
/* Point each running ring's "used buffers" signal where its interrupt goes now: an irqfd with
 * the MSI route of its vector (KVM raises it, truce never wakes), or truce's call eventfd (the
 * transport raises it: INTx, virtio-mmio, a masked or absent vector). Lock held. */
void net_vhost_irq_update(struct virtio_net *n);
bool net_vhost_running(const struct virtio_net *n);
/* Close P's vhost instance (stops its rings) and free it. */
void net_vhost_close(struct net_pair *p);
/* Dirty tracking (vm_dirty_start/stop/harvest through N->vh_dirty, registered by attach): while
 * it is on, each pair's vhost-net logs what it writes (VHOST_F_LOG_ALL, every ring's used ring
 * with VHOST_VRING_F_LOG) into one bitmap of guest physical pages (VHOST_SET_LOG_BASE) covering
 * every region of vhost's memory table, which each harvest merges. Detach unregisters it and
 * frees the log (teardown or a failed creation: no ring runs, the device lock may be gone). */
void net_vhost_detach(struct virtio_net *n);
/* The guest physical pages a vhost log for M must cover: every RAM region and writable
 * device-memory region (what VHOST_SET_MEM_TABLE gets), rounded up to whole 64-page words. */
uint64_t net_vhost_log_pages(const struct guest_mem *m);

/* ---- net.c, for net_rx.c (I/O thread, device lock held) -------------------------------------- */
/* Account one frame of FRAME_LEN bytes (no vnet header) with GSO_TYPE moved in direction DIR
 * (0 receive, 1 transmit) for the bulk-traffic detector; switches the I/O thread's scheduling
 * when bulk mode starts or ends. */
void net_bulk_account(struct virtio_net *n, unsigned dir, size_t frame_len, uint8_t gso_type);
/* Whether the device is live (DRIVER_OK, not NEEDS_RESET, not paused or stopped). */
bool net_live(const struct virtio_net *n);

/* ---- net_hdr.c: pure helpers (unit-tested) ----------------------------------------------------
 */
/* The default MAC of interface INDEX of VM_ID: stable, unicast, locally administered. */
void net_default_mac(const char *vm_id, unsigned index, uint8_t mac[6]);
/* Feature bits to offer for a backend with OFFLOAD_CAPS (NET_OFFLOAD_*). */
uint64_t net_host_features(unsigned offload_caps);
/* False when the driver's FEATURES break the spec's dependencies (TSO without CSUM, GUEST_ANNOUNCE
 * without CTRL_VQ...). */
bool net_features_valid(uint64_t features);
/* NET_OFFLOAD_* the guest takes on received frames, from its negotiated FEATURES. */
unsigned net_guest_offloads(uint64_t features);
/* Largest frame (no vnet header) the guest may transmit with FEATURES. */
uint32_t net_tx_limit(uint64_t features);
/* Check a transmit header against the negotiated FEATURES and the frame length. Returns 0 or
 * -EINVAL (drop the frame). */
int net_tx_hdr_check(const struct virtio_net_hdr_v1 *h, uint64_t features, size_t frame_len);
/* Check a received frame's header (from a vnet-header backend) against what the guest
 * negotiated. Returns 0 or -EINVAL (drop the frame). */
int net_rx_hdr_check(const struct virtio_net_hdr_v1 *h, uint64_t features);
/* Start B in the quiet state (not in bulk mode). */
void net_bulk_init(struct net_bulk *b);
/* Feed one frame to B: FRAME_LEN bytes (no vnet header) with GSO_TYPE, in direction DIR (0
 * receive, 1 transmit). A frame is large when it is a GSO frame or longer than NET_MTU. Returns
 * 1 when bulk mode starts, -1 when it ends, 0 otherwise. */
int net_bulk_frame(struct net_bulk *b, unsigned dir, size_t frame_len, uint8_t gso_type);
/* Build in DST (at most MAX entries) the segments of SRC (N entries) that follow the first SKIP
 * bytes. Returns the number of entries, or -E2BIG / -EINVAL (SRC shorter than SKIP). */
int net_iov_skip(struct iovec *dst, unsigned max, const struct iovec *src, unsigned n, size_t skip);

#endif
