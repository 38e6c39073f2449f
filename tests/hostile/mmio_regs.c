/* mmio_regs.c — virtio-mmio (run with --transport mmio): every register of every device window
 * read and written with each width, misaligned and with random values (status bits, features,
 * queue addresses, QueueReady, notifications of absent queues, the config area and past it),
 * then QueueReady with rings outside RAM; the VM keeps running and a fresh MMIO driver gets 32
 * random bytes from virtio-rng with InterruptStatus set and acknowledged. */
#include "hostile.h"

#define VMMIO_BASE 0xc0001000u /* LAYOUT_VIRTIO_MMIO */
#define WIN(n)     (VMMIO_BASE + (uint64_t)(n)*0x1000)
#define MAGIC      0x74726976u
#define VIRTIO_RNG 4

static void wr(unsigned dev, unsigned off, uint32_t v)
{
    wr32(WIN(dev) + off, v);
}

static uint32_t rd(unsigned dev, unsigned off)
{
    return rd32(WIN(dev) + off);
}

/* Driver bring-up up to FEATURES_OK (VERSION_1 only). Returns the status read back. */
static uint32_t begin(unsigned dev)
{
    wr(dev, 0x70, 0);
    wr(dev, 0x70, VIO_ACK);
    wr(dev, 0x70, VIO_ACK | VIO_DRIVER);
    wr(dev, 0x24, 1);
    wr(dev, 0x20, 1); /* VERSION_1 */
    wr(dev, 0x24, 0);
    wr(dev, 0x20, 0);
    wr(dev, 0x70, VIO_ACK | VIO_DRIVER | VIO_FEATURES_OK);
    return rd(dev, 0x70);
}

/* Every offset of the window's first 0x200 bytes, each width, random values. */
static void sweep(unsigned dev, uint32_t *seed)
{
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned off = 0; off < 0x200; off++) {
            for (unsigned w = 1; w <= 8; w *= 2) {
                rdw(WIN(dev) + off, w);
                uint64_t v = (uint64_t)rnd(seed) << 32 | rnd(seed);
                if (off == 0x70 && (v & 0xff) == 0)
                    v |= 1; /* keep going through the status machine, not only resets */
                wrw(WIN(dev) + off, w, v);
            }
        }
    }
    wr(dev, 0x70, 0);
}

static void fresh_rng_mmio(unsigned dev)
{
    CHECK(begin(dev) & VIO_FEATURES_OK, "FEATURES_OK refused");
    wr(dev, 0x30, 0);
    CHECK(rd(dev, 0x44) == 0, "QueueReady set after a reset");
    CHECK(rd(dev, 0x34) >= 16, "QueueNumMax below 16");
    struct vq q = {.index = 0, .size = 16};
    q.desc = alloc(16 * 16, 16);
    q.avail = alloc(6 + 2 * 16, 2);
    q.used = alloc(6 + 8 * 16, 4);
    q.desc_gpa = (uintptr_t)q.desc;
    q.avail_gpa = (uintptr_t)q.avail;
    q.used_gpa = (uintptr_t)q.used;
    wr(dev, 0x38, 16);
    wr(dev, 0x80, (uint32_t)q.desc_gpa);
    wr(dev, 0x84, 0);
    wr(dev, 0x90, (uint32_t)q.avail_gpa);
    wr(dev, 0x94, 0);
    wr(dev, 0xa0, (uint32_t)q.used_gpa);
    wr(dev, 0xa4, 0);
    wr(dev, 0x44, 1);
    wr(dev, 0x70, VIO_ACK | VIO_DRIVER | VIO_FEATURES_OK | VIO_DRIVER_OK);
    CHECK(rd(dev, 0x70) == (VIO_ACK | VIO_DRIVER | VIO_FEATURES_OK | VIO_DRIVER_OK),
          "DRIVER_OK not accepted");
    uint8_t *buf = alloc(32, 8);
    struct vdesc d = {.addr = (uintptr_t)buf, .len = 32, .flags = VD_WRITE};
    vq_add(&q, &d, 1);
    barrier();
    wr(dev, 0x50, 0);
    uint32_t len = 0;
    CHECK(vq_wait(&q, &len) >= 0, "virtio-rng over MMIO did not answer");
    CHECK(len == 32, "virtio-rng wrote a short buffer");
    unsigned same = 0;
    for (unsigned i = 1; i < 32; i++)
        same += buf[i] == buf[0];
    CHECK(same < 31, "32 equal bytes from virtio-rng");
    CHECK(rd(dev, 0x60) & 1, "InterruptStatus shows no used buffer");
    wr(dev, 0x64, 1);
    CHECK((rd(dev, 0x60) & 1) == 0, "InterruptStatus not acknowledged");
    say("virtio-mmio rng fresh ok");
}

void hostile_case(void)
{
    unsigned n = 0;
    int rng = -1;
    for (; n < 15 && rd(n, 0) == MAGIC; n++) {
        CHECK(rd(n, 4) == 2, "virtio-mmio version is not 2");
        if (rd(n, 8) == VIRTIO_RNG)
            rng = (int)n;
    }
    say_hex("virtio-mmio devices", n);
    CHECK(n >= 1 && rng >= 0, "no virtio-mmio rng (run with --transport mmio --rng)");
    uint32_t seed = 0x5eed;
    for (unsigned i = 0; i < n; i++)
        sweep(i, &seed);
    /* QueueReady with the rings outside guest RAM: DEVICE_NEEDS_RESET, never a crash */
    CHECK(begin((unsigned)rng) & VIO_FEATURES_OK, "FEATURES_OK refused");
    wr((unsigned)rng, 0x30, 0);
    wr((unsigned)rng, 0x38, 16);
    wr((unsigned)rng, 0x80, 0xfff00000u);
    wr((unsigned)rng, 0x84, 0x7ff);
    wr((unsigned)rng, 0x44, 1);
    CHECK(rd((unsigned)rng, 0x70) & VIO_NEEDS_RESET, "rings outside RAM accepted");
    for (unsigned i = 0; i < n; i++)
        CHECK(rd(i, 0) == MAGIC, "a device window stopped answering");
    fresh_rng_mmio((unsigned)rng);
    pass();
}
