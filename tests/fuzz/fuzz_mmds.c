/* fuzz_mmds.c — libFuzzer target: the MMDS responder fed arbitrary frame sequences by a guest.
 *
 * Input: byte 0 picks the version (bit 0: V2) and imds_compat (bit 1); then a program of ops:
 *   0 PORT FLAGS MODE WND PLEN BYTES..  a TCP segment from guest port 40000+PORT%8; MODE bit 0:
 *                                      sequence number the responder expects (else from the
 *                                      input), bit 1: acknowledge what it sent (else from the
 *                                      input), bit 2: payload is canned request BYTES[0]%N
 *   1                                  an ARP request for the MMDS address
 *   2 LEN BYTES..                      a raw frame of LEN bytes (Ethernet onwards)
 *   3 N                                take up to N frames from the responder
 *   4 S                                time passes: S * 100 ms
 * Checked: every output frame is a well-formed Ethernet frame within MMDS_FRAME_MAX, the
 * responder's bounds (connections, held response bytes) hold, and the output always drains. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"

#define NPORTS 8

static const char *const canned[] = {
    "GET / HTTP/1.1\r\n\r\n",
    "GET /latest/meta-data/ HTTP/1.1\r\nAccept: application/json\r\n\r\n",
    "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 1\r\n\r\n",
    "GET /latest/meta-data/id HTTP/1.1\r\nX-metadata-token: 00\r\nConnection: close\r\n\r\n",
    "GET /latest HTTP/1.0\r\n\r\n",
    "PUT / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd",
    "GET /a//b/../c?x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "DELETE / HTTP/1.1\r\n\r\n",
};

struct guest {
    uint32_t seq[NPORTS]; /* what the responder expects next from each port */
    uint32_t ack[NPORTS]; /* what it sent up to */
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void drain(struct mmds_stack *s, struct guest *g, unsigned max)
{
    uint8_t f[MMDS_FRAME_MAX];
    for (unsigned i = 0; i < max; i++) {
        size_t n = mmds_stack_output(s, f, sizeof(f));
        if (!n)
            return;
        if (n < 42 || n > MMDS_FRAME_MAX || memcmp(f + 6, mmds_mac, 6))
            __builtin_trap();
        if (f[12] != 0x08 || f[13] != 0x00)
            continue; /* ARP */
        const uint8_t *ip = f + 14, *t = ip + 20;
        size_t tot = (size_t)ip[2] << 8 | ip[3];
        if (14 + tot != n || tot < 40)
            __builtin_trap();
        unsigned port = ((unsigned)t[2] << 8 | t[3]) - 40000;
        size_t len = tot - 20 - (size_t)(t[12] >> 4) * 4;
        if (port < NPORTS) {
            g->seq[port] = get32(t + 8);
            g->ack[port] = get32(t + 4) + (uint32_t)len + !!(t[13] & 0x03);
        }
    }
}

static void frame_tcp(struct mmds_stack *s, unsigned port, uint8_t flags, uint32_t seq,
                      uint32_t ack, uint16_t wnd, const uint8_t *data, size_t n, uint64_t now)
{
    static uint8_t f[14 + 40 + 2048];
    if (n > 2048)
        n = 2048;
    memset(f, 0, 54);
    memcpy(f, mmds_mac, 6);
    f[6] = 0x52;
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14, *t = ip + 20;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(40 + n));
    ip[9] = 6;
    put32(ip + 12, 0x0a000002);
    put32(ip + 16, MMDS_DEFAULT_IPV4);
    put16(t, (uint16_t)(40000 + port));
    put16(t + 2, 80);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = 5 << 4;
    t[13] = flags;
    put16(t + 14, wnd);
    memcpy(t + 20, data, n);
    mmds_stack_input(s, f, 54 + n, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mmds *m;
    if (!m) {
        m = mmds_new(0);
        json_t *j = json_loads("{\"latest\":{\"meta-data\":{\"id\":\"i-1\",\"big\":\""
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "\"}}}",
                               0, NULL);
        char err[64];
        mmds_put(m, j, err, sizeof(err));
        json_decref(j);
    }
    if (!size)
        return 0;
    struct mmds_policy p = {.version = (uint8_t)(1 + (data[0] & 1)), .imds_compat = data[0] & 2};
    struct mmds_stack *s = mmds_stack_new(m, &p, MMDS_DEFAULT_IPV4);
    struct guest g = {0};
    uint64_t now = 1000000;
    size_t i = 1;
    while (i < size) {
        uint8_t op = data[i++] % 5;
        if (op == 0 && i + 5 <= size) {
            unsigned port = data[i] % NPORTS, mode = data[i + 2];
            uint8_t flags = data[i + 1];
            uint16_t wnd = (uint16_t)(data[i + 3] << 8);
            size_t plen = data[i + 4];
            i += 5;
            plen = plen < size - i ? plen : size - i;
            const uint8_t *pl = data + i;
            size_t n = plen;
            if ((mode & 4) && plen) {
                pl = (const uint8_t *)canned[data[i] % (sizeof(canned) / sizeof(canned[0]))];
                n = strlen((const char *)pl);
            }
            uint32_t seq = (mode & 1) ? g.seq[port] : (plen >= 4 ? get32(data + i) : 0);
            uint32_t ack = (mode & 2) ? g.ack[port] : (plen >= 8 ? get32(data + i + 4) : 0);
            if (flags & 0x02) /* a SYN starts the guest's sequence over */
                g.seq[port] = seq + 1;
            frame_tcp(s, port, flags, seq, ack, wnd, pl, n, now);
            i += plen;
        } else if (op == 1) {
            uint8_t f[42] = {0};
            memset(f, 0xff, 6);
            f[6] = 0x52;
            put16(f + 12, 0x0806);
            put16(f + 14, 1);
            put16(f + 16, 0x0800);
            f[18] = 6;
            f[19] = 4;
            put16(f + 20, 1);
            put32(f + 38, MMDS_DEFAULT_IPV4);
            mmds_stack_input(s, f, sizeof(f), now);
        } else if (op == 2 && i < size) {
            size_t n = data[i++] * 4u;
            n = n < size - i ? n : size - i;
            if (mmds_stack_wants(s, data + i, n))
                mmds_stack_input(s, data + i, n, now);
            i += n;
        } else if (op == 3 && i < size) {
            drain(s, &g, data[i++]);
        } else if (op == 4 && i < size) {
            now += data[i++] * 100u;
        } else {
            break;
        }
        struct mmds_stack_stats st;
        mmds_stack_stats(s, &st);
        if (st.conns > MMDS_MAX_CONN || st.out_bytes > MMDS_OUT_BUDGET)
            __builtin_trap();
    }
    /* whatever the guest did, the output ends: windows are at most 64 KiB per connection */
    drain(s, &g, MMDS_MAX_CONN * 128 + MMDS_CTL_QUEUE);
    if (mmds_stack_pending(s)) {
        uint8_t f[MMDS_FRAME_MAX];
        if (mmds_stack_output(s, f, sizeof(f)))
            __builtin_trap();
    }
    mmds_stack_free(s);
    return 0;
}
