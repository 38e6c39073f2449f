/* test_tap.c — tap backend against a real tap in a throwaway network namespace (needs root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backend/net.h"
#include "netframes.h"
#include "util/util.h"

#define TAP     "trtap0"
#define HOST_IP "10.9.0.1"
#define GST_IP  "10.9.0.2"

static bool in_netns;
static const uint8_t gmac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

struct fx {
    struct evloop *loop;
    struct net_backend *be;
    uint8_t hostmac[6];
    int rx_calls;
};

static void on_rx(void *opaque)
{
    struct fx *f = opaque;
    f->rx_calls++;
    evloop_stop(f->loop);
}

static void ifreq_for(struct ifreq *r)
{
    memset(r, 0, sizeof(*r));
    strcpy(r->ifr_name, TAP);
}

/* Give the tap HOST_IP/24, learn its MAC, and pin GST_IP to the guest MAC (static ARP). */
static void configure_host_side(struct fx *f)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r;
    struct sockaddr_in *sin = (struct sockaddr_in *)&r.ifr_addr;
    ifreq_for(&r);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, HOST_IP, &sin->sin_addr);
    assert_int_equal(ioctl(s, SIOCSIFADDR, &r), 0);
    inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
    assert_int_equal(ioctl(s, SIOCSIFNETMASK, &r), 0);
    ifreq_for(&r);
    assert_int_equal(ioctl(s, SIOCGIFHWADDR, &r), 0);
    memcpy(f->hostmac, r.ifr_hwaddr.sa_data, 6);
    struct arpreq a = {0};
    struct sockaddr_in *pa = (struct sockaddr_in *)&a.arp_pa;
    pa->sin_family = AF_INET;
    inet_pton(AF_INET, GST_IP, &pa->sin_addr);
    a.arp_ha.sa_family = ARPHRD_ETHER;
    memcpy(a.arp_ha.sa_data, gmac, 6);
    a.arp_flags = ATF_COM | ATF_PERM;
    strcpy(a.arp_dev, TAP);
    assert_int_equal(ioctl(s, SIOCSARP, &a), 0);
    close(s);
}

static int setup(void **state)
{
    if (!in_netns)
        return 0;
    struct fx *f = calloc(1, sizeof(*f));
    f->loop = evloop_new();
    struct net_config nc = {.kind = NET_TAP, .tap = TAP};
    struct net_backend_client cl = {.rx_ready = on_rx, .opaque = f};
    char err[256] = "";
    int rc = tap_backend_open(&nc, 0, f->loop, &cl, &f->be, err, sizeof(err));
    if (rc)
        fail_msg("tap_backend_open: %s", err);
    assert_int_equal(f->be->hdr_len, NET_VNET_HDR_LEN);
    configure_host_side(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (!f)
        return 0;
    f->be->ops->close(f->be);
    evloop_free(f->loop);
    free(f);
    return 0;
}

/* Send FRAME (LEN bytes) from the guest with vnet header H. */
static void gsend(struct fx *f, const struct virtio_net_hdr_v1 *h, const void *frame, size_t len)
{
    struct iovec v[2] = {{(void *)h, sizeof(*h)}, {(void *)frame, len}};
    assert_int_equal(f->be->ops->send(f->be, v, 2), 0);
}

/* Receive frames until MATCH accepts one (at most 5 s of polling). Returns its length with the
 * header in *H and the frame in BUF, or 0. */
static size_t grecv(struct fx *f, struct virtio_net_hdr_v1 *h, uint8_t *buf, size_t cap,
                    bool (*match)(const uint8_t *, size_t))
{
    static uint8_t raw[NET_VNET_HDR_LEN + NET_MAX_FRAME];
    for (int i = 0; i < 5000; i++) {
        ssize_t n = f->be->ops->recv(f->be, raw, sizeof(raw));
        if (n == -EAGAIN) {
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            continue;
        }
        assert_true(n >= NET_VNET_HDR_LEN);
        size_t fl = (size_t)n - NET_VNET_HDR_LEN;
        if (match(raw + NET_VNET_HDR_LEN, fl) && fl <= cap) {
            memcpy(h, raw, sizeof(*h));
            memcpy(buf, raw + NET_VNET_HDR_LEN, fl);
            return fl;
        }
    }
    return 0;
}

static bool is_arp_reply(const uint8_t *p, size_t n)
{
    return nf_is_arp_reply(p, n);
}

static bool is_echo_reply(const uint8_t *p, size_t n)
{
    const uint8_t *l4;
    return nf_ipv4_proto(p, n, &l4) == IPPROTO_ICMP_ && l4[0] == 0;
}

static bool is_udp_9999(const uint8_t *p, size_t n)
{
    const uint8_t *l4;
    return nf_ipv4_proto(p, n, &l4) == IPPROTO_UDP_ && nf_get16(l4 + 2) == 9999;
}

static uint32_t ip4(const char *s)
{
    uint32_t a;
    inet_pton(AF_INET, s, &a);
    return a;
}

static void test_not_a_tap(void **state)
{
    if (!in_netns)
        skip();
    /* a persistent tun (not tap) device of the same kind of name */
    int fd = open("/dev/net/tun", O_RDWR);
    struct ifreq r = {0};
    strcpy(r.ifr_name, "trtun0");
    r.ifr_flags = IFF_TUN | IFF_NO_PI;
    assert_int_equal(ioctl(fd, TUNSETIFF, &r), 0);
    assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
    close(fd);
    struct evloop *l = evloop_new();
    struct net_config nc = {.kind = NET_TAP, .tap = "trtun0"};
    struct net_backend_client cl = {0};
    struct net_backend *be = NULL;
    char err[256] = "";
    assert_true(tap_backend_open(&nc, 0, l, &cl, &be, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "tap=trtun0"));
    evloop_free(l);
    fd = open("/dev/net/tun", O_RDWR);
    assert_int_equal(ioctl(fd, TUNSETIFF, &r), 0);
    assert_int_equal(ioctl(fd, TUNSETPERSIST, 0), 0);
    close(fd);
}

/* Names the kernel refuses, or takes as a pattern ("%d": TUNSETIFF would create tr0 and truce
 * would go on with the literal name), are refused up front with the rule they break. */
static void test_bad_names(void **state)
{
    if (!in_netns)
        skip();
    static const char *const bad[] = {"tr%d", "tr/x", "tr x", "tr:0", ".", "..", "tr\tx", ""};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct evloop *l = evloop_new();
        struct net_config nc = {.kind = NET_TAP};
        str_copy(nc.tap, sizeof(nc.tap), bad[i]);
        struct net_backend_client cl = {0};
        struct net_backend *be = NULL;
        char err[256] = "";
        int rc = tap_backend_open(&nc, 0, l, &cl, &be, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, "interface name") || strstr(err, "exists"))
            fail_msg("tap=%s: rc %d, err '%s'", bad[i], rc, err);
        if (be)
            be->ops->close(be);
        evloop_free(l);
    }
    assert_int_equal(if_nametoindex("tr0"), 0); /* nothing was created from the pattern */
}

static void test_arp_and_ping(void **state)
{
    if (!in_netns)
        skip();
    struct fx *f = *state;
    struct virtio_net_hdr_v1 h = {0};
    uint8_t fr[2048];
    size_t n = nf_arp_request(fr, gmac, ip4(GST_IP), ip4(HOST_IP));
    gsend(f, &h, fr, n);
    n = grecv(f, &h, fr, sizeof(fr), is_arp_reply);
    assert_int_equal(n >= 42, true);
    assert_memory_equal(fr, gmac, 6); /* addressed to the guest */
    assert_memory_equal(fr + 22, f->hostmac, 6);
    memset(&h, 0, sizeof(h));
    n = nf_icmp_echo(fr, f->hostmac, gmac, ip4(GST_IP), ip4(HOST_IP), 7, 1, 56);
    gsend(f, &h, fr, n);
    assert_int_equal(grecv(f, &h, fr, sizeof(fr), is_echo_reply), n);
}

static int udp_socket(const char *ip, uint16_t port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    return s;
}

/* Guest TX: a partial checksum with NEEDS_CSUM is completed by the host, a bad full one is not. */
static void test_tx_checksum_offload(void **state)
{
    if (!in_netns)
        skip();
    struct fx *f = *state;
    int s = udp_socket(HOST_IP, 7777);
    uint8_t fr[256];
    char got[32] = "";
    struct virtio_net_hdr_v1 h = {0};
    size_t n = nf_udp(fr, f->hostmac, gmac, ip4(GST_IP), ip4(HOST_IP), 5555, 7777, "bad", 3, 3);
    gsend(f, &h, fr, n); /* wrong checksum, no offload: the host drops it */
    n = nf_udp(fr, f->hostmac, gmac, ip4(GST_IP), ip4(HOST_IP), 5555, 7777, "partial", 7, 2);
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.csum_start = 34;
    h.csum_offset = 6;
    gsend(f, &h, fr, n);
    assert_int_equal(recv(s, got, sizeof(got), 0), 7);
    assert_memory_equal(got, "partial", 7); /* the bad one never arrived before it */
    close(s);
}

/* Guest RX: with CSUM offload the host hands over partial checksums, without it full ones. */
static void test_rx_offload_follows_guest(void **state)
{
    if (!in_netns)
        skip();
    struct fx *f = *state;
    int s = udp_socket(HOST_IP, 4444);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9999)};
    inet_pton(AF_INET, GST_IP, &to.sin_addr);
    struct virtio_net_hdr_v1 h;
    uint8_t fr[2048];
    assert_int_equal(f->be->ops->set_offload(f->be, NET_OFFLOAD_CSUM), 0);
    assert_int_equal(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
    assert_true(grecv(f, &h, fr, sizeof(fr), is_udp_9999) > 0);
    assert_true(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_int_equal(f->be->ops->set_offload(f->be, 0), 0);
    assert_int_equal(sendto(s, "y", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
    size_t n = grecv(f, &h, fr, sizeof(fr), is_udp_9999);
    assert_true(n > 0);
    assert_int_equal(h.flags, 0);
    const uint8_t *l4;
    nf_ipv4_proto(fr, n, &l4);
    uint32_t pseudo = nf_sum(fr + 26, 8, 0) + IPPROTO_UDP_ + nf_get16(l4 + 4);
    assert_int_equal(nf_fold(nf_sum(l4, nf_get16(l4 + 4), pseudo)), 0); /* checksum valid */
    close(s);
}

/* recvv: one frame scattered over segments of any size, the vnet header split too. */
static void test_recvv_segments(void **state)
{
    if (!in_netns)
        skip();
    struct fx *f = *state;
    struct virtio_net_hdr_v1 h = {0};
    uint8_t fr[2048], a[5], b[20];
    static uint8_t c[NET_VNET_HDR_LEN + NET_MAX_FRAME];
    size_t n = nf_arp_request(fr, gmac, ip4(GST_IP), ip4(HOST_IP));
    gsend(f, &h, fr, n);
    struct iovec v[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
    uint8_t got[sizeof(a) + sizeof(b) + 2048];
    bool arp = false;
    for (int i = 0; i < 5000 && !arp; i++) { /* skip other frames the host may send */
        ssize_t r = f->be->ops->recvv(f->be, v, 3);
        if (r == -EAGAIN) {
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            continue;
        }
        assert_true(r >= (ssize_t)(NET_VNET_HDR_LEN + 14));
        if (r > (ssize_t)sizeof(got))
            continue;
        memcpy(got, a, sizeof(a));
        memcpy(got + sizeof(a), b, sizeof(b));
        memcpy(got + sizeof(a) + sizeof(b), c, (size_t)r - sizeof(a) - sizeof(b));
        n = (size_t)r - NET_VNET_HDR_LEN;
        arp = nf_is_arp_reply(got + NET_VNET_HDR_LEN, n);
    }
    assert_true(arp);
    memcpy(&h, got, sizeof(h));
    assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    assert_memory_equal(got + NET_VNET_HDR_LEN, gmac, 6);
}

static void stop_loop(void *opaque, uint32_t ev)
{
    evloop_stop(opaque);
}

/* rx_ready comes from the event loop only while rx is enabled. */
static void test_rx_ready_callback(void **state)
{
    if (!in_netns)
        skip();
    struct fx *f = *state;
    int s = udp_socket(HOST_IP, 4445);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9999)};
    inet_pton(AF_INET, GST_IP, &to.sin_addr);
    assert_int_equal(sendto(s, "z", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec its = {.it_value = {5, 0}};
    timerfd_settime(tfd, 0, &its, NULL);
    assert_int_equal(evloop_add(f->loop, tfd, EPOLLIN, stop_loop, f->loop), 0);
    f->be->ops->rx_enable(f->be, true);
    evloop_run(f->loop);
    assert_int_equal(f->rx_calls, 1);
    evloop_del(f->loop, tfd);
    close(tfd);
    close(s);
}

int main(void)
{
    if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0)
        in_netns = true;
    else
        fprintf(stderr, "test_tap: not root or no network namespaces: tests skipped\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_a_tap),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test_setup_teardown(test_arp_and_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_checksum_offload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_offload_follows_guest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_ready_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recvv_segments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
