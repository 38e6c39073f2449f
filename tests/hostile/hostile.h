/* hostile.h — shared by the hostile guests: 4 GiB identity map, PCI config (ECAM and 0xCF8), a
 * tiny polling virtio-pci driver, the good requests that prove a device still serves, verdicts.
 *
 * Contract with tests/hostile/run.sh: a guest prints "hostile-verdict: ok" and exits through
 * debug-exit with HOSTILE_OK (status 85), or prints "hostile-verdict: FAIL <why>" and exits with
 * HOSTILE_FAIL (status 87). park() prints the verdict and idles: the runner then sends SIGTERM
 * (status 16). Guests that attack a shutdown path end with that path's documented status. */
#ifndef HOSTILE_H
#define HOSTILE_H

#include "../guests/lib.h"

#define HOSTILE_OK   0x2a /* debug-exit status 85 */
#define HOSTILE_FAIL 0x2b /* debug-exit status 87 */

#define ECAM_BASE    0xE0000000u
#define MMIO32_BASE  0xC0000000u
#define HEAP_BASE    0x00800000u /* guest RAM the driver hands out for rings and buffers */
#define HEAP_END     0x07000000u /* below the default 128 MiB */
#define DISK_PATTERN "truce-hostile sector " /* run.sh fills sector N with this + N */

/* ---- CPU helpers ------------------------------------------------------------------------- */
static inline void barrier(void)
{
    __asm__ volatile("mfence" ::: "memory");
}

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void *memset_(void *d, int c, uint64_t n)
{
    volatile uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

static inline int memeq(const volatile void *a, const void *b, uint64_t n)
{
    const volatile uint8_t *x = a;
    const uint8_t *y = b;
    for (uint64_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return 0;
    return 1;
}

static inline uint32_t rnd(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Identity-map guest physical 0-4 GiB (entry64.S maps only the first GiB). */
void map_4g(void);
/* Identity-map the 1 GiB region holding GPA (for 64-bit BARs); at most 4 such regions. GPA must
 * be below gpa_limit(): a page-table entry past the CPU's physical address width faults. */
void map_high(uint64_t gpa);
/* The end of guest physical addresses: 2^43 (truce's layout), or less where CPUID 0x80000008
 * reports fewer physical address bits (40 in the lab's L1). */
uint64_t gpa_limit(void);

/* ---- MMIO ---------------------------------------------------------------------------------- */
#define MMIO(T, a) (*(volatile T *)(uintptr_t)(a))
static inline uint8_t rd8(uint64_t a)
{
    return MMIO(uint8_t, a);
}
static inline uint16_t rd16(uint64_t a)
{
    return MMIO(uint16_t, a);
}
static inline uint32_t rd32(uint64_t a)
{
    return MMIO(uint32_t, a);
}
static inline uint64_t rd64(uint64_t a)
{
    return MMIO(uint64_t, a);
}
static inline void wr8(uint64_t a, uint8_t v)
{
    MMIO(uint8_t, a) = v;
}
static inline void wr16(uint64_t a, uint16_t v)
{
    MMIO(uint16_t, a) = v;
}
static inline void wr32(uint64_t a, uint32_t v)
{
    MMIO(uint32_t, a) = v;
}
static inline void wr64(uint64_t a, uint64_t v)
{
    MMIO(uint64_t, a) = v;
}
/* Read or write WIDTH (1, 2, 4, 8) bytes at A. */
uint64_t rdw(uint64_t a, unsigned width);
void wrw(uint64_t a, unsigned width, uint64_t v);

/* ---- verdicts ------------------------------------------------------------------------------ */
void say(const char *s);
void say_hex(const char *s, uint64_t v);
__attribute__((noreturn)) void fail(const char *why);
__attribute__((noreturn)) void pass(void);
__attribute__((noreturn)) void park(void);
/* fail(WHY) unless COND. */
#define CHECK(cond, why)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(why);                                                                             \
    } while (0)

/* ---- PCI config --------------------------------------------------------------------------- */
static inline uint64_t ecam(unsigned slot, unsigned off)
{
    return ECAM_BASE + ((uint64_t)slot << 15) + off;
}
uint32_t cfg_read(unsigned slot, unsigned off, unsigned width);
void cfg_write(unsigned slot, unsigned off, unsigned width, uint32_t v);
/* The same through mechanism #1 (ports 0xCF8/0xCFC), OFF < 256. */
uint32_t cf8_read(unsigned slot, unsigned off, unsigned width);
void cf8_write(unsigned slot, unsigned off, unsigned width, uint32_t v);
/* Slot of the first function with VENDOR:DEVICE, or -1. */
int pci_find(uint16_t vendor, uint16_t device);
/* 64-bit BAR0 of SLOT as programmed; set it to ADDR through config (memory decoding stays on). */
uint64_t bar0_get(unsigned slot);
void bar0_set(unsigned slot, uint64_t addr);

/* ---- virtio-pci ----------------------------------------------------------------------------- */
#define VIO_ACK         1
#define VIO_DRIVER      2
#define VIO_DRIVER_OK   4
#define VIO_FEATURES_OK 8
#define VIO_NEEDS_RESET 0x40
#define VIO_F_VERSION_1 (1ULL << 32)
#define VIO_F_INDIRECT  (1ULL << 28)
#define VD_NEXT         1
#define VD_WRITE        2
#define VD_INDIRECT     4

enum {
    VIO_NET = 1,
    VIO_BLK = 2,
    VIO_CONSOLE = 3,
    VIO_RNG = 4,
    VIO_VSOCK = 19,
    VIO_MEM = 24,
    VIO_PMEM = 27
};

/* Common configuration offsets (virtio 1.2 §4.1.4.3). */
enum {
    CC_DFSELECT = 0x00,
    CC_DF = 0x04,
    CC_GFSELECT = 0x08,
    CC_GF = 0x0c,
    CC_MSIX = 0x10,
    CC_NUMQ = 0x12,
    CC_STATUS = 0x14,
    CC_GEN = 0x15,
    CC_QSELECT = 0x16,
    CC_QSIZE = 0x18,
    CC_QMSIX = 0x1a,
    CC_QENABLE = 0x1c,
    CC_QNOTIFYOFF = 0x1e,
    CC_QDESC = 0x20,
    CC_QAVAIL = 0x28,
    CC_QUSED = 0x30,
};

struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct vio {
    int slot;
    uint16_t id;
    uint64_t bar;                                 /* BAR0 as found */
    uint64_t common, isr, devcfg, notify;         /* absolute addresses */
    uint64_t common_o, isr_o, devcfg_o, notify_o; /* offsets in the BAR */
    uint32_t notify_mult;
    uint64_t features; /* negotiated */
};

struct vq {
    struct vio *d;
    uint16_t index, size;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    volatile struct vdesc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
    volatile uint8_t *used;   /* flags, idx, ring[size] of {id, len}, avail_event */
    uint16_t avail_idx, used_seen, next_desc;
};

/* Bump allocator over HEAP_BASE..HEAP_END: N bytes aligned to ALIGN (power of 2); zeroed up to
 * 64 KiB (larger buffers are left as they are: the guest runs in KVM's emulator here). */
void *alloc(uint64_t n, uint64_t align);

/* Find device ID (VIO_*), map its BAR below 4 GiB if needed, parse the capabilities. */
int vio_find(uint16_t id, struct vio *d);
static inline uint8_t vio_status(struct vio *d)
{
    return rd8(d->common + CC_STATUS);
}
/* Status 0, wait until it reads back 0. Returns 0 or -1. */
int vio_reset(struct vio *d);
/* Reset, ACKNOWLEDGE, DRIVER, accept WANT & offered (plus VERSION_1), FEATURES_OK. 0 or -1. */
int vio_begin(struct vio *d, uint64_t want);
/* Configure queue INDEX with SIZE entries (0: the offered maximum, capped at 64) in fresh
 * memory and enable it. Returns 0 or -1. */
int vq_setup(struct vio *d, struct vq *q, uint16_t index, uint16_t size);
/* When set, vq_setup gives queue N MSI-X vector N. */
extern int vq_use_msix;
static inline void vio_driver_ok(struct vio *d)
{
    wr8(d->common + CC_STATUS, vio_status(d) | VIO_DRIVER_OK);
}
static inline void vq_notify(struct vq *q)
{
    barrier();
    wr16(q->d->notify + (uint64_t)q->index * q->d->notify_mult, q->index);
}
/* Put N descriptors (next fields filled in) in the table and publish the chain; returns the
 * head. Does not notify. */
uint16_t vq_add(struct vq *q, const struct vdesc *d, unsigned n);
/* Publish HEAD as is (descriptors written by the caller), bump avail idx by 1. */
void vq_publish(struct vq *q, uint16_t head);
/* Wait (bounded, about a second) for the next used element. Returns its id, or -1 on timeout;
 * *LEN gets the length written. */
int vq_wait(struct vq *q, uint32_t *len);
/* vq_wait's bound in TSC cycles (default 4e9, about 1.5 s here). */
extern uint64_t vq_wait_cycles;
/* Wait until status shows NEEDS_RESET or MS budget passes. Returns the last status. */
uint8_t vio_wait_needs_reset(struct vio *d);

/* ---- good requests: a fresh driver, one request, fail() when the device does not serve ------ */
void fresh_blk(void);   /* reads sector 5, compares with DISK_PATTERN "5" */
void fresh_rng(void);   /* 32 random bytes, not all equal */
void fresh_net(void);   /* ARP who-has 10.0.2.2 answered by user networking */
void fresh_cons(void);  /* writes "hostile: virtio-console fresh ok" on port 0 */
void fresh_vsock(void); /* connects to host port 5000 and reads "hostile-peer" */

/* Blk request: TYPE (0 read, 1 write, ...) of SECTOR into/from BUF (LEN bytes). Returns the
 * status byte, or -1 on timeout. */
int blk_rw(struct vq *q, uint32_t type, uint64_t sector, void *buf, uint32_t len);

/* vsock */
struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio_vsock_hdr");
#define VSOCK_OP_REQUEST  1
#define VSOCK_OP_RESPONSE 2
#define VSOCK_OP_RST      3
#define VSOCK_OP_SHUTDOWN 4
#define VSOCK_OP_RW       5
#define VSOCK_PEER_PORT   5000 /* run.sh's peer: writes "hostile-peer\n" on accept, then echoes */
/* Send a control/data packet on TX queue Q from guest port SPORT. */
int vsock_send(struct vio *d, struct vq *tx, uint32_t sport, uint16_t op, const void *data,
               uint32_t len);

/* ---- cases ------------------------------------------------------------------------------- */
/* Each guest defines hostile_case(): the attack, then the checks; returning means pass(). */
void hostile_case(void);
/* True when the command line holds WORD. */
int arg(const char *word);
/* The device a per-device case attacks, from the command line word (blk, rng, net, cons, vsock;
 * default blk): its id, queue count, the queue the device walks on notify, its good request. */
struct target {
    const char *name;
    uint16_t id;
    unsigned nq, q;
    void (*fresh)(void);
};
const struct target *target(void);
/* Find T's device, negotiate WANT, set up every queue (default size), DRIVER_OK. */
void rig(const struct target *t, uint64_t want, struct vio *d, struct vq *q);
/* Wait (about a second) for A's device to show DEVICE_NEEDS_RESET or, unless MUST_BREAK, to use
 * a buffer; fail(WHAT) when MUST_BREAK and the device did not flag the queue. Returns 1 when
 * flagged. */
int judge(struct vio *d, struct vq *a, int must_break, const char *what);
/* rig(T, WANT), BUILD writes and publishes a chain on the walked queue, notify, judge(). */
void attack_chain(const struct target *t, uint64_t want, int must_break, const char *what,
                  void (*build)(struct vq *a));
static inline void set_desc(struct vq *a, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                            uint16_t next)
{
    a->desc[i].addr = addr;
    a->desc[i].len = len;
    a->desc[i].flags = flags;
    a->desc[i].next = next;
}

#endif
