/* fuzz_http.c — libFuzzer target: raw bytes to the API's HTTP server (libmicrohttpd on a UNIX
 * socket, request framing, size limits, router, JSON handlers); it must answer or close, and
 * keep serving. */
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api_int.h"
#include "fuzz_sandbox.h"

static struct api *api;
static struct api_server *server; /* lives as long as the fuzzer */
static struct sockaddr_un addr = {.sun_family = AF_UNIX};

/* Read until the server closes; bounded by a generous idle limit so a hang is reported. */
static void drain(int fd)
{
    char buf[4096];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20000) <= 0)
            __builtin_trap(); /* the server neither answered nor closed */
        if (read(fd, buf, sizeof(buf)) <= 0)
            return;
    }
}

static int connect_api(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        __builtin_trap();
    return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[API_ERR_LEN];
    fuzz_sandbox_init();
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/api.sock", fuzz_dir);
    unlink(addr.sun_path);
    api = api_new("fuzz");
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
    if (send(fd, ping, sizeof(ping) - 1, MSG_NOSIGNAL) != sizeof(ping) - 1)
        __builtin_trap();
    char buf[16] = "";
    if (read(fd, buf, 12) != 12 || memcmp(buf, "HTTP/1.1 200", 12))
        __builtin_trap();
    drain(fd);
    close(fd);
    return 0;
}
