/* input_bad.c — a hostile virtio-input driver (--display std,input=virtio): every config
 * select/subsel pair read in full, writes over the read-only config, a flood of status events
 * (huge, writable, empty and looping chains) and a loop on the status queue. truce answers each
 * (size 0 for what it does not know, status buffers used, the loop flagged DEVICE_NEEDS_RESET);
 * then a fresh driver reads the keyboard's name. */
#include "hostile.h"

#define VIO_INPUT 18
#define CFG_SIZE  136

static void setup(struct vio *d, struct vq *q)
{
    CHECK(!vio_find(VIO_INPUT, d), "no virtio-input");
    CHECK(!vio_begin(d, 0), "FEATURES_OK refused");
    for (unsigned i = 0; i < 2; i++)
        CHECK(!vq_setup(d, &q[i], (uint16_t)i, 0), "virtio-input queue missing");
    vio_driver_ok(d);
}

/* Select SEL/SUBSEL and read the whole structure; returns the size byte. */
static uint8_t sel(struct vio *d, uint8_t s, uint8_t sub)
{
    wr8(d->devcfg, s);
    wr8(d->devcfg + 1, sub);
    uint8_t size = rd8(d->devcfg + 2);
    for (unsigned off = 0; off < CFG_SIZE; off += 4)
        (void)rd32(d->devcfg + off);
    return size;
}

void hostile_case(void)
{
    struct vio d;
    struct vq q[2];
    setup(&d, q);
    static const uint8_t sels[] = {0, 1, 2, 3, 0x10, 0x11, 0x12, 0x13, 0x7f, 0xff};
    unsigned known = 0;
    for (unsigned i = 0; i < sizeof(sels); i++)
        for (unsigned sub = 0; sub < 256; sub += (sub < 32 ? 1 : 37)) {
            uint8_t n = sel(&d, sels[i], (uint8_t)sub);
            CHECK(n <= 128, "a config size beyond the union");
            known += n != 0;
        }
    say_hex("config selections answered", known);
    CHECK(sel(&d, 0x7f, 0) == 0 && sel(&d, 0x13, 0) == 0, "an unknown selection answered");
    for (unsigned off = 2; off < CFG_SIZE; off++) /* size and the union are read-only */
        wr8(d.devcfg + off, 0xa5);
    CHECK(sel(&d, 0, 0) == 0, "a write changed the read-only config");
    /* status events: 1 MiB readable, writable ones, empty and long chains */
    struct vdesc big = {0x1000000, 1u << 20, 0, 0}, wr = {0x1000000, 8, VD_WRITE, 0};
    for (unsigned i = 0; i < 60; i++)
        vq_add(&q[1], i % 3 ? &big : &wr, 1);
    vq_notify(&q[1]);
    uint32_t len;
    for (unsigned i = 0; i < 60; i++) {
        CHECK(vq_wait(&q[1], &len) >= 0, "a status event was not taken back");
        CHECK(len == 0, "the device wrote into a status buffer");
    }
    /* a loop on the status queue breaks it (the device is flagged, truce goes on) */
    set_desc(&q[1], 0, 0x300000, 8, VD_NEXT, 1);
    set_desc(&q[1], 1, 0x300100, 8, VD_NEXT, 0);
    vq_publish(&q[1], 0);
    vq_notify(&q[1]);
    judge(&d, &q[1], 1, "a descriptor loop on the status queue");
    /* a fresh driver gets the device back */
    setup(&d, q);
    uint8_t n = sel(&d, 1, 0);
    CHECK(n == 21 && rd8(d.devcfg + 8) == 't' && rd8(d.devcfg + 8 + 6) == 'v',
          "fresh virtio-input: not the keyboard's name");
    say("fresh virtio-input ok");
}
