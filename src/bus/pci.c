/* pci.c — PCI functions: description, config space semantics, BAR placement and moves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/pci.h"
#include "util/util.h"
#include "vm/vm.h"

#define PCI_COMMAND      0x04
#define PCI_CMD_IO       0x0001
#define PCI_CMD_MEM      0x0002
#define PCI_CMD_MASTER   0x0004
#define PCI_CMD_INTX_OFF 0x0400
#define PCI_STATUS       0x06
#define PCI_STATUS_INTX  0x0008
#define PCI_STATUS_CAPS  0x0010
#define PCI_BAR0         0x10
#define PCI_BAR_END      0x28
#define PCI_CAP_PTR      0x34
#define PCI_INT_LINE     0x3c
#define PCI_CAPS_START   0x40
#define PCI_BAR_MEM64    0x4
#define PCI_BAR_PREFETCH 0x8

/* ---- function description ------------------------------------------------------------------ */

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
                  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys,
                  const struct pci_dev_ops *ops, void *opaque)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    d->slot = -1;
    d->ops = ops;
    d->opaque = opaque;
    pthread_mutex_init(&d->irq_lock, NULL);
    put_le16(d->cfg + 0x00, vendor);
    put_le16(d->cfg + 0x02, device);
    d->cfg[0x08] = revision;
    d->cfg[0x09] = (uint8_t)class_code;
    d->cfg[0x0a] = (uint8_t)(class_code >> 8);
    d->cfg[0x0b] = (uint8_t)(class_code >> 16);
    put_le16(d->cfg + 0x2c, subsys_vendor);
    put_le16(d->cfg + 0x2e, subsys);
    d->cfg[PCI_INT_PIN] = 1; /* INTA */
    put_le16(d->wmask + PCI_COMMAND, PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
    d->wmask[0x0c] = 0xff; /* cache line size */
    d->wmask[0x0d] = 0xff; /* latency timer */
    d->wmask[PCI_INT_LINE] = 0xff;
    d->cap_end = PCI_CAPS_START;
}

int pci_bar_init(struct pci_dev *d, unsigned n, uint64_t size, bool mem64, bool prefetch)
{
    if (n >= PCI_NUM_BARS || (mem64 && n + 1 >= PCI_NUM_BARS) || size < 4096 ||
        (size & (size - 1)) || size > (1ULL << 31) || d->bar[n].size)
        return -EINVAL;
    if (n > 0 && d->bar[n - 1].mem64)
        return -EINVAL;
    d->bar[n].size = size;
    d->bar[n].mem64 = mem64;
    d->bar[n].prefetch = prefetch;
    return 0;
}

int pci_bar_add_region(struct pci_dev *d, unsigned n, uint64_t off, uint64_t len,
                       const struct io_ops *ops, void *opaque, const char *name)
{
    if (n >= PCI_NUM_BARS || !d->bar[n].size || !len || off >= d->bar[n].size ||
        len > d->bar[n].size - off)
        return -EINVAL;
    if (d->nregion == PCI_MAX_REGIONS)
        return -ENOSPC;
    for (unsigned i = 0; i < d->nregion; i++) {
        const struct pci_region *r = &d->region[i];
        if (r->bar == n && off < r->off + r->len && r->off < off + len)
            return -EINVAL;
    }
    d->region[d->nregion++] = (struct pci_region){off, len, ops, opaque, name, n};
    return 0;
}

int pci_add_cap(struct pci_dev *d, const void *body, size_t len)
{
    unsigned at = ALIGN_UP((unsigned)d->cap_end, 4u);
    if (len < 2 || at + len > PCI_CFG_SIZE)
        return -ENOSPC;
    memcpy(d->cfg + at, body, len);
    d->cfg[at + 1] = 0;
    /* link: the header's pointer, or the last capability's next byte */
    unsigned link = PCI_CAP_PTR;
    for (unsigned p = d->cfg[PCI_CAP_PTR]; p; p = d->cfg[p + 1])
        link = p + 1;
    d->cfg[link] = (uint8_t)at;
    d->cfg[PCI_STATUS] |= PCI_STATUS_CAPS;
    d->cap_end = (uint8_t)MIN(at + len, (size_t)0xff);
    return (int)at;
}

/* ---- BAR mapping --------------------------------------------------------------------------- */

/* True when [addr, addr + size) is a place the bus can decode: not RAM, below LAYOUT_MAX_GPA. */
static bool bar_addr_ok(const struct vm *vm, uint64_t addr, uint64_t size)
{
    if (!addr || addr + size < addr || addr + size > LAYOUT_MAX_GPA)
        return false;
    for (unsigned i = 0; i < vm->mem.nr; i++) {
        const struct mem_region *r = &vm->mem.r[i];
        if (addr < r->gpa + r->size && r->gpa < addr + size)
            return false;
    }
    return true;
}

static void bar_unmap(struct pci_dev *d, struct pci_bar *b)
{
    unsigned n = (unsigned)(b - d->bar);
    if (!b->mapped)
        return;
    for (unsigned i = 0; i < d->nregion; i++)
        if (d->region[i].bar == n)
            io_bus_unregister(&d->bus->vm->mmio, b->mapped + d->region[i].off);
    b->mapped = 0;
}

/* Register every region of B at ADDR. Returns 0 or -errno (nothing left registered). */
static int bar_map(struct pci_dev *d, struct pci_bar *b, uint64_t addr)
{
    struct io_bus *mmio = &d->bus->vm->mmio;
    unsigned n = (unsigned)(b - d->bar);
    for (unsigned i = 0; i < d->nregion; i++) {
        const struct pci_region *r = &d->region[i];
        if (r->bar != n)
            continue;
        int rc = io_bus_register(mmio, addr + r->off, r->len, r->ops, r->opaque, r->name);
        if (rc < 0) {
            while (i--)
                if (d->region[i].bar == n)
                    io_bus_unregister(mmio, addr + d->region[i].off);
            return rc;
        }
    }
    b->mapped = addr;
    return 0;
}

/* Make BAR N's mapping follow the command register and its programmed address. Bus lock held. */
static void bar_update(struct pci_dev *d, unsigned n)
{
    struct pci_bar *b = &d->bar[n];
    struct vm *vm = d->bus->vm;
    bool decode = d->cfg[PCI_COMMAND] & PCI_CMD_MEM;
    uint64_t want = decode && bar_addr_ok(vm, b->addr, b->size) ? b->addr : 0;
    uint64_t old = b->mapped;
    if (want == old)
        return;
    bar_unmap(d, b);
    if (want && bar_map(d, b, want) < 0)
        log_debug("pci %s: BAR%u at %#llx overlaps another device; left unmapped", d->name, n,
                  (unsigned long long)want);
    if (d->ops && d->ops->bar_moved && old != b->mapped)
        d->ops->bar_moved(d->opaque, n, old, b->mapped);
}

/* Refresh the BAR registers of D's config image from bar[].addr. */
static void bar_store(struct pci_dev *d, unsigned n)
{
    const struct pci_bar *b = &d->bar[n];
    uint32_t lo = (uint32_t)(b->addr & ~(b->size - 1)) & ~0xfu;
    lo |= (b->mem64 ? PCI_BAR_MEM64 : 0) | (b->prefetch ? PCI_BAR_PREFETCH : 0);
    put_le32(d->cfg + PCI_BAR0 + 4 * n, lo);
    if (b->mem64)
        put_le32(d->cfg + PCI_BAR0 + 4 * (n + 1), (uint32_t)(b->addr >> 32));
}

/* The guest wrote dword register REG (0..5) of the BAR area with VAL. */
static void bar_write(struct pci_dev *d, unsigned reg, uint32_t val)
{
    unsigned n = reg;
    bool high = false;
    if (!d->bar[reg].size) {
        if (reg == 0 || !d->bar[reg - 1].mem64)
            return; /* unimplemented BAR: reads 0, ignores writes */
        n = reg - 1;
        high = true;
    }
    struct pci_bar *b = &d->bar[n];
    if (high)
        b->addr = (b->addr & 0xffffffffULL) | (uint64_t)val << 32;
    else
        b->addr = (b->addr & ~0xffffffffULL) | (val & ~(uint32_t)(b->size - 1) & ~0xfu);
    bar_store(d, n);
    bar_update(d, n);
}

/* Pick an address for every BAR of D in the 32-bit window, or the 64-bit one when full. */
static int bars_assign(struct pci_bus *bus, struct pci_dev *d)
{
    for (unsigned n = 0; n < PCI_NUM_BARS; n++) {
        struct pci_bar *b = &d->bar[n];
        if (!b->size)
            continue;
        uint64_t a = ALIGN_UP(bus->mmio32_next, b->size);
        if (a + b->size <= LAYOUT_PCI_MMIO32 + LAYOUT_PCI_MMIO32_SIZE) {
            bus->mmio32_next = a + b->size;
        } else {
            a = ALIGN_UP(bus->mmio64_next, b->size);
            if (!b->mem64 || a + b->size > bus->mmio64_base + bus->mmio64_size)
                return -ENOSPC;
            bus->mmio64_next = a + b->size;
        }
        b->addr = a;
        bar_store(d, n);
    }
    return 0;
}

void pci_bars_refresh(struct pci_dev *d)
{
    for (unsigned n = 0; n < PCI_NUM_BARS; n++) {
        struct pci_bar *b = &d->bar[n];
        if (!b->size)
            continue;
        uint64_t lo = get_le32(d->cfg + PCI_BAR0 + 4 * n) & ~0xfu;
        uint64_t hi = b->mem64 ? get_le32(d->cfg + PCI_BAR0 + 4 * (n + 1)) : 0;
        b->addr = hi << 32 | lo;
        bar_update(d, n);
    }
}

/* ---- config space -------------------------------------------------------------------------- */

/* Side effects of a config write that touched [off, off + size). Bus lock held. */
static void cfg_written(struct pci_dev *d, unsigned off, unsigned size, uint16_t old_cmd)
{
    uint16_t cmd = d->cfg[PCI_COMMAND] | d->cfg[PCI_COMMAND + 1] << 8;
    if (off < PCI_COMMAND + 2 && off + size > PCI_COMMAND && cmd != old_cmd) {
        if ((cmd ^ old_cmd) & PCI_CMD_MEM)
            for (unsigned n = 0; n < PCI_NUM_BARS; n++)
                if (d->bar[n].size)
                    bar_update(d, n);
        if ((cmd ^ old_cmd) & PCI_CMD_INTX_OFF) {
            pthread_mutex_lock(&d->irq_lock);
            pci_intx_apply(d);
            pthread_mutex_unlock(&d->irq_lock);
        }
    }
    if (d->msix.nvec && off < d->msix.cap + 4u && off + size > d->msix.cap + 2u)
        pci_msix_ctrl_written(d);
    if (d->msi.cap && off < d->msi.cap + 14u && off + size > d->msi.cap + 2u)
        pci_msi_written(d);
    if (d->ops && d->ops->cfg_written)
        d->ops->cfg_written(d->opaque, off, size);
}

static struct pci_dev *slot_dev(struct pci_bus *bus, unsigned slot, unsigned fn)
{
    if (slot >= PCI_SLOTS || fn >= PCI_FUNCS)
        return NULL;
    return fn ? bus->fn[slot][fn] : bus->dev[slot];
}

uint32_t pci_cfg_read(struct pci_bus *bus, unsigned slot, unsigned off, unsigned size)
{
    return pci_cfg_read_fn(bus, slot, 0, off, size);
}

void pci_cfg_write(struct pci_bus *bus, unsigned slot, unsigned off, unsigned size, uint32_t val)
{
    pci_cfg_write_fn(bus, slot, 0, off, size, val);
}

/* OFF (an aligned access) falls in D's device-computed config window. */
static bool in_window(const struct pci_dev *d, unsigned off)
{
    return d && d->window && off >= d->window && off < d->window + 4u && d->ops &&
           d->ops->window_access;
}

uint32_t pci_cfg_read_fn(struct pci_bus *bus, unsigned slot, unsigned fn, unsigned off,
                         unsigned size)
{
    if ((size != 1 && size != 2 && size != 4) || (off & (size - 1)) || off >= 4096)
        return 0xffffffffu;
    pthread_mutex_lock(&bus->lock);
    struct pci_dev *d = slot_dev(bus, slot, fn);
    uint32_t v = 0xffffffffu;
    if (d) {
        v = 0;
        for (unsigned i = 0; i < size && off + i < PCI_CFG_SIZE; i++)
            v |= (uint32_t)d->cfg[off + i] << (8 * i);
    }
    bool win = in_window(d, off);
    pthread_mutex_unlock(&bus->lock);
    if (win)
        v = d->ops->window_access(d->opaque, off - d->window, size, false, 0);
    if (size < 4)
        v &= (1u << (8 * size)) - 1;
    return v;
}

void pci_cfg_write_fn(struct pci_bus *bus, unsigned slot, unsigned fn, unsigned off, unsigned size,
                      uint32_t val)
{
    if ((size != 1 && size != 2 && size != 4) || (off & (size - 1)) || off >= PCI_CFG_SIZE)
        return;
    bool win = false;
    pthread_mutex_lock(&bus->lock);
    struct pci_dev *d = slot_dev(bus, slot, fn);
    if (!d)
        goto out;
    uint16_t old_cmd = d->cfg[PCI_COMMAND] | d->cfg[PCI_COMMAND + 1] << 8;
    if (off >= PCI_BAR0 && off < PCI_BAR_END) {
        unsigned reg = (off - PCI_BAR0) / 4, shift = 8 * (off & 3);
        uint32_t cur = get_le32(d->cfg + PCI_BAR0 + 4 * reg);
        uint32_t mask = (size == 4 ? 0xffffffffu : ((1u << (8 * size)) - 1)) << shift;
        bar_write(d, reg, (cur & ~mask) | ((val << shift) & mask));
        goto out;
    }
    for (unsigned i = 0; i < size; i++) {
        uint8_t m = d->wmask[off + i], b = (uint8_t)(val >> (8 * i));
        d->cfg[off + i] = (d->cfg[off + i] & ~m) | (b & m);
    }
    cfg_written(d, off, size, old_cmd);
    win = in_window(d, off);
out:
    pthread_mutex_unlock(&bus->lock);
    if (win)
        d->ops->window_access(d->opaque, off - d->window, size, true, val);
}

int pci_dev_add(struct vm *vm, struct pci_dev *d)
{
    struct pci_bus *bus = vm->pci;
    if (!bus)
        return -ENODEV;
    pthread_mutex_lock(&bus->lock);
    int rc = -ENOSPC;
    unsigned slot = 1;
    while (slot < PCI_SLOTS && bus->dev[slot])
        slot++;
    if (slot == PCI_SLOTS)
        goto out;
    uint64_t save32 = bus->mmio32_next, save64 = bus->mmio64_next;
    rc = bars_assign(bus, d);
    if (rc < 0)
        goto undo;
    d->bus = bus;
    d->slot = (int)slot;
    d->cfg[PCI_INT_LINE] = d->cfg[PCI_INT_PIN] ? (uint8_t)PCI_INTX_GSI(slot, 0) : 0;
    d->cfg[PCI_COMMAND] |= PCI_CMD_MEM; /* decoding on, as firmware leaves it */
    for (unsigned n = 0; n < PCI_NUM_BARS; n++) {
        if (!d->bar[n].size)
            continue;
        rc = bar_map(d, &d->bar[n], d->bar[n].addr);
        if (rc < 0) {
            while (n--)
                bar_unmap(d, &d->bar[n]);
            d->bus = NULL;
            d->slot = -1;
            goto undo;
        }
    }
    bus->dev[slot] = d;
    rc = 0;
    goto out;
undo:
    bus->mmio32_next = save32;
    bus->mmio64_next = save64;
out:
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

int pci_dev_add_at(struct vm *vm, struct pci_dev *d, unsigned slot, unsigned fn)
{
    struct pci_bus *bus = vm->pci;
    if (!bus)
        return -ENODEV;
    if (slot == 0 || slot >= PCI_SLOTS || fn >= PCI_FUNCS)
        return -EINVAL;
    for (unsigned n = 0; n < PCI_NUM_BARS; n++)
        if (d->bar[n].size)
            return -EINVAL;
    pthread_mutex_lock(&bus->lock);
    int rc = -EEXIST;
    struct pci_dev **at = fn ? &bus->fn[slot][fn] : &bus->dev[slot];
    if (!*at) {
        d->bus = bus;
        d->slot = (int)slot;
        d->fn = fn;
        *at = d;
        rc = 0;
    }
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

void pci_dev_remove(struct pci_dev *d)
{
    struct pci_bus *bus = d->bus;
    if (!bus)
        return;
    pthread_mutex_lock(&bus->lock);
    for (unsigned n = 0; n < PCI_NUM_BARS; n++)
        bar_unmap(d, &d->bar[n]);
    if (d->slot > 0 && d->fn && bus->fn[d->slot][d->fn] == d)
        bus->fn[d->slot][d->fn] = NULL;
    else if (d->slot > 0 && bus->dev[d->slot] == d)
        bus->dev[d->slot] = NULL;
    d->slot = -1;
    d->bus = NULL;
    pthread_mutex_unlock(&bus->lock);
}
