/* fuzz_http.c — libFuzzer target: raw bytes to the API's HTTP server on its UNIX socket (framing,
 * pipelining, size limits, router, JSON handlers); it must answer or close, and keep serving. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api_int.h"
#include "fuzz_sandbox.h"

static struct api *api;
static struct api_server *server; /* lives as long as the fuzzer */
static struct sockaddr_un addr = {.sun_family = AF_UNIX};

/* Sockets open in this process (server and client ends), for the hang report. */
static int open_sockets(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[64], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        n += len > 7 && !strncmp(target, "socket:", 7);
    }
    if (d)
        closedir(d);
    return n;
}

/* Read until the server closes: it answers what is complete and closes once the client shut its
 * side. The bound is above the server's 30 s request deadline: a longer wait is a hang. */
static void drain(int fd)
{
    char buf[4096];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 45000);
        if (n < 0 && errno == EINTR)
            continue; /* libFuzzer's timer signal */
        if (n <= 0) {
            fprintf(stderr, "fuzz_http: the server neither answered nor closed; %d sockets open\n",
                    open_sockets());
            __builtin_trap();
        }
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
    }
}

static int connect_api(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("fuzz_http: connect");
        __builtin_trap();
    }
    return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[API_ERR_LEN];
    fuzz_sandbox_init();
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/api.sock", fuzz_dir);
    unlink(addr.sun_path);
    api = api_new("fuzz");
    if (getenv("FUZZ_HTTP_DEBUG"))
        log_configure(LOG_LVL_DEBUG, true, false);
    if (!api || !(server = api_server_start(api, addr.sun_path, err, sizeof(err)))) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        __builtin_trap();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = connect_api();
    size_t off = 0;
    while (off < size) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server refused the rest and closed */
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    drain(fd);
    close(fd);
    /* still serving */
    static const char ping[] = "GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    fd = connect_api();
    if (send(fd, ping, sizeof(ping) - 1, MSG_NOSIGNAL) != sizeof(ping) - 1) {
        perror("fuzz_http: send ping");
        __builtin_trap();
    }
    char buf[16] = "";
    ssize_t n;
    do
        n = recv(fd, buf, 12, MSG_WAITALL);
    while (n < 0 && errno == EINTR); /* libFuzzer's timer signal */
    if (n != 12 || memcmp(buf, "HTTP/1.1 200", 12)) {
        fprintf(stderr, "fuzz_http: ping answered %zd bytes '%.12s': %s (%d sockets open)\n", n,
                buf, n < 0 ? strerror(errno) : "", open_sockets());
        __builtin_trap();
    }
    drain(fd);
    close(fd);
    return 0;
}
