/* netframes.h — test helpers that build and pick apart Ethernet/ARP/IPv4/UDP/ICMP/DHCP frames. */
#ifndef TRUCE_TEST_NETFRAMES_H
#define TRUCE_TEST_NETFRAMES_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define ETH_HLEN_     14
#define ETHTYPE_IP    0x0800
#define ETHTYPE_ARP   0x0806
#define IPPROTO_ICMP_ 1
#define IPPROTO_UDP_  17
#define IPPROTO_TCP_  6
#define NF_FIN        0x01
#define NF_SYN        0x02
#define NF_RST        0x04
#define NF_PSH        0x08
#define NF_ACK        0x10

static const uint8_t nf_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static inline uint32_t nf_sum(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    return sum;
}

static inline uint16_t nf_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static inline void nf_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t nf_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void nf_put32(uint8_t *p, uint32_t v)
{
    nf_put16(p, (uint16_t)(v >> 16));
    nf_put16(p + 2, (uint16_t)v);
}

static inline uint32_t nf_get32(const uint8_t *p)
{
    return (uint32_t)nf_get16(p) << 16 | nf_get16(p + 2);
}

static inline size_t nf_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    nf_put16(f + 12, type);
    return ETH_HLEN_;
}

/* ARP request "who has TIP tell SIP" (addresses in network order). Returns the frame length. */
static inline size_t nf_arp_request(uint8_t *f, const uint8_t *smac, uint32_t sip, uint32_t tip)
{
    size_t n = nf_eth(f, nf_bcast, smac, ETHTYPE_ARP);
    uint8_t *a = f + n;
    nf_put16(a, 1);
    nf_put16(a + 2, ETHTYPE_IP);
    a[4] = 6;
    a[5] = 4;
    nf_put16(a + 6, 1);
    memcpy(a + 8, smac, 6);
    memcpy(a + 14, &sip, 4);
    memset(a + 18, 0, 6);
    memcpy(a + 24, &tip, 4);
    return n + 28;
}

/* IPv4 header for PROTO with PAYLOAD_LEN bytes after it at F (20 bytes). */
static inline void nf_ipv4(uint8_t *ip, uint8_t proto, uint32_t sip, uint32_t dip,
                           size_t payload_len)
{
    memset(ip, 0, 20);
    ip[0] = 0x45;
    nf_put16(ip + 2, (uint16_t)(20 + payload_len));
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, &sip, 4);
    memcpy(ip + 16, &dip, 4);
    nf_put16(ip + 10, nf_fold(nf_sum(ip, 20, 0)));
}

/* UDP datagram in an Ethernet frame. CSUM: 0 leave the checksum zero (none), 1 complete,
 * 2 only the pseudo-header sum (what a guest leaves for NEEDS_CSUM), 3 a wrong value. */
static inline size_t nf_udp(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t sip,
                            uint32_t dip, uint16_t sport, uint16_t dport, const void *data,
                            size_t len, int csum)
{
    size_t n = nf_eth(f, dmac, smac, ETHTYPE_IP);
    uint8_t *ip = f + n, *u = ip + 20;
    nf_ipv4(ip, IPPROTO_UDP_, sip, dip, 8 + len);
    nf_put16(u, sport);
    nf_put16(u + 2, dport);
    nf_put16(u + 4, (uint16_t)(8 + len));
    nf_put16(u + 6, 0);
    memcpy(u + 8, data, len);
    uint32_t pseudo = nf_sum(ip + 12, 8, 0) + IPPROTO_UDP_ + (uint32_t)(8 + len);
    if (csum == 1)
        nf_put16(u + 6, nf_fold(nf_sum(u, 8 + len, pseudo)));
    else if (csum == 2)
        nf_put16(u + 6, (uint16_t)~nf_fold(pseudo));
    else if (csum == 3)
        nf_put16(u + 6, 0x1234);
    return n + 20 + 8 + len;
}

/* ICMP echo request with ID/SEQ and LEN payload bytes. */
static inline size_t nf_icmp_echo(uint8_t *f, const uint8_t *dmac, const uint8_t *smac,
                                  uint32_t sip, uint32_t dip, uint16_t id, uint16_t seq, size_t len)
{
    size_t n = nf_eth(f, dmac, smac, ETHTYPE_IP);
    uint8_t *ip = f + n, *ic = ip + 20;
    nf_ipv4(ip, IPPROTO_ICMP_, sip, dip, 8 + len);
    memset(ic, 0, 8);
    ic[0] = 8;
    nf_put16(ic + 4, id);
    nf_put16(ic + 6, seq);
    for (size_t i = 0; i < len; i++)
        ic[8 + i] = (uint8_t)i;
    nf_put16(ic + 2, nf_fold(nf_sum(ic, 8 + len, 0)));
    return n + 20 + 8 + len;
}

/* TCP segment with FLAGS (NF_*), window WIN and LEN payload bytes; a SYN carries an MSS option
 * of 1460 (and no window scaling). */
static inline size_t nf_tcp(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t sip,
                            uint32_t dip, uint16_t sport, uint16_t dport, uint32_t seq,
                            uint32_t ack, uint8_t flags, uint16_t win, const void *data, size_t len)
{
    size_t n = nf_eth(f, dmac, smac, ETHTYPE_IP);
    size_t hl = (flags & NF_SYN) ? 24 : 20;
    uint8_t *ip = f + n, *t = ip + 20;
    nf_ipv4(ip, IPPROTO_TCP_, sip, dip, hl + len);
    memset(t, 0, hl);
    nf_put16(t, sport);
    nf_put16(t + 2, dport);
    nf_put32(t + 4, seq);
    nf_put32(t + 8, ack);
    t[12] = (uint8_t)(hl / 4) << 4;
    t[13] = flags;
    nf_put16(t + 14, win);
    if (flags & NF_SYN) {
        t[20] = 2; /* MSS */
        t[21] = 4;
        nf_put16(t + 22, 1460);
    }
    if (len)
        memcpy(t + hl, data, len);
    uint32_t pseudo = nf_sum(ip + 12, 8, 0) + IPPROTO_TCP_ + (uint32_t)(hl + len);
    nf_put16(t + 16, nf_fold(nf_sum(t, hl + len, pseudo)));
    return n + 20 + hl + len;
}

/* Frame classification: returns the IPv4 protocol (or 0 when F is not IPv4) and sets *L4 to
 * the transport header. */
static inline int nf_ipv4_proto(const uint8_t *f, size_t len, const uint8_t **l4)
{
    if (len < ETH_HLEN_ + 20 || nf_get16(f + 12) != ETHTYPE_IP)
        return 0;
    const uint8_t *ip = f + ETH_HLEN_;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    if (ihl < 20 || len < ETH_HLEN_ + ihl)
        return 0;
    *l4 = ip + ihl;
    return ip[9];
}

static inline bool nf_is_arp_reply(const uint8_t *f, size_t len)
{
    return len >= ETH_HLEN_ + 28 && nf_get16(f + 12) == ETHTYPE_ARP && nf_get16(f + 20) == 2;
}

/* DHCP (BOOTP) message from CHADDR with message TYPE (1 discover, 3 request); REQ_IP and
 * SERVER (network order, 0 = absent) become options 50 and 54. Returns the frame length. */
static inline size_t nf_dhcp(uint8_t *f, const uint8_t *chaddr, uint8_t type, uint32_t req_ip,
                             uint32_t server, uint32_t xid)
{
    uint8_t b[300] = {0};
    b[0] = 1; /* BOOTREQUEST */
    b[1] = 1;
    b[2] = 6;
    memcpy(b + 4, &xid, 4);
    memcpy(b + 28, chaddr, 6);
    static const uint8_t cookie[4] = {99, 130, 83, 99};
    memcpy(b + 236, cookie, 4);
    size_t o = 240;
    b[o++] = 53;
    b[o++] = 1;
    b[o++] = type;
    if (req_ip) {
        b[o++] = 50;
        b[o++] = 4;
        memcpy(b + o, &req_ip, 4);
        o += 4;
    }
    if (server) {
        b[o++] = 54;
        b[o++] = 4;
        memcpy(b + o, &server, 4);
        o += 4;
    }
    b[o++] = 255;
    return nf_udp(f, nf_bcast, chaddr, 0, 0xffffffffU, 68, 67, b, sizeof(b), 1);
}

/* DHCP reply in F: returns its message type (2 offer, 5 ack) or 0, with yiaddr, the server id
 * (option 54) and the DNS server (option 6), all network order. */
static inline int nf_dhcp_reply(const uint8_t *f, size_t len, uint32_t *yiaddr, uint32_t *server,
                                uint32_t *dns)
{
    const uint8_t *u;
    if (nf_ipv4_proto(f, len, &u) != IPPROTO_UDP_ || nf_get16(u + 2) != 68)
        return 0;
    const uint8_t *b = u + 8;
    size_t blen = (size_t)(f + len - b);
    if (blen < 240 || b[0] != 2)
        return 0;
    memcpy(yiaddr, b + 16, 4);
    int type = 0;
    for (size_t o = 240; o + 2 <= blen && b[o] != 255;) {
        if (b[o] == 0) {
            o++;
            continue;
        }
        uint8_t code = b[o], l = b[o + 1];
        if (o + 2 + l > blen)
            break;
        if (code == 53 && l == 1)
            type = b[o + 2];
        if (code == 54 && l == 4)
            memcpy(server, b + o + 2, 4);
        if (code == 6 && l >= 4)
            memcpy(dns, b + o + 2, 4);
        o += 2 + (size_t)l;
    }
    return type;
}

#endif
