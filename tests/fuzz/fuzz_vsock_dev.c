/* fuzz_vsock_dev.c — libFuzzer target: a hostile driver against virtio-vsock (fuzz_virtio.h) while
 * host programs connect, send, accept guest connections and hang up on the UNIX socket side. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fuzz_virtio.h"

#define HOST_FDS 8

static char dir[] = "/tmp/truce-fuzz-vsock-XXXXXX";
static struct sockaddr_un uds = {.sun_family = AF_UNIX};
static int listener = -1; /* "<uds>_1234": guest connections to port 1234 land here */
static int host[HOST_FDS] = {-1, -1, -1, -1, -1, -1, -1, -1};

static void cleanup(void)
{
    char p[160];
    snprintf(p, sizeof(p), "%s_1234", uds.sun_path);
    unlink(p);
    unlink(uds.sun_path);
    rmdir(dir);
}

static void vs_create(struct vfix *f)
{
    char err[256] = "";
    if (!mkdtemp(dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    atexit(cleanup);
    snprintf(uds.sun_path, sizeof(uds.sun_path), "%s/v", dir);
    f->vm.cfg.vsock.enabled = true;
    f->vm.cfg.vsock.guest_cid = 3;
    snprintf(f->vm.cfg.vsock.uds_path, sizeof(f->vm.cfg.vsock.uds_path), "%s", uds.sun_path);
    if (device_class_find("virtio-vsock")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-vsock: %s", err);
    struct sockaddr_un l = uds;
    snprintf(l.sun_path, sizeof(l.sun_path), "%s/v_1234", dir);
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (bind(listener, (struct sockaddr *)&l, sizeof(l)) || listen(listener, 64))
        fail_msg("listener %s: %s", l.sun_path, strerror(errno));
}

static void host_send(int fd, const uint8_t *buf, size_t len)
{
    if (fd >= 0 && len)
        (void)!send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL); /* full or reset: dropped */
}

/* arg[0]: bits 0-1 the action, bits 2-4 the host socket; the rest is payload. */
static void vs_host(struct vfix *f, const uint8_t *arg, size_t len)
{
    if (!len)
        return;
    unsigned k = (arg[0] >> 2) % HOST_FDS;
    int *fd = &host[k];
    switch (arg[0] & 3) {
    case 0: /* a host program connects through the UDS and asks for a guest port */
        if (*fd >= 0)
            close(*fd);
        *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (*fd >= 0 && connect(*fd, (struct sockaddr *)&uds, sizeof(uds)) < 0 && errno != EAGAIN) {
            close(*fd);
            *fd = -1;
        }
        break;
    case 1: /* the host side of a guest connection answers */
        if (*fd < 0)
            *fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case 2: /* hang up */
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return;
    }
    host_send(*fd, arg + 1, len - 1);
}

static void vs_end(struct vfix *f)
{
    for (unsigned k = 0; k < HOST_FDS; k++) {
        if (host[k] >= 0)
            close(host[k]);
        host[k] = -1;
    }
    for (int c; (c = accept(listener, NULL, NULL)) >= 0;)
        close(c);
}

static const struct fv_device fv_device = {
    .name = "virtio-vsock", .create = vs_create, .host = vs_host, .end = vs_end};
