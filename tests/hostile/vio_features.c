/* vio_features.c — feature negotiation abuse: every bit at once, bits never offered, no
 * VERSION_1, features written after FEATURES_OK, DRIVER_OK without FEATURES_OK, status bits out
 * of order and cleared without a reset, feature selects beyond 1. Refused or flagged; a fresh
 * driver works. */
#include "hostile.h"

static void features(struct vio *d, uint64_t f)
{
    wr32(d->common + CC_GFSELECT, 0);
    wr32(d->common + CC_GF, (uint32_t)f);
    wr32(d->common + CC_GFSELECT, 1);
    wr32(d->common + CC_GF, (uint32_t)(f >> 32));
}

static uint8_t try_features(struct vio *d, uint64_t f)
{
    vio_reset(d);
    wr8(d->common + CC_STATUS, VIO_ACK | VIO_DRIVER);
    features(d, f);
    wr8(d->common + CC_STATUS, VIO_ACK | VIO_DRIVER | VIO_FEATURES_OK);
    return vio_status(d);
}

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    CHECK(!(try_features(&d, ~0ULL) & VIO_FEATURES_OK), "every feature bit accepted");
    CHECK(!(try_features(&d, 0) & VIO_FEATURES_OK), "no VERSION_1 accepted");
    CHECK(!(try_features(&d, VIO_F_VERSION_1 | 1ULL << 63) & VIO_FEATURES_OK), "bit 63 accepted");
    for (unsigned b = 0; b < 64; b++) /* each bit alone with VERSION_1: accepted or refused */
        try_features(&d, VIO_F_VERSION_1 | 1ULL << b);
    CHECK(!vio_begin(&d, 0), "plain VERSION_1 refused");
    features(&d, ~0ULL); /* after FEATURES_OK */
    wr32(d.common + CC_GFSELECT, 0xffffffffu);
    wr32(d.common + CC_GF, 0xffffffffu);
    wr32(d.common + CC_DFSELECT, 0xffffffffu);
    say_hex("device features, select 2^32-1", rd32(d.common + CC_DF));
    say_hex("status after late features", vio_status(&d));
    vio_reset(&d);
    wr8(d.common + CC_STATUS, VIO_DRIVER_OK); /* no ACK, no FEATURES_OK */
    say_hex("status after DRIVER_OK first", vio_status(&d));
    vio_reset(&d);
    wr8(d.common + CC_STATUS, VIO_FEATURES_OK);
    wr8(d.common + CC_STATUS, VIO_ACK);
    say_hex("status after bits out of order", vio_status(&d));
    CHECK(!vio_begin(&d, 0), "FEATURES_OK refused after the abuse");
    wr8(d.common + CC_STATUS, VIO_ACK); /* clear DRIVER and FEATURES_OK without a reset */
    say_hex("status after clearing bits", vio_status(&d));
    wr8(d.common + CC_STATUS, 0xff);
    wr8(d.common + CC_STATUS, 0xbf);
    t->fresh();
}
