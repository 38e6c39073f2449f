/* snapfile.c — the snapshot state file: header, checksums, atomic write, bounded read. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "machine/snapshot.h"
#include "util/util.h"

static uint32_t crc(const void *p, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const uint8_t *b = p;
    while (len) { /* zlib takes uInt lengths */
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, b, n);
        b += n;
        len -= n;
    }
    return (uint32_t)c;
}

void snapfile_header(struct snap_header *hdr, const void *payload, size_t len)
{
    memset(hdr, 0, sizeof(*hdr));
    memcpy(hdr->magic, SNAP_MAGIC, sizeof(hdr->magic));
    hdr->format_version = SNAP_FORMAT_VERSION;
    hdr->payload_len = len;
    hdr->payload_crc32 = crc(payload, len);
    hdr->header_crc32 = crc(hdr, offsetof(struct snap_header, header_crc32));
    snprintf(hdr->truce_version, sizeof(hdr->truce_version), "%s", TRUCE_VERSION);
}

int snapfile_parse(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *plen, char *err,
                   size_t errlen)
{
    struct snap_header h;
    if (len < sizeof(h))
        return snprintf(err, errlen, "snapshot: %zu bytes is too short for a header", len), -EINVAL;
    memcpy(&h, buf, sizeof(h));
    if (memcmp(h.magic, SNAP_MAGIC, sizeof(h.magic)))
        return snprintf(err, errlen, "snapshot: not a truce snapshot (bad magic)"), -EINVAL;
    if (h.header_crc32 != crc(&h, offsetof(struct snap_header, header_crc32)))
        return snprintf(err, errlen, "snapshot: header checksum mismatch (corrupted)"), -EINVAL;
    if (h.format_version != SNAP_FORMAT_VERSION)
        return snprintf(err, errlen, "snapshot: format version %u, this truce reads %u",
                        h.format_version, SNAP_FORMAT_VERSION),
               -EINVAL;
    if (h.flags)
        return snprintf(err, errlen, "snapshot: unknown flags 0x%x", h.flags), -EINVAL;
    if (h.payload_len > SNAP_MAX_PAYLOAD)
        return snprintf(err, errlen, "snapshot: state of %llu bytes exceeds the %u limit",
                        (unsigned long long)h.payload_len, SNAP_MAX_PAYLOAD),
               -EINVAL;
    if (h.payload_len != len - sizeof(h))
        return snprintf(err, errlen, "snapshot: %zu bytes of state, the header says %llu%s",
                        len - sizeof(h), (unsigned long long)h.payload_len,
                        len - sizeof(h) < h.payload_len ? " (truncated)" : ""),
               -EINVAL;
    if (h.payload_crc32 != crc(buf + sizeof(h), h.payload_len))
        return snprintf(err, errlen, "snapshot: state checksum mismatch (corrupted)"), -EINVAL;
    *payload = buf + sizeof(h);
    *plen = h.payload_len;
    return 0;
}

int snap_write_at(int fd, const void *buf, size_t len, uint64_t off)
{
    /* lseek + write rather than pwrite: the API thread's seccomp list stays at Firecracker's
     * count (snapshots are written on it) */
    if (lseek(fd, (off_t)off, SEEK_SET) < 0)
        return -errno;
    for (const uint8_t *p = buf; len;) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int snap_file_atomic(const char *path, const char *field, int (*fill)(int fd, void *arg), void *arg,
                     char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return snprintf(err, errlen, "%s: too long", field), -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        return snprintf(err, errlen, "%s: cannot create %s: %s", field, tmp, strerror(e)), -e;
    }
    int rc = fill(fd, arg);
    if (!rc && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (!rc && rename(tmp, path) < 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot write %s: %s", field, path, strerror(-rc));
    }
    return rc;
}

struct state_file {
    const void *payload;
    size_t len;
};

/* snap_file_atomic filler: header, then payload. */
static int fill_state(int fd, void *arg)
{
    const struct state_file *sf = arg;
    struct snap_header h;
    snapfile_header(&h, sf->payload, sf->len);
    int rc = snap_write_at(fd, &h, sizeof(h), 0);
    return rc ? rc : snap_write_at(fd, sf->payload, sf->len, sizeof(h));
}

int snapfile_write(const char *path, const void *payload, size_t len, char *err, size_t errlen)
{
    struct state_file sf = {payload, len};
    return snap_file_atomic(path, "snapshot_path", fill_state, &sf, err, errlen);
}

#define COPY_BUF (1u << 20)

/* Copy [OFF, END) of IN to the same offsets of OUT through BUF (COPY_BUF bytes). Returns 0 or
 * -errno. */
static int copy_extent(int in, int out, off_t off, off_t end, uint8_t *buf)
{
    while (off < end) {
        size_t want = (size_t)MIN((off_t)COPY_BUF, end - off);
        ssize_t n = pread(in, buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        int rc = snap_write_at(out, buf, (size_t)n, (uint64_t)off);
        if (rc)
            return rc;
        off += n;
    }
    return 0;
}

/* Every data extent of IN (SEEK_DATA/SEEK_HOLE) onto OUT. The copy buffer is allocated here,
 * not static: a 1 MiB static array would split every VM process's .bss onto one more page. */
static int copy_extents(int in, int out, off_t size)
{
    uint8_t *buf = malloc(COPY_BUF);
    int rc = buf ? 0 : -ENOMEM;
    for (off_t off = 0; off < size && !rc;) {
        off_t data = lseek(in, off, SEEK_DATA);
        if (data < 0) {
            rc = errno == ENXIO ? 0 : -errno; /* ENXIO: no data after OFF */
            break;
        }
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0) {
            rc = -errno;
            break;
        }
        rc = copy_extent(in, out, data, hole, buf);
        off = hole;
    }
    free(buf);
    return rc;
}

int snapshot_rebase(const char *base_path, const char *diff_path, char *err, size_t errlen)
{
    struct stat sb, sd;
    int base = open(base_path, O_RDWR | O_CLOEXEC), diff = open(diff_path, O_RDONLY | O_CLOEXEC);
    int rc = -EINVAL;
    if (base < 0 || fstat(base, &sb) < 0)
        snprintf(err, errlen, "--base-mem %s: %s", base_path, strerror(errno));
    else if (diff < 0 || fstat(diff, &sd) < 0)
        snprintf(err, errlen, "--diff-mem %s: %s", diff_path, strerror(errno));
    else if (!S_ISREG(sb.st_mode) || !S_ISREG(sd.st_mode) || sb.st_size != sd.st_size)
        snprintf(err, errlen,
                 "--diff-mem: %s (%lld bytes) is not a Diff of %s (%lld bytes): the sizes must "
                 "match",
                 diff_path, (long long)sd.st_size, base_path, (long long)sb.st_size);
    else
        rc = 0;
    if (!rc && (rc = copy_extents(diff, base, sd.st_size)) == 0 && fsync(base) < 0)
        rc = -errno;
    if (rc && rc != -EINVAL)
        snprintf(err, errlen, "rebasing %s onto %s: %s", diff_path, base_path, strerror(-rc));
    if (base >= 0)
        close(base);
    if (diff >= 0)
        close(diff);
    return rc;
}

int snapfile_read(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    int rc = read_file(path, sizeof(struct snap_header) + SNAP_MAX_PAYLOAD, buf, len);
    if (rc == -EFBIG)
        snprintf(err, errlen, "snapshot_path: %s is larger than any snapshot state", path);
    else if (rc)
        snprintf(err, errlen, "snapshot_path: cannot read %s: %s", path, strerror(-rc));
    return rc ? -EINVAL : 0; /* the user's input, whatever the errno */
}
