/* shutdown.c — every way a guest ends the VM, chosen by the command line, optionally with
 * devices busy ("busy": disk reads, entropy and a vsock connection in flight) so teardown runs
 * with requests outstanding: ACPI S5, i8042 0xFE / 0xF0 / output port, 0xCF9, triple fault,
 * HLT with interrupts off, pvpanic, debug-exit, an instruction the exit policy refuses. */
#include "hostile.h"

static void busy(void)
{
    struct vio d;
    struct vq q[3];
    rig(&(struct target){"blk", VIO_BLK, 1, 0, 0}, 0, &d, q);
    uint8_t *buf = (uint8_t *)0x2000000;
    for (unsigned i = 0; i < 20; i++) {
        volatile uint32_t *h = alloc(16, 16);
        h[0] = 0;
        *(volatile uint64_t *)(h + 2) = 100u * i;
        struct vdesc r[3] = {{(uintptr_t)h, 16, 0, 0},
                             {(uintptr_t)(buf + 65536ULL * i), 65536, VD_WRITE, 0},
                             {(uintptr_t)alloc(1, 16), 1, VD_WRITE, 0}};
        vq_add(&q[0], r, 3);
    }
    vq_notify(&q[0]);
    struct vio r;
    struct vq rq;
    rig(&(struct target){"rng", VIO_RNG, 1, 0, 0}, 0, &r, &rq);
    for (unsigned i = 0; i < 32; i++) {
        struct vdesc e = {0x3000000 + 65536ULL * i, 65536, VD_WRITE, 0};
        vq_add(&rq, &e, 1);
    }
    vq_notify(&rq);
    fresh_vsock(); /* leaves the connection open with data flowing */
    say("devices busy");
}

void hostile_case(void)
{
    if (arg("busy"))
        busy();
    if (arg("park"))
        park();
    say("ending the VM");
    if (arg("s5"))
        outb(0x600, (5 << 2) | 0x20);
    else if (arg("i8042"))
        outb(0x64, 0xfe);
    else if (arg("i8042-pulse"))
        outb(0x64, 0xf0);
    else if (arg("i8042-outport")) {
        outb(0x64, 0xd1);
        outb(0x60, 0x00);
    } else if (arg("cf9"))
        outb(0xcf9, 0x0e);
    else if (arg("pvpanic"))
        outb(0x505, 1);
    else if (arg("debug-exit"))
        debug_exit(0x10);
    else if (arg("hlt"))
        halt_forever();
    else if (arg("triple")) {
        static const struct {
            uint16_t limit;
            uint64_t base;
        } __attribute__((packed)) empty = {0, 0};
        __asm__ volatile("lidt %0; ud2" : : "m"(empty));
    } else if (arg("emulation")) {
        /* cmpxchg16b on MMIO: an instruction KVM's emulator does not handle */
        uint64_t lo = 0, hi = 0;
        __asm__ volatile("lock cmpxchg16b (%2)"
                         : "+a"(lo), "+d"(hi)
                         : "r"((uintptr_t)0xc8000000u), "b"(1ULL), "c"(2ULL)
                         : "memory");
        say("cmpxchg16b on MMIO completed");
        pass();
    }
    for (volatile unsigned spin = 0; spin < 1000000; spin++)
        ;
    fail("still running after the shutdown request");
}
