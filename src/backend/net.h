/* net.h — contract between virtio-net and its host backends (tap, user-mode networking). */
#ifndef TRUCE_BACKEND_NET_H
#define TRUCE_BACKEND_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "platform/config.h"

struct evloop;

/* Size of the virtio-net header exchanged with vnet-header backends: struct virtio_net_hdr_v1
 * (VERSION_1 or MRG_RXBUF framing), the same layout the tap device is told to use. */
#define NET_VNET_HDR_LEN 12
/* Largest frame a backend hands over: a 64 KiB GSO frame plus Ethernet + VLAN headers. */
#define NET_MAX_FRAME (65535 + 14 + 4)

/* Offloads the guest can take in (received frames with partial checksums / GSO); the tap device
 * is told to use exactly these. Bit values are the tun TUN_F_* flags. */
#define NET_OFFLOAD_CSUM 0x01
#define NET_OFFLOAD_TSO4 0x02
#define NET_OFFLOAD_TSO6 0x04
#define NET_OFFLOAD_ECN  0x08

struct net_backend;

/* Callbacks from a backend to its frontend; run on the VM's I/O thread from event-loop dispatch,
 * never from inside a net_backend_ops call (so the frontend may hold its lock around those). */
struct net_backend_client {
    /* Frames may be waiting: call recv() until it returns -EAGAIN. Only called while rx is
     * enabled (net_backend_ops.rx_enable). */
    void (*rx_ready)(void *opaque);
    /* A send() that returned -EAGAIN may now succeed. */
    void (*tx_ready)(void *opaque);
    void *opaque;
};

/* Every call below is made on the VM's I/O thread (the thread running the evloop given at open);
 * backends are not thread-safe. */
struct net_backend_ops {
    const char *name;
    /* Send one frame from the guest, gathered from IOV. With hdr_len > 0 the frame starts with a
     * virtio_net_hdr_v1 of hdr_len bytes. Returns 0 (sent or dropped by the host network),
     * -EAGAIN (host queue full: retry after tx_ready) or another -errno (frame dropped). */
    int (*send)(struct net_backend *be, const struct iovec *iov, unsigned iovcnt);
    /* Receive one frame into BUF (LEN bytes, at least hdr_len + NET_MAX_FRAME is always
     * enough). Returns the frame length (header included when hdr_len > 0), -EAGAIN when no
     * frame is waiting, or another -errno. */
    ssize_t (*recv)(struct net_backend *be, void *buf, size_t len);
    /* Like recv, into the segments IOV (IOVCNT entries; the caller offers at least hdr_len +
     * NET_MAX_FRAME bytes). NULL when the backend cannot (the frontend then uses recv). */
    ssize_t (*recvv)(struct net_backend *be, const struct iovec *iov, unsigned iovcnt);
    /* Start (ON) or stop watching the host side for received frames. While stopped the backend
     * does not read from the host and does not call rx_ready. */
    void (*rx_enable)(struct net_backend *be, bool on);
    /* Tell the backend which NET_OFFLOAD_* the guest accepts on received frames. Returns 0 or
     * -errno. NULL when the backend has no vnet header (hdr_len == 0). The one op that may be
     * called from any thread (device activation and reset run on vCPU threads). */
    int (*set_offload)(struct net_backend *be, unsigned offloads);
    /* Multiqueue tap: attach (ON) this queue to the interface, or detach it, so the host kernel
     * steers frames only to the queues of pairs the guest uses. Returns 0 or -errno. NULL for
     * single-queue backends. Any thread (like set_offload). */
    int (*set_queue)(struct net_backend *be, bool on);
    /* Stop watching fds, close them and free BE. */
    void (*close)(struct net_backend *be);
};

/* Common head of every backend. */
struct net_backend {
    const struct net_backend_ops *ops;
    struct evloop *loop;
    struct net_backend_client client;
    unsigned hdr_len;      /* 0 (plain Ethernet frames) or NET_VNET_HDR_LEN */
    unsigned offload_caps; /* NET_OFFLOAD_* the backend can deliver and accept from the guest */
    bool link_up;
    uint64_t rx_dropped;        /* frames for the guest the backend dropped (its queue was full) */
    char desc[CFG_ID_LEN + 16]; /* for logs: "tap tap0", "user net0" */
};

/* Open the backend NC describes: fds are opened and watched on LOOP now, rx starts disabled.
 * On error return -errno with one line naming the problem in ERR. A tap with nc->queues > 1 is
 * opened once per queue (QUEUE 0 first: it creates the interface when missing) with
 * IFF_MULTI_QUEUE. */
int tap_backend_open(const struct net_config *nc, unsigned queue, struct evloop *loop,
                     const struct net_backend_client *client, struct net_backend **out, char *err,
                     size_t errlen);
int slirp_backend_open(const struct net_config *nc, struct evloop *loop,
                       const struct net_backend_client *client, struct net_backend **out, char *err,
                       size_t errlen);

/* The tap file descriptor behind BE (a tap backend), for vhost-net's VHOST_NET_SET_BACKEND; -1 for
 * any other backend or a tap whose interface went away. */
int tap_backend_fd(struct net_backend *be);

#endif
