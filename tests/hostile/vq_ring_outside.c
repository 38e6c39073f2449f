/* vq_ring_outside.c — rings placed outside RAM, wrapping 2^64, misaligned, on the device's own
 * BAR, on the ECAM window, and all three rings on one page: DRIVER_OK must refuse the bad ones
 * (DEVICE_NEEDS_RESET) and survive the odd-but-legal overlap; then a fresh driver works. */
#include "hostile.h"

static void try_rings(const struct target *t, uint64_t desc, uint64_t avail, uint64_t used,
                      int must_break, const char *what)
{
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    CHECK(!vio_begin(&d, 0), "FEATURES_OK refused");
    for (uint16_t i = 0; i < t->nq; i++) {
        wr16(d.common + CC_QSELECT, i);
        wr16(d.common + CC_QSIZE, 16);
        wr64(d.common + CC_QDESC, desc);
        wr64(d.common + CC_QAVAIL, avail);
        wr64(d.common + CC_QUSED, used);
        wr16(d.common + CC_QENABLE, 1);
    }
    vio_driver_ok(&d);
    for (uint16_t i = 0; i < t->nq; i++)
        wr16(d.notify + (uint64_t)i * d.notify_mult, i);
    uint8_t st = vio_status(&d);
    say_hex(what, st);
    if (must_break)
        CHECK(st & VIO_NEEDS_RESET, what);
}

void hostile_case(void)
{
    const struct target *t = target();
    try_rings(t, 0x7ff00000000ULL, 0x310000, 0x320000, 1, "desc ring outside RAM");
    try_rings(t, 0x300000, 0xfffffffffffffff0ULL, 0x320000, 1, "avail ring wrapping 2^64");
    try_rings(t, 0x300000, 0x310000, 0x7ffffc0, 1, "used ring crossing the end of RAM");
    try_rings(t, 0x300008, 0x310000, 0x320000, 1, "desc ring misaligned");
    try_rings(t, 0x300000, 0x310001, 0x320002, 1, "avail and used rings misaligned");
    try_rings(t, 0xd0000000u, 0x310000, 0x320000, 1, "desc ring in the PCI hole");
    try_rings(t, 0x300000, 0x310000, ECAM_BASE, 1, "used ring on the ECAM window");
    memset_((void *)0x300000, 0, 4096);
    try_rings(t, 0x300000, 0x300000, 0x300000, 0, "all rings on one page");
    t->fresh();
}
