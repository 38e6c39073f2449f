/* test_net_hdr.c — virtio-net: header/feature rules, and the device over a real PCI transport
 * with the user-mode backend (mergeable RX, waiting for buffers, drops that are counted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netframes.h"
#include "virtio/net.h"
#include "virtio_fixture.h"

#define BIT(n) (1ULL << (n))
#define V1     BIT(VIRTIO_F_VERSION_1)
#define MRG    BIT(VIRTIO_NET_F_MRG_RXBUF)
#define DOK    VIRTIO_CONFIG_S_DRIVER_OK

/* ---- pure helpers ------------------------------------------------------------------------------
 */

static void default_mac(void **state)
{
    uint8_t a[6], b[6], c[6], d[6];
    net_default_mac("vm-a", 0, a);
    net_default_mac("vm-a", 0, b);
    net_default_mac("vm-a", 1, c);
    net_default_mac("vm-b", 0, d);
    assert_memory_equal(a, b, 6);        /* stable */
    assert_memory_not_equal(a, c, 6);    /* per interface */
    assert_memory_not_equal(a, d, 6);    /* per VM */
    assert_int_equal(a[0] & 0x03, 0x02); /* unicast, locally administered */
    assert_int_equal(c[0] & 0x03, 0x02);
}

static void features_follow_backend(void **state)
{
    uint64_t user = net_host_features(0);
    uint64_t tap =
        net_host_features(NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN);
    assert_true(user & MRG);
    assert_false(user & BIT(VIRTIO_NET_F_CSUM));
    assert_false(user & BIT(VIRTIO_NET_F_GUEST_TSO4));
    uint64_t want = BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
                    BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
                    BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
                    BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | MRG;
    assert_int_equal(tap & want, want);
    assert_true(net_features_valid(tap));
    assert_true(net_features_valid(user));
    /* dependencies of the spec */
    assert_false(net_features_valid(BIT(VIRTIO_NET_F_GUEST_TSO4)));
    assert_false(net_features_valid(BIT(VIRTIO_NET_F_HOST_TSO6)));
    assert_false(net_features_valid(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_ECN)));
    assert_true(net_features_valid(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4)));
    /* GUEST_ANNOUNCE's acknowledgement needs the control queue */
    assert_false(net_features_valid(BIT(VIRTIO_NET_F_GUEST_ANNOUNCE)));
    assert_true(net_features_valid(BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) | BIT(VIRTIO_NET_F_CTRL_VQ)));
    /* the tap is told exactly what the guest takes */
    assert_int_equal(net_guest_offloads(tap),
                     NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN);
    assert_int_equal(net_guest_offloads(BIT(VIRTIO_NET_F_GUEST_TSO4)), 0);
    assert_int_equal(net_guest_offloads(BIT(VIRTIO_NET_F_GUEST_CSUM)), NET_OFFLOAD_CSUM);
    assert_int_equal(net_tx_limit(0), 1518);
    assert_int_equal(net_tx_limit(tap), NET_MAX_FRAME);
}

static void tx_header_rules(void **state)
{
    uint64_t csum = BIT(VIRTIO_NET_F_CSUM), tso4 = csum | BIT(VIRTIO_NET_F_HOST_TSO4);
    struct virtio_net_hdr_v1 h = {0};
    assert_int_equal(net_tx_hdr_check(&h, 0, 60), 0);
    assert_int_equal(net_tx_hdr_check(&h, 0, 13), -EINVAL);   /* runt */
    assert_int_equal(net_tx_hdr_check(&h, 0, 1519), -EINVAL); /* beyond MTU without TSO */
    assert_int_equal(net_tx_hdr_check(&h, tso4, 60000), 0);
    assert_int_equal(net_tx_hdr_check(&h, tso4, NET_MAX_FRAME + 1), -EINVAL);
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.csum_start = htole16(34);
    h.csum_offset = htole16(6);
    assert_int_equal(net_tx_hdr_check(&h, 0, 60), -EINVAL); /* CSUM not negotiated */
    assert_int_equal(net_tx_hdr_check(&h, csum, 60), 0);
    assert_int_equal(net_tx_hdr_check(&h, csum, 41), -EINVAL); /* checksum field past the end */
    h.csum_start = htole16(0xffff);
    h.csum_offset = htole16(0xffff);
    assert_int_equal(net_tx_hdr_check(&h, csum, 60), -EINVAL);
    h.csum_start = htole16(34);
    h.csum_offset = htole16(16);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.gso_size = htole16(1448);
    assert_int_equal(net_tx_hdr_check(&h, csum, 60), -EINVAL); /* TSO4 not negotiated */
    assert_int_equal(net_tx_hdr_check(&h, tso4, 60), 0);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    assert_int_equal(net_tx_hdr_check(&h, tso4, 60), -EINVAL);
    h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
    assert_int_equal(net_tx_hdr_check(&h, tso4, 60), -EINVAL); /* UFO never offered */
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
    assert_int_equal(net_tx_hdr_check(&h, tso4, 60), -EINVAL); /* ECN not negotiated */
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.gso_size = 0;
    assert_int_equal(net_tx_hdr_check(&h, tso4, 60), -EINVAL);
    h.gso_size = htole16(1448);
    h.flags = 0;
    assert_int_equal(net_tx_hdr_check(&h, tso4, 60), -EINVAL); /* GSO without a partial csum */
    h.flags = 0x80;
    h.gso_type = 0;
    assert_int_equal(net_tx_hdr_check(&h, tso4, 60), -EINVAL); /* unknown flag */
}

static void rx_header_rules(void **state)
{
    uint64_t gcsum = BIT(VIRTIO_NET_F_GUEST_CSUM);
    struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM};
    assert_int_equal(net_rx_hdr_check(&h, 0), -EINVAL);
    assert_int_equal(net_rx_hdr_check(&h, gcsum), 0);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    assert_int_equal(net_rx_hdr_check(&h, gcsum), -EINVAL);
    assert_int_equal(net_rx_hdr_check(&h, gcsum | BIT(VIRTIO_NET_F_GUEST_TSO6)), 0);
}

static void iov_skip(void **state)
{
    uint8_t a[5], b[10], c[3];
    struct iovec src[3] = {{a, 5}, {b, 10}, {c, 3}}, dst[3];
    assert_int_equal(net_iov_skip(dst, 3, src, 3, 12), 2); /* header spans a and b */
    assert_ptr_equal(dst[0].iov_base, b + 7);
    assert_int_equal(dst[0].iov_len, 3);
    assert_ptr_equal(dst[1].iov_base, c);
    assert_int_equal(net_iov_skip(dst, 3, src, 3, 18), 0);
    assert_int_equal(net_iov_skip(dst, 3, src, 3, 19), -EINVAL);
    assert_int_equal(net_iov_skip(dst, 1, src, 3, 0), -E2BIG);
}

/* Bulk mode: on with the first large or GSO frame either way, off after NET_BULK_QUIET small
 * frames in each direction since the last large one. */
static void bulk_detector(void **state)
{
    struct net_bulk b;
    net_bulk_init(&b);
    assert_false(b.on);
    for (unsigned i = 0; i < 3 * NET_BULK_QUIET; i++) /* interactive traffic stays off */
        assert_int_equal(net_bulk_frame(&b, i & 1, NET_MTU, VIRTIO_NET_HDR_GSO_NONE), 0);
    assert_int_equal(net_bulk_frame(&b, 1, 20000, VIRTIO_NET_HDR_GSO_TCPV4), 1); /* TSO send */
    assert_true(b.on);
    assert_int_equal(net_bulk_frame(&b, 1, 60, VIRTIO_NET_HDR_GSO_TCPV6), 0);  /* GSO, any size */
    assert_int_equal(net_bulk_frame(&b, 0, 1514, VIRTIO_NET_HDR_GSO_NONE), 0); /* full frame */
    /* the receive side went quiet first; the transmit side decides */
    for (unsigned i = 0; i < NET_BULK_QUIET; i++)
        assert_int_equal(net_bulk_frame(&b, 0, 54, VIRTIO_NET_HDR_GSO_NONE), 0);
    for (unsigned i = 0; i + 1 < NET_BULK_QUIET; i++)
        assert_int_equal(net_bulk_frame(&b, 1, 54, VIRTIO_NET_HDR_GSO_NONE), 0);
    assert_true(b.on);
    assert_int_equal(net_bulk_frame(&b, 1, 54, VIRTIO_NET_HDR_GSO_NONE), -1);
    assert_false(b.on);
    /* acknowledgements flowing back never end a bulk receive */
    assert_int_equal(net_bulk_frame(&b, 0, 65000, VIRTIO_NET_HDR_GSO_TCPV4), 1);
    for (unsigned i = 0; i < 4 * NET_BULK_QUIET; i++)
        assert_int_equal(net_bulk_frame(&b, 1, 54, VIRTIO_NET_HDR_GSO_NONE), 0);
    assert_true(b.on);
}

/* ---- the device, user-mode backend, real transport ----------------------------------------------
 */

#define RXQ      0
#define TXQ      1
#define TAP_NAME "trtap1"
static const uint8_t gmac[6] = {0x52, 0x54, 0x00, 0x01, 0x02, 0x03};

struct nfx {
    struct vfix vf;
    struct virtio_net *n;
    uint16_t tx_head, rx_head;
};

static bool in_netns; /* root in a throwaway network namespace: the tap tests can run */

/* The device on PCI slot 1 with a backend of KIND (NET_TAP: the tap TAP_NAME, created). */
static struct nfx *nfx_new(enum net_kind kind)
{
    struct nfx *x = calloc(1, sizeof(*x));
    struct vfix *f = &x->vf;
    vf_init(f);
    strcpy(f->vm.cfg.vm_id, "vm-test");
    f->vm.cfg.nnets = 1;
    strcpy(f->vm.cfg.nets[0].id, "net0");
    f->vm.cfg.nets[0].kind = kind;
    strcpy(f->vm.cfg.nets[0].tap, TAP_NAME);
    char err[256] = "";
    int rc = virtio_net_create(&f->vm, 0, err, sizeof(err));
    if (rc)
        fail_msg("virtio_net_create: %s", err);
    vf_probe(f, 1);
    x->n = virtio_net_find(&f->vm, "net0");
    assert_non_null(x->n);
    assert_null(virtio_net_find(&f->vm, "net1"));
    return x;
}

static int dev_setup(void **state)
{
    *state = nfx_new(NET_USER);
    return 0;
}

static int tap_setup(void **state)
{
    *state = in_netns ? nfx_new(NET_TAP) : NULL;
    return 0;
}

static int dev_teardown(void **state)
{
    struct nfx *x = *state;
    if (!x)
        return 0;
    vf_fini(&x->vf);
    free(x);
    return 0;
}

/* Transmit FRAME with a zero vnet header as two descriptors (header, frame) and wait for it. */
static void tx_frame(struct nfx *x, const void *hdr, const void *frame, uint32_t len)
{
    struct vfix *f = &x->vf;
    uint16_t d = (uint16_t)((x->tx_head * 2) % f->qsize[TXQ]);
    uint64_t buf = VF_BUF + 0x20000ULL * (x->tx_head % 4);
    static const struct virtio_net_hdr_v1 zero;
    guest_mem_write(&f->vm.mem, buf, hdr ? hdr : &zero, NET_VNET_HDR_LEN);
    guest_mem_write(&f->vm.mem, buf + 0x100, frame, len);
    vf_desc(f, TXQ, d, buf, NET_VNET_HDR_LEN, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
    vf_desc(f, TXQ, d + 1u, buf + 0x100, len, 0, 0);
    vf_offer(f, TXQ, d);
    x->tx_head++;
    assert_true(vf_wait_used(f, TXQ, x->tx_head));
}

/* Offer one receive buffer of LEN bytes; returns its guest address. */
static uint64_t rx_offer(struct nfx *x, uint32_t len)
{
    struct vfix *f = &x->vf;
    uint16_t d = (uint16_t)(x->rx_head % f->qsize[RXQ]);
    uint64_t buf = VF_BUF + 0x100000ULL + 0x1000ULL * d;
    vf_desc(f, RXQ, d, buf, len, VRING_DESC_F_WRITE, 0);
    vf_offer(f, RXQ, d);
    x->rx_head++;
    return buf;
}

static size_t arp_request(uint8_t *fr)
{
    uint32_t sip, tip;
    inet_pton(AF_INET, "10.0.2.15", &sip);
    inet_pton(AF_INET, "10.0.2.2", &tip);
    return nf_arp_request(fr, gmac, sip, tip);
}

static void config_space(void **state)
{
    struct nfx *x = *state;
    struct vfix *f = &x->vf;
    uint8_t mac[6];
    net_default_mac("vm-test", 0, mac);
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(vf_rd(f, f->devcfg + i, 1), mac[i]);
    assert_int_equal(vf_rd(f, f->devcfg + 6, 2), VIRTIO_NET_S_LINK_UP);
    assert_int_equal(vf_rd(f, f->devcfg + 10, 2), NET_MTU);
    uint64_t feat = vf_features(f);
    assert_true(feat & MRG);
    assert_false(feat & BIT(VIRTIO_NET_F_CSUM)); /* user-mode backend: no offloads */
    /* GUEST_ANNOUNCE and its control queue, after the pair */
    assert_true(feat & BIT(VIRTIO_NET_F_GUEST_ANNOUNCE));
    assert_true(feat & BIT(VIRTIO_NET_F_CTRL_VQ));
    assert_int_equal(vf_rd(f, COMMON_OFF(num_queues), 2), 3);
}

/* The reply waits while the guest has no buffers, then spans two mergeable buffers. */
static void rx_waits_then_merges(void **state)
{
    struct nfx *x = *state;
    struct vfix *f = &x->vf;
    struct net_counters c;
    uint8_t fr[64];
    vf_bringup(f, V1 | MRG, 2);
    size_t n = arp_request(fr);
    tx_frame(x, NULL, fr, (uint32_t)n);
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.tx_packets, 1);
    assert_int_equal(c.rx_packets, 0);
    /* slirp pads its ARP reply to 64 bytes: 76 with the header, more than one 48-byte buffer */
    uint64_t b0 = rx_offer(x, 48), b1 = rx_offer(x, 48);
    assert_true(vf_wait_used(f, RXQ, 2));
    struct vring_used_elem e0 = vf_used(f, RXQ, 0), e1 = vf_used(f, RXQ, 1);
    assert_int_equal(e0.len, 48);
    assert_true(e1.len > 0 && e1.len <= 48);
    size_t flen = e0.len + e1.len - NET_VNET_HDR_LEN;
    uint8_t got[96];
    guest_mem_read(&f->vm.mem, b0, got, 48);
    guest_mem_read(&f->vm.mem, b1, got + 48, e1.len);
    struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)got;
    assert_int_equal(le16toh(h->num_buffers), 2);
    assert_true(nf_is_arp_reply(got + NET_VNET_HDR_LEN, flen));
    assert_memory_equal(got + NET_VNET_HDR_LEN, gmac, 6);
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.rx_packets, 1);
    assert_int_equal(c.rx_bytes, flen);
    assert_int_equal(c.rx_dropped, 0); /* waiting for buffers is not dropping */
}

/* Without mergeable buffers a frame that cannot fit is dropped, counted, its buffer returned. */
static void rx_too_small_buffer(void **state)
{
    struct nfx *x = *state;
    struct vfix *f = &x->vf;
    struct net_counters c;
    uint8_t fr[64];
    vf_bringup(f, V1, 2);
    rx_offer(x, 40);
    size_t n = arp_request(fr);
    tx_frame(x, NULL, fr, (uint32_t)n);
    assert_true(vf_wait_used(f, RXQ, 1));
    assert_int_equal(vf_used(f, RXQ, 0).len, 0);
    uint64_t b = rx_offer(x, 128);
    tx_frame(x, NULL, fr, (uint32_t)n);
    assert_true(vf_wait_used(f, RXQ, 2));
    assert_true(vf_used(f, RXQ, 1).len > 40);
    struct virtio_net_hdr_v1 h;
    guest_mem_read(&f->vm.mem, b, &h, sizeof(h));
    assert_int_equal(le16toh(h.num_buffers), 1);
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.rx_dropped, 1);
    assert_int_equal(c.rx_packets, 1);
}

static void tx_bad_frames_dropped(void **state)
{
    struct nfx *x = *state;
    struct net_counters c;
    static uint8_t big[2000];
    uint8_t fr[64];
    vf_bringup(&x->vf, V1 | MRG, 2);
    size_t n = arp_request(fr);
    memcpy(big, fr, n);
    tx_frame(x, NULL, big, sizeof(big)); /* larger than the MTU allows without TSO */
    tx_frame(x, NULL, fr, 10);           /* runt */
    struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 20};
    tx_frame(x, &h, fr, (uint32_t)n); /* offload that was never offered */
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.tx_dropped, 3);
    assert_int_equal(c.tx_packets, 0);
    tx_frame(x, NULL, fr, (uint32_t)n);
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.tx_packets, 1);
}

static void link_down(void **state)
{
    struct nfx *x = *state;
    struct vfix *f = &x->vf;
    struct net_counters c;
    uint8_t fr[64];
    vf_bringup(f, V1 | MRG, 2);
    int before = atomic_load(&f->msis);
    virtio_net_set_link(x->n, false);
    assert_int_equal(vf_rd(f, f->devcfg + 6, 2), 0);
    assert_int_equal(atomic_load(&f->msis), before + 1); /* config-change interrupt */
    tx_frame(x, NULL, fr, (uint32_t)arp_request(fr));
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.tx_dropped, 1);
    virtio_net_set_link(x->n, true);
    assert_int_equal(vf_rd(f, f->devcfg + 6, 2), VIRTIO_NET_S_LINK_UP);
}

/* The scheduling policy of the fixture's I/O thread. */
static int io_policy(struct vfix *f)
{
    struct sched_param sp;
    int policy = -1;
    assert_int_equal(pthread_getschedparam(f->loop_thread, &policy, &sp), 0);
    return policy;
}

/* Full-size frames switch the I/O thread to SCHED_BATCH; small frames switch it back. */
static void bulk_mode_io_thread(void **state)
{
    struct nfx *x = *state;
    struct vfix *f = &x->vf;
    static uint8_t big[NET_MTU + 14];
    uint8_t fr[64];
    vf_bringup(f, V1 | MRG, 2);
    assert_int_equal(io_policy(f), SCHED_OTHER);
    size_t n = arp_request(fr);
    memcpy(big, fr, n); /* an ARP request padded to a full Ethernet frame */
    tx_frame(x, NULL, big, sizeof(big));
    assert_int_equal(io_policy(f), SCHED_BATCH);
    for (unsigned i = 0; i + 1 < NET_BULK_QUIET; i++)
        tx_frame(x, NULL, fr, (uint32_t)n);
    assert_int_equal(io_policy(f), SCHED_BATCH);
    tx_frame(x, NULL, fr, (uint32_t)n);
    assert_int_equal(io_policy(f), SCHED_OTHER);
    struct net_counters c;
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.tx_packets, NET_BULK_QUIET + 1);
    assert_int_equal(c.tx_dropped, 0);
}

/* ---- the device on a real tap: frames read straight into mergeable buffers ------------------ */

/* Send an Ethernet frame of LEN bytes (to the guest, a test EtherType, payload bytes I * 7 + SEED)
 * out of the tap from the host side, so that the device reads it. Returns the frame in FR. */
static void host_send(uint8_t *fr, size_t len, uint8_t seed)
{
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_ll a = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(TAP_NAME)};
    assert_true(a.sll_ifindex > 0);
    static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
    uint8_t mac[6];
    net_default_mac("vm-test", 0, mac);
    nf_eth(fr, mac, src, 0x88b5); /* IEEE local experimental */
    for (size_t i = 14; i < len; i++)
        fr[i] = (uint8_t)(i * 7 + seed);
    assert_int_equal(sendto(s, fr, len, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)len);
    close(s);
}

/* Check that used entries FIRST.. hold FR (LEN bytes) behind a header naming K buffers, each
 * buffer SIZE bytes at the guest addresses in BUFS (indexed like the used ring). */
static void expect_frame(struct nfx *x, uint16_t first, unsigned k, const uint64_t *bufs,
                         uint32_t size, const uint8_t *fr, size_t len)
{
    struct vfix *f = &x->vf;
    static uint8_t got[4096];
    size_t off = 0;
    assert_true(vf_wait_used(f, RXQ, (uint16_t)(first + k)));
    for (unsigned i = 0; i < k; i++) {
        struct vring_used_elem e = vf_used(f, RXQ, (uint16_t)(first + i));
        assert_int_equal(e.len, MIN((size_t)size, NET_VNET_HDR_LEN + len - off));
        assert_true(off + e.len <= sizeof(got));
        guest_mem_read(&f->vm.mem, bufs[e.id], got + off, e.len);
        off += e.len;
    }
    assert_int_equal(off, NET_VNET_HDR_LEN + len);
    struct virtio_net_hdr_v1 h;
    memcpy(&h, got, sizeof(h));
    assert_int_equal(le16toh(h.num_buffers), k);
    assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    assert_memory_equal(got + NET_VNET_HDR_LEN, fr, len);
}

/* Offer buffers of SIZE bytes for the largest frame, send frames of 1000, 60 and 1514 bytes: they
 * land in the buffers in order, each spanning as many as it needs, the rest staying for the next
 * frames. */
static void rx_frames_in_order(struct nfx *x, uint32_t size)
{
    struct vfix *f = &x->vf;
    static uint64_t bufs[256];
    static uint8_t fr[NET_MTU + 14];
    vf_bringup(f, V1 | MRG, 2);
    unsigned nbuf = (NET_VNET_HDR_LEN + NET_MAX_FRAME) / size + 2;
    for (unsigned i = 0; i < nbuf; i++)
        bufs[i] = rx_offer(x, size);
    const size_t lens[3] = {1000, 60, sizeof(fr)};
    uint16_t used = 0;
    for (unsigned i = 0; i < 3; i++) {
        host_send(fr, lens[i], (uint8_t)i);
        unsigned k = (unsigned)((NET_VNET_HDR_LEN + lens[i] + size - 1) / size);
        expect_frame(x, used, k, bufs, size, fr, lens[i]);
        used = (uint16_t)(used + k);
    }
    struct net_counters c;
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.rx_packets, 3);
    assert_int_equal(c.rx_bytes, 1000 + 60 + sizeof(fr));
    assert_int_equal(c.rx_dropped, 0);
}

/* Straight into the guest's buffers (they can take the largest frame in few segments). */
static void tap_rx_direct(void **state)
{
    struct nfx *x = *state;
    if (!x)
        skip();
    rx_frames_in_order(x, 1024);
}

/* Buffers so small that the largest frame needs more than NET_RX_DIRECT_IOV of them: the same
 * result through the bounce buffer. */
static void tap_rx_tiny_buffers(void **state)
{
    struct nfx *x = *state;
    if (!x)
        skip();
    assert_true((NET_VNET_HDR_LEN + NET_MAX_FRAME + 511) / 512 > NET_RX_DIRECT_IOV);
    rx_frames_in_order(x, 512);
}

/* Fewer buffers than the largest frame needs: frames still arrive (through the bounce buffer),
 * and a frame waits for the buffers the guest adds later. */
static void tap_rx_few_buffers(void **state)
{
    struct nfx *x = *state;
    if (!x)
        skip();
    struct vfix *f = &x->vf;
    static uint64_t bufs[256];
    static uint8_t fr[NET_MTU + 14];
    vf_bringup(f, V1 | MRG, 2);
    for (unsigned i = 0; i < 3; i++)
        bufs[i] = rx_offer(x, 512);
    host_send(fr, 1000, 4);
    expect_frame(x, 0, 2, bufs, 512, fr, 1000);
    host_send(fr, 1200, 5); /* 1212 bytes: one buffer left, the frame waits for two more */
    usleep(20000);
    assert_int_equal(vf_used_idx(f, RXQ), 2);
    for (unsigned i = 3; i < 5; i++)
        bufs[i] = rx_offer(x, 512);
    expect_frame(x, 2, 3, bufs, 512, fr, 1200);
    struct net_counters c;
    virtio_net_counters(x->n, &c);
    assert_int_equal(c.rx_packets, 2);
    assert_int_equal(c.rx_dropped, 0);
}

/* Enter a network namespace of our own without IPv6 (no stray frames on the tap). */
static void enter_netns(void)
{
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "test_net_hdr: not root or no network namespaces: tap tests skipped\n");
        return;
    }
    in_netns = true;
    int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "1", 1) != 1)
            fprintf(stderr, "test_net_hdr: IPv6 stays on\n");
        close(fd);
    }
}

/* The control queue's parser: VQ_PAIRS_SET with 1..max pairs is carried out; more pairs than
 * offered, none, another class or command, a short or long command are refused. */
static void ctrl_parse_pairs_set(void **state)
{
    struct net_ctrl_cmd c;
    const uint8_t ok[] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 4, 0};
    assert_int_equal(net_ctrl_parse(ok, 4, 4, 4, &c), VIRTIO_NET_OK);
    assert_int_equal(c.pairs, 4);
    assert_int_equal(net_ctrl_parse(ok, 4, 4, 3, &c), VIRTIO_NET_ERR); /* more than offered */
    const uint8_t zero[] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0, 0};
    assert_int_equal(net_ctrl_parse(zero, 4, 4, 4, &c), VIRTIO_NET_ERR);
    const uint8_t big[] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0, 0x80};
    assert_int_equal(net_ctrl_parse(big, 4, 4, 8, &c), VIRTIO_NET_ERR);
    assert_int_equal(net_ctrl_parse(ok, 3, 3, 4, &c), VIRTIO_NET_ERR); /* short */
    assert_int_equal(net_ctrl_parse(ok, 4, 5, 4, &c), VIRTIO_NET_ERR); /* long */
    assert_int_equal(net_ctrl_parse(ok, 1, 1, 4, &c), VIRTIO_NET_ERR); /* no header */
    assert_int_equal(net_ctrl_parse(ok, 4, 3, 4, &c), VIRTIO_NET_ERR); /* len > total */
    const uint8_t rx[] = {VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1};
    assert_int_equal(net_ctrl_parse(rx, 3, 3, 4, &c), VIRTIO_NET_ERR); /* not offered */
    const uint8_t rss[] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, 1, 0};
    assert_int_equal(net_ctrl_parse(rss, 4, 4, 4, &c), VIRTIO_NET_ERR);
}

/* ANNOUNCE_ACK has no data: exactly the two header bytes are carried out; data after them, a
 * truncated prefix or another ANNOUNCE command are refused. */
static void ctrl_parse_announce_ack(void **state)
{
    struct net_ctrl_cmd c;
    const uint8_t ack[] = {VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, 0};
    assert_int_equal(net_ctrl_parse(ack, 2, 2, 1, &c), VIRTIO_NET_OK);
    assert_int_equal(c.cls, VIRTIO_NET_CTRL_ANNOUNCE);
    assert_int_equal(c.cmd, VIRTIO_NET_CTRL_ANNOUNCE_ACK);
    assert_int_equal(net_ctrl_parse(ack, 3, 3, 1, &c), VIRTIO_NET_ERR); /* data after it */
    assert_int_equal(net_ctrl_parse(ack, 2, 3, 1, &c), VIRTIO_NET_ERR); /* longer than read */
    assert_int_equal(net_ctrl_parse(ack, 1, 1, 1, &c), VIRTIO_NET_ERR); /* no command byte */
    const uint8_t other[] = {VIRTIO_NET_CTRL_ANNOUNCE, 1};
    assert_int_equal(net_ctrl_parse(other, 2, 2, 1, &c), VIRTIO_NET_ERR);
}

int main(void)
{
    enter_netns();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ctrl_parse_pairs_set),
        cmocka_unit_test(ctrl_parse_announce_ack),
        cmocka_unit_test(default_mac),
        cmocka_unit_test(features_follow_backend),
        cmocka_unit_test(tx_header_rules),
        cmocka_unit_test(rx_header_rules),
        cmocka_unit_test(iov_skip),
        cmocka_unit_test(bulk_detector),
        cmocka_unit_test_setup_teardown(config_space, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(rx_waits_then_merges, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(rx_too_small_buffer, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(tx_bad_frames_dropped, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(link_down, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(bulk_mode_io_thread, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(tap_rx_direct, tap_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(tap_rx_tiny_buffers, tap_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(tap_rx_few_buffers, tap_setup, dev_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
