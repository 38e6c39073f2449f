/* fuzz_console.c — libFuzzer target: a hostile driver against virtio-console (fuzz_virtio.h), with
 * host input arriving on a pipe while the guest's receive buffers come and go. */
#include <errno.h>
#include <fcntl.h>

#include "fuzz_virtio.h"

static int in_pipe[2] = {-1, -1};

static void con_create(struct vfix *f)
{
    char err[256] = "";
    if (pipe2(in_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
    f->vm.cfg.console = CONSOLE_VIRTIO;
    if (console_open_fds(&f->vm, in_pipe[0], -1, err, sizeof(err)) ||
        device_class_find("virtio-console")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-console: %s", err);
}

/* Host keyboard input (a full pipe drops the rest: the guest is not reading). */
static void con_host(struct vfix *f, const uint8_t *arg, size_t len)
{
    if (len && write(in_pipe[1], arg, len) < 0 && errno != EAGAIN)
        fail_msg("console input: %s", strerror(errno));
}

/* Empty the pipe: the next input starts without leftover host input. */
static void con_end(struct vfix *f)
{
    char buf[4096];
    while (read(in_pipe[0], buf, sizeof(buf)) > 0)
        ;
}

static const struct fv_device fv_device = {
    .name = "virtio-console", .create = con_create, .host = con_host, .end = con_end};
