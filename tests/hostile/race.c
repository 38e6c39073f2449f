/* race.c — two vCPUs against one device: the AP (race_ap.S) hammers a reset, a BAR move, memory
 * decoding, MSI-X enable/mask or a notify while the BSP keeps requests in flight (disk reads,
 * entropy, vsock connects); the races between vCPU threads, the I/O thread and io_uring
 * completions are where a use-after-free or a lost request would show (the ASan build runs this
 * too). Then the AP stops and a fresh driver must work. Needs --cpus 2. */
#include "hostile.h"

#define LAPIC 0xfee00000u
#define MBOX  ((volatile uint32_t *)0x7000)

extern uint8_t tramp_start[], tramp_load[], tramp_size[];

static void send_ipi(uint32_t icr_lo)
{
    wr32(LAPIC + 0x310, 1u << 24); /* destination: APIC id 1 */
    wr32(LAPIC + 0x300, icr_lo);
    for (volatile unsigned i = 0; i < 1000; i++)
        ;
}

static void ap_start(void)
{
    for (uintptr_t i = 0; i < (uintptr_t)tramp_size; i++)
        tramp_start[i] = tramp_load[i];
    MBOX[0] = 0;
    MBOX[4] = 0;
    send_ipi(0x4500);        /* INIT */
    send_ipi(0x4600 | 0x08); /* SIPI: 0x8000 */
}

static void ap_do(uint32_t mode, uint64_t addr, uint32_t v, uint32_t v2)
{
    MBOX[1] = (uint32_t)addr;
    MBOX[2] = v;
    MBOX[3] = v2;
    barrier();
    MBOX[0] = mode;
    uint32_t start = MBOX[4];
    for (uint64_t t0 = rdtsc(); MBOX[4] == start;)
        if (rdtsc() - t0 > 4000000000ULL)
            fail("the second vCPU does not run");
}

static void ap_stop(void)
{
    MBOX[0] = 0;
    barrier();
    for (volatile unsigned i = 0; i < 10000; i++)
        ;
    say_hex("second vCPU iterations", MBOX[4]);
}

/* Keep requests flowing on T's device for ROUNDS rounds, re-initialising when it is reset
 * under us. Errors and timeouts are expected; crashes and hangs are not. */
static void traffic(const struct target *t, unsigned rounds)
{
    for (unsigned r = 0; r < rounds; r++) {
        struct vio d;
        struct vq q[3];
        if (vio_find(t->id, &d) || vio_begin(&d, 0))
            continue;
        for (uint16_t i = 0; i < t->nq; i++)
            vq_setup(&d, &q[i], i, 0);
        vio_driver_ok(&d);
        if (t->id == VIO_BLK) {
            for (unsigned i = 0; i < 16; i++) {
                volatile uint32_t *h = alloc(16, 16);
                h[0] = 0;
                *(volatile uint64_t *)(h + 2) = 8u * i;
                struct vdesc c[3] = {{(uintptr_t)h, 16, 0, 0},
                                     {0x2000000 + 4096ULL * i, 4096, VD_WRITE, 0},
                                     {(uintptr_t)alloc(1, 16), 1, VD_WRITE, 0}};
                vq_add(&q[0], c, 3);
            }
        } else if (t->id == VIO_RNG) {
            for (unsigned i = 0; i < 32; i++) {
                struct vdesc c = {0x2000000 + 65536ULL * i, 65536, VD_WRITE, 0};
                vq_add(&q[0], &c, 1);
            }
        } else if (t->id == VIO_VSOCK) {
            for (unsigned i = 0; i < 16; i++) {
                struct vdesc rx = {(uintptr_t)alloc(4096, 64), 4096, VD_WRITE, 0};
                vq_add(&q[0], &rx, 1);
            }
            vq_notify(&q[0]);
            vsock_send(&d, &q[1], 50000 + r, VSOCK_OP_REQUEST, 0, 0);
        }
        vq_notify(&q[t->q]);
        unsigned used = 0;
        while (vq_wait(&q[t->q], 0) >= 0)
            used++;
        say_hex("round, buffers used", (uint64_t)r << 32 | used);
    }
}

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    ap_start();
    vq_wait_cycles = 300000000ULL;
    if (arg("reset")) {
        /* device reset, over and over: back to back, then spaced so requests get in flight */
        ap_do(2, d.common + CC_STATUS, 0, 0);
        traffic(t, t->id == VIO_VSOCK ? 2 : 4);
        ap_do(5, d.common + CC_STATUS, 0, 100000);
        traffic(t, t->id == VIO_VSOCK ? 3 : 12);
    } else if (arg("bar")) {
        ap_do(3, ecam(d.slot, 0x10), (uint32_t)d.bar + 0x100000, (uint32_t)d.bar);
        traffic(t, 12);
    } else if (arg("decode")) { /* memory decoding and bus mastering on/off */
        ap_do(3, ecam(d.slot, 4), 0x0, 0x6);
        traffic(t, 12);
    } else if (arg("msix")) {
        unsigned cap = 0;
        for (unsigned c = cfg_read(d.slot, 0x34, 1); c; c = cfg_read(d.slot, c + 1, 1))
            if (cfg_read(d.slot, c, 1) == 0x11)
                cap = c;
        vq_use_msix = 1;
        ap_do(3, ecam(d.slot, cap), 0x80000000u | cfg_read(d.slot, cap, 2),
              0x40000000u | cfg_read(d.slot, cap, 2)); /* enable <-> function mask */
        traffic(t, 12);
    } else if (arg("notify")) {
        ap_do(1, d.notify + (uint64_t)t->q * d.notify_mult, t->q, 0);
        traffic(t, 12);
    }
    ap_stop();
    vq_wait_cycles = 4000000000ULL;
    bar0_set(d.slot, d.bar);
    t->fresh();
}
