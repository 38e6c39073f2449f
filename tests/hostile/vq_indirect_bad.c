/* vq_indirect_bad.c — malformed INDIRECT descriptors: lengths 0, 15, near 2^32 and over the
 * table limit, NEXT set, a table outside RAM or wrapping 2^64, INDIRECT never negotiated. */
#include "hostile.h"

static uint64_t t_addr;
static uint32_t t_len;
static uint16_t t_flags;

static void build(struct vq *a)
{
    set_desc(a, 0, t_addr, t_len, t_flags, 1);
    set_desc(a, 1, 0x300000, 16, VD_WRITE, 0);
    vq_publish(a, 0);
}

static void one(const struct target *t, uint64_t want, uint64_t addr, uint32_t len, uint16_t flags,
                const char *what)
{
    t_addr = addr;
    t_len = len;
    t_flags = flags;
    attack_chain(t, want, 1, what, build);
}

void hostile_case(void)
{
    const struct target *t = target();
    uint64_t tbl = (uintptr_t)alloc(65536, 4096);
    one(t, VIO_F_INDIRECT, tbl, 0, VD_INDIRECT, "indirect length 0");
    one(t, VIO_F_INDIRECT, tbl, 15, VD_INDIRECT, "indirect length 15");
    one(t, VIO_F_INDIRECT, tbl, 0xfffffff0u, VD_INDIRECT, "indirect length near 2^32");
    one(t, VIO_F_INDIRECT, tbl, 16 * 4096, VD_INDIRECT, "indirect table of 4096 entries");
    one(t, VIO_F_INDIRECT, tbl, 64, VD_INDIRECT | VD_NEXT, "indirect with NEXT");
    one(t, VIO_F_INDIRECT, 0x7ff00000000ULL, 64, VD_INDIRECT, "indirect table outside RAM");
    one(t, VIO_F_INDIRECT, 0xfffffffffffffff0ULL, 64, VD_INDIRECT, "indirect table wrapping 2^64");
    one(t, VIO_F_INDIRECT, ECAM_BASE, 64, VD_INDIRECT, "indirect table in the ECAM window");
    one(t, 0, tbl, 64, VD_INDIRECT, "indirect without VIRTIO_RING_F_INDIRECT_DESC");
    t->fresh();
}
