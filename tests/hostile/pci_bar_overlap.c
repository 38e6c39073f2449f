/* pci_bar_overlap.c — BARs moved over each other: every virtio function onto the blk BAR, then
 * half-overlapping, then all onto the rng BAR; accesses while overlapped; moved home, every
 * device's fresh driver works. */
#include "hostile.h"

static const uint16_t ids[] = {VIO_BLK, VIO_RNG, VIO_NET, VIO_VSOCK};

void hostile_case(void)
{
    struct vio d[4];
    uint64_t home[4];
    for (unsigned i = 0; i < 4; i++) {
        CHECK(!vio_find(ids[i], &d[i]), "device not found");
        home[i] = bar0_get(d[i].slot);
    }
    static const uint64_t shift[] = {0, 0x4000, 0x1000};
    for (unsigned s = 0; s < 3; s++) {
        for (unsigned i = 1; i < 4; i++)
            bar0_set(d[i].slot, home[0] + shift[s] * i);
        for (unsigned off = 0; off < 0x8000; off += 0x400) { /* touch everything overlapped */
            rd32(home[0] + off);
            wr8(home[0] + off + CC_DFSELECT, 1);
        }
        wr8(home[0] + CC_STATUS, 0);
        vio_begin(&d[0], 0);
    }
    for (unsigned i = 0; i < 4; i++)
        bar0_set(d[i].slot, home[i]);
    fresh_blk();
    fresh_rng();
    fresh_net();
    fresh_vsock();
}
