/* net_flood.c — user networking flooded from the guest: 1500 UDP flows (each from its own source
 * port, to the host's loopback and to an unroutable address) and 800 TCP SYNs to closed host
 * ports, as fast as the transmit queue takes them. Host memory must stay bounded (the runner
 * checks peak RSS) and the device must still answer ARP afterwards. */
#include "hostile.h"

static struct vio d;
static struct vq q[2];
static uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};

static uint16_t csum(const uint8_t *p, unsigned n, uint32_t sum)
{
    for (unsigned i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* One IPv4 packet of protocol PROTO with an L4 header of L4LEN bytes at the frame's end. */
static void send_ip(uint8_t proto, const uint8_t dst[4], uint16_t sport, uint16_t dport)
{
    unsigned l4 = proto == 6 ? 20 : 8 + 16;
    uint8_t *f = alloc(12 + 14 + 20 + l4, 64), *e = f + 12, *ip = e + 14, *t = ip + 20;
    memset_(f, 0, 12 + 14 + 20 + l4);
    for (unsigned i = 0; i < 6; i++)
        e[i] = i == 0 ? 0x52 : 0x55, e[6 + i] = mac[i]; /* slirp's MAC: 52:55:0a:00:02:02 */
    e[2] = 10, e[3] = 0, e[4] = 2, e[5] = 2;
    e[12] = 8;
    ip[0] = 0x45;
    ip[2] = 0, ip[3] = (uint8_t)(20 + l4);
    ip[8] = 64, ip[9] = proto;
    ip[12] = 10, ip[13] = 0, ip[14] = 2, ip[15] = 15;
    for (unsigned i = 0; i < 4; i++)
        ip[16 + i] = dst[i];
    uint16_t c = csum(ip, 20, 0);
    ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
    t[0] = (uint8_t)(sport >> 8), t[1] = (uint8_t)sport, t[2] = (uint8_t)(dport >> 8);
    t[3] = (uint8_t)dport;
    if (proto == 17) {
        t[5] = (uint8_t)l4; /* UDP length; checksum 0: none */
    } else {
        t[4] = 0x12, t[7] = (uint8_t)sport;                       /* sequence number */
        t[12] = 5 << 4, t[13] = 0x02, t[14] = 0x72, t[15] = 0x10; /* SYN, window */
        uint32_t pseudo = (10u << 8) + (2u << 8 | 15) + ((uint32_t)dst[0] << 8 | dst[1]) +
                          ((uint32_t)dst[2] << 8 | dst[3]) + 6 + l4;
        c = csum(t, l4, pseudo);
        t[16] = (uint8_t)(c >> 8), t[17] = (uint8_t)c;
    }
    struct vdesc desc = {(uintptr_t)f, 12 + 14 + 20 + l4, 0, 0};
    vq_add(&q[1], &desc, 1);
    if (q[1].avail_idx % 32 == 0) {
        vq_notify(&q[1]);
        while (q[1].used_seen != q[1].avail_idx && vq_wait(&q[1], 0) >= 0)
            ;
    }
}

/* Give received frames back to the device so replies (RSTs, ICMP) keep flowing. */
static void recycle_rx(void)
{
    volatile uint16_t *used_idx = (volatile uint16_t *)(q[0].used + 2);
    while (*used_idx != q[0].used_seen) {
        int id = vq_wait(&q[0], 0);
        vq_publish(&q[0], (uint16_t)id);
    }
    vq_notify(&q[0]);
}

void hostile_case(void)
{
    rig(target(), 1ULL << 5, &d, q);
    if (d.features & (1ULL << 5))
        for (unsigned i = 0; i < 6; i++)
            mac[i] = rd8(d.devcfg + i);
    for (unsigned i = 0; i < 32; i++) {
        struct vdesc rx = {(uintptr_t)alloc(2048, 64), 2048, VD_WRITE, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    static const uint8_t host[4] = {10, 0, 2, 2}, nowhere[4] = {192, 0, 2, 1};
    for (unsigned i = 0; i < 1500; i++) {
        send_ip(17, i & 1 ? host : nowhere, (uint16_t)(10000 + i), 9);
        if (i % 500 == 499) {
            recycle_rx();
            say_hex("UDP flows", i + 1);
        }
    }
    for (unsigned i = 0; i < 800; i++) {
        send_ip(6, host, (uint16_t)(20000 + i), (uint16_t)(1 + i));
        if (i % 400 == 399) {
            recycle_rx();
            say_hex("TCP SYNs", i + 1);
        }
    }
    vq_notify(&q[1]);
    recycle_rx();
    fresh_net();
}
