/* test_accept_spin.c — listeners whose accept() runs out of descriptors do not spin.
 *
 * A connection accept() cannot take (EMFILE) stays queued, so its listener stays readable: a
 * level-triggered watcher that keeps polling it cycles without end. The vsock engine and the
 * API server take the listener out for a short pause instead and accept once descriptors are
 * free again. Descriptors are used up for real, with a lowered RLIMIT_NOFILE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_int.h"
#include "util/util.h"
#include "virtio/vsock_proto.h"

#define FD_LIMIT      256 /* soft RLIMIT_NOFILE while descriptors are used up */
#define IDLE_WINDOW_S 2
#define IDLE_MAX_PCT  10 /* of the window: idle costs ~0, a spinning thread all it is given */

struct fdfill {
    int fds[FD_LIMIT];
    int n;
    struct rlimit old;
};

/* Use up every descriptor below a soft limit of FD_LIMIT. */
static void fd_exhaust(struct fdfill *ff)
{
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &ff->old), 0);
    assert_true(ff->old.rlim_cur >= FD_LIMIT);
    struct rlimit r = ff->old;
    r.rlim_cur = FD_LIMIT;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &r), 0);
    int fd, null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(null >= 0);
    ff->n = 0;
    ff->fds[ff->n++] = null;
    while ((fd = dup(null)) >= 0)
        ff->fds[ff->n++] = fd;
    assert_int_equal(errno, EMFILE);
}

static void fd_release(struct fdfill *ff)
{
    while (ff->n)
        close(ff->fds[--ff->n]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &ff->old), 0);
}

/* A UNIX stream socket connected to PATH (completes into the listener's backlog). */
static int connect_to(int s, const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    str_copy(a.sun_path, sizeof(a.sun_path), path);
    return connect(s, (struct sockaddr *)&a, sizeof(a));
}

static char dir[] = "/tmp/truce-accept-XXXXXX";

static int setup(void **state)
{
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    return rmdir(dir);
}

/* The engine's fd (watched level-triggered by the I/O thread) is not left ready by a listener
 * it cannot accept from; the queued client is accepted after the pause. */
static void test_vsock_listener(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/v.sock", dir);
    struct vsock_engine *e;
    assert_int_equal(vsock_engine_new(3, path, &e), 0);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    struct fdfill ff;
    fd_exhaust(&ff);
    assert_int_equal(connect_to(c, path), 0);
    vsock_engine_poll(e); /* accept: EMFILE */
    struct epoll_event ev;
    int ready = epoll_wait(vsock_engine_fd(e), &ev, 1, 0);
    fd_release(&ff);
    assert_int_equal(ready, 0);
    assert_int_equal(vsock_engine_stats(e)->conns_opened, 0);
    struct pollfd p = {.fd = vsock_engine_fd(e), .events = POLLIN};
    for (int i = 0; i < 50 && !vsock_engine_stats(e)->conns_opened; i++) {
        assert_int_equal(poll(&p, 1, 5000), 1); /* the retry timer */
        vsock_engine_poll(e);
    }
    assert_int_equal(vsock_engine_stats(e)->conns_opened, 1);
    close(c);
    vsock_engine_free(e);
}

/* Clock ticks of CPU used by the thread whose /proc stat file is open as FD. */
static unsigned long stat_ticks(int fd)
{
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    assert_non_null(p);
    unsigned long ut, st; /* fields 14 and 15 */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    return ut + st;
}

/* The /proc stat file of the one thread besides this one (the server's), opened. */
static int open_other_thread_stat(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int fd = -1, others = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == getpid())
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        others++;
    }
    closedir(d);
    assert_int_equal(others, 1);
    assert_true(fd >= 0);
    return fd;
}

/* The API server's thread stays idle while a client waits that it cannot accept, and serves the
 * client once descriptors are free again. */
static void test_api_listener(void **state)
{
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/api.sock", dir);
    struct api *api = api_new(NULL);
    assert_non_null(api);
    struct api_server *s = api_server_start(api, path, err, sizeof(err));
    assert_non_null(s);
    int st = open_other_thread_stat();
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    struct fdfill ff;
    fd_exhaust(&ff);
    assert_int_equal(connect_to(c, path), 0);
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long t0 = stat_ticks(st);
    sleep(IDLE_WINDOW_S);
    unsigned long used = stat_ticks(st) - t0;
    fd_release(&ff);
    print_message("API server thread CPU %.2f s over %d s with a client it cannot accept\n",
                  (double)used / (double)hz, IDLE_WINDOW_S);
    assert_true(used * 100 <= (unsigned long)(IDLE_WINDOW_S * hz * IDLE_MAX_PCT));
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(c, req, strlen(req), 0), (ssize_t)strlen(req));
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[64] = "";
    assert_true(recv(c, buf, sizeof(buf) - 1, 0) > 0);
    assert_true(!strncmp(buf, "HTTP/1.1 200", 12));
    close(c);
    close(st);
    api_server_stop(s);
    api_free(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vsock_listener),
        cmocka_unit_test(test_api_listener),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
