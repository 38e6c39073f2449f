/* disk_direct.c — direct=on: a disk image's reads and writes past the host's page cache
 * (O_DIRECT), when each request is aligned as O_DIRECT needs; the rest stay buffered. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "util/util.h"

/* What O_DIRECT asks of the image: 4 KiB covers the logical block size of every common device
 * and file system (asking the device would need an ioctl the API thread's sandbox does not
 * allow for PATCH /drives); a request aligned to less simply goes through the page cache. */
#define DIO_ALIGN 4096u

int disk_open_direct(const char *path, int ref_fd, bool readonly, unsigned *align, char *err,
                     size_t errlen)
{
    int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "disk %s: direct=on: %s", path,
                 errno == EINVAL ? "its file system does not take O_DIRECT" : strerror(errno));
        return rc;
    }
    if (!fd_same_file(fd, ref_fd)) {
        snprintf(err, errlen, "disk %s: direct=on: the path no longer names the image opened",
                 path);
        close(fd);
        return -ESTALE;
    }
    *align = DIO_ALIGN;
    return fd;
}

int disk_set_direct(struct disk *d, const char *path, char *err, size_t errlen)
{
    int fd = disk_open_direct(path, d->fd, d->readonly, &d->dio_align, err, errlen);
    if (fd < 0)
        return fd;
    d->dfd = fd;
    return 0;
}

int disk_io_fd(const struct disk *d, const struct iovec *iov, unsigned niov, uint64_t off)
{
    if (d->dfd < 0)
        return d->fd;
    uint64_t mask = d->dio_align - 1;
    if (off & mask)
        return d->fd;
    for (unsigned i = 0; i < niov; i++)
        if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & mask)
            return d->fd;
    return d->dfd;
}
