/* test_mmds.c — the MMDS: data store, merge patch, rendering, tokens, the HTTP parser and the
 * ARP/TCP responder driven by frames a guest would send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/net.h"
#include "mmds/mmds.h"
#include "util/util.h"

static json_t *J(const char *s)
{
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    return j;
}

static struct mmds *filled(const char *data)
{
    struct mmds *m = mmds_new(0);
    char err[128];
    json_t *j = J(data);
    assert_int_equal(mmds_put(m, j, err, sizeof(err)), 0);
    json_decref(j);
    return m;
}

static void expect_render(struct mmds *m, const char *path, enum mmds_format f, int want_rc,
                          const char *want)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(mmds_render(m, path, f, &out, &len), want_rc);
    if (want) {
        assert_string_equal(out, want);
        assert_int_equal(len, strlen(want));
    }
    free(out);
}

/* ---- store ------------------------------------------------------------------------------------
 */

static void store_put_patch(void **state)
{
    struct mmds *m = mmds_new(0);
    char err[128];
    json_t *p = J("{\"a\":1}");
    assert_int_equal(mmds_patch(m, p, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "The MMDS data store is not initialized.");
    json_t *all = mmds_get_all(m);
    assert_int_equal(json_object_size(all), 0); /* GET before PUT: {} */
    json_decref(all);
    json_t *d = J("{\"x\":{\"y\":1,\"z\":[1,2]},\"k\":\"v\"}");
    assert_int_equal(mmds_put(m, d, err, sizeof(err)), 0);
    json_decref(p);
    /* RFC 7396: null deletes, objects merge, everything else replaces */
    p = J("{\"x\":{\"y\":null,\"w\":{\"q\":true}},\"k\":[3],\"n\":null}");
    assert_int_equal(mmds_patch(m, p, err, sizeof(err)), 0);
    all = mmds_get_all(m);
    char *s = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"k\":[3],\"x\":{\"w\":{\"q\":true},\"z\":[1,2]}}");
    free(s);
    json_decref(all);
    json_decref(p);
    json_decref(d);
    mmds_free(m);
}

static void store_limit(void **state)
{
    struct mmds *m = mmds_new(32);
    char err[128];
    json_t *ok = J("{\"a\":\"0123456789\"}");                    /* 18 bytes */
    json_t *big = J("{\"a\":\"0123456789012345678901234567\"}"); /* 36 bytes */
    assert_int_equal(mmds_put(m, big, err, sizeof(err)), -EFBIG);
    assert_string_equal(err, "The MMDS patch request doesn't fit.");
    assert_int_equal(mmds_put(m, ok, err, sizeof(err)), 0);
    json_t *grow = J("{\"b\":\"0123456789\"}"); /* would make 35 bytes */
    assert_int_equal(mmds_patch(m, grow, err, sizeof(err)), -EFBIG);
    expect_render(m, "/b", MMDS_FMT_JSON, -ENOENT, NULL); /* unchanged */
    mmds_set_limit(m, 35);
    assert_int_equal(mmds_patch(m, grow, err, sizeof(err)), 0);
    expect_render(m, "/b", MMDS_FMT_IMDS, 0, "0123456789");
    json_decref(ok);
    json_decref(big);
    json_decref(grow);
    mmds_free(m);
}

static void store_render(void **state)
{
    struct mmds *m = filled("{\"name\":{\"second\":\"Doe\",\"first\":\"John\"},\"age\":43,"
                            "\"phones\":[\"+40\",\"+44\"],\"a/b\":{\"c~d\":\"e\"},\"t\":true}");
    expect_render(m, "/", MMDS_FMT_IMDS, 0, "a/b/\nage\nname/\nphones\nt");
    expect_render(m, "/", MMDS_FMT_JSON, 0,
                  "{\"a/b\":{\"c~d\":\"e\"},\"age\":43,\"name\":{\"first\":\"John\",\"second\":"
                  "\"Doe\"},\"phones\":[\"+40\",\"+44\"],\"t\":true}");
    expect_render(m, "/name", MMDS_FMT_IMDS, 0, "first\nsecond");
    expect_render(m, "/name/", MMDS_FMT_JSON, 0, "{\"first\":\"John\",\"second\":\"Doe\"}");
    expect_render(m, "/name/first", MMDS_FMT_IMDS, 0, "John");
    expect_render(m, "/name/first", MMDS_FMT_JSON, 0, "\"John\"");
    expect_render(m, "/age", MMDS_FMT_JSON, 0, "43");
    expect_render(m, "/age", MMDS_FMT_IMDS, -ENOTSUP, NULL);
    expect_render(m, "/phones", MMDS_FMT_IMDS, -ENOTSUP, NULL);
    expect_render(m, "/phones/1", MMDS_FMT_IMDS, 0, "+44");
    expect_render(m, "/phones/01", MMDS_FMT_IMDS, -ENOENT, NULL);
    expect_render(m, "/phones/2", MMDS_FMT_IMDS, -ENOENT, NULL);
    expect_render(m, "/a~1b/c~0d", MMDS_FMT_IMDS, 0, "e");
    expect_render(m, "/a~2b", MMDS_FMT_IMDS, -ENOENT, NULL);
    expect_render(m, "/nope", MMDS_FMT_JSON, -ENOENT, NULL);
    expect_render(m, "/age/x", MMDS_FMT_JSON, -ENOENT, NULL);
    mmds_free(m);
}

static void tokens(void **state)
{
    struct mmds *m = mmds_new(0);
    char t[MMDS_TOKEN_CHARS + 1], u[MMDS_TOKEN_CHARS + 1];
    assert_int_equal(mmds_token_new(m, 0, 1000, t), -EINVAL);
    assert_int_equal(mmds_token_new(m, 21601, 1000, t), -EINVAL);
    assert_int_equal(mmds_token_new(m, 1, 1000, t), 0);
    assert_int_equal(strlen(t), MMDS_TOKEN_CHARS);
    assert_true(mmds_token_valid(m, t, 1000));
    assert_true(mmds_token_valid(m, t, 1999));
    assert_false(mmds_token_valid(m, t, 2000)); /* expired after exactly TTL */
    assert_false(mmds_token_valid(m, "", 1000));
    assert_false(mmds_token_valid(m, "deadbeef", 1000));
    assert_int_equal(mmds_token_new(m, 21600, 1000, u), 0);
    assert_string_not_equal(t, u);
    u[0] = u[0] == 'a' ? 'b' : 'a';
    assert_false(mmds_token_valid(m, u, 1000));
    /* the table is bounded: more live tokens than it holds push out the one expiring first */
    char first[MMDS_TOKEN_CHARS + 1], last[MMDS_TOKEN_CHARS + 1];
    assert_int_equal(mmds_token_new(m, 10, 5000, first), 0);
    for (unsigned i = 0; i < MMDS_MAX_TOKENS; i++)
        assert_int_equal(mmds_token_new(m, 100 + i % 50, 5000, last), 0);
    assert_false(mmds_token_valid(m, first, 5000));
    assert_true(mmds_token_valid(m, last, 5000));
    mmds_free(m);
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static int parse(const char *s, struct mmds_req *rq)
{
    const char *why;
    return mmds_http_parse(s, strlen(s), rq, &why);
}

static void http_parse(void **state)
{
    struct mmds_req rq;
    const char *g = "GET /latest//meta-data/?x=1 HTTP/1.1\r\nHost: h\r\nACCEPT: application/json"
                    "\r\nx-METADATA-token: abc\r\n\r\nGET / HTTP/1.1\r\n";
    int n = parse(g, &rq);
    assert_int_equal(n, (int)(strstr(g, "\r\n\r\n") - g + 4)); /* the first request only */
    assert_int_equal(rq.method, MMDS_GET);
    assert_string_equal(rq.path, "/latest/meta-data/");
    assert_true(rq.accept_json && rq.has_token && rq.keep_alive && !rq.http10);
    assert_string_equal(rq.token, "abc");
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\n", &rq), 0); /* incomplete */
    assert_int_equal(parse("GET http://169.254.169.254/a HTTP/1.0\r\n\r\n", &rq) > 0, 1);
    assert_string_equal(rq.path, "/a");
    assert_true(rq.http10 && !rq.keep_alive);
    assert_true(parse("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 21600\r\n"
                      "Connection: close\r\nContent-Length: 3\r\n\r\nabc",
                      &rq) > 0);
    assert_int_equal(rq.method, MMDS_PUT);
    assert_string_equal(rq.ttl, "21600");
    assert_false(rq.keep_alive);
    assert_int_equal(parse("PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab", &rq), 0);
    assert_int_equal(parse("DELETE / HTTP/1.1\r\n\r\n", &rq) > 0, 1);
    assert_int_equal(rq.method, MMDS_OTHER);
    /* malformed */
    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &rq), -EINVAL);
    assert_int_equal(parse("GET /\r\n\r\n", &rq), -EINVAL);
    assert_int_equal(parse("GET x HTTP/1.1\r\n\r\n", &rq), -EINVAL);
    assert_int_equal(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n", &rq), -EINVAL);
    assert_int_equal(parse("GET / HTTP/1.1\nHost: x\r\n\r\n", &rq), -EINVAL);
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &rq), -EINVAL);
    assert_int_equal(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &rq), -EINVAL);
    assert_int_equal(parse("PUT / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", &rq), -E2BIG);
    char *big = malloc(MMDS_REQ_MAX + 1);
    memset(big, 'a', MMDS_REQ_MAX);
    big[MMDS_REQ_MAX] = 0;
    assert_int_equal(parse(big, &rq), -E2BIG);
    free(big);
}

/* Status and body of the response to request S under version V (IMDS_COMPAT). */
static int respond(struct mmds *m, int v, bool compat, const char *s, uint64_t now, char *body,
                   size_t cap, char *ctype)
{
    struct mmds_policy p = {.version = (uint8_t)v, .imds_compat = compat};
    struct mmds_req rq;
    const char *why;
    int n = mmds_http_parse(s, strlen(s), &rq, &why);
    char *out;
    size_t len;
    bool close;
    assert_int_equal(mmds_http_respond(m, &p, n > 0 ? &rq : NULL, why, now, &out, &len, &close), 0);
    int status = atoi(out + 9);
    const char *b = memmem(out, len, "\r\n\r\n", 4) + 4;
    snprintf(body, cap, "%.*s", (int)(len - (size_t)(b - out)), b);
    const char *ct = memmem(out, len, "Content-Type: ", 14);
    if (ctype)
        sscanf(ct + 14, "%63[^\r]", ctype);
    free(out);
    return status;
}

static void http_respond(void **state)
{
    struct mmds *m = filled("{\"latest\":{\"meta-data\":{\"id\":\"i-1\"}}}");
    char b[512], ct[64], req[640];
    /* V1: token-less GETs, nothing else */
    assert_int_equal(
        respond(m, 1, false, "GET /latest/meta-data/id HTTP/1.1\r\n\r\n", 0, b, sizeof(b), ct),
        200);
    assert_string_equal(b, "i-1");
    assert_string_equal(ct, "text/plain");
    assert_int_equal(respond(m, 1, false,
                             "GET /latest HTTP/1.1\r\nAccept: application/json\r\n\r\n", 0, b,
                             sizeof(b), ct),
                     200);
    assert_string_equal(b, "{\"meta-data\":{\"id\":\"i-1\"}}");
    assert_string_equal(ct, "application/json");
    assert_int_equal(respond(m, 1, true, "GET /latest HTTP/1.1\r\nAccept: application/json\r\n\r\n",
                             0, b, sizeof(b), ct),
                     200); /* imds_compat: text/plain whatever the Accept */
    assert_string_equal(b, "meta-data/");
    assert_string_equal(ct, "text/plain");
    assert_int_equal(respond(m, 1, false, "GET /nope HTTP/1.1\r\n\r\n", 0, b, sizeof(b), NULL),
                     404);
    assert_string_equal(b, "Resource not found: /nope.");
    assert_int_equal(
        respond(m, 1, false, "PUT /latest/api/token HTTP/1.1\r\n\r\n", 0, b, sizeof(b), NULL), 405);
    assert_int_equal(respond(m, 1, false, "GET / HTTP/9\r\n\r\n", 0, b, sizeof(b), NULL), 400);
    /* V2: a token first */
    assert_int_equal(respond(m, 2, false, "GET /latest HTTP/1.1\r\n\r\n", 0, b, sizeof(b), NULL),
                     401);
    assert_true(strstr(b, "No MMDS token provided") != NULL);
    assert_int_equal(
        respond(m, 2, false, "PUT /latest/api/token HTTP/1.1\r\n\r\n", 0, b, sizeof(b), NULL), 400);
    assert_true(strstr(b, "Token time to live value not found") != NULL);
    assert_int_equal(respond(m, 2, false,
                             "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: "
                             "0\r\n\r\n",
                             0, b, sizeof(b), NULL),
                     400);
    assert_string_equal(b, "Invalid time to live value provided for token: 0. Please provide a "
                           "value between 1 and 21600.");
    assert_int_equal(respond(m, 2, false,
                             "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: "
                             "1x\r\n\r\n",
                             0, b, sizeof(b), NULL),
                     400);
    assert_int_equal(respond(m, 2, false,
                             "PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n"
                             "X-metadata-token-ttl-seconds: 5\r\n\r\n",
                             0, b, sizeof(b), NULL),
                     400);
    assert_int_equal(respond(m, 2, false,
                             "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-"
                             "seconds: 1\r\n\r\n",
                             10000, b, sizeof(b), ct),
                     200);
    assert_int_equal(strlen(b), MMDS_TOKEN_CHARS);
    snprintf(req, sizeof(req), "GET /latest/meta-data/id HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n",
             b);
    assert_int_equal(respond(m, 2, false, req, 10999, b, sizeof(b), NULL), 200);
    assert_string_equal(b, "i-1");
    assert_int_equal(respond(m, 2, false, req, 11000, b, sizeof(b), NULL), 401); /* expired */
    assert_string_equal(b, "MMDS token not valid.");
    assert_int_equal(respond(m, 2, false, "DELETE / HTTP/1.1\r\n\r\n", 0, b, sizeof(b), NULL), 405);
    struct mmds_counters n;
    mmds_counters(m, &n);
    assert_int_equal(n.rx_no_token, 1);
    assert_int_equal(n.rx_invalid_token, 1);
    assert_int_equal(n.tokens_issued, 1);
    mmds_free(m);
}

/* ---- the responder, driven by the frames of a guest --------------------------------------------
 */
#define GUEST_IP 0x0a000002u
static const uint8_t guest_mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};

struct seg {
    bool arp;
    uint8_t flags;
    uint16_t sport, dport, wnd;
    uint32_t seq, ack;
    char data[2048];
    size_t len;
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
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}
static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += get16(p + i);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* A TCP segment from the guest (port SPORT) to the MMDS. */
static void send_tcp(struct mmds_stack *s, uint16_t sport, uint16_t dport, uint8_t flags,
                     uint32_t seq, uint32_t ack, uint16_t wnd, const char *data, uint64_t now)
{
    uint8_t f[1600] = {0};
    size_t n = data ? strlen(data) : 0, opt = (flags & 0x02) ? 4 : 0;
    memcpy(f, mmds_mac, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14, *t = ip + 20;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(40 + opt + n));
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, GUEST_IP);
    put32(ip + 16, MMDS_DEFAULT_IPV4);
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = (uint8_t)((20 + opt) / 4) << 4;
    t[13] = flags;
    put16(t + 14, wnd);
    if (opt) {
        t[20] = 2;
        t[21] = 4;
        put16(t + 22, 1460);
    }
    memcpy(t + 20 + opt, data ? data : "", n);
    assert_true(mmds_stack_wants(s, f, 14 + 40 + opt + n));
    mmds_stack_input(s, f, 14 + 40 + opt + n, now);
}

/* The next frame from the responder, checked (addresses, checksums); false when none. */
static bool recv_seg(struct mmds_stack *s, struct seg *g)
{
    uint8_t f[MMDS_FRAME_MAX];
    size_t n = mmds_stack_output(s, f, sizeof(f));
    if (!n)
        return false;
    memset(g, 0, sizeof(*g));
    assert_memory_equal(f, guest_mac, 6);
    assert_memory_equal(f + 6, mmds_mac, 6);
    if (get16(f + 12) == 0x0806) {
        g->arp = true;
        assert_int_equal(get16(f + 20), 2); /* reply */
        assert_memory_equal(f + 22, mmds_mac, 6);
        assert_int_equal(get32(f + 28), MMDS_DEFAULT_IPV4);
        assert_int_equal(get32(f + 38), GUEST_IP);
        return true;
    }
    assert_int_equal(get16(f + 12), 0x0800);
    const uint8_t *ip = f + 14, *t = ip + 20;
    assert_int_equal(csum(ip, 20, 0), 0);
    size_t tot = get16(ip + 2), tl = tot - 20;
    assert_int_equal(14 + tot, n);
    assert_int_equal(get32(ip + 12), MMDS_DEFAULT_IPV4);
    assert_int_equal(get32(ip + 16), GUEST_IP);
    uint8_t ph[12];
    memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = 6;
    put16(ph + 10, (uint16_t)tl);
    uint32_t sum = 0;
    for (int i = 0; i < 12; i += 2)
        sum += get16(ph + i);
    assert_int_equal(csum(t, tl, sum), 0);
    g->sport = get16(t);
    g->dport = get16(t + 2);
    g->seq = get32(t + 4);
    g->ack = get32(t + 8);
    g->flags = t[13];
    g->wnd = get16(t + 14);
    size_t doff = (size_t)(t[12] >> 4) * 4;
    g->len = tl - doff;
    assert_true(g->len < sizeof(g->data));
    memcpy(g->data, t + doff, g->len);
    return true;
}

struct client {
    struct mmds_stack *s;
    uint16_t port;
    uint32_t seq, ack; /* next to send, next expected */
};

/* Handshake from port PORT. */
static void connect_c(struct client *c, struct mmds_stack *s, uint16_t port)
{
    struct seg g;
    *c = (struct client){.s = s, .port = port, .seq = 1000u * port};
    send_tcp(s, port, 80, 0x02, c->seq, 0, 65535, NULL, 0);
    assert_true(recv_seg(s, &g));
    assert_int_equal(g.flags, 0x12); /* SYN|ACK */
    assert_int_equal(g.ack, c->seq + 1);
    assert_int_equal(g.dport, port);
    c->seq++;
    c->ack = g.seq + 1;
    send_tcp(s, port, 80, 0x10, c->seq, c->ack, 65535, NULL, 0);
    assert_false(recv_seg(s, &g));
}

/* Send REQ and collect the response (acknowledging every segment) into OUT. */
static size_t exchange(struct client *c, const char *req, char *out, size_t cap, uint64_t now)
{
    struct seg g;
    size_t got = 0;
    send_tcp(c->s, c->port, 80, 0x18, c->seq, c->ack, 65535, req, now);
    c->seq += (uint32_t)strlen(req);
    while (recv_seg(c->s, &g)) {
        if (g.ack)
            assert_int_equal(g.ack, c->seq);
        if (g.len) {
            assert_int_equal(g.seq, c->ack);
            assert_true(got + g.len < cap);
            memcpy(out + got, g.data, g.len);
            got += g.len;
            c->ack += (uint32_t)g.len;
            send_tcp(c->s, c->port, 80, 0x10, c->seq, c->ack, 65535, NULL, now);
        }
    }
    out[got] = 0;
    return got;
}

static struct mmds_stack *stack(struct mmds *m, int version)
{
    struct mmds_policy p = {.version = (uint8_t)version};
    struct mmds_stack *s = mmds_stack_new(m, &p, MMDS_DEFAULT_IPV4);
    assert_non_null(s);
    return s;
}

static void tcp_arp(void **state)
{
    struct mmds *m = mmds_new(0);
    struct mmds_stack *s = stack(m, 1);
    uint8_t f[42] = {0};
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0806);
    put16(f + 14, 1);
    put16(f + 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    put16(f + 20, 1);
    memcpy(f + 22, guest_mac, 6);
    put32(f + 28, GUEST_IP);
    put32(f + 38, MMDS_DEFAULT_IPV4);
    assert_true(mmds_stack_wants(s, f, sizeof(f)));
    put32(f + 38, 0x0a000001); /* someone else's address: not ours */
    assert_false(mmds_stack_wants(s, f, sizeof(f)));
    put32(f + 38, MMDS_DEFAULT_IPV4);
    mmds_stack_input(s, f, sizeof(f), 0);
    struct seg g;
    assert_true(recv_seg(s, &g));
    assert_true(g.arp);
    assert_false(recv_seg(s, &g));
    /* the control queue is bounded: a flood of requests keeps MMDS_CTL_QUEUE replies */
    for (int i = 0; i < 1000; i++)
        mmds_stack_input(s, f, sizeof(f), 0);
    int n = 0;
    while (recv_seg(s, &g))
        n++;
    assert_int_equal(n, MMDS_CTL_QUEUE);
    mmds_stack_free(s);
    mmds_free(m);
}

static void tcp_get(void **state)
{
    struct mmds *m = filled("{\"latest\":{\"meta-data\":{\"id\":\"i-1\"}}}");
    struct mmds_stack *s = stack(m, 1);
    struct client c;
    char out[4096];
    connect_c(&c, s, 40000);
    exchange(&c, "GET /latest/meta-data/id HTTP/1.1\r\n\r\n", out, sizeof(out), 0);
    assert_true(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
    assert_true(strstr(out, "\r\n\r\ni-1") != NULL);
    /* keep-alive: a second request on the same connection, split over two segments */
    struct seg g;
    send_tcp(s, c.port, 80, 0x10, c.seq, c.ack, 65535, "GET /latest HTTP/1.1\r\n", 0);
    c.seq += 22;
    assert_true(recv_seg(s, &g)); /* an ACK, no data yet */
    assert_int_equal(g.len, 0);
    assert_int_equal(g.ack, c.seq);
    exchange(&c, "Connection: close\r\n\r\n", out, sizeof(out), 0);
    assert_true(strstr(out, "\r\n\r\nmeta-data/") != NULL);
    /* Connection: close: our FIN came after the data (exchange saw it as a zero-length seg) */
    struct mmds_stack_stats st;
    mmds_stack_stats(s, &st);
    assert_int_equal(st.conns, 1);
    send_tcp(s, c.port, 80, 0x11, c.seq, c.ack + 1, 65535, NULL, 0); /* ACK our FIN + our FIN */
    assert_true(recv_seg(s, &g));
    assert_int_equal(g.flags, 0x10);
    assert_int_equal(g.ack, c.seq + 1);
    mmds_stack_stats(s, &st);
    assert_int_equal(st.conns, 0);
    assert_int_equal(st.out_bytes, 0);
    /* the metrics counted it all */
    struct mmds_counters n;
    mmds_counters(m, &n);
    assert_int_equal(n.connections_created, 1);
    assert_int_equal(n.connections_destroyed, 1);
    assert_int_equal(n.rx_count, 2);
    assert_true(n.rx_accepted >= 6 && n.tx_frames >= 5 && n.tx_bytes > 200);
    assert_int_equal(n.rx_accepted_err, 0);
    mmds_stack_free(s);
    mmds_free(m);
}

static void tcp_v2_token(void **state)
{
    struct mmds *m = filled("{\"k\":\"v\"}");
    struct mmds_stack *s = stack(m, 2);
    struct client c;
    char out[4096], req[4200];
    connect_c(&c, s, 40001);
    exchange(&c, "GET /k HTTP/1.1\r\n\r\n", out, sizeof(out), 5000);
    assert_true(strncmp(out, "HTTP/1.1 401 ", 13) == 0);
    exchange(&c, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 1\r\n\r\n", out,
             sizeof(out), 5000);
    assert_true(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
    const char *tok = strstr(out, "\r\n\r\n") + 4;
    snprintf(req, sizeof(req), "GET /k HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n", tok);
    exchange(&c, req, out, sizeof(out), 5500);
    assert_true(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
    exchange(&c, req, out, sizeof(out), 7000); /* two seconds later */
    assert_true(strncmp(out, "HTTP/1.1 401 ", 13) == 0);
    mmds_stack_free(s);
    mmds_free(m);
}

/* A large response: segments of the guest's MSS within its window; a zero window stops us, a
 * window update resumes; a repeated ACK sends again from the first unacknowledged byte. */
static void tcp_window_retransmit(void **state)
{
    char big[20000];
    memset(big, 'x', sizeof(big));
    snprintf(big, sizeof(big), "{\"k\":\"");
    memset(big + 6, 'y', 10000);
    snprintf(big + 10006, 100, "\"}");
    struct mmds *m = filled(big);
    struct mmds_stack *s = stack(m, 1);
    struct client c;
    struct seg g;
    connect_c(&c, s, 40002);
    send_tcp(s, c.port, 80, 0x18, c.seq, c.ack, 3000, "GET /k HTTP/1.1\r\n\r\n", 0);
    c.seq += 19;
    size_t sent = 0;
    uint32_t first = c.ack;
    while (recv_seg(s, &g)) {
        assert_true(g.len <= 1460);
        sent += g.len;
    }
    assert_int_equal(sent, 3000); /* exactly the window */
    /* zero window: nothing more */
    send_tcp(s, c.port, 80, 0x10, c.seq, first + 3000, 0, NULL, 0);
    assert_false(recv_seg(s, &g));
    /* window opens again */
    send_tcp(s, c.port, 80, 0x10, c.seq, first + 3000, 1000, NULL, 0);
    assert_true(recv_seg(s, &g));
    assert_int_equal(g.seq, first + 3000);
    assert_int_equal(g.len, 1000);
    assert_false(recv_seg(s, &g));
    /* the guest lost that segment: it repeats its ACK, we send again from first + 3000 */
    send_tcp(s, c.port, 80, 0x10, c.seq, first + 3000, 1000, NULL, 0);
    send_tcp(s, c.port, 80, 0x10, c.seq, first + 3000, 1000, NULL, 0);
    assert_true(recv_seg(s, &g));
    assert_int_equal(g.seq, first + 3000);
    mmds_stack_free(s);
    mmds_free(m);
}

static void tcp_bounds(void **state)
{
    struct mmds *m = filled("{\"k\":\"v\"}");
    struct mmds_stack *s = stack(m, 1);
    struct seg g;
    struct mmds_stack_stats st;
    /* another port: reset */
    send_tcp(s, 5555, 81, 0x02, 1, 0, 65535, NULL, 0);
    assert_true(recv_seg(s, &g));
    assert_true(g.flags & 0x04);
    assert_int_equal(g.ack, 2);
    /* data on no connection: reset */
    send_tcp(s, 5556, 80, 0x10, 1, 77, 65535, "x", 0);
    assert_true(recv_seg(s, &g));
    assert_int_equal(g.flags, 0x04);
    assert_int_equal(g.seq, 77);
    /* more connections than the table holds: the oldest is reset */
    struct client c[MMDS_MAX_CONN + 1];
    for (unsigned i = 0; i < MMDS_MAX_CONN; i++)
        connect_c(&c[i], s, (uint16_t)(1000 + i));
    send_tcp(s, 2000, 80, 0x02, 5, 0, 65535, NULL, 0);
    assert_true(recv_seg(s, &g));
    assert_true(g.flags & 0x04);
    assert_int_equal(g.dport, 1000);
    assert_true(recv_seg(s, &g));
    assert_int_equal(g.flags, 0x12);
    assert_int_equal(g.dport, 2000);
    mmds_stack_stats(s, &st);
    assert_int_equal(st.conns, MMDS_MAX_CONN);
    assert_int_equal(st.evicted, 1);
    /* out of order: dropped and acknowledged at what we expect */
    send_tcp(s, c[5].port, 80, 0x10, c[5].seq + 10, c[5].ack, 65535, "GET", 0);
    assert_true(recv_seg(s, &g));
    assert_int_equal(g.ack, c[5].seq);
    /* a request that never ends: the window closes at MMDS_REQ_MAX, then a 400 and close */
    char chunk[1025];
    memset(chunk, 'a', 1024);
    chunk[1024] = 0;
    uint16_t last_wnd = 0;
    for (int i = 0; i < 5; i++) {
        send_tcp(s, c[6].port, 80, 0x10, c[6].seq, c[6].ack, 65535, chunk, 0);
        while (recv_seg(s, &g)) {
            last_wnd = g.wnd;
            if (g.len)
                assert_true(strncmp(g.data, "HTTP/1.1 400 ", 13) == 0);
        }
        c[6].seq += 1024;
    }
    (void)last_wnd;
    mmds_stack_stats(s, &st);
    assert_true(st.out_bytes < 1024);
    /* a guest reset frees its connection */
    send_tcp(s, c[7].port, 80, 0x04, c[7].seq, 0, 0, NULL, 0);
    mmds_stack_stats(s, &st);
    assert_int_equal(st.conns, MMDS_MAX_CONN - 1);
    /* fragments and other protocols are dropped */
    uint8_t f[60] = {0};
    put16(f + 12, 0x0800);
    f[14] = 0x45;
    put16(f + 16, 46);
    put16(f + 20, 0x2000); /* MF */
    f[23] = 6;
    put32(f + 30, MMDS_DEFAULT_IPV4);
    mmds_stack_input(s, f, sizeof(f), 0);
    assert_false(recv_seg(s, &g));
    mmds_stack_free(s);
    mmds_free(m);
}

/* ---- net.c: the backend in front of another -------------------------------------------------- */
struct fake_be {
    struct net_backend be;
    unsigned sent, recvs, closed;
    size_t last_len;
};

static int fake_send(struct net_backend *be, const struct iovec *iov, unsigned n)
{
    struct fake_be *f = (struct fake_be *)be;
    f->sent++;
    f->last_len = 0;
    for (unsigned i = 0; i < n; i++)
        f->last_len += iov[i].iov_len;
    return 0;
}
static ssize_t fake_recv(struct net_backend *be, void *buf, size_t len)
{
    ((struct fake_be *)be)->recvs++;
    return -EAGAIN;
}
static void fake_rx_enable(struct net_backend *be, bool on)
{
}
static void fake_close(struct net_backend *be)
{
    ((struct fake_be *)be)->closed++;
}
static const struct net_backend_ops fake_ops = {.name = "fake",
                                                .send = fake_send,
                                                .recv = fake_recv,
                                                .rx_enable = fake_rx_enable,
                                                .close = fake_close};

/* An ARP request for TARGET behind a 12-byte vnet header, in two segments. */
static void arp_iov(uint8_t *f, struct iovec iov[2], uint32_t target)
{
    memset(f, 0, 12 + 42);
    uint8_t *e = f + 12;
    memset(e, 0xff, 6);
    memcpy(e + 6, guest_mac, 6);
    put16(e + 12, 0x0806);
    put16(e + 14, 1);
    put16(e + 16, 0x0800);
    e[18] = 6;
    e[19] = 4;
    put16(e + 20, 1);
    memcpy(e + 22, guest_mac, 6);
    put32(e + 28, GUEST_IP);
    put32(e + 38, target);
    iov[0] = (struct iovec){f, 20}; /* the header and part of the frame */
    iov[1] = (struct iovec){f + 20, 12 + 42 - 20};
}

static void net_wrap(void **state)
{
    struct evloop *loop = evloop_new();
    struct fake_be *f = calloc(1, sizeof(*f)), keep;
    f->be = (struct net_backend){
        .ops = &fake_ops, .loop = loop, .hdr_len = NET_VNET_HDR_LEN, .link_up = true};
    struct net_backend *be = &f->be;
    struct mmds *m = mmds_new(0);
    struct mmds_config cfg = {.enabled = true, .version = 1, .ipv4 = MMDS_DEFAULT_IPV4};
    char err[128];
    assert_int_equal(mmds_net_wrap(m, &cfg, loop, &be, err, sizeof(err)), 0);
    assert_ptr_not_equal(be, &f->be);
    assert_true(be->link_up);
    uint8_t frame[12 + 42], buf[NET_VNET_HDR_LEN + NET_MAX_FRAME];
    struct iovec iov[2];
    /* a frame for someone else goes to the wrapped backend as it is */
    arp_iov(frame, iov, 0x0a000001);
    assert_int_equal(be->ops->send(be, iov, 2), 0);
    assert_int_equal(f->sent, 1);
    assert_int_equal(f->last_len, sizeof(frame));
    /* one for the MMDS is answered here: never sent on; the reply comes before the host's */
    arp_iov(frame, iov, MMDS_DEFAULT_IPV4);
    assert_int_equal(be->ops->send(be, iov, 2), 0);
    assert_int_equal(f->sent, 1);
    ssize_t n = be->ops->recv(be, buf, sizeof(buf));
    assert_int_equal(n, NET_VNET_HDR_LEN + 42);
    static const uint8_t zero[NET_VNET_HDR_LEN];
    assert_memory_equal(buf, zero, NET_VNET_HDR_LEN); /* no offloads claimed */
    assert_memory_equal(buf + NET_VNET_HDR_LEN + 22, mmds_mac, 6);
    assert_int_equal(f->recvs, 0);
    /* then the host's frames (none here) */
    assert_int_equal(be->ops->recv(be, buf, sizeof(buf)), -EAGAIN);
    assert_int_equal(f->recvs, 1);
    /* recvv on a backend without it: the responder's frame scattered over segments */
    assert_int_equal(be->ops->send(be, iov, 2), 0);
    struct iovec out[3] = {{buf, 5}, {buf + 5, 30}, {buf + 35, sizeof(buf) - 35}};
    assert_int_equal(be->ops->recvv(be, out, 3), NET_VNET_HDR_LEN + 42);
    assert_memory_equal(buf + NET_VNET_HDR_LEN + 22, mmds_mac, 6);
    assert_int_equal(be->ops->recvv(be, out, 3), -EAGAIN);
    keep = *f;
    be->ops->close(be); /* closes the wrapped backend too */
    assert_int_equal(f->closed, keep.closed + 1);
    free(f);
    mmds_free(m);
    evloop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_put_patch), cmocka_unit_test(store_limit),
        cmocka_unit_test(store_render),    cmocka_unit_test(tokens),
        cmocka_unit_test(http_parse),      cmocka_unit_test(http_respond),
        cmocka_unit_test(tcp_arp),         cmocka_unit_test(tcp_get),
        cmocka_unit_test(tcp_v2_token),    cmocka_unit_test(tcp_window_retransmit),
        cmocka_unit_test(tcp_bounds),      cmocka_unit_test(net_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
