/* iov.c — walking scatter-gather lists: slices of them and copies to and from flat buffers. */
#include <string.h>
#include <sys/uio.h>

#include "util/util.h"

unsigned iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len, struct iovec *dst,
                   unsigned max)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len && k < max; i++) {
        size_t l = src[i].iov_len;
        if (off >= l) { /* also passes over empty segments */
            off -= l;
            continue;
        }
        size_t take = MIN(l - off, len);
        dst[k++] = (struct iovec){(uint8_t *)src[i].iov_base + off, take};
        len -= take;
        off = 0;
    }
    return k;
}

/* Copy LEN bytes between BUF and the N segments IOV, starting at byte OFF of the segments: into
 * them when TO_IOV, else out of them. Returns the bytes copied (short when the segments end). */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, uint8_t *buf, size_t len,
                       bool to_iov)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t k = MIN(l - off, len - done);
        uint8_t *seg = (uint8_t *)iov[i].iov_base + off;
        if (to_iov)
            memcpy(seg, buf + done, k);
        else
            memcpy(buf + done, seg, k);
        done += k;
        off = 0;
    }
    return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    return iov_copy(iov, n, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
    return iov_copy(iov, n, off, (uint8_t *)buf, len, true); /* BUF is only read */
}
