/* slirp_fixture.h — the user-mode backend on an event loop thread, fed guest frames by tests. */
#ifndef TRUCE_TEST_SLIRP_FIXTURE_H
#define TRUCE_TEST_SLIRP_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "backend/net.h"
#include "netframes.h"
#include "util/util.h"

#define MAXF 1024

static const uint8_t gmac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

struct fx {
    struct evloop *loop;
    pthread_t thr;
    struct net_backend *be;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t *frames[MAXF];
    size_t lens[MAXF];
    unsigned nframes;
    bool done;
    /* a call handed to the loop thread */
    void (*fn)(struct fx *, void *);
    void *arg;
    uint8_t hostmac[6];
    pid_t tid; /* the event loop thread: the VM's I/O thread */
};

static void on_rx(void *opaque)
{
    struct fx *f = opaque;
    static uint8_t buf[NET_MAX_FRAME];
    ssize_t n;
    while ((n = f->be->ops->recv(f->be, buf, sizeof(buf))) > 0) {
        pthread_mutex_lock(&f->mu);
        if (f->nframes == MAXF) { /* squeeze out the frames tests took */
            unsigned k = 0;
            for (unsigned i = 0; i < MAXF; i++)
                if (f->frames[i]) {
                    f->lens[k] = f->lens[i];
                    f->frames[k++] = f->frames[i];
                }
            f->nframes = k;
        }
        if (f->nframes < MAXF) {
            f->frames[f->nframes] = malloc((size_t)n);
            memcpy(f->frames[f->nframes], buf, (size_t)n);
            f->lens[f->nframes++] = (size_t)n;
        }
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
}

static void *loop_thread(void *opaque)
{
    struct fx *f = opaque;
    pthread_mutex_lock(&f->mu);
    f->tid = gettid();
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    evloop_run(f->loop);
    return NULL;
}

static void run_call(void *opaque)
{
    struct fx *f = opaque;
    f->fn(f, f->arg);
    pthread_mutex_lock(&f->mu);
    f->done = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Run FN(F, ARG) on the loop thread (the backend's thread) and wait for it. */
static void on_loop(struct fx *f, void (*fn)(struct fx *, void *), void *arg)
{
    f->fn = fn;
    f->arg = arg;
    f->done = false;
    assert_int_equal(evloop_call(f->loop, run_call, f), 0);
    pthread_mutex_lock(&f->mu);
    while (!f->done)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

struct frame_arg {
    const uint8_t *p;
    size_t n;
};

static void do_send(struct fx *f, void *arg)
{
    struct frame_arg *a = arg;
    struct iovec v = {(void *)a->p, a->n};
    assert_int_equal(f->be->ops->send(f->be, &v, 1), 0);
}

static void gsend(struct fx *f, const uint8_t *p, size_t n)
{
    struct frame_arg a = {p, n};
    on_loop(f, do_send, &a);
}

static void do_rx_enable(struct fx *f, void *arg)
{
    f->be->ops->rx_enable(f->be, arg != NULL);
}

/* Wait up to 5 s for a collected frame MATCH accepts; it is removed and copied to OUT. */
static size_t wait_frame(struct fx *f, bool (*match)(const uint8_t *, size_t), uint8_t *out)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    size_t got = 0;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        for (unsigned i = 0; i < f->nframes && !got; i++) {
            if (f->frames[i] && match(f->frames[i], f->lens[i])) {
                got = f->lens[i];
                memcpy(out, f->frames[i], got);
                free(f->frames[i]);
                f->frames[i] = NULL;
            }
        }
        if (got || pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&f->mu);
    return got;
}

static int open_fx(struct fx **out, const struct net_config *nc, char *err, size_t errlen)
{
    struct fx *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->loop = evloop_new();
    struct net_backend_client cl = {.rx_ready = on_rx, .opaque = f};
    int rc = slirp_backend_open(nc, f->loop, &cl, &f->be, err, errlen);
    if (rc) {
        evloop_free(f->loop);
        free(f);
        return rc;
    }
    assert_int_equal(f->be->hdr_len, 0);
    pthread_create(&f->thr, NULL, loop_thread, f);
    pthread_mutex_lock(&f->mu);
    while (!f->tid)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    *out = f;
    return 0;
}

static void close_fx(struct fx *f)
{
    evloop_stop(f->loop);
    pthread_join(f->thr, NULL);
    f->be->ops->close(f->be);
    evloop_free(f->loop);
    for (unsigned i = 0; i < f->nframes; i++)
        free(f->frames[i]);
    free(f);
}

static uint32_t ip4(const char *s)
{
    uint32_t a;
    inet_pton(AF_INET, s, &a);
    return a;
}

static int dhcp_type;
static bool is_dhcp(const uint8_t *p, size_t n)
{
    uint32_t y = 0, s = 0, d = 0;
    return nf_dhcp_reply(p, n, &y, &s, &d) == dhcp_type;
}

/* DHCP handshake; checks the lease and learns the gateway's MAC. */
static void dhcp(struct fx *f)
{
    uint8_t fr[1500];
    uint32_t yi = 0, srv = 0, dns = 0;
    size_t n = nf_dhcp(fr, gmac, 1, 0, 0, 0x1234);
    gsend(f, fr, n);
    dhcp_type = 2;
    n = wait_frame(f, is_dhcp, fr);
    assert_true(n > 0);
    assert_int_equal(nf_dhcp_reply(fr, n, &yi, &srv, &dns), 2);
    assert_int_equal(yi, ip4("10.0.2.15"));
    assert_int_equal(srv, ip4("10.0.2.2"));
    assert_int_equal(dns, ip4("10.0.2.3"));
    memcpy(f->hostmac, fr + 6, 6);
    n = nf_dhcp(fr, gmac, 3, yi, srv, 0x1235);
    gsend(f, fr, n);
    dhcp_type = 5;
    n = wait_frame(f, is_dhcp, fr);
    assert_true(n > 0);
    assert_int_equal(nf_dhcp_reply(fr, n, &yi, &srv, &dns), 5);
    assert_int_equal(yi, ip4("10.0.2.15"));
}

static int bound_socket(int type, uint16_t *port)
{
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(s, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return s;
}

#endif
