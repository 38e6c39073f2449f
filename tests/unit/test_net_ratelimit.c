/* test_net_ratelimit.c — virtio-net's rate limiters over user networking: transmit chains wait in
 * their ring and received frames wait in the backend, never dropped, until the limit allows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio_fixture.h"
#include "virtio/net.h"

#define HOUR_MS 3600000 /* a refill time no test outlives: one op, then nothing */

static struct vfix *net_new(const struct rl_config *rx, const struct rl_config *tx)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    char err[256] = "";
    f->vm.cfg.nets[0] = (struct net_config){
        .id = "net0", .kind = NET_USER, .rx_rate_limiter = *rx, .tx_rate_limiter = *tx};
    f->vm.cfg.nnets = 1;
    if (device_class_find("virtio-net")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-net: %s", err);
    vf_probe(f, 1);
    vf_bringup(f, vf_features(f), 2);
    return f;
}

static struct virtio_net *net_of(struct vfix *f)
{
    return virtio_find(&f->vm, VIRTIO_ID_NET, NULL)->opaque;
}

/* Offer N receive buffers of 2 KiB. */
static void rx_buffers(struct vfix *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        vf_desc(f, NET_RXQ, i, VF_BUF + 0x1000 * i, 2048, VRING_DESC_F_WRITE, 0);
        vf_offer(f, NET_RXQ, (uint16_t)i);
    }
}

/* Queue N ARP requests for the gateway 10.0.2.2 (user networking answers each one). */
static void arp_requests(struct vfix *f, unsigned n)
{
    const uint8_t *mac = net_of(f)->mac;
    uint8_t frame[12 + 42] = {0}; /* vnet header, then the Ethernet frame */
    uint8_t *e = frame + 12;
    memset(e, 0xff, 6);
    memcpy(e + 6, mac, 6);
    e[12] = 0x08, e[13] = 0x06;                               /* ARP */
    e[15] = 1, e[16] = 0x08, e[18] = 6, e[19] = 4, e[21] = 1; /* Ethernet/IPv4, request */
    memcpy(e + 22, mac, 6);
    memcpy(e + 28, (uint8_t[]){10, 0, 2, 15}, 4);
    memcpy(e + 38, (uint8_t[]){10, 0, 2, 2}, 4);
    for (unsigned i = 0; i < n; i++) {
        guest_mem_write(&f->vm.mem, VF_BUF + 0x40000 + 0x100 * i, frame, sizeof(frame));
        vf_desc(f, NET_TXQ, i, VF_BUF + 0x40000 + 0x100 * i, sizeof(frame), 0, 0);
        vf_offer(f, NET_TXQ, (uint16_t)i);
    }
}

static void done(struct vfix *f)
{
    vf_fini(f);
    free(f);
}

/* One frame an hour: the first ARP request goes out, the two others wait in the transmit ring
 * until a live update lifts the limit; then all three are sent and answered. */
static void tx_waits_in_the_ring(void **state)
{
    struct rl_config none = {0}, tx = {.ops = {.size = 1, .refill_time = HOUR_MS}};
    struct vfix *f = net_new(&none, &tx);
    rx_buffers(f, 8);
    arp_requests(f, 3);
    assert_true(vf_wait_used(f, NET_TXQ, 1));
    assert_true(vf_wait_used(f, NET_RXQ, 1)); /* the first one's answer */
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, NET_TXQ), 1);
    struct net_counters c;
    virtio_net_counters(net_of(f), &c);
    assert_true(c.tx_rl_throttled >= 1);
    assert_int_equal(c.tx_packets, 1);
    assert_int_equal(virtio_net_set_rate_limiter(net_of(f), true, &none, true, true), 0);
    assert_true(vf_wait_used(f, NET_TXQ, 3));
    assert_true(vf_wait_used(f, NET_RXQ, 3));
    virtio_net_counters(net_of(f), &c);
    assert_int_equal(c.tx_packets, 3);
    assert_int_equal(c.tx_dropped, 0);
    assert_int_equal(c.rx_packets, 3);
    done(f);
}

/* One received frame an hour: of the three answers one reaches the guest, the others wait
 * (in truce's receive buffer and user networking's queue: not dropped) until the limit is
 * lifted; then both arrive. */
static void rx_waits_in_the_backend(void **state)
{
    struct rl_config none = {0}, rx = {.ops = {.size = 1, .refill_time = HOUR_MS}};
    struct vfix *f = net_new(&rx, &none);
    rx_buffers(f, 8);
    arp_requests(f, 3);
    assert_true(vf_wait_used(f, NET_TXQ, 3));
    assert_true(vf_wait_used(f, NET_RXQ, 1));
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, NET_RXQ), 1);
    struct net_counters c;
    virtio_net_counters(net_of(f), &c);
    assert_true(c.rx_rl_throttled >= 1);
    assert_int_equal(c.rx_packets, 1);
    assert_int_equal(c.rx_dropped, 0);
    struct rl_config slow = {.bandwidth = {.size = 1 << 20, .refill_time = 1000}};
    assert_int_equal(virtio_net_set_rate_limiter(net_of(f), false, &slow, false, true), 0);
    assert_true(vf_wait_used(f, NET_RXQ, 3));
    virtio_net_counters(net_of(f), &c);
    assert_int_equal(c.rx_packets, 3);
    assert_int_equal(c.rx_dropped, 0);
    for (unsigned i = 0; i < 3; i++) /* each one an ARP reply (vnet header + 42 bytes at least) */
        assert_true(vf_used(f, NET_RXQ, (uint16_t)i).len >= 12 + 42);
    done(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tx_waits_in_the_ring),
        cmocka_unit_test(rx_waits_in_the_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
