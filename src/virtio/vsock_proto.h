/* vsock_proto.h — virtio-vsock packet and connection engine: guest packets <-> host UNIX sockets.
 */
#ifndef TRUCE_VSOCK_PROTO_H
#define TRUCE_VSOCK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The guest-visible packet header (virtio spec 5.10.6), little-endian. */
struct vsock_hdr {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio_vsock_hdr is 44 bytes");

#define VSOCK_HOST_CID       2
#define VSOCK_TYPE_STREAM    1
#define VSOCK_MAX_CONNS      256          /* connections, including host clients in handshake */
#define VSOCK_CONN_BUF       (256 * 1024) /* buf_alloc advertised to the guest, per connection */
#define VSOCK_MAX_PKT        (64 * 1024)  /* largest payload accepted from or sent to the guest */
#define VSOCK_RST_QUEUE      256          /* RSTs waiting for the guest */
#define VSOCK_HANDSHAKE_MS   5000         /* host client must send "CONNECT P\n" within this */
#define VSOCK_CONNECT_MS     2000         /* guest must answer a host-initiated REQUEST within */
#define VSOCK_CLOSE_MS       5000         /* flushing to the host before RST gives up after */
#define VSOCK_EPHEMERAL_BASE (1U << 30)   /* local ports of host-initiated connections */
#define VSOCK_MAX_IOV        64           /* payload segments the engine looks at */

/* Counters (read by metrics; plain values). */
struct vsock_stats {
    uint64_t rx_packets, rx_bytes; /* to the guest */
    uint64_t tx_packets, tx_bytes; /* from the guest */
    uint64_t malformed;            /* guest packets dropped: bad cid, length, op */
    uint64_t rst_sent;             /* RSTs sent to the guest */
    uint64_t credit_violations;    /* guest sent more than its credit: connection reset */
    uint64_t rst_dropped;          /* RST queue full */
    uint64_t conns_refused;        /* table full or host endpoint missing */
    uint64_t conns_opened;
};

struct vsock_engine;

/* Create an engine for guest CID serving the host side at UDS_PATH: listens on UDS_PATH (an old
 * socket file there is replaced) and connects guest connections to port P to "UDS_PATH_P".
 * Everything the engine watches is in one epoll fd (vsock_engine_fd). Returns 0 or -errno. */
int vsock_engine_new(uint64_t guest_cid, const char *uds_path, struct vsock_engine **out);
/* Close every connection and the listener, unlink UDS_PATH, free E. NULL is a no-op. */
void vsock_engine_free(struct vsock_engine *e);
/* Close every connection (device reset): the guest's view is gone. The listener stays. */
void vsock_engine_reset(struct vsock_engine *e);
/* The epoll fd to watch for EPOLLIN; call vsock_engine_poll when it is readable. */
int vsock_engine_fd(const struct vsock_engine *e);
/* Handle whatever host sockets and timers are ready (never blocks). */
void vsock_engine_poll(struct vsock_engine *e);

/* Consume one packet from the guest: HDR (already copied out of the ring) and its payload,
 * gathered from PAYLOAD (PAYLOAD_LEN bytes were available after the header in the chain; at most
 * VSOCK_MAX_IOV segments are used).
 * Malformed packets are counted and dropped or answered with RST; never fails. */
void vsock_engine_guest_tx(struct vsock_engine *e, const struct vsock_hdr *hdr,
                           const struct iovec *payload, unsigned niov, size_t payload_len);
/* True when a packet for the guest is waiting (then call vsock_engine_guest_rx). */
bool vsock_engine_has_rx(const struct vsock_engine *e);
/* Build the next packet for the guest: the header into HDR and up to CAP payload bytes read
 * straight into PAYLOAD (NIOV segments). Returns 1 when HDR was filled (payload length is
 * HDR->len), 0 when nothing could be built (nothing waiting, or only data and CAP is 0). Visits
 * each queued connection at most once per call. */
int vsock_engine_guest_rx(struct vsock_engine *e, struct vsock_hdr *hdr,
                          const struct iovec *payload, unsigned niov, size_t cap);

const struct vsock_stats *vsock_engine_stats(const struct vsock_engine *e);
struct vm;
/* The counters of VM's vsock device (for metrics). Returns 0, or -ENODEV without one. */
int virtio_vsock_stats(struct vm *vm, struct vsock_stats *out);
/* Connections currently open (any state). */
unsigned vsock_engine_nconns(const struct vsock_engine *e);

/* Pure helpers, exposed for tests. */
/* Parse a host client's line "CONNECT <port>\n" (LEN bytes including the newline). Returns 0
 * with *PORT set, or -EINVAL. */
int vsock_parse_connect(const char *line, size_t len, uint32_t *port);
/* Credit the peer gives us: BUF_ALLOC - (TX_CNT - FWD_CNT), 0 when the peer's numbers make no
 * sense (more in flight than its buffer). */
uint32_t vsock_peer_credit(uint32_t buf_alloc, uint32_t fwd_cnt, uint32_t tx_cnt);

/* ---- engine state (plain structs; vsock_proto.c = guest side, vsock_host.c = host sockets) --- */
enum vconn_state {
    VC_FREE = 0,
    VC_HANDSHAKE,   /* host client accepted, reading "CONNECT P\n" */
    VC_CONNECTING,  /* REQUEST sent to the guest, waiting for RESPONSE */
    VC_ESTABLISHED, /* data flows */
    VC_CLOSING,     /* guest shut both ways: flushing to the host, then RST */
};

/* Control packets a connection owes the guest (vconn.ctl bits). */
#define VC_CTL_REQUEST        0x01
#define VC_CTL_RESPONSE       0x02
#define VC_CTL_SHUTDOWN       0x04
#define VC_CTL_CREDIT_UPDATE  0x08
#define VC_CTL_CREDIT_REQUEST 0x10

struct vconn {
    enum vconn_state state;
    int fd;               /* host UNIX socket */
    uint32_t local_port;  /* host side */
    uint32_t peer_port;   /* guest side */
    uint32_t ctl;         /* VC_CTL_* owed to the guest */
    uint32_t events;      /* epoll interest now (0: not in the epoll set) */
    bool queued;          /* in the ready FIFO */
    uint64_t deadline_ns; /* 0: none */
    /* guest -> host */
    uint32_t rx_cnt;       /* payload bytes received from the guest */
    uint32_t fwd_cnt;      /* of those, written to the host socket */
    uint32_t fwd_cnt_sent; /* fwd_cnt last told to the guest */
    uint8_t *buf;          /* VSOCK_CONN_BUF ring of bytes the host socket did not take yet */
    uint32_t buf_off, buf_len;
    bool guest_shut_send; /* guest will send no more */
    bool guest_shut_rcv;  /* guest will receive no more */
    bool host_wr_shut;    /* shutdown(SHUT_WR) done on the host socket */
    /* host -> guest */
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    uint32_t tx_cnt; /* payload bytes sent to the guest */
    bool host_readable, host_eof, credit_requested;
    /* handshake line of a host client */
    char line[24];
    uint8_t line_len;
};

struct vsock_rst {
    uint32_t local_port, peer_port;
};

struct vsock_engine {
    uint64_t guest_cid;
    char uds_path[108];
    int listen_fd, epfd, timer_fd;
    bool timer_dirty;
    uint64_t listen_retry_ns; /* listener out of the set until then (0: in it) */
    struct vconn conns[VSOCK_MAX_CONNS];
    unsigned nconns;
    uint16_t ready[VSOCK_MAX_CONNS]; /* FIFO of connection indices with something to send */
    unsigned ready_head, ready_count;
    struct vsock_rst rst[VSOCK_RST_QUEUE];
    unsigned rst_head, rst_count;
    uint32_t next_ephemeral;
    struct vsock_stats stats;
};

/* Internal, shared by vsock_proto.c and vsock_host.c. */
#define VSOCK_EV_LISTEN 0xffff0001U /* epoll data of the listener */
#define VSOCK_EV_TIMER  0xffff0002U /* epoll data of the timerfd */
struct vconn *vconn_alloc(struct vsock_engine *e);
void vconn_free(struct vsock_engine *e, struct vconn *c);
/* Queue an RST to the guest for C's ports and free C. */
void vconn_reset(struct vsock_engine *e, struct vconn *c);
/* Re-evaluate C's epoll interest, timers and place in the ready FIFO after a state change. */
void vconn_refresh(struct vsock_engine *e, struct vconn *c);
void vsock_queue_rst(struct vsock_engine *e, uint32_t local_port, uint32_t peer_port);
int vsock_host_open(struct vsock_engine *e);
void vsock_host_close(struct vsock_engine *e);
/* Take C's fd out of the epoll set and close it. */
void vsock_host_release(struct vsock_engine *e, struct vconn *c);
void vsock_host_update_events(struct vsock_engine *e, struct vconn *c);
void vsock_host_arm_timer(struct vsock_engine *e);
/* Connect to "<uds_path>_PORT". Returns the fd or -errno. */
int vsock_host_connect(struct vsock_engine *e, uint32_t port);
/* Forward LEN guest bytes from IOV to C's host socket, buffering what it does not take.
 * Returns 0 or -errno (the connection must be reset). */
int vsock_host_write(struct vsock_engine *e, struct vconn *c, const struct iovec *iov,
                     unsigned niov, size_t len);
/* Write C's buffered bytes. Returns 0 or -errno. */
int vsock_host_flush(struct vsock_engine *e, struct vconn *c);
/* Read up to CAP bytes from C's host socket into IOV. Returns bytes, 0 on EOF, -errno. */
ssize_t vsock_host_read(struct vconn *c, const struct iovec *iov, unsigned niov, size_t cap);
/* A connection whose guest side is finished: RST it once its buffer reached the host. */
void vconn_try_finish(struct vsock_engine *e, struct vconn *c);

#endif
