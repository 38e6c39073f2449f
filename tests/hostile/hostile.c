/* hostile.c — the hostile guests' library: page tables, verdicts, PCI config, virtio-pci driver. */
#include "hostile.h"

/* ---- page tables ------------------------------------------------------------------------- */
static uint64_t pd_low[3][512] __attribute__((aligned(4096)));
static uint64_t pd_high[4][512] __attribute__((aligned(4096)));
static uint64_t pdpt_high[4][512] __attribute__((aligned(4096)));
static unsigned nhigh;

static uint64_t *pml4(void)
{
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    return (uint64_t *)(uintptr_t)(cr3 & ~0xfffULL);
}

static void flush_tlb(void)
{
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3)::"memory");
}

void map_4g(void)
{
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4()[0] & ~0xfffULL);
    for (unsigned g = 1; g < 4; g++) {
        for (unsigned i = 0; i < 512; i++) /* 2 MiB pages; MMIO above 3 GiB uncached */
            pd_low[g - 1][i] = ((uint64_t)g << 30) + ((uint64_t)i << 21) + (g == 3 ? 0x9b : 0x83);
        pdpt[g] = (uintptr_t)pd_low[g - 1] + 3;
    }
    flush_tlb();
}

uint64_t gpa_limit(void)
{
    uint32_t a, b, c, d;
    cpuid(0x80000000, 0, &a, &b, &c, &d);
    unsigned bits = 43;
    if (a >= 0x80000008) {
        cpuid(0x80000008, 0, &a, &b, &c, &d);
        if ((a & 0xff) && (a & 0xff) < bits)
            bits = a & 0xff;
    }
    return 1ULL << bits;
}

void map_high(uint64_t gpa)
{
    if (nhigh == 4)
        fail("map_high: out of page tables");
    uint64_t base = gpa & ~((1ULL << 30) - 1);
    unsigned n = nhigh++;
    for (unsigned i = 0; i < 512; i++)
        pd_high[n][i] = base + ((uint64_t)i << 21) + 0x9b;
    uint64_t *l4 = pml4();
    unsigned i4 = (unsigned)(gpa >> 39) & 511, i3 = (unsigned)(gpa >> 30) & 511;
    uint64_t *pdpt;
    if (l4[i4] & 1) {
        pdpt = (uint64_t *)(uintptr_t)(l4[i4] & ~0xfffULL);
    } else {
        pdpt = pdpt_high[n];
        l4[i4] = (uintptr_t)pdpt + 3;
    }
    pdpt[i3] = (uintptr_t)pd_high[n] + 3;
    flush_tlb();
}

uint64_t rdw(uint64_t a, unsigned width)
{
    switch (width) {
    case 1:
        return rd8(a);
    case 2:
        return rd16(a);
    case 4:
        return rd32(a);
    default:
        return rd64(a);
    }
}

void wrw(uint64_t a, unsigned width, uint64_t v)
{
    switch (width) {
    case 1:
        wr8(a, (uint8_t)v);
        break;
    case 2:
        wr16(a, (uint16_t)v);
        break;
    case 4:
        wr32(a, (uint32_t)v);
        break;
    default:
        wr64(a, v);
    }
}

/* ---- verdicts ---------------------------------------------------------------------------- */
void say(const char *s)
{
    puts_("hostile: ");
    puts_(s);
    putc_('\n');
}

void say_hex(const char *s, uint64_t v)
{
    puts_("hostile: ");
    puts_(s);
    puts_(" 0x");
    puthex(v, 16);
    putc_('\n');
}

void fail(const char *why)
{
    puts_("hostile-verdict: FAIL ");
    puts_(why);
    putc_('\n');
    debug_exit(HOSTILE_FAIL);
}

void pass(void)
{
    puts_("hostile-verdict: ok\n");
    debug_exit(HOSTILE_OK);
}

void park(void)
{
    puts_("hostile-verdict: ok (parked)\n");
    for (;;)
        __asm__ volatile("sti; hlt");
}

/* ---- PCI config ---------------------------------------------------------------------------- */
uint32_t cfg_read(unsigned slot, unsigned off, unsigned width)
{
    return (uint32_t)rdw(ecam(slot, off), width);
}

void cfg_write(unsigned slot, unsigned off, unsigned width, uint32_t v)
{
    wrw(ecam(slot, off), width, v);
}

uint32_t cf8_read(unsigned slot, unsigned off, unsigned width)
{
    outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
    uint16_t port = (uint16_t)(0xcfc + (off & 3));
    return width == 1 ? inb(port) : width == 2 ? inw(port) : inl(port);
}

void cf8_write(unsigned slot, unsigned off, unsigned width, uint32_t v)
{
    outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
    uint16_t port = (uint16_t)(0xcfc + (off & 3));
    if (width == 1)
        outb(port, (uint8_t)v);
    else if (width == 2)
        outw(port, (uint16_t)v);
    else
        outl(port, v);
}

int pci_find(uint16_t vendor, uint16_t device)
{
    for (unsigned s = 0; s < 32; s++)
        if (cfg_read(s, 0, 4) == ((uint32_t)device << 16 | vendor))
            return (int)s;
    return -1;
}

uint64_t bar0_get(unsigned slot)
{
    return (cfg_read(slot, 0x10, 4) & ~0xfULL) | (uint64_t)cfg_read(slot, 0x14, 4) << 32;
}

void bar0_set(unsigned slot, uint64_t addr)
{
    cfg_write(slot, 0x10, 4, (uint32_t)addr);
    cfg_write(slot, 0x14, 4, (uint32_t)(addr >> 32));
}

/* ---- virtio-pci ------------------------------------------------------------------------------ */
static uint64_t heap = HEAP_BASE;

void *alloc(uint64_t n, uint64_t align)
{
    heap = (heap + align - 1) & ~(align - 1);
    if (heap + n > HEAP_END)
        heap = HEAP_BASE; /* cases are short: wrap rather than fail */
    void *p = (void *)(uintptr_t)heap;
    heap += n;
    return n <= 65536 ? memset_(p, 0, n) : p;
}

int vio_find(uint16_t id, struct vio *d)
{
    memset_(d, 0, sizeof(*d));
    int s = pci_find(0x1af4, (uint16_t)(0x1040 + id));
    if (s < 0)
        return -1;
    d->slot = s;
    d->id = id;
    cfg_write(s, 4, 2, cfg_read(s, 4, 2) | 0x6); /* memory decoding, bus mastering */
    d->bar = bar0_get(s);
    if (!d->bar || d->bar >= (1ULL << 32) - 0x8000)
        bar0_set(s, d->bar = 0xD0000000u + (uint64_t)s * 0x10000);
    for (unsigned c = cfg_read(s, 0x34, 1); c; c = cfg_read(s, c + 1, 1)) {
        if (cfg_read(s, c, 1) != 0x09)
            continue;
        unsigned type = cfg_read(s, c + 3, 1);
        uint64_t off = cfg_read(s, c + 8, 4);
        if (type == 1)
            d->common_o = off;
        else if (type == 2) {
            d->notify_o = off;
            d->notify_mult = cfg_read(s, c + 16, 4);
        } else if (type == 3)
            d->isr_o = off;
        else if (type == 4)
            d->devcfg_o = off;
    }
    d->common = d->bar + d->common_o;
    d->isr = d->bar + d->isr_o;
    d->devcfg = d->bar + d->devcfg_o;
    d->notify = d->bar + d->notify_o;
    return 0;
}

int vio_reset(struct vio *d)
{
    wr8(d->common + CC_STATUS, 0);
    for (unsigned i = 0; i < 1000; i++)
        if (vio_status(d) == 0)
            return 0;
    return -1;
}

int vio_begin(struct vio *d, uint64_t want)
{
    if (vio_reset(d))
        return -1;
    wr8(d->common + CC_STATUS, VIO_ACK);
    wr8(d->common + CC_STATUS, VIO_ACK | VIO_DRIVER);
    wr32(d->common + CC_DFSELECT, 0);
    uint64_t offered = rd32(d->common + CC_DF);
    wr32(d->common + CC_DFSELECT, 1);
    offered |= (uint64_t)rd32(d->common + CC_DF) << 32;
    d->features = (want | VIO_F_VERSION_1) & offered;
    wr32(d->common + CC_GFSELECT, 0);
    wr32(d->common + CC_GF, (uint32_t)d->features);
    wr32(d->common + CC_GFSELECT, 1);
    wr32(d->common + CC_GF, (uint32_t)(d->features >> 32));
    wr8(d->common + CC_STATUS, VIO_ACK | VIO_DRIVER | VIO_FEATURES_OK);
    return (vio_status(d) & VIO_FEATURES_OK) ? 0 : -1;
}

int vq_use_msix;

int vq_setup(struct vio *d, struct vq *q, uint16_t index, uint16_t size)
{
    memset_(q, 0, sizeof(*q));
    q->d = d;
    q->index = index;
    wr16(d->common + CC_QSELECT, index);
    uint16_t max = rd16(d->common + CC_QSIZE);
    if (!max)
        return -1;
    if (!size)
        size = max < 64 ? max : 64;
    q->size = size;
    wr16(d->common + CC_QSIZE, size);
    q->desc = alloc(16ULL * size, 4096);
    q->avail = alloc(6 + 2ULL * size, 4096);
    q->used = alloc(6 + 8ULL * size, 4096);
    q->desc_gpa = (uintptr_t)q->desc;
    q->avail_gpa = (uintptr_t)q->avail;
    q->used_gpa = (uintptr_t)q->used;
    wr64(d->common + CC_QDESC, q->desc_gpa);
    wr64(d->common + CC_QAVAIL, q->avail_gpa);
    wr64(d->common + CC_QUSED, q->used_gpa);
    if (vq_use_msix)
        wr16(d->common + CC_QMSIX, index);
    wr16(d->common + CC_QENABLE, 1);
    return 0;
}

uint16_t vq_add(struct vq *q, const struct vdesc *d, unsigned n)
{
    uint16_t head = q->next_desc % q->size;
    for (unsigned i = 0; i < n; i++) {
        uint16_t at = (uint16_t)((head + i) % q->size);
        q->desc[at].addr = d[i].addr;
        q->desc[at].len = d[i].len;
        q->desc[at].flags = (uint16_t)(d[i].flags | (i + 1 < n ? VD_NEXT : 0));
        q->desc[at].next = (uint16_t)((at + 1) % q->size);
    }
    q->next_desc = (uint16_t)(q->next_desc + n);
    vq_publish(q, head);
    return head;
}

void vq_publish(struct vq *q, uint16_t head)
{
    q->avail[2 + q->avail_idx % q->size] = head;
    barrier();
    q->avail_idx++;
    q->avail[1] = q->avail_idx;
    barrier();
}

uint64_t vq_wait_cycles = 4000000000ULL;

int vq_wait(struct vq *q, uint32_t *len)
{
    uint64_t start = rdtsc();
    volatile uint16_t *used_idx = (volatile uint16_t *)(q->used + 2);
    while (*used_idx == q->used_seen) {
        if (rdtsc() - start > vq_wait_cycles)
            return -1;
        __asm__ volatile("pause");
    }
    barrier();
    volatile uint32_t *e = (volatile uint32_t *)(q->used + 4 + 8 * (q->used_seen % q->size));
    q->used_seen++;
    if (len)
        *len = e[1];
    return (int)e[0];
}

uint8_t vio_wait_needs_reset(struct vio *d)
{
    uint64_t start = rdtsc();
    uint8_t st;
    while (!((st = vio_status(d)) & VIO_NEEDS_RESET) && rdtsc() - start < 2000000000ULL)
        __asm__ volatile("pause");
    return st;
}

/* ---- targets and the entry point ----------------------------------------------------------- */
static const char *cmdline = "";

int arg(const char *word)
{
    for (const char *p = cmdline; *p;) {
        const char *w = word, *q = p;
        while (*w && *q == *w)
            q++, w++;
        if (!*w && (*q == ' ' || !*q))
            return 1;
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static const struct target targets[] = {
    {"blk", VIO_BLK, 1, 0, fresh_blk},       {"rng", VIO_RNG, 1, 0, fresh_rng},
    {"net", VIO_NET, 2, 1, fresh_net},       {"cons", VIO_CONSOLE, 2, 1, fresh_cons},
    {"vsock", VIO_VSOCK, 3, 1, fresh_vsock},
};

const struct target *target(void)
{
    for (unsigned i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        if (arg(targets[i].name))
            return &targets[i];
    return &targets[0];
}

void rig(const struct target *t, uint64_t want, struct vio *d, struct vq *q)
{
    if (vio_find(t->id, d))
        fail("device not found");
    if (vio_begin(d, want))
        fail("FEATURES_OK refused");
    for (unsigned i = 0; i < t->nq; i++)
        if (vq_setup(d, &q[i], (uint16_t)i, 0))
            fail("queue missing");
    vio_driver_ok(d);
}

void main64(uint32_t si)
{
    const struct hvm_start_info *s = (const struct hvm_start_info *)(uintptr_t)si;
    if (s && s->cmdline_paddr)
        cmdline = (const char *)(uintptr_t)s->cmdline_paddr;
    map_4g();
    puts_("hostile: start '");
    puts_(cmdline);
    puts_("'\n");
    hostile_case();
    pass();
}

int judge(struct vio *d, struct vq *a, int must_break, const char *what)
{
    uint64_t start = rdtsc();
    volatile uint16_t *used_idx = (volatile uint16_t *)(a->used + 2);
    uint8_t st = 0;
    while (rdtsc() - start < 2000000000ULL) {
        st = vio_status(d);
        if (st & VIO_NEEDS_RESET)
            break;
        if (!must_break && *used_idx != a->used_seen)
            break;
        __asm__ volatile("pause");
    }
    puts_("hostile: ");
    puts_(what);
    puts_(st & VIO_NEEDS_RESET ? ": DEVICE_NEEDS_RESET\n" : ": served or ignored\n");
    if (must_break && !(st & VIO_NEEDS_RESET))
        fail(what);
    return st & VIO_NEEDS_RESET ? 1 : 0;
}

void attack_chain(const struct target *t, uint64_t want, int must_break, const char *what,
                  void (*build)(struct vq *a))
{
    struct vio d;
    struct vq q[3];
    rig(t, want, &d, q);
    struct vq *a = &q[t->q];
    build(a);
    vq_notify(a);
    judge(&d, a, must_break, what);
}
