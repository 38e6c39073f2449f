/* test_migrate_io.c — the migration stream's I/O over a real socket pair: batches of page runs
 * out, buffered reads in, partial sends, and a peer that goes away. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "machine/migrate_int.h"

#define PG     4096u
#define NPAGES 1024u /* 4 MiB of "RAM" */

static uint8_t ram[NPAGES * PG];

/* What the reader thread rebuilt from the stream. */
struct sink {
    int fd;
    uint8_t out[NPAGES * PG];
    unsigned runs, pages;
    int rc;
    struct mig_stats st;
};

/* Read runs until the end marker, as the destination does, into S->out. */
static void *reader(void *arg)
{
    struct sink *s = arg;
    struct mig_reader *in = malloc(sizeof(*in));
    mig_reader_init(in, s->fd, &s->st);
    for (;;) {
        struct mig_run r;
        if ((s->rc = mig_read(in, &r, sizeof(r))) || !r.npages)
            break;
        if (r.offset % PG || r.offset + (uint64_t)r.npages * PG > sizeof(s->out)) {
            s->rc = -EINVAL;
            break;
        }
        if ((s->rc = mig_read(in, s->out + r.offset, (size_t)r.npages * PG)))
            break;
        s->runs++;
        s->pages += r.npages;
    }
    free(in);
    return NULL;
}

static void fill(void)
{
    for (size_t i = 0; i < sizeof(ram); i++)
        ram[i] = (uint8_t)(i * 7 + i / PG);
}

/* Socket pair with small buffers, so that sendmsg sends part of a batch and must go on. */
static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
}

/* Every other page as its own run (a dirty round), then one large run, then the end. */
static void batches_arrive_whole(void **state)
{
    (void)state;
    fill();
    int sv[2];
    pair(sv);
    static struct sink s;
    memset(&s, 0, sizeof(s));
    s.fd = sv[1];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader, &s), 0);
    struct mig_stats st = {0};
    struct mig_batch *b = malloc(sizeof(*b));
    mig_batch_init(b, sv[0], &st);
    unsigned sent = 0;
    for (unsigned p = 0; p < NPAGES / 2; p += 2, sent++)
        assert_int_equal(mig_batch_add(b, (uint64_t)p * PG, ram + (size_t)p * PG, PG), 0);
    assert_int_equal(mig_batch_add(b, (uint64_t)NPAGES / 2 * PG, ram + NPAGES / 2 * PG,
                                   (uint64_t)NPAGES / 2 * PG),
                     0);
    assert_int_equal(mig_batch_flush(b), 0);
    struct mig_run end = {0};
    assert_int_equal(mig_send_all(sv[0], &end, sizeof(end), &st), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.runs, sent + 1);
    assert_int_equal(s.pages, sent + NPAGES / 2);
    assert_int_equal(st.pages, s.pages);
    assert_int_equal(st.bytes, s.st.bytes);
    for (unsigned p = 0; p < NPAGES; p++) {
        bool want = p >= NPAGES / 2 || p % 2 == 0;
        if (want)
            assert_memory_equal(s.out + (size_t)p * PG, ram + (size_t)p * PG, PG);
        else
            assert_int_equal(s.out[(size_t)p * PG], 0);
    }
    free(b);
    close(sv[0]);
    close(sv[1]);
}

/* The batch goes by itself once it holds MIG_BATCH_RUNS runs: nothing is left to flush. */
static void full_batch_goes(void **state)
{
    (void)state;
    fill();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct mig_stats st = {0};
    struct mig_batch *b = malloc(sizeof(*b));
    mig_batch_init(b, sv[0], &st);
    for (unsigned i = 0; i < MIG_BATCH_RUNS - 1; i++)
        assert_int_equal(mig_batch_add(b, (uint64_t)i * PG, ram + (size_t)i * PG, 16), 0);
    assert_int_equal(st.bytes, 0); /* still queued */
    assert_int_equal(mig_batch_add(b, 0, ram, 16), 0);
    assert_int_equal(b->nruns, 0);
    assert_int_equal(st.bytes, MIG_BATCH_RUNS * (sizeof(struct mig_run) + 16));
    free(b);
    close(sv[0]);
    close(sv[1]);
}

/* A reader whose peer closed mid-read gets -ECONNRESET, after what did arrive. */
static void peer_gone(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct mig_stats st = {0};
    assert_int_equal(write(sv[0], "abcdef", 6), 6);
    close(sv[0]);
    struct mig_reader *in = malloc(sizeof(*in));
    mig_reader_init(in, sv[1], &st);
    char buf[8];
    assert_int_equal(mig_read(in, buf, 3), 0);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(mig_read(in, buf, 8), -ECONNRESET);
    free(in);
    close(sv[1]);
    /* and a sender whose peer went gets -EPIPE, no SIGPIPE */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    assert_int_equal(mig_send_all(sv[0], "x", 1, &st), -EPIPE);
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_arrive_whole),
        cmocka_unit_test(full_batch_goes),
        cmocka_unit_test(peer_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
