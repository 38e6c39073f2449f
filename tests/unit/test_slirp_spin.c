/* test_slirp_spin.c — user-mode backend: sockets libslirp stops polling never spin the I/O thread.
 *
 * The real backend on an event loop thread, a real host TCP peer on loopback, and the guest
 * played by hand-built TCP segments. libslirp stops listing a socket without closing it when
 * the host has closed and nothing is left to write, and when its buffer toward the guest is
 * half full; a registration left in the level-triggered inner epoll set then keeps the loop
 * cycling. The I/O thread's CPU time (from /proc) must stay near zero in both states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>

#include "slirp_fixture.h"

#define GPORT         40000 /* the guest's end of the connection */
#define GWIN          65535 /* the window the guest advertises (no scaling) */
#define IDLE_WINDOW_S 2     /* CPU time is measured over this long */
#define IDLE_MAX_PCT  10    /* of the window: idle costs ~0, a spinning loop all it is given */

struct conn {
    struct fx *f;
    uint16_t port; /* the host server's */
    int lfd, hfd;  /* host listener and accepted socket */
    uint32_t snd_nxt, rcv_nxt;
    uint32_t acked; /* highest acknowledgment slirp sent */
    uint64_t received;
    bool synack, fin;
};

/* CPU time (user + system) of thread TID of this process, in clock ticks. */
static unsigned long thread_cpu_ticks(pid_t tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    assert_non_null(p);
    unsigned long ut, st; /* fields 14 and 15 */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    return ut + st;
}

/* The I/O thread stays (nearly) idle for IDLE_WINDOW_S seconds. */
static void assert_io_thread_idle(struct fx *f, const char *what)
{
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long t0 = thread_cpu_ticks(f->tid);
    sleep(IDLE_WINDOW_S);
    unsigned long used = thread_cpu_ticks(f->tid) - t0;
    print_message("%s: I/O thread CPU %.2f s over %d s\n", what, (double)used / (double)hz,
                  IDLE_WINDOW_S);
    assert_true(used * 100 <= (unsigned long)(IDLE_WINDOW_S * hz * IDLE_MAX_PCT));
}

/* Take every segment slirp sent on C's connection. In-order data and FIN advance rcv_nxt (what
 * is out of order is dropped, as a guest would: slirp retransmits it). */
static void take_segments(struct conn *c)
{
    struct fx *f = c->f;
    pthread_mutex_lock(&f->mu);
    for (unsigned i = 0; i < f->nframes; i++) {
        const uint8_t *p = f->frames[i], *t;
        if (!p || nf_ipv4_proto(p, f->lens[i], &t) != IPPROTO_TCP_ || nf_get16(t) != c->port ||
            nf_get16(t + 2) != GPORT)
            continue;
        const uint8_t *ip = p + ETH_HLEN_;
        size_t tot = nf_get16(ip + 2), hl = (size_t)(ip[0] & 15) * 4 + (size_t)(t[12] >> 4) * 4;
        assert_true(tot >= hl && ETH_HLEN_ + tot <= f->lens[i]);
        uint32_t seq = nf_get32(t + 4), len = (uint32_t)(tot - hl);
        uint8_t fl = t[13];
        if (fl & NF_SYN) {
            c->synack = (fl & NF_ACK) != 0;
            c->rcv_nxt = seq + 1;
        } else if (seq == c->rcv_nxt) {
            c->rcv_nxt += len;
            c->received += len;
            if (fl & NF_FIN) {
                c->rcv_nxt++;
                c->fin = true;
            }
        }
        if ((fl & NF_ACK) && (int32_t)(nf_get32(t + 8) - c->acked) > 0)
            c->acked = nf_get32(t + 8);
        free(f->frames[i]);
        f->frames[i] = NULL;
    }
    pthread_mutex_unlock(&f->mu);
}

/* Wait up to 10 s for DONE(C), taking segments as they come. */
static bool wait_until(struct conn *c, bool (*done)(const struct conn *))
{
    for (int i = 0; i < 1000; i++) {
        take_segments(c);
        if (done(c))
            return true;
        usleep(10000);
    }
    return false;
}

static bool got_synack(const struct conn *c)
{
    return c->synack;
}

static bool got_fin(const struct conn *c)
{
    return c->fin;
}

static bool got_data(const struct conn *c)
{
    return c->received > 0;
}

static bool fin_acked(const struct conn *c)
{
    return c->acked == c->snd_nxt;
}

/* The guest sends a segment without payload, acknowledging everything received in order. */
static void guest_send(struct conn *c, uint8_t flags)
{
    uint8_t fr[128];
    size_t n = nf_tcp(fr, c->f->hostmac, gmac, ip4("10.0.2.15"), ip4("10.0.2.2"), GPORT, c->port,
                      c->snd_nxt, c->rcv_nxt, flags, GWIN, NULL, 0);
    gsend(c->f, fr, n);
    if (flags & (NF_SYN | NF_FIN))
        c->snd_nxt++;
}

/* A backend with a DHCP lease, and a guest connection to a host server on loopback (10.0.2.2). */
static struct fx *open_conn(struct conn *c)
{
    struct fx *f;
    struct net_config nc = {.id = "net0", .kind = NET_USER};
    char err[256];
    assert_int_equal(open_fx(&f, &nc, err, sizeof(err)), 0);
    on_loop(f, do_rx_enable, f);
    dhcp(f);
    *c = (struct conn){.f = f, .snd_nxt = 1000};
    c->lfd = bound_socket(SOCK_STREAM, &c->port);
    assert_int_equal(listen(c->lfd, 1), 0);
    guest_send(c, NF_SYN);
    assert_true(wait_until(c, got_synack));
    guest_send(c, NF_ACK);
    struct pollfd p = {.fd = c->lfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    c->hfd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(c->hfd >= 0);
    return f;
}

/* Trigger (a): the host server closes; the guest acknowledges the FIN but keeps its side open.
 * slirp no longer lists the socket, which stays readable (EOF) for good. */
static void test_host_closed_guest_half_open(void **state)
{
    struct conn c;
    struct fx *f = open_conn(&c);
    close(c.hfd);
    assert_true(wait_until(&c, got_fin));
    guest_send(&c, NF_ACK);
    assert_io_thread_idle(f, "host closed, guest half-open");
    guest_send(&c, NF_FIN | NF_ACK); /* the guest closes too: slirp acknowledges it */
    assert_true(wait_until(&c, fin_acked));
    close(c.lfd);
    close_fx(f);
}

/* Write to the host socket until it is full (at most 8 MiB in all). */
static void host_fill(struct conn *c, uint64_t *written)
{
    static uint8_t chunk[65536];
    while (*written < 8 * MiB) {
        ssize_t n = write(c->hfd, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        *written += (uint64_t)n;
    }
}

static bool got_more(const struct conn *c)
{
    return c->received >= 512 * KiB;
}

/* Trigger (b): the host sends bulk data and the guest does not acknowledge it. slirp's buffer
 * toward the guest fills past half and slirp stops reading the still readable host socket. Once
 * the guest acknowledges again, the transfer goes on (the socket is watched again). */
static void test_guest_not_acking(void **state)
{
    struct conn c;
    struct fx *f = open_conn(&c);
    uint64_t written = 0;
    host_fill(&c, &written);
    assert_true(written > 0);
    assert_true(wait_until(&c, got_data));
    usleep(200000); /* slirp buffers what the guest's window does not take */
    assert_io_thread_idle(f, "guest not acknowledging");
    for (int i = 0; i < 2000 && !got_more(&c); i++) {
        take_segments(&c);
        guest_send(&c, NF_ACK);
        host_fill(&c, &written);
        usleep(5000);
    }
    print_message("after acknowledging again: %llu bytes received\n",
                  (unsigned long long)c.received);
    assert_true(got_more(&c));
    close(c.hfd);
    close(c.lfd);
    close_fx(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_closed_guest_half_open),
        cmocka_unit_test(test_guest_not_acking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
