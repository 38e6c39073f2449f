/* mmds_flood.c — the MMDS responder (`--mmds version=V2`) driven hard from the guest: 160 SYNs
 * from distinct ports (five times its connection table), a token request on each connection it
 * kept while the guest takes no frames (responses wait in the responder, bounded), segments with
 * broken headers, lengths and sequence numbers, then the guest reads again: the responder
 * answered ARP, handshakes and requests ("HTTP/1.1 200"), and user networking still works. */
#include "hostile.h"

#define NSYN  160
#define PORT0 30000
#define NRX   64

static struct vio d;
static struct vq q[2];
static uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
static const uint8_t mmds_ip[4] = {169, 254, 169, 254}, me[4] = {10, 0, 2, 15};
static uint32_t isn[NSYN];
static unsigned arp_replies, synacks, resets, http200;

/* A frame: virtio_net_hdr_v1 (12 bytes, zero) + Ethernet to the MMDS MAC + IPv4 + TCP. */
static void send_tcp(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, const char *data,
                     unsigned n, uint8_t doff, uint16_t tot_fix)
{
    uint8_t *f = alloc(12 + 54 + n, 64), *e = f + 12, *ip = e + 14, *t = ip + 20;
    memset_(f, 0, 12 + 54);
    static const uint8_t mmds_mac[6] = {0x06, 0x01, 0x23, 0x45, 0x67, 0x01};
    for (unsigned i = 0; i < 6; i++)
        e[i] = mmds_mac[i], e[6 + i] = mac[i];
    e[12] = 8;
    uint16_t tot = tot_fix ? tot_fix : (uint16_t)(40 + n);
    ip[0] = 0x45, ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot, ip[8] = 64, ip[9] = 6;
    for (unsigned i = 0; i < 4; i++)
        ip[12 + i] = me[i], ip[16 + i] = mmds_ip[i];
    t[0] = (uint8_t)(sport >> 8), t[1] = (uint8_t)sport, t[3] = 80;
    for (unsigned i = 0; i < 4; i++)
        t[4 + i] = (uint8_t)(seq >> (24 - 8 * i)), t[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
    t[12] = (uint8_t)(doff << 4), t[13] = flags, t[14] = 0xff, t[15] = 0xff;
    for (unsigned i = 0; i < n; i++)
        t[20 + i] = (uint8_t)data[i];
    struct vdesc desc = {(uintptr_t)f, 12 + 54 + n, 0, 0};
    vq_add(&q[1], &desc, 1);
    if (q[1].avail_idx % 16 == 0) {
        vq_notify(&q[1]);
        while (q[1].used_seen != q[1].avail_idx && vq_wait(&q[1], 0) >= 0)
            ;
    }
}

static uint32_t be32(const volatile uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Take every received frame (counting what the MMDS sent); give the buffers back when GIVE. */
static void take_rx(int give)
{
    volatile uint16_t *used_idx = (volatile uint16_t *)(q[0].used + 2);
    while (*used_idx != q[0].used_seen) {
        uint32_t len;
        int id = vq_wait(&q[0], &len);
        const volatile uint8_t *e = (const volatile uint8_t *)(uintptr_t)q[0].desc[id].addr + 12;
        if (len >= 12 + 42 && e[12] == 8 && e[13] == 6 && memeq(e + 28, mmds_ip, 4))
            arp_replies++;
        if (len >= 12 + 54 && e[12] == 8 && e[13] == 0 && memeq(e + 26, mmds_ip, 4)) {
            const volatile uint8_t *t = e + 34;
            unsigned port = (unsigned)(t[2] << 8 | t[3]) - PORT0;
            if ((t[13] & 0x12) == 0x12 && port < NSYN) {
                isn[port] = be32(t + 4);
                synacks++;
            }
            resets += !!(t[13] & 0x04);
            unsigned doff = (unsigned)(t[12] >> 4) * 4;
            if (len >= 12 + 34 + doff + 13 && memeq(t + doff, "HTTP/1.1 200", 12))
                http200++;
        }
        if (give)
            vq_publish(&q[0], (uint16_t)id);
    }
    if (give)
        vq_notify(&q[0]);
}

void hostile_case(void)
{
    rig(target(), 1ULL << 5, &d, q);
    if (d.features & (1ULL << 5))
        for (unsigned i = 0; i < 6; i++)
            mac[i] = rd8(d.devcfg + i);
    for (unsigned i = 0; i < NRX; i++) {
        struct vdesc rx = {(uintptr_t)alloc(2048, 64), 2048, VD_WRITE, 0};
        vq_add(&q[0], &rx, 1);
    }
    vq_notify(&q[0]);
    /* ARP for the MMDS address */
    uint8_t *f = alloc(12 + 42, 64), *e = f + 12;
    memset_(f, 0, 12 + 42);
    memset_(e, 0xff, 6);
    for (unsigned i = 0; i < 6; i++)
        e[6 + i] = e[22 + i] = mac[i];
    const uint8_t arp[] = {0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1};
    for (unsigned i = 0; i < sizeof(arp); i++)
        e[12 + i] = arp[i];
    for (unsigned i = 0; i < 4; i++)
        e[28 + i] = me[i], e[38 + i] = mmds_ip[i];
    struct vdesc tx = {(uintptr_t)f, 12 + 42, 0, 0};
    vq_add(&q[1], &tx, 1);
    /* SYNs: the table keeps the newest connections, the others get resets */
    for (unsigned i = 0; i < NSYN; i++) {
        send_tcp((uint16_t)(PORT0 + i), 0x02, 1000 * i, 0, 0, 0, 5, 0);
        if (i % 16 == 15) {
            vq_notify(&q[1]);
            take_rx(1);
        }
    }
    vq_notify(&q[1]);
    for (unsigned n = 0; n < 100 && synacks < NSYN; n++)
        take_rx(1);
    say_hex("SYN-ACKs", synacks);
    say_hex("resets", resets);
    /* token requests on the newest connections; the guest reads nothing meanwhile */
    static const char req[] = "PUT /latest/api/token HTTP/1.1\r\n"
                              "X-metadata-token-ttl-seconds: 21600\r\n\r\n";
    for (unsigned i = NSYN - 40; i < NSYN; i++)
        send_tcp((uint16_t)(PORT0 + i), 0x18, 1000 * i + 1, isn[i] + 1, req, sizeof(req) - 1, 5, 0);
    /* broken segments: data offsets beyond the segment, IP lengths beyond the frame, data out of
     * order, a request that never ends */
    static char junk[600];
    for (unsigned i = 0; i < sizeof(junk); i++)
        junk[i] = 'a' + (char)(i % 26);
    for (unsigned i = 0; i < 48; i++) {
        uint16_t port = (uint16_t)(PORT0 + NSYN - 1 - i % 8);
        unsigned k = port - PORT0;
        switch (i % 4) {
        case 0:
            send_tcp(port, 0x10, 1000 * k + 1, isn[k] + 1, junk, 40, 15, 0);
            break;
        case 1:
            send_tcp(port, 0x10, 1000 * k + 1, isn[k] + 1, junk, 40, 5, 9000);
            break;
        case 2:
            send_tcp(port, 0x18, 1000 * k + 99999, isn[k] + 1, junk, 600, 5, 0);
            break;
        default:
            send_tcp(port, 0x18, 1000 * k + 1, isn[k] + 77777, junk, 600, 5, 0);
            break;
        }
    }
    vq_notify(&q[1]);
    /* now read: the responses come out */
    for (unsigned n = 0; n < 200 && http200 < 8; n++)
        take_rx(1);
    say_hex("ARP replies", arp_replies);
    say_hex("HTTP 200 segments", http200);
    CHECK(arp_replies >= 1, "the MMDS did not answer ARP");
    CHECK(synacks >= 32, "the MMDS answered too few SYNs");
    CHECK(http200 >= 1, "no token response from the MMDS");
    fresh_net();
}
