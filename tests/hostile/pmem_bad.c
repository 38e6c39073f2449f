/* pmem_bad.c — a hostile virtio-pmem driver: requests of unknown types, short, readable-only and
 * 100 MiB ones, a response buffer inside the pmem region itself and past its end; and, with "ro",
 * stores into the read-only region. Every request is answered or flagged, a read-only region
 * keeps its bytes, and a fresh driver's flush is answered OK. */
#include "hostile.h"

static struct vio d;
static struct vq q;

static void rig_pmem(void)
{
    if (vio_find(VIO_PMEM, &d) || vio_begin(&d, 0) || vq_setup(&d, &q, 0, 0))
        fail("no virtio-pmem");
    vio_driver_ok(&d);
}

/* One request: TYPE in OUT_LEN readable bytes, the answer to RESP (IN_LEN bytes). Returns the
 * answer, 0xffffffff when nothing was written, or -2 when the device flagged the queue. */
static int64_t flush(uint32_t type, uint32_t out_len, uint64_t resp, uint32_t in_len)
{
    if (vio_status(&d) & VIO_NEEDS_RESET)
        rig_pmem();
    volatile uint32_t *req = alloc(4096, 4096);
    req[0] = type;
    if (resp == 0) {
        volatile uint32_t *r = alloc(16, 16);
        r[0] = 0xffffffff;
        resp = (uintptr_t)r;
    }
    struct vdesc c[2] = {{(uintptr_t)req, out_len, 0, 0}, {resp, in_len, VD_WRITE, 0}};
    vq_add(&q, c, 2);
    vq_notify(&q);
    uint32_t len = 0;
    if (vq_wait(&q, &len) < 0)
        return (vio_status(&d) & VIO_NEEDS_RESET) ? -2 : -1;
    say_hex("pmem answer length", len);
    return resp < 0x100000000ULL ? *(volatile uint32_t *)(uintptr_t)resp : 0;
}

void hostile_case(void)
{
    rig_pmem();
    uint64_t start = rd64(d.devcfg), size = rd64(d.devcfg + 8);
    say_hex("pmem region at", start);
    say_hex("pmem region size", size);
    CHECK(start % (2u << 20) == 0 && size % (2u << 20) == 0 && size, "region not 2 MiB aligned");
    CHECK(flush(0, 4, 0, 4) == 0, "a flush was not answered OK");
    CHECK(flush(7, 4, 0, 4) == 1, "an unknown request type was not refused");
    CHECK(flush(0xffffffffu, 4, 0, 4) == 1, "type 0xffffffff was not refused");
    CHECK(flush(0, 1, 0, 4) == 1, "a 1-byte request was not refused");
    flush(0, 4, 0, 1);                  /* no room for the answer */
    flush(0, 100u << 20, 0, 4);         /* 100 MiB request, mostly past our RAM */
    flush(0, 4, 0x1000000, 100u << 20); /* 100 MiB answer buffer */
    flush(0, 4, start, 4);              /* the answer into the region itself */
    flush(0, 4, start + size - 2, 4);   /* straddling the region's end */
    flush(0, 4, start + size, 4);       /* just past it */
    flush(0, 4, 0xfffffffffffff000ULL, 4096);
    vio_reset(&d);
    rig_pmem();
    for (unsigned i = 0; i < 192; i++) { /* more requests than the queue holds */
        volatile uint32_t *r = alloc(4, 4);
        struct vdesc c[2] = {{(uintptr_t)r, 4, 0, 0}, {(uintptr_t)r, 4, VD_WRITE, 0}};
        r[0] = 0;
        vq_add(&q, c, 2);
        if (i % 16 == 15) {
            vq_notify(&q);
            for (unsigned k = 0; k < 16; k++)
                CHECK(vq_wait(&q, 0) >= 0, "a flush of a burst was not answered");
        }
    }
    say("192 flushes answered");
    if (arg("ro")) {
        map_high(start);
        uint64_t before = rd64(start + 4096);
        wr64(start + 4096, before ^ 0x5a5a5a5a5a5a5a5aULL);
        wr32(start, 0xdeadbeef);
        wr8(start + size - 1, 0x77);
        CHECK(rd64(start + 4096) == before, "a store changed the read-only pmem region");
        say("read-only region unchanged");
    }
    vio_reset(&d);
    rig_pmem();
    CHECK(flush(0, 4, 0, 4) == 0, "fresh virtio-pmem: flush not answered OK");
    say("fresh virtio-pmem ok");
}
