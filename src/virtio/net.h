/* net.h — virtio-net device state, its counters, and the pure header/feature helpers. */
#ifndef TRUCE_VIRTIO_NET_H
#define TRUCE_VIRTIO_NET_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend/net.h"
#include "config.h"
#include "virtio/virtio.h"

#define NET_QUEUE_SIZE 256
#define NET_RXQ        0
#define NET_TXQ        1
#define NET_MTU        1500
#define NET_RX_IOV     32  /* segments per receive chain (Linux uses at most MAX_SKB_FRAGS + 2) */
#define NET_TX_IOV     64  /* segments per transmit chain */
#define NET_TX_BUDGET  256 /* chains per queue run before yielding to other work */
#define NET_RX_BUDGET  256 /* frames per run */

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_VNET_HDR_LEN, "virtio_net_hdr_v1 size");
_Static_assert(sizeof(struct virtio_net_config) >= 12, "virtio_net_config has mac/status/mtu");
#define NET_CONFIG_SIZE 12 /* mac[6], status, max_virtqueue_pairs, mtu */

/* Counters for the metrics API (read with virtio_net_counters). */
struct net_counters {
    uint64_t rx_packets, rx_bytes; /* delivered to the guest */
    uint64_t rx_dropped;           /* frames that never reached the guest */
    uint64_t tx_packets, tx_bytes; /* accepted by the backend */
    uint64_t tx_dropped;           /* malformed, oversized, link down or refused by the host */
};

/* A receive chain popped from the ring but not yet returned (mergeable buffers gather several). */
struct net_rx_chain {
    struct virtq_chain chain;
    struct iovec iov[NET_RX_IOV];
};

struct virtio_net {
    struct virtio_dev vdev;
    struct net_backend *be;
    char id[CFG_ID_LEN];
    unsigned index; /* position in vm->cfg.nets */
    uint8_t mac[6];
    bool admin_up;     /* link state set from the host (API) */
    bool stopped;      /* VM teardown started: backend callbacks do nothing */
    uint32_t tx_limit; /* largest frame (without the vnet header) the guest may send */
    /* receive */
    uint8_t *rxbuf; /* vnet header + frame read from the backend */
    size_t rx_len;  /* bytes of the pending frame in rxbuf including the header; 0: none */
    struct net_rx_chain *held; /* NET_QUEUE_SIZE entries */
    unsigned nheld;
    /* transmit */
    struct virtq_chain tx_chain;
    struct iovec tx_iov[NET_TX_IOV];
    struct iovec tx_send[NET_TX_IOV + 1];
    struct virtio_net_hdr_v1 tx_hdr;
    bool tx_pending; /* tx_chain popped, backend said EAGAIN */
    struct net_counters stats;
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
/* Set the host side of the link up or down; the guest gets a config-change interrupt. */
void virtio_net_set_link(struct virtio_net *n, bool up);

/* ---- net_rx.c (I/O thread, device lock held) ------------------------------------------------- */
/* Move frames from the backend into the receive queue until one of them runs dry. */
void net_rx_pump(struct virtio_net *n);
/* Forget held chains and the pending frame (device reset). */
void net_rx_reset(struct virtio_net *n);

/* ---- net_hdr.c: pure helpers (unit-tested) ----------------------------------------------------
 */
/* The default MAC of interface INDEX of VM_ID: stable, unicast, locally administered. */
void net_default_mac(const char *vm_id, unsigned index, uint8_t mac[6]);
/* Feature bits to offer for a backend with OFFLOAD_CAPS (NET_OFFLOAD_*). */
uint64_t net_host_features(unsigned offload_caps);
/* False when the driver's FEATURES break the spec's dependencies (TSO without CSUM...). */
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
/* Build in DST (at most MAX entries) the segments of SRC (N entries) that follow the first SKIP
 * bytes. Returns the number of entries, or -E2BIG / -EINVAL (SRC shorter than SKIP). */
int net_iov_skip(struct iovec *dst, unsigned max, const struct iovec *src, unsigned n, size_t skip);

#endif
