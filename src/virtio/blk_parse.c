/* blk_parse.c — the virtio-blk request parser: header, data and status of a chain, never trusted.
 */
#include <string.h>

#include "virtio/blk.h"

/* True when [sector, sector + nsect) lies inside a disk of CAPACITY sectors. */
static bool in_range(uint64_t capacity, uint64_t sector, uint64_t nsect)
{
    return sector <= capacity && nsect <= capacity - sector;
}

/* Data of a read (writable part minus the status byte) or write (readable part after the
 * header). */
static uint8_t parse_rw(const struct virtio_blk *b, struct blk_req *r, bool write)
{
    const struct virtq_chain *c = &r->chain;
    if (write && b->readonly)
        return VIRTIO_BLK_S_IOERR;
    if (write) {
        r->data_len = c->out_len - sizeof(struct virtio_blk_outhdr);
        r->ndata = iov_slice(c->iov, c->nout, sizeof(struct virtio_blk_outhdr), r->data_len,
                             r->data, BLK_MAX_IOV);
    } else {
        r->data_len = c->in_len - 1;
        r->ndata = iov_slice(c->iov + c->nout, c->nin, 0, r->data_len, r->data, BLK_MAX_IOV);
    }
    if (r->data_len % DISK_SECTOR || !in_range(b->capacity, r->sector, r->data_len / DISK_SECTOR))
        return VIRTIO_BLK_S_IOERR;
    return VIRTIO_BLK_S_OK;
}

/* One discard / write-zeroes segment (max_*_seg is 1). */
static uint8_t parse_range(const struct virtio_blk *b, struct blk_req *r, uint64_t feature)
{
    const struct virtq_chain *c = &r->chain;
    struct virtio_blk_discard_write_zeroes seg;
    const size_t hdr = sizeof(struct virtio_blk_outhdr);
    if (!virtio_has_feature(&b->vdev, (unsigned)feature))
        return VIRTIO_BLK_S_UNSUPP;
    if (b->readonly)
        return VIRTIO_BLK_S_IOERR;
    if (c->out_len - hdr != sizeof(seg))
        return VIRTIO_BLK_S_UNSUPP; /* zero or several segments: more than max_*_seg */
    virtq_chain_read(c, hdr, &seg, sizeof(seg));
    uint32_t allowed =
        r->type == VIRTIO_BLK_T_WRITE_ZEROES ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
    if (seg.flags & ~allowed)
        return VIRTIO_BLK_S_UNSUPP;
    if (!seg.num_sectors || seg.num_sectors > BLK_MAX_DISCARD ||
        !in_range(b->capacity, seg.sector, seg.num_sectors))
        return VIRTIO_BLK_S_IOERR;
    r->sector = seg.sector;
    r->nsect = seg.num_sectors;
    return VIRTIO_BLK_S_OK;
}

uint8_t blk_parse(const struct virtio_blk *b, struct blk_req *r)
{
    const struct virtq_chain *c = &r->chain;
    struct virtio_blk_outhdr h;
    r->status = NULL;
    r->ndata = 0;
    r->data_len = 0;
    r->nsect = 0;
    if (!c->nin)
        return BLK_NO_STATUS;
    const struct iovec *last = &c->iov[c->nout + c->nin - 1];
    r->status = (uint8_t *)last->iov_base + last->iov_len - 1; /* the walker skips empty ones */
    if (c->out_len < sizeof(h))
        return VIRTIO_BLK_S_IOERR;
    virtq_chain_read(c, 0, &h, sizeof(h));
    r->type = h.type;
    r->sector = h.sector;
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
        return parse_rw(b, r, false);
    case VIRTIO_BLK_T_OUT:
        return parse_rw(b, r, true);
    case VIRTIO_BLK_T_FLUSH:
        return virtio_has_feature(&b->vdev, VIRTIO_BLK_F_FLUSH) ? VIRTIO_BLK_S_OK
                                                                : VIRTIO_BLK_S_UNSUPP;
    case VIRTIO_BLK_T_GET_ID:
        r->data_len = MIN(c->in_len - 1, (uint32_t)VIRTIO_BLK_ID_BYTES);
        r->ndata = iov_slice(c->iov + c->nout, c->nin, 0, r->data_len, r->data, BLK_MAX_IOV);
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_DISCARD:
        return parse_range(b, r, VIRTIO_BLK_F_DISCARD);
    case VIRTIO_BLK_T_WRITE_ZEROES:
        return parse_range(b, r, VIRTIO_BLK_F_WRITE_ZEROES);
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}
