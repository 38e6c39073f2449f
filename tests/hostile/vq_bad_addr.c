/* vq_bad_addr.c — descriptor buffers outside RAM, wrapping 2^64, in MMIO (ECAM, the LAPIC),
 * lengths near 2^32, and a readable descriptor after a writable one: DEVICE_NEEDS_RESET. */
#include "hostile.h"

static uint64_t b_addr;
static uint32_t b_len;

static void build(struct vq *a)
{
    uint16_t rw = a->index == 0 && a->d->id != VIO_NET ? VD_WRITE : 0; /* the queue's direction */
    if (a->d->id == VIO_BLK) { /* a valid header first, then the bad data buffer */
        volatile uint32_t *h = alloc(16, 16);
        h[0] = 0;
        set_desc(a, 0, (uintptr_t)h, 16, VD_NEXT, 1);
        set_desc(a, 1, b_addr, b_len, VD_NEXT | VD_WRITE, 2);
        set_desc(a, 2, 0x300000, 1, VD_WRITE, 0);
    } else {
        set_desc(a, 0, b_addr, b_len, rw, 0);
    }
    vq_publish(a, 0);
}

static void one(const struct target *t, uint64_t addr, uint32_t len, const char *what)
{
    b_addr = addr;
    b_len = len;
    attack_chain(t, 0, 1, what, build);
}

static void order(struct vq *a)
{
    set_desc(a, 0, 0x300000, 16, VD_WRITE | VD_NEXT, 1);
    set_desc(a, 1, 0x300100, 16, 0, 0);
    vq_publish(a, 0);
}

void hostile_case(void)
{
    const struct target *t = target();
    one(t, 0x7ff00000000ULL, 512, "buffer at 8 TiB, outside RAM");
    one(t, 1ULL << 43, 512, "buffer at 2^43, beyond the guest physical limit");
    one(t, 0xfffffffffffffe00ULL, 0x400, "buffer wrapping 2^64");
    one(t, 0xffffffffffffffffULL, 1, "buffer at the last byte of 2^64");
    one(t, 0x100000, 0xffffffffu, "length 2^32 - 1 from 1 MiB");
    one(t, 0x7fff000, 0x2000, "buffer crossing the end of RAM");
    one(t, ECAM_BASE, 512, "buffer in the ECAM window");
    one(t, 0xfee00000u, 512, "buffer on the local APIC");
    one(t, 0xc0000000u, 4096, "buffer in the PCI hole");
    attack_chain(t, 0, t->id != VIO_RNG && t->id != VIO_CONSOLE, "readable after writable", order);
    t->fresh();
}
