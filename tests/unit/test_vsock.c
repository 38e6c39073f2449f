/* test_vsock.c — vsock engine: real UNIX sockets, malformed guest headers, credit abuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/util.h"
#include "virtio/vsock_proto.h"
#include "virtio_fixture.h"

#define GUEST_CID 3

struct fx {
    char dir[64];
    char uds[128];
    struct vsock_engine *e;
    int lfd; /* host listener for port 1234 */
};

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_int_equal(str_copy(sa.sun_path, sizeof(sa.sun_path), path), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 512), 0);
    return fd;
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_int_equal(str_copy(sa.sun_path, sizeof(sa.sun_path), path), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/truce-vsock-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
    assert_int_equal(vsock_engine_new(GUEST_CID, f->uds, &f->e), 0);
    char p[160];
    snprintf(p, sizeof(p), "%s_1234", f->uds);
    f->lfd = listen_unix(p);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    vsock_engine_free(f->e);
    close(f->lfd);
    snprintf(p, sizeof(p), "%s_1234", f->uds);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Send one packet as the guest. */
static void gsend(struct fx *f, uint16_t op, uint32_t sport, uint32_t dport, const void *data,
                  uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
    struct vsock_hdr h = {0};
    h.src_cid = htole64(GUEST_CID);
    h.dst_cid = htole64(VSOCK_HOST_CID);
    h.src_port = htole32(sport);
    h.dst_port = htole32(dport);
    h.len = htole32(len);
    h.type = htole16(VSOCK_TYPE_STREAM);
    h.op = htole16(op);
    h.flags = htole32(op == 4 ? 3 : 0);
    h.buf_alloc = htole32(buf_alloc);
    h.fwd_cnt = htole32(fwd_cnt);
    struct iovec v = {(void *)data, len};
    vsock_engine_guest_tx(f->e, &h, &v, 1, len);
}

/* Take the next packet for the guest; returns its op (0: none). */
static uint16_t grecv(struct fx *f, struct vsock_hdr *h, void *buf, size_t cap)
{
    struct iovec v = {buf, cap};
    memset(h, 0, sizeof(*h));
    if (!vsock_engine_guest_rx(f->e, h, &v, 1, cap))
        return 0;
    assert_int_equal(le64toh(h->src_cid), VSOCK_HOST_CID);
    assert_int_equal(le64toh(h->dst_cid), GUEST_CID);
    return le16toh(h->op);
}

/* Wait (up to 5 s) for host activity and let the engine handle it. */
static void pump(struct fx *f)
{
    struct pollfd p = {.fd = vsock_engine_fd(f->e), .events = POLLIN};
    poll(&p, 1, 5000);
    vsock_engine_poll(f->e);
}

/* Guest connects from port 5000 to 1234; returns the accepted host fd. */
static int establish(struct fx *f, uint32_t buf_alloc)
{
    struct vsock_hdr h;
    char b[16];
    gsend(f, 1, 5000, 1234, NULL, 0, buf_alloc, 0);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 2 /* RESPONSE */);
    assert_int_equal(le32toh(h.src_port), 1234);
    assert_int_equal(le32toh(h.dst_port), 5000);
    assert_int_equal(le32toh(h.buf_alloc), VSOCK_CONN_BUF);
    int hfd = accept(f->lfd, NULL, NULL);
    assert_true(hfd >= 0);
    return hfd;
}

static void test_parse_connect(void **state)
{
    uint32_t p;
    assert_int_equal(vsock_parse_connect("CONNECT 52\n", 11, &p), 0);
    assert_int_equal(p, 52);
    assert_int_equal(vsock_parse_connect("CONNECT 4294967295\n", 19, &p), 0);
    assert_int_equal(p, UINT32_MAX);
    assert_int_equal(vsock_parse_connect("CONNECT 4294967296\n", 19, &p), -EINVAL);
    assert_int_equal(vsock_parse_connect("CONNECT \n", 9, &p), -EINVAL);
    assert_int_equal(vsock_parse_connect("CONNECT 5x\n", 11, &p), -EINVAL);
    assert_int_equal(vsock_parse_connect("connect 52\n", 11, &p), -EINVAL);
    assert_int_equal(vsock_parse_connect("CONNECT 52", 10, &p), -EINVAL);
}

static void test_peer_credit(void **state)
{
    assert_int_equal(vsock_peer_credit(1000, 0, 0), 1000);
    assert_int_equal(vsock_peer_credit(1000, 100, 600), 500);
    assert_int_equal(vsock_peer_credit(1000, 0, 1000), 0);
    assert_int_equal(vsock_peer_credit(1000, 0, 1001), 0);              /* shrunk buffer */
    assert_int_equal(vsock_peer_credit(1000, 50, 10), 0);               /* fwd_cnt beyond tx */
    assert_int_equal(vsock_peer_credit(1000, UINT32_MAX - 9, 10), 980); /* counters wrap */
}

static void test_echo_both_ways(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    char b[64];
    int hfd = establish(f, 65536);
    /* guest -> host, payload split over two segments */
    struct vsock_hdr t = {0};
    t.src_cid = htole64(GUEST_CID);
    t.dst_cid = htole64(VSOCK_HOST_CID);
    t.src_port = htole32(5000);
    t.dst_port = htole32(1234);
    t.len = htole32(5);
    t.type = htole16(VSOCK_TYPE_STREAM);
    t.op = htole16(5);
    t.buf_alloc = htole32(65536);
    struct iovec v[2] = {{"he", 2}, {"llo!!", 5}}; /* 2 trailing bytes beyond len: ignored */
    vsock_engine_guest_tx(f->e, &t, v, 2, 7);
    assert_int_equal(read(hfd, b, sizeof(b)), 5);
    assert_memory_equal(b, "hello", 5);
    /* host -> guest */
    assert_int_equal(write(hfd, "world", 5), 5);
    pump(f);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 5 /* RW */);
    assert_int_equal(le32toh(h.len), 5);
    assert_memory_equal(b, "world", 5);
    assert_int_equal(le32toh(h.fwd_cnt), 5); /* the 5 bytes it sent reached the host */
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 0);
    /* host closes: guest is told the host sends no more */
    close(hfd);
    pump(f);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 4 /* SHUTDOWN */);
    assert_int_equal(le32toh(h.flags), 2);
    /* guest closes: RST, connection gone */
    gsend(f, 4, 5000, 1234, NULL, 0, 65536, 5);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 3 /* RST */);
    assert_int_equal(vsock_engine_nconns(f->e), 0);
}

/* Regression: with data waiting and no room for payload (CAP 0), the engine answers "nothing"
 * at once instead of requeueing the connection forever; the data waits for a real buffer. */
static void test_rx_without_payload_room(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    char b[16];
    int hfd = establish(f, 65536);
    assert_int_equal(write(hfd, "wait", 4), 4);
    pump(f);
    assert_true(vsock_engine_has_rx(f->e));
    assert_int_equal(grecv(f, &h, b, 0), 0);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 5 /* RW */);
    assert_int_equal(le32toh(h.len), 4);
    assert_memory_equal(b, "wait", 4);
    close(hfd);
}

static void test_unknown_ports_rst(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    char b[8];
    gsend(f, 1, 5000, 999, NULL, 0, 4096, 0); /* nobody listens on _999 */
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 3);
    assert_int_equal(le32toh(h.src_port), 999);
    assert_int_equal(le32toh(h.dst_port), 5000);
    gsend(f, 5, 5001, 1234, "x", 1, 4096, 0); /* data on a connection that does not exist */
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 3);
    gsend(f, 3, 5001, 1234, NULL, 0, 4096, 0); /* RST for nothing: no answer (no RST loop) */
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 0);
    assert_int_equal(vsock_engine_stats(f->e)->conns_refused, 1);
}

static void test_malformed_headers(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h, t = {0};
    char b[8];
    t.src_cid = htole64(7); /* not the guest's cid */
    t.dst_cid = htole64(VSOCK_HOST_CID);
    t.type = htole16(VSOCK_TYPE_STREAM);
    t.op = htole16(1);
    t.dst_port = htole32(1234);
    vsock_engine_guest_tx(f->e, &t, NULL, 0, 0);
    t.src_cid = htole64(GUEST_CID);
    t.dst_cid = htole64(1); /* not the host */
    vsock_engine_guest_tx(f->e, &t, NULL, 0, 0);
    t.dst_cid = htole64(VSOCK_HOST_CID);
    t.len = htole32(100); /* more payload than the chain holds */
    vsock_engine_guest_tx(f->e, &t, NULL, 0, 10);
    t.len = htole32(VSOCK_MAX_PKT + 1); /* larger than any packet */
    vsock_engine_guest_tx(f->e, &t, NULL, 0, VSOCK_MAX_PKT + 1);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 0); /* all dropped silently */
    assert_int_equal(vsock_engine_stats(f->e)->malformed, 4);
    assert_int_equal(vsock_engine_nconns(f->e), 0);
    t.len = 0;
    t.type = htole16(2); /* SEQPACKET was not offered */
    vsock_engine_guest_tx(f->e, &t, NULL, 0, 0);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 3);
    t.type = htole16(VSOCK_TYPE_STREAM);
    t.op = htole16(0xffff); /* no such op */
    vsock_engine_guest_tx(f->e, &t, NULL, 0, 0);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 3);
    assert_int_equal(vsock_engine_nconns(f->e), 0);
}

static void test_guest_credit_abuse(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    static char chunk[VSOCK_MAX_PKT];
    memset(chunk, 'a', sizeof(chunk));
    int hfd = establish(f, 65536); /* the host side never reads */
    for (unsigned i = 0; i < VSOCK_CONN_BUF / VSOCK_MAX_PKT; i++)
        gsend(f, 5, 5000, 1234, chunk, VSOCK_MAX_PKT, 65536, 0);
    assert_int_equal(vsock_engine_nconns(f->e), 1); /* exactly the advertised credit: fine */
    assert_int_equal(vsock_engine_stats(f->e)->credit_violations, 0);
    gsend(f, 5, 5000, 1234, chunk, 1, 65536, 0); /* one byte over */
    assert_int_equal(vsock_engine_stats(f->e)->credit_violations, 1);
    assert_int_equal(vsock_engine_nconns(f->e), 0);
    uint16_t op;
    while ((op = grecv(f, &h, chunk, sizeof(chunk))) == 6 /* CREDIT_UPDATE */)
        ;
    assert_int_equal(op, 3);
    close(hfd);
}

static void test_credit_update_after_forwarding(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    static char chunk[VSOCK_MAX_PKT];
    int hfd = establish(f, 65536);
    gsend(f, 5, 5000, 1234, chunk, VSOCK_MAX_PKT, 65536, 0);
    /* 64 KiB reached the host socket: the guest hears its new credit without asking */
    assert_int_equal(grecv(f, &h, chunk, sizeof(chunk)), 6);
    assert_int_equal(le32toh(h.fwd_cnt), VSOCK_MAX_PKT);
    gsend(f, 7, 5000, 1234, NULL, 0, 65536, 0); /* CREDIT_REQUEST */
    assert_int_equal(grecv(f, &h, chunk, sizeof(chunk)), 6);
    close(hfd);
}

static void test_host_respects_guest_credit(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    char b[4096];
    int hfd = establish(f, 100);
    memset(b, 'z', sizeof(b));
    assert_int_equal(write(hfd, b, 1000), 1000);
    pump(f);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 5);
    assert_int_equal(le32toh(h.len), 100);
    /* out of credit: at most a CREDIT_REQUEST, no data */
    uint16_t op = grecv(f, &h, b, sizeof(b));
    assert_true(op == 0 || op == 7);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 0);
    /* a lying guest (fwd_cnt beyond what it got) gets nothing either */
    gsend(f, 6, 5000, 1234, NULL, 0, 100, 5000);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 0);
    /* an honest update opens the window again */
    gsend(f, 6, 5000, 1234, NULL, 0, 100, 100);
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 5);
    assert_int_equal(le32toh(h.len), 100);
    close(hfd);
}

static void test_host_initiated(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    char b[64];
    int cfd = connect_unix(f->uds);
    assert_int_equal(write(cfd, "CONNECT 52\n", 11), 11);
    pump(f); /* accept */
    pump(f); /* read the line */
    assert_int_equal(grecv(f, &h, b, sizeof(b)), 1 /* REQUEST */);
    uint32_t local = le32toh(h.src_port);
    assert_true(local >= VSOCK_EPHEMERAL_BASE);
    assert_int_equal(le32toh(h.dst_port), 52);
    gsend(f, 2, 52, local, NULL, 0, 65536, 0);
    char want[32];
    int n = snprintf(want, sizeof(want), "OK %u\n", local);
    assert_int_equal(read(cfd, b, sizeof(b)), n);
    assert_memory_equal(b, want, (size_t)n);
    gsend(f, 5, 52, local, "ping", 4, 65536, 0);
    assert_int_equal(read(cfd, b, sizeof(b)), 4);
    close(cfd);
    /* a client with a bad line is dropped */
    cfd = connect_unix(f->uds);
    assert_int_equal(write(cfd, "HELLO 52\n", 9), 9);
    pump(f);
    pump(f);
    assert_int_equal(read(cfd, b, sizeof(b)), 0);
    close(cfd);
}

static void test_connection_table_bounded(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    char b[8];
    for (uint32_t i = 0; i < VSOCK_MAX_CONNS + 5; i++)
        gsend(f, 1, 10000 + i, 1234, NULL, 0, 4096, 0);
    assert_int_equal(vsock_engine_nconns(f->e), VSOCK_MAX_CONNS);
    assert_int_equal(vsock_engine_stats(f->e)->conns_refused, 5);
    unsigned rst = 0, resp = 0;
    uint16_t op;
    while ((op = grecv(f, &h, b, sizeof(b))))
        op == 3 ? rst++ : op == 2 ? resp++ : 0;
    assert_int_equal(rst, 5);
    assert_int_equal(resp, VSOCK_MAX_CONNS);
    vsock_engine_reset(f->e);
    assert_int_equal(vsock_engine_nconns(f->e), 0);
    for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
        int fd = accept(f->lfd, NULL, NULL);
        assert_true(fd >= 0);
        close(fd);
    }
}

/* ---- the device over the real virtio-pci transport --------------------------------------------
 */

#define RXQ 0
#define TXQ 1
#define V1  (1ULL << VIRTIO_F_VERSION_1)

struct dfx {
    struct vfix vf;
    struct fx fx; /* dir, uds, listener for port 1234 (fx.e unused) */
    uint16_t tx_desc, tx_n, rx_desc;
};

static int dev_setup(void **state)
{
    struct dfx *d = calloc(1, sizeof(*d));
    strcpy(d->fx.dir, "/tmp/truce-vsockdev-XXXXXX");
    assert_non_null(mkdtemp(d->fx.dir));
    snprintf(d->fx.uds, sizeof(d->fx.uds), "%s/v.sock", d->fx.dir);
    char p[160], err[256] = "";
    snprintf(p, sizeof(p), "%s_1234", d->fx.uds);
    d->fx.lfd = listen_unix(p);
    vf_init(&d->vf);
    d->vf.vm.cfg.vsock.enabled = true;
    d->vf.vm.cfg.vsock.guest_cid = GUEST_CID;
    strcpy(d->vf.vm.cfg.vsock.uds_path, d->fx.uds);
    const struct device_class *cls = device_class_find("virtio-vsock");
    assert_non_null(cls);
    assert_int_equal(cls->create(&d->vf.vm, err, sizeof(err)), 0);
    vf_probe(&d->vf, 1);
    assert_int_equal(vf_rd(&d->vf, d->vf.devcfg, 8), GUEST_CID);
    vf_bringup(&d->vf, V1, 3);
    *state = d;
    return 0;
}

static int dev_teardown(void **state)
{
    struct dfx *d = *state;
    char p[160];
    vf_fini(&d->vf); /* closes the engine: unlinks the uds */
    close(d->fx.lfd);
    snprintf(p, sizeof(p), "%s_1234", d->fx.uds);
    unlink(p);
    rmdir(d->fx.dir);
    free(d);
    return 0;
}

/* Guest transmit of one packet laid out as SEGS pieces (sizes in LENS) of HDR + DATA. */
static void dtx(struct dfx *d, uint16_t op, const char *data, uint32_t len, const uint32_t *lens,
                unsigned segs)
{
    struct vfix *f = &d->vf;
    uint8_t pkt[128];
    struct vsock_hdr h = {0};
    h.src_cid = htole64(GUEST_CID);
    h.dst_cid = htole64(VSOCK_HOST_CID);
    h.src_port = htole32(5000);
    h.dst_port = htole32(1234);
    h.len = htole32(len);
    h.type = htole16(VSOCK_TYPE_STREAM);
    h.op = htole16(op);
    h.buf_alloc = htole32(65536);
    memcpy(pkt, &h, sizeof(h));
    if (len)
        memcpy(pkt + sizeof(h), data, len);
    uint64_t buf = VF_BUF + 0x1000ULL * d->tx_n;
    guest_mem_write(&f->vm.mem, buf, pkt, sizeof(h) + len);
    uint16_t head = d->tx_desc;
    for (unsigned i = 0, off = 0; i < segs; off += lens[i++]) {
        uint16_t idx = (uint16_t)(d->tx_desc++ % f->qsize[TXQ]);
        vf_desc(f, TXQ, idx, buf + off, lens[i], i + 1 < segs ? VRING_DESC_F_NEXT : 0,
                (uint16_t)((idx + 1) % f->qsize[TXQ]));
    }
    vf_offer(f, TXQ, head);
    assert_true(vf_wait_used(f, TXQ, ++d->tx_n));
}

/* Offer a receive chain: one descriptor of 4 KiB, or a 44-byte header descriptor + 4 KiB. */
static uint64_t drx_offer(struct dfx *d, bool split)
{
    struct vfix *f = &d->vf;
    uint64_t buf = VF_BUF + 0x100000ULL + 0x2000ULL * d->rx_desc;
    uint16_t head = d->rx_desc;
    if (split) {
        vf_desc(f, RXQ, d->rx_desc, buf, 44, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
                (uint16_t)(d->rx_desc + 1));
        d->rx_desc++;
        vf_desc(f, RXQ, d->rx_desc++, buf + 44, 4096, VRING_DESC_F_WRITE, 0);
    } else {
        vf_desc(f, RXQ, d->rx_desc++, buf, 4096, VRING_DESC_F_WRITE, 0);
    }
    vf_offer(f, RXQ, head);
    return buf;
}

static void device_both_layouts(void **state)
{
    struct dfx *d = *state;
    struct vfix *f = &d->vf;
    char b[64];
    uint64_t r0 = drx_offer(d, false);
    dtx(d, 1, NULL, 0, (uint32_t[]){44}, 1); /* REQUEST */
    assert_true(vf_wait_used(f, RXQ, 1));
    struct vsock_hdr h;
    guest_mem_read(&f->vm.mem, r0, &h, sizeof(h));
    assert_int_equal(le16toh(h.op), 2 /* RESPONSE */);
    assert_int_equal(vf_used(f, RXQ, 0).len, 44);
    int hfd = accept(d->fx.lfd, NULL, NULL);
    assert_true(hfd >= 0);
    dtx(d, 5, "hello", 5, (uint32_t[]){49}, 1); /* header and payload share */
    assert_int_equal(read(hfd, b, sizeof(b)), 5);
    assert_memory_equal(b, "hello", 5);
    dtx(d, 5, "world", 5, (uint32_t[]){20, 24, 2, 3}, 4); /* header split, payload split */
    assert_int_equal(read(hfd, b, sizeof(b)), 5);
    assert_memory_equal(b, "world", 5);
    uint64_t r1 = drx_offer(d, true);
    assert_int_equal(write(hfd, "back", 4), 4);
    assert_true(vf_wait_used(f, RXQ, 2));
    assert_int_equal(vf_used(f, RXQ, 1).len, 48);
    guest_mem_read(&f->vm.mem, r1, &h, sizeof(h));
    assert_int_equal(le16toh(h.op), 5);
    assert_int_equal(le32toh(h.len), 4);
    guest_mem_read(&f->vm.mem, r1 + 44, b, 4);
    assert_memory_equal(b, "back", 4);
    close(hfd);
}

/* A chain too short for a header is returned; a header claiming more payload than the chain has
 * is dropped; neither hurts the device. */
static void device_short_chains(void **state)
{
    struct dfx *d = *state;
    struct vfix *f = &d->vf;
    dtx(d, 1, NULL, 0, (uint32_t[]){30}, 1);
    dtx(d, 5, "x", 1, (uint32_t[]){44}, 1); /* len 1, but no payload bytes in the chain */
    assert_false(vf_status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    uint64_t r0 = drx_offer(d, false);
    dtx(d, 1, NULL, 0, (uint32_t[]){44}, 1); /* still answers */
    assert_true(vf_wait_used(f, RXQ, 1));
    struct vsock_hdr h;
    guest_mem_read(&f->vm.mem, r0, &h, sizeof(h));
    assert_true(le16toh(h.op) == 3 || le16toh(h.op) == 2);
}

/* Offer a receive chain of one descriptor of LEN bytes. */
static uint64_t drx_offer_len(struct dfx *d, uint32_t len)
{
    struct vfix *f = &d->vf;
    uint64_t buf = VF_BUF + 0x100000ULL + 0x2000ULL * d->rx_desc;
    uint16_t head = d->rx_desc;
    vf_desc(f, RXQ, d->rx_desc++, buf, len, VRING_DESC_F_WRITE, 0);
    vf_offer(f, RXQ, head);
    return buf;
}

/* Regression (a hostile guest spun the I/O thread forever, holding the device lock): receive
 * buffers of exactly the header size while the host has data to send. Each goes back unused;
 * the data then arrives in the guest's next, larger buffer, and the device still answers. */
static void device_header_only_rx_buffers(void **state)
{
    struct dfx *d = *state;
    struct vfix *f = &d->vf;
    uint64_t r0 = drx_offer_len(d, 4096);
    dtx(d, 1, NULL, 0, (uint32_t[]){44}, 1); /* REQUEST -> RESPONSE in r0 */
    assert_true(vf_wait_used(f, RXQ, 1));
    struct vsock_hdr h;
    guest_mem_read(&f->vm.mem, r0, &h, sizeof(h));
    assert_int_equal(le16toh(h.op), 2);
    int hfd = accept(d->fx.lfd, NULL, NULL);
    assert_true(hfd >= 0);
    for (int i = 0; i < 3; i++)
        drx_offer_len(d, 44);
    assert_int_equal(write(hfd, "data", 4), 4);
    assert_true(vf_wait_used(f, RXQ, 4)); /* all three returned, empty */
    for (int i = 1; i < 4; i++)
        assert_int_equal(vf_used(f, RXQ, i).len, 0);
    uint64_t r4 = drx_offer_len(d, 4096);
    dtx(d, 5, "ping", 4, (uint32_t[]){48}, 1); /* a guest kick refills the receive side */
    assert_true(vf_wait_used(f, RXQ, 5));
    guest_mem_read(&f->vm.mem, r4, &h, sizeof(h));
    assert_int_equal(le16toh(h.op), 5 /* RW */);
    assert_int_equal(le32toh(h.len), 4);
    char b[8];
    guest_mem_read(&f->vm.mem, r4 + 44, b, 4);
    assert_memory_equal(b, "data", 4);
    assert_int_equal(read(hfd, b, sizeof(b)), 4);
    assert_false(vf_status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    close(hfd);
}

/* After a restore the driver gets VIRTIO_VSOCK_EVENT_TRANSPORT_RESET in its event buffer (at
 * once, or in the next buffer it posts), and only then; a plain run sends no event. */
static void device_transport_reset_after_restore(void **state)
{
    struct dfx *d = *state;
    struct vfix *f = &d->vf;
    const unsigned EVQ = 2;
    vf_desc(f, EVQ, 0, VF_BUF + 0x200000, 8, VRING_DESC_F_WRITE, 0);
    vf_offer(f, EVQ, 0);
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, EVQ), 0); /* nothing to say before a restore */
    struct virtio_dev *vdev = virtio_find(&f->vm, VIRTIO_ID_VSOCK, NULL);
    assert_non_null(vdev);
    struct virtio_state st;
    virtio_lock(vdev);
    virtio_state_get(vdev, &st);
    virtio_state_set(vdev, &st); /* what a restore does with the saved state */
    virtio_unlock(vdev);
    assert_true(vf_wait_used(f, EVQ, 1));
    assert_int_equal(vf_used(f, EVQ, 0).len, 4);
    uint32_t id = 0xffffffff;
    guest_mem_read(&f->vm.mem, VF_BUF + 0x200000, &id, 4);
    assert_int_equal(le32toh(id), 0 /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */);
    /* a second restore with no buffer posted: owed until the driver posts one */
    virtio_lock(vdev);
    virtio_state_get(vdev, &st);
    virtio_state_set(vdev, &st);
    virtio_unlock(vdev);
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, EVQ), 1);
    vf_desc(f, EVQ, 1, VF_BUF + 0x200010, 8, VRING_DESC_F_WRITE, 0);
    vf_offer(f, EVQ, 1);
    assert_true(vf_wait_used(f, EVQ, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_connect),
        cmocka_unit_test(test_peer_credit),
        cmocka_unit_test_setup_teardown(test_echo_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_without_payload_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_ports_rst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_credit_abuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credit_update_after_forwarding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_respects_guest_credit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_initiated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_table_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(device_both_layouts, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(device_short_chains, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(device_header_only_rx_buffers, dev_setup, dev_teardown),
        cmocka_unit_test_setup_teardown(device_transport_reset_after_restore, dev_setup,
                                        dev_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
