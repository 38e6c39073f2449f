/* pci_irq.c — interrupts of PCI functions: the MSI-X capability, table and PBA, and INTx lines. */
#include <errno.h>
#include <string.h>

#include "bus/pci.h"
#include "vm/vm.h"

#define PCI_CAP_ID_MSIX   0x11
#define MSIX_CTRL_ENABLE  0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 0x1

/* Send vector VEC's message. irq_lock held. */
static int msix_send(struct pci_dev *d, unsigned vec)
{
    const struct pci_msix_entry *e = &d->msix.table[vec];
    uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
    return d->bus->irq.msi(d->bus->vm, addr, e->data);
}

/* Deliver every pending vector that is no longer masked. irq_lock held. */
static void msix_flush_pending(struct pci_dev *d)
{
    struct pci_msix *m = &d->msix;
    if (!m->enabled || m->masked || !m->pba)
        return;
    for (unsigned v = 0; v < m->nvec; v++) {
        if ((m->pba >> v & 1) && !(m->table[v].ctrl & MSIX_ENTRY_MASKED)) {
            m->pba &= ~(1ULL << v);
            msix_send(d, v);
        }
    }
}

/* Re-evaluate the INTx line: the device's level unless INTx Disable is set. irq_lock held. */
static void intx_drive(struct pci_dev *d, bool level)
{
    bool off = d->cfg[0x05] & 0x04; /* command bit 10 */
    bool out = level && !off;
    /* status bit 3 (Interrupt Status) mirrors the device's level */
    if (level)
        d->cfg[0x06] |= 0x08;
    else
        d->cfg[0x06] &= (uint8_t)~0x08;
    if (d->bus && d->slot >= 0)
        d->bus->irq.line(d->bus->vm, PCI_INTX_GSI((unsigned)d->slot, 0), out);
}

void pci_intx_apply(struct pci_dev *d)
{
    intx_drive(d, d->intx_level);
}

void pci_intx_set(struct pci_dev *d, bool level)
{
    pthread_mutex_lock(&d->irq_lock);
    if (d->intx_level != level) {
        d->intx_level = level;
        intx_drive(d, level);
    }
    pthread_mutex_unlock(&d->irq_lock);
}

/* ---- MSI-X --------------------------------------------------------------------------------- */

static void table_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct pci_dev *d = opaque;
    if ((size != 4 && size != 8) || (off & (size - 1)) || off / 16 >= d->msix.nvec)
        return; /* data stays all-ones */
    pthread_mutex_lock(&d->irq_lock);
    memcpy(data, (uint8_t *)d->msix.table + off, size);
    pthread_mutex_unlock(&d->irq_lock);
}

static void table_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct pci_dev *d = opaque;
    if ((size != 4 && size != 8) || (off & (size - 1)) || off / 16 >= d->msix.nvec)
        return;
    pthread_mutex_lock(&d->irq_lock);
    memcpy((uint8_t *)d->msix.table + off, data, size);
    d->msix.table[off / 16].ctrl &= MSIX_ENTRY_MASKED; /* other bits reserved */
    msix_flush_pending(d);
    pthread_mutex_unlock(&d->irq_lock);
    if (d->ops && d->ops->msix_changed)
        d->ops->msix_changed(d->opaque);
}

static void pba_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct pci_dev *d = opaque;
    if ((size != 4 && size != 8) || (off & (size - 1)) || off >= 8)
        return;
    pthread_mutex_lock(&d->irq_lock);
    uint64_t v = d->msix.pba >> (8 * off);
    pthread_mutex_unlock(&d->irq_lock);
    memcpy(data, &v, size);
}

static const struct io_ops table_ops = {.read = table_read, .write = table_write};
static const struct io_ops pba_ops = {.read = pba_read};

int pci_msix_init(struct pci_dev *d, unsigned nvec, unsigned n, uint64_t table_off,
                  uint64_t pba_off, struct pci_msix_entry *table)
{
    if (!nvec || nvec > PCI_MSIX_MAX_VEC || (table_off & 7) || (pba_off & 7) || d->msix.nvec ||
        !table)
        return -EINVAL;
    int rc = pci_bar_add_region(d, n, table_off, 16ULL * nvec, &table_ops, d, "msix-table");
    if (rc < 0)
        return rc;
    rc = pci_bar_add_region(d, n, pba_off, 8, &pba_ops, d, "msix-pba");
    if (rc < 0)
        return rc; /* the table region stays declared: the function is unusable anyway */
    uint8_t cap[12] = {PCI_CAP_ID_MSIX, 0};
    uint16_t ctrl = (uint16_t)(nvec - 1);
    uint32_t t = (uint32_t)table_off | n, p = (uint32_t)pba_off | n;
    memcpy(cap + 2, &ctrl, 2);
    memcpy(cap + 4, &t, 4);
    memcpy(cap + 8, &p, 4);
    int at = pci_add_cap(d, cap, sizeof(cap));
    if (at < 0)
        return at;
    d->msix.table = table;
    d->msix.nvec = nvec;
    d->msix.cap = (uint8_t)at;
    d->msix.bar = n;
    d->msix.table_off = table_off;
    d->msix.pba_off = pba_off;
    for (unsigned v = 0; v < nvec; v++)
        d->msix.table[v].ctrl = MSIX_ENTRY_MASKED;
    d->wmask[at + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
    return 0;
}

void pci_msix_ctrl_written(struct pci_dev *d)
{
    uint8_t hi = d->cfg[d->msix.cap + 3];
    pthread_mutex_lock(&d->irq_lock);
    bool en = hi & (MSIX_CTRL_ENABLE >> 8), mask = hi & (MSIX_CTRL_MASKALL >> 8);
    bool changed = en != d->msix.enabled || mask != d->msix.masked;
    d->msix.enabled = en;
    d->msix.masked = mask;
    msix_flush_pending(d);
    pthread_mutex_unlock(&d->irq_lock);
    if (changed && d->ops && d->ops->msix_changed)
        d->ops->msix_changed(d->opaque);
}

bool pci_msix_message(struct pci_dev *d, unsigned vec, uint64_t *addr, uint32_t *data)
{
    pthread_mutex_lock(&d->irq_lock);
    const struct pci_msix *m = &d->msix;
    bool ok = vec < m->nvec && m->enabled && !m->masked &&
              !(m->table[vec].ctrl & MSIX_ENTRY_MASKED) && !(m->pba >> vec & 1);
    if (ok) {
        *addr = (uint64_t)m->table[vec].addr_hi << 32 | m->table[vec].addr_lo;
        *data = m->table[vec].data;
    }
    pthread_mutex_unlock(&d->irq_lock);
    return ok;
}

bool pci_msix_enabled(struct pci_dev *d)
{
    pthread_mutex_lock(&d->irq_lock);
    bool en = d->msix.nvec && d->msix.enabled;
    pthread_mutex_unlock(&d->irq_lock);
    return en;
}

int pci_msix_notify(struct pci_dev *d, unsigned vec)
{
    int rc = 0;
    pthread_mutex_lock(&d->irq_lock);
    if (vec >= d->msix.nvec || !d->msix.enabled) {
        rc = -EINVAL;
    } else if (d->msix.masked || (d->msix.table[vec].ctrl & MSIX_ENTRY_MASKED)) {
        d->msix.pba |= 1ULL << vec;
    } else {
        rc = msix_send(d, vec);
    }
    pthread_mutex_unlock(&d->irq_lock);
    return rc;
}
