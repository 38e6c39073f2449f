/* vmem_bad.c — a hostile virtio-mem driver: plug, unplug and state requests for guest RAM,
 * misaligned, empty, 65535-block, wrapping and past-the-end ranges, unknown types, short
 * requests, answers with no room, plugging what is plugged and more than requested, a burst of
 * requests for one block; plugged memory is usable and reads zeros after unplugging. */
#include "hostile.h"

#define REQ_PLUG       0
#define REQ_UNPLUG     1
#define REQ_UNPLUG_ALL 2
#define REQ_STATE      3
#define ACK            0
#define NACK           1
#define ERROR          3

static struct vio d;
static struct vq q;

static void rig_mem(void)
{
    if (vio_find(VIO_MEM, &d) || vio_begin(&d, 0) || vq_setup(&d, &q, 0, 0))
        fail("no virtio-mem");
    vio_driver_ok(&d);
}

/* One request; returns the answer's type (state in *STATE), or -1 when nothing was written. */
static int req(uint16_t type, uint64_t addr, uint16_t nb, uint32_t out_len, uint32_t in_len,
               uint16_t *state)
{
    volatile uint16_t *r = alloc(24, 8);
    volatile uint16_t *a = alloc(16, 8);
    r[0] = type;
    *(volatile uint64_t *)(r + 4) = addr;
    r[8] = nb;
    a[0] = 0xffff;
    struct vdesc c[2] = {{(uintptr_t)r, out_len, 0, 0}, {(uintptr_t)a, in_len, VD_WRITE, 0}};
    vq_add(&q, c, 2);
    vq_notify(&q);
    uint32_t len = 0;
    if (vq_wait(&q, &len) < 0 || !len)
        return -1;
    if (state)
        *state = a[4];
    return a[0];
}

static int r1(uint16_t type, uint64_t addr, uint16_t nb)
{
    return req(type, addr, nb, 24, 10, 0);
}

void hostile_case(void)
{
    rig_mem();
    uint64_t block = rd64(d.devcfg), addr = rd64(d.devcfg + 16), region = rd64(d.devcfg + 24);
    say_hex("virtio-mem region at", addr);
    say_hex("virtio-mem region size", region);
    CHECK(block >= (2u << 20) && region >= block && addr % block == 0, "odd virtio-mem config");
    const struct {
        uint64_t addr;
        uint16_t nb;
    } bad[] = {
        {0x100000, 1},    {addr - block, 1},      {addr, 0},
        {addr + 4096, 1}, {addr + region, 1},     {addr + region - block, 2},
        {addr, 65535},    {~0ULL - block + 1, 1}, {~0ULL - block + 1, 65535},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        for (uint16_t t = REQ_PLUG; t <= REQ_STATE; t++)
            if (t != REQ_UNPLUG_ALL)
                CHECK(r1(t, bad[i].addr, bad[i].nb) == ERROR, "a bad range was not refused");
    CHECK(r1(99, addr, 1) == ERROR, "an unknown type was not refused");
    CHECK(req(REQ_PLUG, addr, 1, 8, 10, 0) == ERROR, "a short request was not refused");
    CHECK(req(REQ_PLUG, addr, 1, 24, 2, 0) == -1, "an answer without room was written");
    CHECK(r1(REQ_PLUG, addr, 1) == ACK, "a good plug was refused");
    CHECK(r1(REQ_PLUG, addr, 1) == ERROR, "plugging a plugged block was accepted");
    uint64_t req_size = rd64(d.devcfg + 48);
    CHECK(r1(REQ_PLUG, addr + block, (uint16_t)(req_size / block)) == NACK,
          "plugging more than requested was accepted");
    for (unsigned i = 0; i < 32; i++) { /* a burst for one block, one notify */
        volatile uint16_t *r = alloc(24, 8), *a = alloc(16, 8);
        r[0] = REQ_PLUG;
        *(volatile uint64_t *)(r + 4) = addr;
        r[8] = 1;
        struct vdesc c[2] = {{(uintptr_t)r, 24, 0, 0}, {(uintptr_t)a, 10, VD_WRITE, 0}};
        vq_add(&q, c, 2);
    }
    vq_notify(&q);
    for (unsigned i = 0; i < 32; i++)
        CHECK(vq_wait(&q, 0) >= 0, "a burst request was not answered");
    map_high(addr);
    wr64(addr + 64, 0x1122334455667788ULL);
    CHECK(rd64(addr + 64) == 0x1122334455667788ULL, "plugged memory does not hold a value");
    CHECK(r1(REQ_UNPLUG, addr, 1) == ACK, "unplug refused");
    CHECK(r1(REQ_UNPLUG, addr, 1) == ERROR, "unplugging an unplugged block was accepted");
    CHECK(rd64(addr + 64) == 0, "unplugged memory still holds its value");
    uint16_t st = 9;
    CHECK(req(REQ_STATE, addr, 2, 24, 10, &st) == ACK && st == 1, "state of unplugged blocks");
    CHECK(rd64(d.devcfg + 40) == 0, "plugged_size is not 0");
    vio_reset(&d);
    rig_mem();
    CHECK(r1(REQ_UNPLUG_ALL, 0, 0) == ACK, "fresh virtio-mem: unplug-all refused");
    CHECK(r1(REQ_PLUG, addr + region - block, 1) == ACK, "fresh virtio-mem: plug refused");
    say("fresh virtio-mem ok");
}
