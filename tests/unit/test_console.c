/* test_console.c — host console: escapes, flow control, EOF, bounded output, raw terminal. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>

#include "devtest.h"

/* A consumer that takes at most `room` bytes until the test makes room again. */
struct sink {
    pthread_mutex_t lock;
    uint8_t buf[4096];
    size_t len;
    size_t room; /* SIZE_MAX: unlimited */
};

static size_t sink_rx(void *opaque, const uint8_t *b, size_t n)
{
    struct sink *s = opaque;
    pthread_mutex_lock(&s->lock);
    size_t take = MIN(MIN(n, s->room), sizeof(s->buf) - s->len);
    memcpy(s->buf + s->len, b, take);
    s->len += take;
    if (s->room != SIZE_MAX)
        s->room -= take;
    pthread_mutex_unlock(&s->lock);
    return take;
}

static size_t sink_len(struct sink *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->len;
    pthread_mutex_unlock(&s->lock);
    return n;
}

struct env {
    struct vm vm;
    struct test_loop loop;
    int in[2];  /* test writes in[1]; console reads in[0] */
    int out[2]; /* console writes out[1]; test reads out[0] */
    struct sink sink;
};

static void env_open(struct env *e)
{
    memset(e, 0, sizeof(*e));
    test_vm_init(&e->vm, 64 * MiB);
    assert_int_equal(pipe2(e->in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(e->out, O_CLOEXEC), 0);
    pthread_mutex_init(&e->sink.lock, NULL);
    e->sink.room = SIZE_MAX;
    test_loop_start(&e->vm, &e->loop);
    char err[256];
    assert_int_equal(console_open_fds(&e->vm, e->in[0], e->out[1], err, sizeof(err)), 0);
    assert_non_null(e->vm.console);
    console_set_rx(e->vm.console, sink_rx, &e->sink);
}

static void env_close(struct env *e)
{
    test_vm_free(&e->vm, &e->loop);
    assert_null(e->vm.console);
    for (int i = 0; i < 2; i++) {
        if (e->in[i] >= 0)
            close(e->in[i]);
        if (e->out[i] >= 0)
            close(e->out[i]);
    }
    pthread_mutex_destroy(&e->sink.lock);
}

struct want {
    struct sink *s;
    size_t n;
};

static bool has_len(void *arg)
{
    struct want *w = arg;
    return sink_len(w->s) >= w->n;
}

static bool vm_stopped(void *arg)
{
    return test_stopped(arg, NULL);
}

static void test_escapes(void **state)
{
    struct env e;
    env_open(&e);
    /* Ctrl-A Ctrl-A -> one Ctrl-A; Ctrl-A + other -> both; split across writes */
    const uint8_t in1[] = {'a', 0x01, 0x01, 'b', 0x01};
    const uint8_t in2[] = {'c', 'd'};
    assert_int_equal(write_full(e.in[1], in1, sizeof(in1)), 0);
    struct want w = {&e.sink, 3};
    assert_true(test_wait(has_len, &w));
    assert_int_equal(write_full(e.in[1], in2, sizeof(in2)), 0);
    w.n = 6;
    assert_true(test_wait(has_len, &w));
    const uint8_t expect[] = {'a', 0x01, 'b', 0x01, 'c', 'd'};
    assert_int_equal(e.sink.len, sizeof(expect));
    assert_memory_equal(e.sink.buf, expect, sizeof(expect));
    assert_false(test_stopped(&e.vm, NULL));
    env_close(&e);
}

static void test_ctrl_a_x(void **state)
{
    struct env e;
    env_open(&e);
    const uint8_t in[] = {'q', 0x01, 'x', 'z'};
    assert_int_equal(write_full(e.in[1], in, sizeof(in)), 0);
    assert_true(test_wait(vm_stopped, &e.vm));
    int status;
    assert_true(test_stopped(&e.vm, &status));
    assert_int_equal(status, TRUCE_EXIT_SIGNAL);
    assert_string_equal(e.vm.exit_reason, "console: Ctrl-A x");
    struct want w = {&e.sink, 2};
    assert_true(test_wait(has_len, &w));
    assert_memory_equal(e.sink.buf, "qz", 2); /* the escape itself never reaches the guest */
    env_close(&e);
}

/* The consumer takes 7 bytes at a time; input waits (unread) until it calls rx_ready. */
static void test_flow_control(void **state)
{
    struct env e;
    env_open(&e);
    e.sink.room = 7;
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)('A' + i % 26);
    assert_int_equal(write_full(e.in[1], msg, sizeof(msg)), 0);
    for (size_t got = 0; got < sizeof(msg);) {
        struct want w = {&e.sink, MIN(got + 7, sizeof(msg))};
        assert_true(test_wait(has_len, &w));
        got = sink_len(&e.sink);
        pthread_mutex_lock(&e.sink.lock);
        e.sink.room = 7;
        pthread_mutex_unlock(&e.sink.lock);
        console_rx_ready(e.vm.console);
    }
    assert_int_equal(e.sink.len, sizeof(msg));
    assert_memory_equal(e.sink.buf, msg, sizeof(msg));
    env_close(&e);
}

static bool in_eof(void *arg)
{
    struct console *c = arg;
    return __atomic_load_n(&c->in_eof, __ATOMIC_SEQ_CST);
}

/* End of input: the console stops watching stdin (no busy loop) and the VM keeps running. */
static void test_eof(void **state)
{
    struct env e;
    env_open(&e);
    assert_int_equal(write_full(e.in[1], "hi", 2), 0);
    close(e.in[1]);
    e.in[1] = -1;
    assert_true(test_wait(in_eof, e.vm.console));
    struct want w = {&e.sink, 2};
    assert_true(test_wait(has_len, &w));
    assert_false(test_stopped(&e.vm, NULL));
    env_close(&e);
}

/* No consumer: input is read (so Ctrl-A x works) and dropped. */
static void test_no_consumer(void **state)
{
    struct env e;
    env_open(&e);
    console_set_rx(e.vm.console, NULL, NULL);
    const uint8_t in[] = {'a', 'b', 0x01, 'x'};
    assert_int_equal(write_full(e.in[1], in, sizeof(in)), 0);
    assert_true(test_wait(vm_stopped, &e.vm));
    assert_int_equal(e.sink.len, 0);
    env_close(&e);
}

static void test_output(void **state)
{
    struct env e;
    env_open(&e);
    console_write(e.vm.console, (const uint8_t *)"hello", 5);
    char buf[8] = "";
    assert_int_equal(read_full(e.out[0], buf, 5), 0);
    assert_string_equal(buf, "hello");
    env_close(&e);
}

struct drain {
    int fd;
    size_t total;
};

static bool drained(void *arg)
{
    struct drain *d = arg;
    char buf[4096];
    ssize_t r;
    while ((r = read(d->fd, buf, sizeof(buf))) > 0)
        d->total += (size_t)r;
    return r == 0;
}

/* A reader that does not read: writes return at once, the excess is dropped and counted, and
 * what was kept reaches the reader once it reads again. */
static void test_stuck_reader(void **state)
{
    struct env e;
    env_open(&e);
    fcntl(e.out[0], F_SETPIPE_SZ, 4096);
    uint8_t chunk[1000];
    memset(chunk, 'z', sizeof(chunk));
    const size_t total = 200 * sizeof(chunk);
    for (int i = 0; i < 200; i++)
        console_write(e.vm.console, chunk, sizeof(chunk));
    struct console *c = e.vm.console;
    pthread_mutex_lock(&c->out_lock);
    uint64_t dropped = c->out_dropped;
    pthread_mutex_unlock(&c->out_lock);
    assert_true(dropped > 0);
    assert_true(dropped < total);
    /* read while the I/O thread flushes the ring; closing the console drains it */
    fcntl(e.out[0], F_SETFL, O_NONBLOCK);
    struct drain d = {.fd = e.out[0]};
    int wfd = e.out[1];
    e.out[1] = -1;
    close(wfd); /* the console holds its own descriptor: EOF only after it closes */
    drained(&d);
    console_close(c);
    pthread_mutex_lock(&c->out_lock);
    dropped = c->out_dropped;
    pthread_mutex_unlock(&c->out_lock);
    int rfd = e.out[0];
    e.out[0] = -1;
    env_close(&e); /* closes the console's descriptor */
    fcntl(rfd, F_SETFL, 0);
    char buf[4096];
    ssize_t r;
    while ((r = read(rfd, buf, sizeof(buf))) > 0)
        d.total += (size_t)r;
    close(rfd);
    assert_int_equal(d.total + dropped, total);
}

/* The reader went away: no SIGPIPE death, output discarded from then on. */
static void test_reader_gone(void **state)
{
    struct env e;
    env_open(&e);
    close(e.out[0]);
    e.out[0] = -1;
    console_write(e.vm.console, (const uint8_t *)"lost", 4);
    console_write(e.vm.console, (const uint8_t *)"lost", 4);
    struct console *c = e.vm.console;
    pthread_mutex_lock(&c->out_lock);
    assert_true(c->out_dead);
    assert_int_equal(c->out_dropped, 8);
    pthread_mutex_unlock(&c->out_lock);
    env_close(&e);
}

static void test_file_and_none(void **state)
{
    char path[] = "/tmp/truce-console-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write_full(fd, "old\n", 4), 0);
    close(fd);
    struct vm vm;
    test_vm_init(&vm, 64 * MiB);
    vm.cfg.console = CONSOLE_FILE;
    snprintf(vm.cfg.console_path, sizeof(vm.cfg.console_path), "%s", path);
    char err[256];
    assert_int_equal(console_open(&vm, err, sizeof(err)), 0);
    struct console *c = vm.console;
    assert_int_equal(c->in_fd, -1);
    assert_int_equal(console_open(&vm, err, sizeof(err)), 0); /* idempotent */
    assert_ptr_equal(vm.console, c);
    console_write(c, (const uint8_t *)"new\n", 4);
    test_vm_free(&vm, NULL);
    char buf[16] = "";
    fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf)), 8);
    assert_string_equal(buf, "old\nnew\n");
    close(fd);
    unlink(path);

    test_vm_init(&vm, 64 * MiB);
    vm.cfg.console = CONSOLE_NONE;
    assert_int_equal(console_open(&vm, err, sizeof(err)), 0);
    console_write(vm.console, (const uint8_t *)"gone", 4);
    assert_int_equal(vm.console->out_fd, -1);
    test_vm_free(&vm, NULL);

    test_vm_init(&vm, 64 * MiB);
    vm.cfg.console = CONSOLE_FILE;
    snprintf(vm.cfg.console_path, sizeof(vm.cfg.console_path), "/nonexistent/dir/log");
    assert_true(console_open(&vm, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "--console"));
    assert_null(vm.console);
    test_vm_free(&vm, NULL);
}

/* --console stdio on a terminal: raw mode while open, the saved mode back after close. */
static void test_stdio_raw_tty(void **state)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    struct termios before;
    assert_int_equal(tcgetattr(slave, &before), 0);
    assert_true(before.c_lflag & ICANON);
    int saved_in = dup(STDIN_FILENO), saved_out = dup(STDOUT_FILENO);
    fflush(stdout);
    dup2(slave, STDIN_FILENO);
    dup2(slave, STDOUT_FILENO);

    struct vm vm;
    test_vm_init(&vm, 64 * MiB);
    vm.cfg.console = CONSOLE_STDIO;
    char err[256];
    int rc = console_open(&vm, err, sizeof(err));
    struct termios during;
    tcgetattr(slave, &during);
    bool raw = vm.console && vm.console->raw;
    console_write(vm.console, (const uint8_t *)"tty", 3);
    test_vm_free(&vm, NULL);
    struct termios after;
    tcgetattr(slave, &after);

    dup2(saved_in, STDIN_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    close(saved_in);
    close(saved_out);
    assert_int_equal(rc, 0);
    assert_true(raw);
    assert_false(during.c_lflag & (ICANON | ECHO | ISIG));
    assert_false(during.c_iflag & (ICRNL | IXON));
    assert_int_equal(during.c_oflag, before.c_oflag); /* host log lines keep their CR */
    assert_int_equal(after.c_lflag, before.c_lflag);
    assert_int_equal(after.c_iflag, before.c_iflag);
    char buf[8] = "";
    assert_int_equal(read(master, buf, sizeof(buf)), 3);
    assert_string_equal(buf, "tty");
    console_restore_tty(); /* idempotent, also after close */
    close(slave);
    close(master);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),       cmocka_unit_test(test_ctrl_a_x),
        cmocka_unit_test(test_flow_control),  cmocka_unit_test(test_eof),
        cmocka_unit_test(test_no_consumer),   cmocka_unit_test(test_output),
        cmocka_unit_test(test_stuck_reader),  cmocka_unit_test(test_reader_gone),
        cmocka_unit_test(test_file_and_none), cmocka_unit_test(test_stdio_raw_tty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
