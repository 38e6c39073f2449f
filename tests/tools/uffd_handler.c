/* uffd_handler.c — a page-fault handler for truce's Uffd memory backend, written for the tests
 * the way Firecracker's example handlers work: listen on a UNIX socket, take the userfaultfd and
 * the region layout (JSON) from the VMM, serve every missing page from the memory file with
 * UFFDIO_COPY until the VMM hangs up; print how many faults were served.
 * usage: uffd_handler SOCKET MEMFILE */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REGIONS 8
struct region {
    uint64_t base, size, offset;
};

static int die(const char *what)
{
    fprintf(stderr, "uffd_handler: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The layout: every {"base_host_virt_addr":N,"size":N,"offset":N,...} object of MSG. */
static int parse(const char *msg, struct region *r)
{
    int n = 0;
    for (const char *p = msg; n < MAX_REGIONS && (p = strstr(p, "\"base_host_virt_addr\":")); n++) {
        unsigned long long b, s, o;
        if (sscanf(p, "\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu", &b, &s, &o) !=
            3)
            return -1;
        r[n] = (struct region){b, s, o};
        p++;
    }
    return n;
}

/* Receive the message and the fd on connection C. */
static int take(int c, char *msg, size_t len)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = msg, .iov_len = len - 1};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    ssize_t n = recvmsg(c, &mh, 0);
    struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
    if (n <= 0 || !h || h->cmsg_type != SCM_RIGHTS)
        die("recvmsg (no userfaultfd)");
    msg[n] = 0;
    int fd;
    memcpy(&fd, CMSG_DATA(h), sizeof(fd));
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fprintf(stderr, "usage: uffd_handler SOCKET MEMFILE\n"), 2;
    int mf = open(argv[2], O_RDONLY);
    struct stat st;
    if (mf < 0 || fstat(mf, &st) < 0)
        die(argv[2]);
    uint8_t *mem = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, mf, 0);
    if (mem == MAP_FAILED)
        die("mmap");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", argv[1]);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(argv[1]);
    if (l < 0 || bind(l, (struct sockaddr *)&un, sizeof(un)) < 0 || listen(l, 1) < 0)
        die("listen");
    int c = accept(l, NULL, NULL);
    if (c < 0)
        die("accept");
    char msg[1024];
    int ufd = take(c, msg, sizeof(msg));
    struct region r[MAX_REGIONS];
    int nr = parse(msg, r);
    if (nr <= 0)
        return fprintf(stderr, "uffd_handler: bad layout: %s\n", msg), 1;
    unsigned long served = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = ufd, .events = POLLIN}, {.fd = c, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            die("poll");
        if (p[1].revents) /* the VMM hung up (or wrote): it is gone */
            break;
        struct uffd_msg m;
        if (!(p[0].revents & POLLIN) || read(ufd, &m, sizeof(m)) != sizeof(m))
            continue;
        if (m.event != UFFD_EVENT_PAGEFAULT)
            continue;
        uint64_t a = m.arg.pagefault.address & ~4095ull;
        int i = 0;
        while (i < nr && (a < r[i].base || a - r[i].base >= r[i].size))
            i++;
        if (i == nr || r[i].offset + (a - r[i].base) + 4096 > (uint64_t)st.st_size)
            return fprintf(stderr, "uffd_handler: fault at %#llx outside the layout\n",
                           (unsigned long long)a),
                   1;
        struct uffdio_copy cp = {
            .dst = a, .src = (uintptr_t)(mem + r[i].offset + (a - r[i].base)), .len = 4096};
        if (ioctl(ufd, UFFDIO_COPY, &cp) < 0 && errno != EEXIST)
            die("UFFDIO_COPY");
        served++;
    }
    printf("uffd_handler: served %lu faults over %d regions\n", served, nr);
    return 0;
}
