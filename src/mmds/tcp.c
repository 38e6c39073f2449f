/* tcp.c — the MMDS responder: ARP replies, a minimal TCP server on port 80, HTTP in and out.
 *
 * No timers: the link to the guest is lossless (frames wait here until the guest has receive
 * buffers), so a response is sent again only when the guest asks for it by acknowledging the
 * same sequence number twice (go back to the first unacknowledged byte). Segments out of order
 * are not kept: the guest sends them again. Window scaling, SACK and timestamps are not
 * offered, so the guest's window field is in bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mmds/mmds.h"

const uint8_t mmds_mac[6] = {0x06, 0x01, 0x23, 0x45, 0x67, 0x01};

#define ETH_HLEN    14
#define ETH_P_IP    0x0800
#define ETH_P_ARP   0x0806
#define TCP_FIN     0x01
#define TCP_SYN     0x02
#define TCP_RST     0x04
#define TCP_PSH     0x08
#define TCP_ACK     0x10
#define HTTP_PORT   80
#define DEFAULT_MSS 536

enum conn_state { C_FREE, C_SYN_RCVD, C_OPEN };

struct conn {
    enum conn_state state;
    uint64_t used;  /* LRU stamp */
    uint8_t mac[6]; /* the guest's, from its last frame */
    uint32_t ip;    /* guest address and port (host order) */
    uint16_t port;
    uint16_t mss;     /* largest segment we send */
    uint32_t rcv_nxt; /* next byte expected from the guest */
    uint32_t iss;     /* our initial sequence number */
    uint32_t snd_una; /* oldest byte not acknowledged */
    uint32_t snd_nxt; /* next byte to send */
    uint32_t snd_wnd; /* the guest's window */
    unsigned dupacks;
    bool need_ack, synack, fin_rcvd, closing, fin_sent;
    char *out; /* the response in flight (NULL: none) */
    size_t out_len;
    uint32_t out_seq; /* sequence number of out[0] */
    size_t req_len;
    char req[MMDS_REQ_MAX];
};

struct ctl_frame {
    uint16_t len;
    uint8_t data[64];
};

struct mmds_stack {
    struct mmds *store;
    struct mmds_policy policy;
    uint32_t ip; /* host order */
    uint64_t clock;
    uint64_t now_ms; /* of the frame being handled */
    uint16_t ip_id;
    unsigned rr; /* round-robin start for output */
    struct conn conns[MMDS_MAX_CONN];
    struct ctl_frame ctl[MMDS_CTL_QUEUE];
    unsigned ctl_head, ctl_count;
    size_t out_bytes;
    uint64_t resets, evicted, dropped, requests;
};

static inline bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}
static inline bool seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}
static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += rd16(p + i);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

struct mmds_stack *mmds_stack_new(struct mmds *m, const struct mmds_policy *p, uint32_t ipv4)
{
    struct mmds_stack *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->store = m;
    s->policy = *p;
    s->ip = ipv4;
    return s;
}

static void conn_free(struct mmds_stack *s, struct conn *c)
{
    if (c->state != C_FREE)
        MMDS_COUNT(s->store, connections_destroyed, 1);
    s->out_bytes -= c->out ? c->out_len : 0;
    free(c->out);
    c->out = NULL;
    c->state = C_FREE;
}

void mmds_stack_free(struct mmds_stack *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < MMDS_MAX_CONN; i++)
        conn_free(s, &s->conns[i]);
    free(s);
}

bool mmds_stack_wants(const struct mmds_stack *s, const uint8_t *f, size_t len)
{
    if (len < ETH_HLEN)
        return false;
    uint16_t type = rd16(f + 12);
    if (type == ETH_P_ARP)
        return len >= ETH_HLEN + 28 && rd32(f + ETH_HLEN + 24) == s->ip;
    return type == ETH_P_IP && len >= ETH_HLEN + 20 && rd32(f + ETH_HLEN + 16) == s->ip;
}

/* Queue a control frame (dropped when the queue is full). */
static uint8_t *ctl_push(struct mmds_stack *s, uint16_t len)
{
    if (s->ctl_count == MMDS_CTL_QUEUE) {
        s->dropped++;
        return NULL;
    }
    struct ctl_frame *cf = &s->ctl[(s->ctl_head + s->ctl_count++) % MMDS_CTL_QUEUE];
    cf->len = len;
    memset(cf->data, 0, sizeof(cf->data));
    return cf->data;
}

static void arp_input(struct mmds_stack *s, const uint8_t *f, size_t len)
{
    const uint8_t *a = f + ETH_HLEN;
    if (rd16(a) != 1 || rd16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4 || rd16(a + 6) != 1)
        return; /* only Ethernet/IPv4 requests */
    uint8_t *r = ctl_push(s, ETH_HLEN + 28);
    if (!r)
        return;
    memcpy(r, a + 8, 6); /* to the sender */
    memcpy(r + 6, mmds_mac, 6);
    wr16(r + 12, ETH_P_ARP);
    uint8_t *p = r + ETH_HLEN;
    wr16(p, 1);
    wr16(p + 2, ETH_P_IP);
    p[4] = 6;
    p[5] = 4;
    wr16(p + 6, 2);
    memcpy(p + 8, mmds_mac, 6);
    wr32(p + 14, s->ip);
    memcpy(p + 18, a + 8, 10); /* sender's MAC and address become the target */
}

/* Write Ethernet + IPv4 + TCP headers for a segment to (MAC, IP, PORT) into F; OPTLEN bytes of
 * options and PAYLOAD (PLEN bytes) follow. Returns the frame length. */
static size_t build_seg(struct mmds_stack *s, uint8_t *f, const uint8_t mac[6], uint32_t ip,
                        uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd,
                        const uint8_t *opt, size_t optlen, const char *payload, size_t plen)
{
    uint8_t *iph = f + ETH_HLEN, *tcp = iph + 20;
    size_t tcplen = 20 + optlen + plen;
    memcpy(f, mac, 6);
    memcpy(f + 6, mmds_mac, 6);
    wr16(f + 12, ETH_P_IP);
    memset(iph, 0, 20);
    iph[0] = 0x45;
    wr16(iph + 2, (uint16_t)(20 + tcplen));
    wr16(iph + 4, s->ip_id++);
    wr16(iph + 6, 0x4000); /* DF */
    iph[8] = 64;
    iph[9] = 6;
    wr32(iph + 12, s->ip);
    wr32(iph + 16, ip);
    wr16(iph + 10, csum_fold(csum_add(0, iph, 20)));
    memset(tcp, 0, 20);
    wr16(tcp, HTTP_PORT);
    wr16(tcp + 2, port);
    wr32(tcp + 4, seq);
    wr32(tcp + 8, ack);
    tcp[12] = (uint8_t)(((20 + optlen) / 4) << 4);
    tcp[13] = flags;
    wr16(tcp + 14, wnd);
    if (optlen)
        memcpy(tcp + 20, opt, optlen);
    if (plen)
        memcpy(tcp + 20 + optlen, payload, plen);
    uint8_t pseudo[12];
    wr32(pseudo, s->ip);
    wr32(pseudo + 4, ip);
    pseudo[8] = 0;
    pseudo[9] = 6;
    wr16(pseudo + 10, (uint16_t)tcplen);
    uint32_t sum = csum_add(csum_add(0, pseudo, 12), tcp, tcplen);
    wr16(tcp + 16, csum_fold(sum));
    return ETH_HLEN + 20 + tcplen;
}

/* Queue a reset answering a segment from (MAC, IP, PORT) with SEQ/ACK/FLAGS and SEGLEN. */
static void send_rst(struct mmds_stack *s, const uint8_t *mac, uint32_t ip, uint16_t port,
                     uint32_t seq, uint32_t ack, uint8_t flags, uint32_t seglen)
{
    uint8_t *f = ctl_push(s, ETH_HLEN + 40);
    if (!f)
        return;
    s->resets++;
    if (flags & TCP_ACK)
        build_seg(s, f, mac, ip, port, ack, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    else
        build_seg(s, f, mac, ip, port, 0, seq + seglen, TCP_RST | TCP_ACK, 0, NULL, 0, NULL, 0);
}

/* Reset C (queued reset frame) and free it. */
static void conn_reset(struct mmds_stack *s, struct conn *c)
{
    uint8_t *f = ctl_push(s, ETH_HLEN + 40);
    if (f) {
        s->resets++;
        build_seg(s, f, c->mac, c->ip, c->port, c->snd_nxt, c->rcv_nxt, TCP_RST | TCP_ACK, 0, NULL,
                  0, NULL, 0);
    }
    conn_free(s, c);
}

static struct conn *conn_find(struct mmds_stack *s, uint32_t ip, uint16_t port)
{
    for (unsigned i = 0; i < MMDS_MAX_CONN; i++)
        if (s->conns[i].state != C_FREE && s->conns[i].ip == ip && s->conns[i].port == port)
            return &s->conns[i];
    return NULL;
}

/* A free connection slot; the least recently used connection is reset to make one. */
static struct conn *conn_alloc(struct mmds_stack *s)
{
    struct conn *lru = &s->conns[0];
    for (unsigned i = 0; i < MMDS_MAX_CONN; i++) {
        if (s->conns[i].state == C_FREE)
            return &s->conns[i];
        if (s->conns[i].used < lru->used)
            lru = &s->conns[i];
    }
    s->evicted++;
    MMDS_COUNT(s->store, connections_evicted, 1);
    conn_reset(s, lru);
    return lru;
}

/* The MSS option of a SYN's options OPT (N bytes), or DEFAULT_MSS. */
static uint16_t syn_mss(const uint8_t *opt, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (opt[i] == 0)
            break;
        if (opt[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= n || opt[i + 1] < 2 || i + opt[i + 1] > n)
            break;
        if (opt[i] == 2 && opt[i + 1] == 4)
            return rd16(opt + i + 2);
        i += opt[i + 1];
    }
    return DEFAULT_MSS;
}

/* Answer the next complete request in C's buffer when no response is in flight. */
static void conn_serve(struct mmds_stack *s, struct conn *c)
{
    while (!c->out && !c->closing && c->req_len) {
        struct mmds_req rq;
        const char *why;
        int n = mmds_http_parse(c->req, c->req_len, &rq, &why);
        if (n == 0 && !c->fin_rcvd)
            return; /* wait for more */
        char *out = NULL;
        size_t len = 0;
        bool close = true;
        int rc =
            mmds_http_respond(s->store, &s->policy, n > 0 ? &rq : NULL,
                              n == 0 ? "Incomplete request." : why, s->now_ms, &out, &len, &close);
        s->requests++;
        if (rc < 0 || s->out_bytes + len > MMDS_OUT_BUDGET) {
            free(out);
            conn_reset(s, c);
            return;
        }
        if (n > 0) {
            memmove(c->req, c->req + n, c->req_len - (size_t)n);
            c->req_len -= (size_t)n;
        } else {
            c->req_len = 0;
        }
        c->out = out;
        c->out_len = len;
        c->out_seq = c->snd_nxt;
        s->out_bytes += len;
        c->closing = close;
    }
    if (c->fin_rcvd && !c->out)
        c->closing = true; /* the guest is done: close our side */
}

/* The acknowledgement ACK (with window WND) from the guest for C. */
static void conn_ack(struct mmds_stack *s, struct conn *c, uint32_t ack, uint16_t wnd, bool bare)
{
    if (seq_lt(c->snd_nxt, ack)) { /* acknowledges what was never sent */
        c->need_ack = true;
        return;
    }
    if (c->state == C_SYN_RCVD && ack == c->iss + 1) {
        c->state = C_OPEN;
        c->synack = false;
    }
    if (seq_lt(c->snd_una, ack)) {
        c->snd_una = ack;
        c->dupacks = 0;
    } else if (bare && ack == c->snd_una && c->snd_nxt != c->snd_una && wnd == c->snd_wnd &&
               ++c->dupacks >= 2) {
        c->snd_nxt = c->snd_una; /* the guest asks again: send from there */
        c->fin_sent = false;     /* and the FIN again when it was not acknowledged */
        c->dupacks = 0;
    }
    c->snd_wnd = wnd;
    if (c->out && seq_le(c->out_seq + (uint32_t)c->out_len, c->snd_una)) {
        s->out_bytes -= c->out_len;
        free(c->out);
        c->out = NULL;
        c->out_seq += (uint32_t)c->out_len;
        c->out_len = 0;
    }
}

/* In-order data and FIN of a segment for C. */
static void conn_data(struct conn *c, uint32_t seq, const uint8_t *data, size_t n, bool fin)
{
    if (!n && !fin)
        return;
    c->need_ack = true;
    if (c->fin_rcvd)
        return;
    if (seq_lt(seq, c->rcv_nxt)) { /* starts with bytes we have: trim them */
        uint32_t skip = c->rcv_nxt - seq;
        if (skip > n)
            return; /* a pure duplicate */
        data += skip;
        n -= skip;
        seq += skip;
    }
    if (seq != c->rcv_nxt)
        return; /* out of order: the guest sends it again */
    size_t room = MMDS_REQ_MAX - c->req_len, take = n < room ? n : room;
    memcpy(c->req + c->req_len, data, take);
    c->req_len += take;
    c->rcv_nxt += (uint32_t)take;
    if (fin && take == n) {
        c->rcv_nxt++;
        c->fin_rcvd = true;
    }
}

static void tcp_input(struct mmds_stack *s, const uint8_t *f, const uint8_t *tcp, size_t tcplen,
                      uint32_t src)
{
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < 20 || doff > tcplen)
        return;
    uint16_t sport = rd16(tcp), dport = rd16(tcp + 2), wnd = rd16(tcp + 14);
    uint32_t seq = rd32(tcp + 4), ack = rd32(tcp + 8);
    uint8_t flags = tcp[13];
    const uint8_t *data = tcp + doff;
    size_t n = tcplen - doff;
    uint32_t seglen = (uint32_t)n + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
    struct conn *c = conn_find(s, src, sport);
    if (flags & TCP_RST) {
        if (c)
            conn_free(s, c);
        return;
    }
    if (dport != HTTP_PORT) {
        send_rst(s, f + 6, src, sport, seq, ack, flags, seglen);
        return;
    }
    if ((flags & TCP_SYN) && !(flags & TCP_ACK)) {
        if (c && c->state == C_SYN_RCVD && seq + 1 == c->rcv_nxt) {
            c->synack = true; /* our SYN-ACK was lost: again */
            c->snd_nxt = c->iss;
            return;
        }
        if (c)
            conn_free(s, c); /* a new connection on the same port */
        c = conn_alloc(s);
        memset(c, 0, offsetof(struct conn, req));
        uint32_t r = 0;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
            r = (uint32_t)(s->clock * 2654435761u);
        c->state = C_SYN_RCVD;
        MMDS_COUNT(s->store, connections_created, 1);
        c->ip = src;
        c->port = sport;
        c->iss = c->snd_una = c->snd_nxt = r;
        c->out_seq = r + 1;
        c->rcv_nxt = seq + 1;
        c->snd_wnd = wnd;
        uint16_t mss = syn_mss(tcp + 20, doff - 20);
        c->mss = mss < 64 ? 64 : mss > MMDS_MSS ? MMDS_MSS : mss;
        c->synack = true;
        memcpy(c->mac, f + 6, 6);
        c->used = ++s->clock;
        return;
    }
    if (!c) {
        send_rst(s, f + 6, src, sport, seq, ack, flags, seglen);
        return;
    }
    memcpy(c->mac, f + 6, 6);
    c->used = ++s->clock;
    if (!(flags & TCP_ACK))
        return;
    conn_ack(s, c, ack, wnd, !n && !(flags & (TCP_SYN | TCP_FIN)));
    if (c->state == C_OPEN) {
        conn_data(c, seq, data, n, flags & TCP_FIN);
        conn_serve(s, c);
    }
    /* both sides closed and our FIN acknowledged: done */
    if (c->fin_rcvd && c->fin_sent && c->snd_una == c->snd_nxt) {
        uint8_t *a = c->need_ack ? ctl_push(s, ETH_HLEN + 40) : NULL;
        if (a) /* the guest's FIN still wants its acknowledgement */
            build_seg(s, a, c->mac, c->ip, c->port, c->snd_nxt, c->rcv_nxt, TCP_ACK, 0, NULL, 0,
                      NULL, 0);
        conn_free(s, c);
    }
}

void mmds_stack_input(struct mmds_stack *s, const uint8_t *f, size_t len, uint64_t now_ms)
{
    s->now_ms = now_ms;
    if (!mmds_stack_wants(s, f, len))
        return;
    MMDS_COUNT(s->store, rx_accepted, 1);
    if (rd16(f + 12) == ETH_P_ARP) {
        arp_input(s, f, len);
        return;
    }
    const uint8_t *iph = f + ETH_HLEN;
    size_t ihl = (size_t)(iph[0] & 0xf) * 4, tot = rd16(iph + 2);
    if ((iph[0] >> 4) != 4 || ihl < 20 || tot < ihl || tot > len - ETH_HLEN ||
        (rd16(iph + 6) & 0x3fff) || iph[9] != 6 || tot - ihl < 20) {
        s->dropped++; /* not IPv4/TCP, truncated or a fragment */
        MMDS_COUNT(s->store, rx_accepted_err, 1);
        return;
    }
    uint32_t src = rd32(iph + 12);
    if (src == s->ip || (src >> 24) == 127 || src == 0xffffffffu || (src >> 28) == 0xe) {
        s->dropped++;
        MMDS_COUNT(s->store, rx_accepted_err, 1);
        return;
    }
    tcp_input(s, f, iph + ihl, tot - ihl, src);
}

bool mmds_stack_pending(const struct mmds_stack *s)
{
    if (s->ctl_count)
        return true;
    for (unsigned i = 0; i < MMDS_MAX_CONN; i++) {
        const struct conn *c = &s->conns[i];
        if (c->state == C_FREE)
            continue;
        if (c->synack || c->need_ack)
            return true;
        if (c->state != C_OPEN)
            continue;
        uint32_t end = c->out_seq + (uint32_t)c->out_len;
        uint32_t wnd_end = c->snd_una + c->snd_wnd;
        if (c->out && seq_lt(c->snd_nxt, end) && seq_lt(c->snd_nxt, wnd_end))
            return true;
        if (c->closing && !c->fin_sent && (!c->out || c->snd_nxt == end))
            return true;
    }
    return false;
}

/* One frame of C into BUF, or 0 when it has nothing to send. */
static size_t conn_output(struct mmds_stack *s, struct conn *c, uint8_t *buf)
{
    uint16_t wnd = (uint16_t)(MMDS_REQ_MAX - c->req_len);
    if (c->synack) {
        uint8_t opt[4] = {2, 4, MMDS_MSS >> 8, MMDS_MSS & 0xff};
        c->synack = false;
        c->need_ack = false;
        c->snd_nxt = c->iss + 1;
        return build_seg(s, buf, c->mac, c->ip, c->port, c->iss, c->rcv_nxt, TCP_SYN | TCP_ACK, wnd,
                         opt, sizeof(opt), NULL, 0);
    }
    if (c->state != C_OPEN) {
        c->need_ack = false;
        return 0;
    }
    uint32_t end = c->out_seq + (uint32_t)c->out_len, wnd_end = c->snd_una + c->snd_wnd;
    if (c->out && seq_lt(c->snd_nxt, end) && seq_lt(c->snd_nxt, wnd_end)) {
        uint32_t n = end - c->snd_nxt, room = wnd_end - c->snd_nxt;
        n = n < room ? n : room;
        n = n < c->mss ? n : c->mss;
        size_t off = c->snd_nxt - c->out_seq;
        bool last = c->snd_nxt + n == end;
        size_t len = build_seg(s, buf, c->mac, c->ip, c->port, c->snd_nxt, c->rcv_nxt,
                               TCP_ACK | (last ? TCP_PSH : 0), wnd, NULL, 0, c->out + off, n);
        c->snd_nxt += n;
        c->need_ack = false;
        return len;
    }
    /* FIN right after the last byte of the response: no wait for its acknowledgement */
    if (c->closing && !c->fin_sent && (!c->out || c->snd_nxt == end)) {
        c->fin_sent = true;
        c->need_ack = false;
        uint32_t seq = c->snd_nxt;
        c->snd_nxt++;
        return build_seg(s, buf, c->mac, c->ip, c->port, seq, c->rcv_nxt, TCP_FIN | TCP_ACK, wnd,
                         NULL, 0, NULL, 0);
    }
    if (c->need_ack) {
        c->need_ack = false;
        return build_seg(s, buf, c->mac, c->ip, c->port, c->snd_nxt, c->rcv_nxt, TCP_ACK, wnd, NULL,
                         0, NULL, 0);
    }
    return 0;
}

static size_t stack_output(struct mmds_stack *s, uint8_t *buf, size_t cap)
{
    if (cap < MMDS_FRAME_MAX)
        return 0;
    if (s->ctl_count) {
        struct ctl_frame *cf = &s->ctl[s->ctl_head];
        s->ctl_head = (s->ctl_head + 1) % MMDS_CTL_QUEUE;
        s->ctl_count--;
        memcpy(buf, cf->data, cf->len);
        return cf->len;
    }
    for (unsigned k = 0; k < MMDS_MAX_CONN; k++) {
        struct conn *c = &s->conns[(s->rr + k) % MMDS_MAX_CONN];
        if (c->state == C_FREE)
            continue;
        size_t len = conn_output(s, c, buf);
        if (len) {
            s->rr = (s->rr + k + 1) % MMDS_MAX_CONN;
            return len;
        }
    }
    return 0;
}

size_t mmds_stack_output(struct mmds_stack *s, uint8_t *buf, size_t cap)
{
    size_t n = stack_output(s, buf, cap);
    if (n) {
        MMDS_COUNT(s->store, tx_frames, 1);
        MMDS_COUNT(s->store, tx_bytes, n);
    }
    return n;
}

void mmds_stack_stats(const struct mmds_stack *s, struct mmds_stack_stats *out)
{
    *out = (struct mmds_stack_stats){.out_bytes = s->out_bytes,
                                     .resets = s->resets,
                                     .evicted = s->evicted,
                                     .dropped = s->dropped,
                                     .requests = s->requests};
    for (unsigned i = 0; i < MMDS_MAX_CONN; i++)
        out->conns += s->conns[i].state != C_FREE;
}
