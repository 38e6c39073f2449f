/* balloon_bogus.c — a hostile virtio-balloon driver: PFNs outside RAM, in the MMIO hole and at
 * 2^32-1, inflate buffers of 100 MiB and of odd lengths, a full queue of PFN arrays, statistics
 * buffers of 64 KiB and two at once, hinting without a command id, config writes everywhere, and
 * free page reports outside RAM. truce skips, bounds or flags each; then a fresh driver inflates
 * 256 pages and finds the ones it filled given back (they read zero). */
#include "hostile.h"

#define VIO_BALLOON 5
#define F_STATS     (1ULL << 1)
#define F_DEFLATE   (1ULL << 2)
#define F_HINT      (1ULL << 3)
#define F_REPORT    (1ULL << 5)
#define NQ          5 /* inflate, deflate, stats, hint, report */

/* Bring up the balloon with every feature and NQ queues (inflate, deflate, stats, hint, report;
 * a balloon configured without the optional ones has only the first two). */
static void setup_n(struct vio *d, struct vq *q, unsigned nq)
{
    CHECK(!vio_find(VIO_BALLOON, d), "no virtio-balloon");
    CHECK(!vio_begin(d, F_STATS | F_DEFLATE | F_HINT | F_REPORT), "FEATURES_OK refused");
    for (unsigned i = 0; i < nq; i++)
        CHECK(!vq_setup(d, &q[i], (uint16_t)i, 0), "balloon queue missing");
    vio_driver_ok(d);
}

static void setup(struct vio *d, struct vq *q)
{
    setup_n(d, q, NQ);
}

/* Send one readable buffer of LEN bytes at BUF on Q and wait for it to come back. */
static void send(struct vq *q, const void *buf, uint32_t len, const char *what)
{
    struct vdesc x = {(uintptr_t)buf, len, 0, 0};
    vq_add(q, &x, 1);
    vq_notify(q);
    uint32_t got;
    CHECK(vq_wait(q, &got) >= 0, what);
}

static void pfn_attacks(struct vio *d, struct vq *q)
{
    volatile uint32_t *pfn = alloc(256 * 4, 4096);
    for (unsigned i = 0; i < 256; i++) /* outside RAM, the hole, the LAPIC, 2^32-1, past 4 GiB */
        pfn[i] = i % 4 == 0   ? 0xffffffffu
                 : i % 4 == 1 ? 0xfee00u
                 : i % 4 == 2 ? 0xc0000u + i
                              : 0x100000u + i;
    send(&q[0], (const void *)pfn, 256 * 4, "inflate of bogus PFNs not answered");
    send(&q[1], (const void *)pfn, 256 * 4, "deflate of bogus PFNs not answered");
    send(&q[0], (const void *)pfn, 6, "inflate of 6 bytes not answered");
    send(&q[0], (const void *)0x1000000, 100u << 20, "inflate of 100 MiB not answered");
    /* a whole queue of PFN arrays at once: handled a queue's worth per wake-up */
    for (unsigned i = 0; i < q[0].size; i++) {
        struct vdesc x = {(uintptr_t)pfn, 256 * 4, 0, 0};
        vq_add(&q[0], &x, 1);
    }
    vq_notify(&q[0]);
    uint32_t got;
    for (unsigned i = 0; i < q[0].size; i++)
        CHECK(vq_wait(&q[0], &got) >= 0, "a queue of PFN arrays not answered");
    CHECK(!(vio_status(d) & VIO_NEEDS_RESET), "PFN checks broke the device");
    say("balloon: bogus PFNs skipped");
}

static void other_attacks(struct vio *d, struct vq *q)
{
    /* statistics: 64 KiB, then a second buffer while the device holds one */
    volatile uint8_t *st = alloc(64 * 1024, 4096);
    struct vdesc s1 = {(uintptr_t)st, 64 * 1024, 0, 0}, s2 = {(uintptr_t)st, 10, 0, 0};
    vq_add(&q[2], &s1, 1);
    vq_add(&q[2], &s2, 1);
    vq_notify(&q[2]);
    uint32_t got;
    CHECK(vq_wait(&q[2], &got) >= 0, "the first of two statistics buffers was kept");
    /* hinting: a 3-byte command id, then free pages under no command */
    volatile uint32_t *cmd = alloc(8, 8);
    *cmd = 0x12345678;
    send(&q[3], (const void *)cmd, 3, "a 3-byte hint command not answered");
    struct vdesc h = {0x1000000, 4u << 20, VD_WRITE, 0};
    vq_add(&q[3], &h, 1);
    vq_notify(&q[3]);
    CHECK(vq_wait(&q[3], &got) >= 0, "hinted pages without a command not answered");
    /* config: every byte and width, past its end too */
    for (unsigned off = 0; off < 24; off++)
        for (unsigned w = 1; w <= 4; w <<= 1)
            wrw(d->devcfg + off, w, 0xffffffffu);
    CHECK(rd32(d->devcfg + 8) < 2, "the guest wrote the hint command id");
    CHECK(!(vio_status(d) & VIO_NEEDS_RESET), "config writes broke the device");
    /* free page reporting outside RAM: the queue walker flags it */
    struct vdesc r = {0x7ffff000000ULL, 2u << 20, VD_WRITE, 0};
    vq_add(&q[4], &r, 1);
    vq_notify(&q[4]);
    judge(d, &q[4], 1, "a free page report outside RAM");
}

/* A fresh driver: inflate 256 pages (in reverse order), the first two of which the guest
 * filled; the host gave them back, so they read zero. */
static void fresh_balloon(void)
{
    struct vio d;
    struct vq q[NQ];
    setup(&d, q);
    volatile uint64_t *page = alloc(256 * 4096, 4096);
    for (unsigned i = 0; i < 1024; i++)
        page[i] = 0xabababababababab;
    volatile uint32_t *pfn = alloc(256 * 4, 8);
    for (unsigned i = 0; i < 256; i++)
        pfn[i] = (uint32_t)((uintptr_t)page >> 12) + 255 - i;
    send(&q[0], (const void *)pfn, 256 * 4, "fresh inflate not answered");
    unsigned nonzero = 0;
    for (unsigned i = 0; i < 1024; i++)
        nonzero += page[i] != 0;
    CHECK(nonzero == 0, "an inflated page still holds the guest's data");
    wr32(d.devcfg + 4, 256); /* actual */
    say("fresh virtio-balloon ok");
}

/* "huge" (guest RAM on 2 MiB huge pages): 511 of a huge page's 512 pages inflated leave it in
 * place; the 512th gives the whole page back (it reads zero). */
static void huge_pages(void)
{
    struct vio d;
    struct vq q[NQ];
    setup_n(&d, q, 2);
    volatile uint64_t *hp = alloc(2u << 20, 2u << 20);
    for (unsigned i = 0; i < 512; i++)
        hp[i * 512] = 0xabababababababab;
    volatile uint32_t *pfn = alloc(256 * 4, 8);
    for (unsigned half = 0; half < 2; half++) {
        for (unsigned i = 0; i < 256; i++)
            pfn[i] = (uint32_t)((uintptr_t)hp >> 12) + half * 256 + i;
        send(&q[0], (const void *)pfn, (half ? 255 : 256) * 4, "inflate not answered");
    }
    CHECK(hp[0] && hp[511 * 512], "a partly inflated huge page was given back");
    pfn[0] = (uint32_t)((uintptr_t)hp >> 12) + 511;
    send(&q[0], (const void *)pfn, 4, "inflate not answered");
    unsigned nonzero = 0;
    for (unsigned i = 0; i < 512; i++)
        nonzero += hp[i * 512] != 0;
    CHECK(nonzero == 0, "a fully inflated huge page still holds the guest's data");
    say("balloon: a whole huge page given back");
}

void hostile_case(void)
{
    struct vio d;
    struct vq q[NQ];
    if (arg("huge")) {
        huge_pages();
        return;
    }
    setup(&d, q);
    pfn_attacks(&d, q);
    other_attacks(&d, q);
    fresh_balloon();
}
