/* blk_bad_req.c — hostile block requests: unknown types, sectors beyond the disk and near 2^64,
 * lengths not a multiple of 512, header-only chains, the status in a readable descriptor,
 * discard/write-zeroes with absurd ranges, GET_ID into one byte. Answered with an error status
 * or DEVICE_NEEDS_RESET; the disk's sector 5 stays intact; a fresh driver reads it. */
#include "hostile.h"

static struct vio d;
static struct vq q;

static void fresh_rig(void)
{
    rig(target(), 0xffffffffULL, &d, &q);
}

static int req(uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    if (vio_status(&d) & VIO_NEEDS_RESET)
        fresh_rig();
    int st = blk_rw(&q, type, sector, buf, len);
    say_hex("request answered with", (uint64_t)(uint32_t)st);
    return st;
}

void hostile_case(void)
{
    fresh_rig();
    uint8_t *buf = alloc(65536, 4096);
    CHECK(req(0, 2048, buf, 512) != 0, "read past the end succeeded");
    CHECK(req(0, 0xffffffffffffffffULL, buf, 512) != 0, "read at sector 2^64-1 succeeded");
    CHECK(req(1, 0x00ffffffffffffffULL, buf, 512) != 0, "write near 2^56 succeeded");
    req(0, 0, buf, 100);     /* not a multiple of 512 */
    req(0, 2047, buf, 1024); /* crosses the end */
    req(99, 5, buf, 512);
    req(0xffffffffu, 5, buf, 512);
    req(8, 0, buf, 1);               /* GET_ID into one byte */
    req(4, 0, buf, 512);             /* FLUSH with data */
    uint32_t *seg = (uint32_t *)buf; /* discard/write-zeroes: {sector u64, num u32, flags u32} */
    for (unsigned t = 11; t <= 13; t += 2) {
        seg[0] = 5, seg[1] = 0, seg[2] = 0xffffffffu, seg[3] = 0;
        req(t, 0, buf, 16); /* 2^32-1 sectors from sector 5 */
        seg[0] = 0xfffffff0u, seg[1] = 0xffffffffu, seg[2] = 64, seg[3] = 0xffffffffu;
        req(t, 0, buf, 16);                    /* wrapping start, unknown flags */
        req(t, 0, buf, 15);                    /* not a whole segment */
        for (unsigned i = 0; i < 4096; i += 4) /* 4096 segments of garbage */
            seg[i] = 0x7fffffff, seg[i + 1] = 0, seg[i + 2] = 1, seg[i + 3] = 0;
        req(t, 0, buf, 65536);
    }
    /* header only; status readable; a readable data buffer on a read */
    volatile uint32_t *h = alloc(16, 16);
    struct vdesc only_hdr = {(uintptr_t)h, 16, 0, 0};
    vq_add(&q, &only_hdr, 1);
    vq_notify(&q);
    judge(&d, &q, 0, "header-only request");
    fresh_rig();
    struct vdesc ro_status[2] = {{(uintptr_t)h, 16, 0, 0}, {(uintptr_t)buf, 513, 0, 0}};
    vq_add(&q, ro_status, 2);
    vq_notify(&q);
    judge(&d, &q, 0, "status byte not writable");
    fresh_rig();
    struct vdesc short_hdr[2] = {{(uintptr_t)h, 7, 0, 0}, {(uintptr_t)buf, 1, VD_WRITE, 0}};
    vq_add(&q, short_hdr, 2);
    vq_notify(&q);
    judge(&d, &q, 0, "header of 7 bytes");
    fresh_blk();
}
