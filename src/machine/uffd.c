/* uffd.c — the Uffd memory backend of snapshot restore, Firecracker's protocol: guest RAM is
 * registered with a userfaultfd, which goes with the region layout to a page-fault handler
 * listening on a UNIX socket; the handler fills each page on first touch. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "machine/snapshot.h"
#include "util/util.h"
#include "vm/vm.h"

#define UFFD_MSG_MAX 1024 /* Firecracker's example handlers read the layout in one 1 KiB read */

int uffd_layout_json(const struct guest_mem *m, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (unsigned i = 0; i < m->nr && n < len; i++)
        n += (size_t)snprintf(
            buf + n, len - n,
            "%s{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,\"page_size\":4096,"
            "\"page_size_kib\":4}",
            i ? "," : "", (unsigned long long)(uintptr_t)m->r[i].hva,
            (unsigned long long)m->r[i].size,
            (unsigned long long)(m->r[i].hva - (uint8_t *)m->base));
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, "]");
    return n < len ? (int)n : -ENOSPC;
}

/* A userfaultfd with every RAM region registered for missing-page faults. Returns it or -errno
 * with ERR. */
static int uffd_register(const struct guest_mem *m, char *err, size_t errlen)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "mem_backend: userfaultfd: %s%s", strerror(e),
                 e == EPERM ? " (see /proc/sys/vm/unprivileged_userfaultfd)" : "");
        return -e;
    }
    struct uffdio_api api = {.api = UFFD_API};
    const char *what = "UFFDIO_API";
    if (ioctl(fd, UFFDIO_API, &api) < 0)
        goto fail;
    what = "UFFDIO_REGISTER";
    for (unsigned i = 0; i < m->nr; i++) {
        struct uffdio_register reg = {
            .range = {.start = (uintptr_t)m->r[i].hva, .len = m->r[i].size},
            .mode = UFFDIO_REGISTER_MODE_MISSING,
        };
        if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
            goto fail;
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    snprintf(err, errlen, "mem_backend: %s: %s", what, strerror(e));
    return -e;
}

/* Connect to the handler at PATH and send it MSG with the userfaultfd UFD. Returns the
 * connected socket or -errno with ERR. */
static int uffd_send(const char *path, const char *msg, int ufd, char *err, size_t errlen)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    if (str_copy(un.sun_path, sizeof(un.sun_path), path) < 0)
        return snprintf(err, errlen, "mem_backend: backend_path %s is too long", path), -EINVAL;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&un, sizeof(un)) < 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        snprintf(err, errlen, "mem_backend: no page-fault handler at %s: %s", path, strerror(e));
        return -EINVAL;
    }
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl = {0};
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = strlen(msg)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &ufd, sizeof(int));
    if (sendmsg(s, &mh, MSG_NOSIGNAL) != (ssize_t)iov.iov_len) {
        int e = errno;
        close(s);
        snprintf(err, errlen, "mem_backend: sending to the handler at %s: %s", path, strerror(e));
        return -EINVAL;
    }
    return s;
}

int uffd_handoff(struct vm *vm, const char *path, char *err, size_t errlen)
{
    char msg[UFFD_MSG_MAX];
    if (vm->mem.hugepages)
        return snprintf(err, errlen, "mem_backend: Uffd with huge pages is not supported"), -EINVAL;
    if (uffd_layout_json(&vm->mem, msg, sizeof(msg)) < 0)
        return snprintf(err, errlen, "mem_backend: the region layout is too long"), -EINVAL;
    int ufd = uffd_register(&vm->mem, err, errlen);
    if (ufd < 0)
        return ufd;
    int s = uffd_send(path, msg, ufd, err, errlen);
    if (s < 0) {
        close(ufd);
        return s;
    }
    vm->mem.uffd = true;
    vm->mem.uffd_fd = ufd;
    vm->mem.uffd_sock = s;
    return 0;
}
