/* fuzz_virtio.h — a hostile virtio driver for libFuzzer: the input is a program of ring, config,
 * transport and host-side operations run against one real virtio-pci device in the unit tests'
 * fake VM (tests/unit/virtio_fixture.h: guest RAM, PCI bus, I/O thread; no KVM).
 *
 * A target includes this header, which defines the libFuzzer entry points, and then defines
 * `static const struct fv_device fv_device` (how to create its device, what its host-side
 * operation does). Input: [8 bytes feature mask][1 byte queue size][operations...], each operation
 * one opcode byte followed by its arguments (missing bytes read as zero). */
#ifndef TRUCE_FUZZ_VIRTIO_H
#define TRUCE_FUZZ_VIRTIO_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h> /* the fixture's asserts: a failed one ends the fuzzer (a finding) */

#include "virtio_fixture.h"

#define FV_ARENA      (1 * MiB) /* buffers, headers and indirect tables: VF_BUF .. + FV_ARENA */
#define FV_RING_BYTES 0xc000    /* a queue's desc, avail and used rings (VF_RING) */

struct fv_device {
    const char *name;
    /* Create the device on PCI slot 1 of F's VM (cfg filled, create called). */
    void (*create)(struct vfix *f);
    /* A host-side event made of ARG (LEN bytes): a frame or bytes arriving for the guest, a
     * backend becoming writable again... May be NULL. Runs on the fuzzer's ("vCPU") thread. */
    void (*host)(struct vfix *f, const uint8_t *arg, size_t len);
    /* End of one input, the device reset: drop host-side state. May be NULL. */
    void (*end)(struct vfix *f);
};
/* Defined (with its initialiser) by the target after including this header. */
static const struct fv_device fv_device;

static struct vfix fv_fix;
static uint64_t fv_offered; /* device features */
static unsigned fv_nq;
static uint32_t fv_bar_lo, fv_bar_hi, fv_cmd; /* BAR 0 and command as the bus set them */

/* The input, consumed front to back; reads past its end give zeros. */
struct fv_in {
    const uint8_t *p;
    size_t left;
};

static uint64_t fv_take(struct fv_in *in, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n && in->left; i++, in->p++, in->left--)
        v |= (uint64_t)in->p[0] << (8 * i);
    return v;
}

/* A descriptor address: bit 63 keeps it wild, bit 62 points into the queue's own rings (an
 * indirect table aliasing the descriptor table, buffers overlapping the used ring), the rest
 * lands in the arena. */
static uint64_t fv_place(unsigned q, uint64_t a)
{
    if (a >> 63)
        return a;
    if ((a >> 62) & 1)
        return VF_RING(q) + (a & 0xffff) % FV_RING_BYTES;
    return VF_BUF + a % FV_ARENA;
}

/* Lengths are mostly small (the arena), bit 31 keeps them wild. */
static uint32_t fv_len(uint32_t l)
{
    return (l >> 31) ? l : l & 0x1ffff;
}

static unsigned fv_width(uint64_t sel)
{
    static const unsigned w[4] = {1, 2, 4, 8};
    return w[sel & 3];
}

/* vf_barrier with a bound: an I/O thread that does not come back within FV_STUCK_S seconds is
 * stuck (a loop or a deadlock in the device); SIGABRT on that thread makes the sanitizer print its
 * stack, which libFuzzer's own timeout (main thread only) would not show. */
#define FV_STUCK_S 10
static void fv_barrier(struct vfix *f)
{
    struct vf_barrier b = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FV_STUCK_S;
    assert_int_equal(evloop_call(f->vm.loop, vf_barrier_cb, &b), 0);
    pthread_mutex_lock(&b.lock);
    while (!b.done) {
        if (pthread_cond_timedwait(&b.cond, &b.lock, &until) == ETIMEDOUT) {
            fprintf(stderr, "fuzz_virtio: %s: the I/O thread is stuck for %d s\n", fv_device.name,
                    FV_STUCK_S);
            pthread_kill(f->loop_thread, SIGABRT);
            pause();
        }
    }
    pthread_mutex_unlock(&b.lock);
}

static void fv_quiesce(struct vfix *f)
{
    fv_barrier(f);
    fv_barrier(f);
}

/* The BAR can be moved or disabled by a fuzzed config write: follow it. */
static void fv_follow_bar(struct vfix *f)
{
    uint32_t lo = vf_cfg_read(f, f->slot, 0x10, 4), hi = vf_cfg_read(f, f->slot, 0x14, 4);
    f->bar = ((uint64_t)hi << 32) | (lo & ~0xfu);
}

/* Driver bring-up with FEAT and every queue sized QSIZE (0: the device's size); unlike
 * vf_bringup, a refused feature set or queue is an outcome, not an error. */
static void fv_bringup(struct vfix *f, uint64_t feat, uint16_t qsize)
{
    vf_set_status(f, 0);
    vf_msix_on(f, fv_nq + 1);
    vf_set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    vf_set_features(f, feat);
    vf_set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                         VIRTIO_CONFIG_S_FEATURES_OK);
    vf_wr(f, COMMON_OFF(msix_config), 2, 0);
    for (unsigned q = 0; q < fv_nq; q++)
        vf_queue(f, q, qsize, (uint16_t)(q + 1));
    vf_set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                         VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

enum fv_op {
    FV_DESC,       /* q, index(2), addr(8), len(4), flags(2), next(2) */
    FV_DATA,       /* arena offset(3), n(1), n bytes */
    FV_OFFER,      /* q, head(2): avail ring entry + idx, notify */
    FV_AVAIL_IDX,  /* q, idx(2): avail idx jumps, notify */
    FV_RING_FLAGS, /* q, avail flags(2), used_event(2) */
    FV_NOTIFY,     /* q: a notify with nothing new */
    FV_QUIESCE,    /* let the I/O thread finish what was notified */
    FV_DEVCFG,     /* off(1), width(1), write?(1), value(8): device-specific config */
    FV_COMMON,     /* off(1), width(1), value(4): common config write while live */
    FV_BAR,        /* off(2), width(1), write?(1), value(8): anywhere in the BAR (ISR, MSI-X) */
    FV_PCICFG,     /* off(2), width(1), write?(1), value(4): config space through ECAM */
    FV_RESET,      /* reset and bring up again */
    FV_HOST,       /* n(1), n bytes: the device's host-side event */
    FV_NOPS
};

static void fv_op(struct vfix *f, struct fv_in *in, uint64_t feat, uint16_t qsize)
{
    unsigned op = (unsigned)fv_take(in, 1) % FV_NOPS;
    unsigned q = (unsigned)fv_take(in, op <= FV_NOTIFY ? 1 : 0) % fv_nq;
    uint16_t qs = f->qsize[q] ? f->qsize[q] : 1;
    switch (op) {
    case FV_DESC: {
        unsigned i = (unsigned)fv_take(in, 2) % qs;
        uint64_t addr = fv_place(q, fv_take(in, 8));
        uint32_t len = fv_len((uint32_t)fv_take(in, 4));
        uint16_t flags = (uint16_t)fv_take(in, 2), next = (uint16_t)fv_take(in, 2);
        vf_desc(f, q, i, addr, len, flags, next);
        break;
    }
    case FV_DATA: {
        uint64_t off = fv_take(in, 3) % FV_ARENA;
        size_t n = (size_t)fv_take(in, 1); /* not inside MIN(): it evaluates twice */
        n = MIN(MIN(n, in->left), FV_ARENA - off);
        guest_mem_write(&f->vm.mem, VF_BUF + off, in->p, n);
        in->p += n, in->left -= n;
        break;
    }
    case FV_OFFER:
        vf_offer(f, q, (uint16_t)fv_take(in, 2));
        break;
    case FV_AVAIL_IDX:
        f->avail_idx[q] = (uint16_t)fv_take(in, 2);
        guest_mem_write(&f->vm.mem, VF_RING(q) + 0x4000 + 2, &f->avail_idx[q], 2);
        vf_wr(f, f->notify + q * f->notify_mult, 2, q);
        break;
    case FV_RING_FLAGS: {
        uint16_t flags = (uint16_t)fv_take(in, 2), ev = (uint16_t)fv_take(in, 2);
        guest_mem_write(&f->vm.mem, VF_RING(q) + 0x4000, &flags, 2);
        guest_mem_write(&f->vm.mem, VF_RING(q) + 0x4000 + 4 + 2 * (uint64_t)qs, &ev, 2);
        break;
    }
    case FV_NOTIFY:
        vf_wr(f, f->notify + q * f->notify_mult, 2, q);
        break;
    case FV_QUIESCE:
        fv_quiesce(f);
        break;
    case FV_DEVCFG:
    case FV_BAR: {
        uint32_t off = (uint32_t)fv_take(in, op == FV_BAR ? 2 : 1);
        unsigned w = fv_width(fv_take(in, 1));
        bool wr = fv_take(in, 1) & 1;
        uint64_t v = fv_take(in, 8);
        off = op == FV_BAR ? off % 0x8000 : f->devcfg + off;
        if (wr)
            vf_wr(f, off, w, v);
        else
            vf_rd(f, off, w);
        break;
    }
    case FV_COMMON: {
        uint32_t off = (uint32_t)fv_take(in, 1) % 0x40;
        unsigned w = fv_width(fv_take(in, 1));
        vf_wr(f, f->common + off, w, fv_take(in, 4));
        break;
    }
    case FV_PCICFG: {
        unsigned off = (unsigned)fv_take(in, 2) % 4096;
        unsigned w = fv_width(fv_take(in, 1)) % 8;
        bool wr = fv_take(in, 1) & 1;
        uint32_t v = (uint32_t)fv_take(in, 4);
        if (wr) {
            vf_cfg_write(f, f->slot, off, w ? w : 4, v);
            fv_follow_bar(f);
        } else {
            vf_cfg_read(f, f->slot, off, w ? w : 4);
        }
        break;
    }
    case FV_RESET:
        fv_quiesce(f);
        fv_bringup(f, feat, qsize);
        break;
    case FV_HOST: {
        size_t n = (size_t)fv_take(in, 1);
        n = MIN(n, in->left);
        if (fv_device.host)
            fv_device.host(f, in->p, n);
        in->p += n, in->left -= n;
        break;
    }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct vfix *f = &fv_fix;
    vf_init(f);
    fv_device.create(f);
    vf_probe(f, 1);
    fv_offered = vf_features(f);
    fv_bar_lo = vf_cfg_read(f, 1, 0x10, 4);
    fv_bar_hi = vf_cfg_read(f, 1, 0x14, 4);
    fv_cmd = vf_cfg_read(f, 1, 0x04, 2);
    vf_wr(f, COMMON_OFF(num_queues), 2, 0);
    fv_nq = (unsigned)vf_rd(f, COMMON_OFF(num_queues), 2);
    assert_true(fv_nq > 0 && fv_nq <= VIRTIO_MAX_QUEUES);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vfix *f = &fv_fix;
    struct fv_in in = {data, size};
    /* VERSION_1 is kept unless bit 63 of the mask is set: mostly a live device */
    uint64_t mask = fv_take(&in, 8);
    uint64_t feat = fv_offered & (mask | (mask >> 63 ? 0 : 1ULL << VIRTIO_F_VERSION_1));
    uint8_t qs = (uint8_t)fv_take(&in, 1);
    uint16_t qsize = qs ? (uint16_t)(qs < 16 ? 1u << (qs % 11) : qs) : 0;
    memset(gpa_to_hva(&f->vm.mem, VF_BUF, FV_ARENA), 0, FV_ARENA);
    fv_bringup(f, feat, qsize);
    for (unsigned n = 0; in.left && n < 4096; n++)
        fv_op(f, &in, feat, qsize);
    fv_quiesce(f);
    if (getenv("FUZZ_VERBOSE")) { /* to check what a seed reaches */
        fprintf(stderr, "%s: status 0x%x, used", fv_device.name, vf_status(f));
        for (unsigned q = 0; q < fv_nq; q++)
            fprintf(stderr, " q%u:%u", q, vf_used_idx(f, q));
        fprintf(stderr, "\n");
    }
    vf_set_status(f, 0); /* reset: waits for in-flight requests */
    if (fv_device.end)
        fv_device.end(f);
    fv_quiesce(f);
    /* a fuzzed config write may have moved or disabled the BAR: put it back for the next input */
    vf_cfg_write(f, f->slot, 0x04, 2, 0);
    vf_cfg_write(f, f->slot, 0x10, 4, fv_bar_lo);
    vf_cfg_write(f, f->slot, 0x14, 4, fv_bar_hi);
    vf_cfg_write(f, f->slot, 0x04, 2, fv_cmd);
    fv_follow_bar(f);
    return 0;
}

#endif
