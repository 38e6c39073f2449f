/* test_slirp.c — user-mode backend: real DHCP, NAT to loopback and host forwards, bounded queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "slirp_fixture.h"

static void test_dhcp(void **state)
{
    struct fx *f;
    struct net_config nc = {.id = "net0", .kind = NET_USER};
    char err[256];
    assert_int_equal(open_fx(&f, &nc, err, sizeof(err)), 0);
    on_loop(f, do_rx_enable, f);
    dhcp(f);
    close_fx(f);
}

static uint16_t udp_port;
static bool is_pong(const uint8_t *p, size_t n)
{
    const uint8_t *l4;
    return nf_ipv4_proto(p, n, &l4) == IPPROTO_UDP_ && nf_get16(l4) == udp_port &&
           nf_get16(l4 + 2) == 5555 && nf_get16(l4 + 4) == 12 && !memcmp(l4 + 8, "pong", 4);
}

/* The guest talks to 10.0.2.2, which is the host's loopback: the poll cycle carries the reply. */
static void test_udp_nat_to_host(void **state)
{
    struct fx *f;
    struct net_config nc = {.id = "net0", .kind = NET_USER};
    char err[256], got[16];
    assert_int_equal(open_fx(&f, &nc, err, sizeof(err)), 0);
    on_loop(f, do_rx_enable, f);
    dhcp(f);
    int s = bound_socket(SOCK_DGRAM, &udp_port);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint8_t fr[1500];
    size_t n = nf_udp(fr, f->hostmac, gmac, ip4("10.0.2.15"), ip4("10.0.2.2"), 5555, udp_port,
                      "ping", 4, 1);
    gsend(f, fr, n);
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    assert_int_equal(recvfrom(s, got, sizeof(got), 0, (struct sockaddr *)&from, &fl), 4);
    assert_memory_equal(got, "ping", 4);
    assert_int_equal(sendto(s, "pong", 4, 0, (struct sockaddr *)&from, fl), 4);
    assert_true(wait_frame(f, is_pong, fr) > 0);
    close(s);
    close_fx(f);
}

static bool is_syn_to_80(const uint8_t *p, size_t n)
{
    const uint8_t *l4;
    return nf_ipv4_proto(p, n, &l4) == 6 && nf_get16(l4 + 2) == 80 && (l4[13] & 0x02) &&
           !memcmp(p + ETH_HLEN_ + 16, (uint8_t[]){10, 0, 2, 15}, 4);
}

static void test_hostfwd(void **state)
{
    uint16_t port;
    int tmp = bound_socket(SOCK_STREAM, &port); /* find a free port, then give it to slirp */
    close(tmp);
    struct fx *f;
    struct net_config nc = {.id = "net0", .kind = NET_USER, .nfwd = 1};
    nc.fwd[0] = (struct hostfwd){.udp = false, .host_port = port, .guest_port = 80};
    char err[256];
    assert_int_equal(open_fx(&f, &nc, err, sizeof(err)), 0);
    on_loop(f, do_rx_enable, f);
    dhcp(f);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(c, (struct sockaddr *)&a, sizeof(a));
    assert_true(rc == 0 || errno == EINPROGRESS);
    uint8_t fr[1500];
    assert_true(wait_frame(f, is_syn_to_80, fr) > 0); /* the connection reaches guest port 80 */
    close(c);
    close_fx(f);
}

static void test_hostfwd_port_in_use(void **state)
{
    uint16_t port;
    int busy = bound_socket(SOCK_STREAM, &port);
    assert_int_equal(listen(busy, 1), 0);
    struct fx *f;
    struct net_config nc = {.id = "net0", .kind = NET_USER, .nfwd = 1};
    nc.fwd[0] = (struct hostfwd){.udp = false, .host_port = port, .guest_port = 80};
    char err[256] = "";
    assert_true(open_fx(&f, &nc, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "hostfwd"));
    close(busy);
}

static void send_arps(struct fx *f, void *arg)
{
    uint8_t fr[64];
    size_t n = nf_arp_request(fr, gmac, ip4("10.0.2.15"), ip4("10.0.2.2"));
    for (int i = 0; i < 300; i++) {
        struct iovec v = {fr, n};
        assert_int_equal(f->be->ops->send(f->be, &v, 1), 0);
    }
}

static void count_rx(struct fx *f, void *arg)
{
    static uint8_t buf[NET_MAX_FRAME];
    unsigned *n = arg;
    while (f->be->ops->recv(f->be, buf, sizeof(buf)) > 0)
        (*n)++;
}

/* Nobody reads: the queue keeps 256 frames and counts the rest as dropped. */
static void test_queue_bounded(void **state)
{
    struct fx *f;
    struct net_config nc = {.id = "net0", .kind = NET_USER};
    char err[256];
    unsigned queued = 0;
    assert_int_equal(open_fx(&f, &nc, err, sizeof(err)), 0);
    on_loop(f, send_arps, NULL);
    on_loop(f, count_rx, &queued);
    assert_int_equal(queued, 256);
    assert_int_equal(f->be->rx_dropped, 300 - 256);
    close_fx(f);
}

/* ---- network boot: libslirp's DHCP boot file and TFTP server (--net user,tftp=,bootfile=) ---- */

static uint16_t tftp_op; /* the TFTP opcode awaited: 3 DATA, 5 ERROR */
static bool is_tftp_reply(const uint8_t *p, size_t n)
{
    const uint8_t *l4;
    return nf_ipv4_proto(p, n, &l4) == IPPROTO_UDP_ && nf_get16(l4 + 2) == 2000 &&
           (size_t)(p + n - l4) >= 12 && nf_get16(l4 + 8) == tftp_op;
}

static bool is_offer(const uint8_t *p, size_t n)
{
    uint32_t y = 0, s = 0, d = 0;
    return nf_dhcp_reply(p, n, &y, &s, &d) == 2;
}

/* Send a TFTP packet (OP, then BODY of LEN bytes) from the guest's port 2000 to 10.0.2.2:DPORT
 * and wait for a reply with opcode WANT; returns its UDP payload length (0: none), in FR. */
static size_t tftp_xfer(struct fx *f, uint16_t dport, uint16_t op, const void *body, size_t len,
                        uint16_t want, uint8_t *fr)
{
    uint8_t b[600];
    b[0] = (uint8_t)(op >> 8);
    b[1] = (uint8_t)op;
    memcpy(b + 2, body, len);
    size_t n =
        nf_udp(fr, f->hostmac, gmac, ip4("10.0.2.15"), ip4("10.0.2.2"), 2000, dport, b, len + 2, 1);
    gsend(f, fr, n);
    tftp_op = want;
    n = wait_frame(f, is_tftp_reply, fr);
    const uint8_t *l4;
    return n && nf_ipv4_proto(fr, n, &l4) ? nf_get16(l4 + 4) - 8u : 0;
}

static void test_tftp_boot(void **state)
{
    char dir[] = "/tmp/truce-tftp-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/boot.ipxe", dir);
    uint8_t content[600];
    for (size_t i = 0; i < sizeof(content); i++)
        content[i] = (uint8_t)(i * 7 + 1);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(content, 1, sizeof(content), fp), sizeof(content));
    fclose(fp);
    struct fx *f;
    struct net_config nc = {.id = "net0", .kind = NET_USER};
    strcpy(nc.tftp, dir);
    strcpy(nc.bootfile, "boot.ipxe");
    char err[256];
    assert_int_equal(open_fx(&f, &nc, err, sizeof(err)), 0);
    on_loop(f, do_rx_enable, f);
    dhcp(f);
    /* the offer names the boot file (BOOTP "file") and the TFTP server (siaddr) */
    uint8_t fr[1500];
    size_t n = nf_dhcp(fr, gmac, 1, 0, 0, 0x4321);
    gsend(f, fr, n);
    n = wait_frame(f, is_offer, fr);
    assert_true(n > ETH_HLEN_ + 28 + 236);
    const uint8_t *bootp = fr + ETH_HLEN_ + 28;
    static const uint8_t gw[4] = {10, 0, 2, 2};
    assert_memory_equal(bootp + 20, gw, 4); /* siaddr */
    assert_string_equal((const char *)bootp + 108, "boot.ipxe");
    /* RRQ -> DATA 1 (512 bytes), ACK 1 -> DATA 2 (the last 88): the file's bytes */
    static const char rrq[] = "boot.ipxe\0octet";
    assert_int_equal(tftp_xfer(f, 69, 1, rrq, sizeof(rrq), 3, fr), 4 + 512);
    const uint8_t *l4;
    nf_ipv4_proto(fr, ETH_HLEN_ + 20 + 8 + 516, &l4);
    uint16_t sport = nf_get16(l4);
    assert_int_equal(nf_get16(l4 + 10), 1);
    assert_memory_equal(l4 + 12, content, 512);
    assert_int_equal(tftp_xfer(f, sport, 4, (uint8_t[]){0, 1}, 2, 3, fr), 4 + 88);
    nf_ipv4_proto(fr, ETH_HLEN_ + 20 + 8 + 92, &l4);
    assert_int_equal(nf_get16(l4 + 10), 2);
    assert_memory_equal(l4 + 12, content + 512, 88);
    /* outside the directory or missing: ERROR */
    static const char up[] = "../etc/passwd\0octet", missing[] = "nothere\0octet";
    assert_true(tftp_xfer(f, 69, 1, up, sizeof(up), 5, fr) >= 4);
    assert_true(tftp_xfer(f, 69, 1, missing, sizeof(missing), 5, fr) >= 4);
    close_fx(f);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dhcp),          cmocka_unit_test(test_udp_nat_to_host),
        cmocka_unit_test(test_hostfwd),       cmocka_unit_test(test_hostfwd_port_in_use),
        cmocka_unit_test(test_queue_bounded), cmocka_unit_test(test_tftp_boot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
