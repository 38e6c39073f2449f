/* blk_readonly.c — writes to a read-only disk (run.sh adds readonly=on): a write over sector 5,
 * write-zeroes and discard of it, writes past the end; each must fail, and the fresh driver's
 * read of sector 5 then proves the image unchanged (run.sh also checks its size). */
#include "hostile.h"

void hostile_case(void)
{
    struct vio d;
    struct vq q;
    rig(target(), 0xffffffffULL, &d, &q);
    say_hex("features", d.features);
    CHECK(d.features & (1ULL << 5), "read-only disk does not offer VIRTIO_BLK_F_RO");
    uint8_t *buf = alloc(4096, 4096);
    memset_(buf, 0x66, 4096);
    CHECK(blk_rw(&q, 1, 5, buf, 512) != 0, "write to a read-only disk succeeded");
    CHECK(blk_rw(&q, 1, 2047, buf, 4096) != 0, "write past the end of a read-only disk succeeded");
    uint32_t *seg = (uint32_t *)buf;
    seg[0] = 5, seg[1] = 0, seg[2] = 1, seg[3] = 0;
    CHECK(blk_rw(&q, 13, 0, buf, 16) != 0, "write-zeroes on a read-only disk succeeded");
    seg[0] = 5, seg[1] = 0, seg[2] = 1, seg[3] = 0;
    CHECK(blk_rw(&q, 11, 0, buf, 16) != 0, "discard on a read-only disk succeeded");
    fresh_blk();
}
