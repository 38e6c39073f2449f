/* pci_state.c — save and restore the guest-visible state of a PCI function. */
#include <errno.h>
#include <string.h>

#include "bus/pci.h"
#include "util/state.h"
#include "util/util.h"

#define PCI_STATE_VERSION 1
#define CFG_STATUS_INTX   0x08 /* status byte 0x06 bit 3: follows the INTx level */
#define CFG_BAR0          0x10
#define CFG_BAR_END       0x28

/* True when config byte I may differ from the fresh function L: guest-writable bits, the BAR
 * registers (checked apart) and the INTx status bit. */
static bool cfg_byte_ok(const struct pci_dev *l, unsigned i, uint8_t val)
{
    uint8_t may = l->wmask[i];
    if (i >= CFG_BAR0 && i < CFG_BAR_END)
        return true;
    if (i == 0x06)
        may |= CFG_STATUS_INTX;
    return ((val ^ l->cfg[i]) & ~may) == 0;
}

/* BAR register N holds an address the BAR can take: its flag bits and size alignment. */
static bool bar_ok(const struct pci_dev *l, const uint8_t *cfg, unsigned n)
{
    const struct pci_bar *b = &l->bar[n];
    uint32_t lo = get_le32(cfg + CFG_BAR0 + 4 * n);
    if (!b->size) /* unused, or the high half of a 64-bit BAR */
        return lo == 0 || (n > 0 && l->bar[n - 1].mem64);
    uint32_t flags = (b->mem64 ? 0x4 : 0) | (b->prefetch ? 0x8 : 0);
    return (lo & 0xf) == flags && ((lo & ~0xfu) & (uint32_t)(b->size - 1)) == 0;
}

/* One description for both directions; L is the function being saved or restored into, whose
 * layout the loaded values are checked against. */
static void pci_dev_state_visit(struct state_visitor *v, struct pci_dev_state *s,
                                const struct pci_dev *l)
{
    if (!state_begin(v, "pci-fn", PCI_STATE_VERSION))
        return;
    STATE_BYTES(v, s->cfg);
    for (unsigned i = 0; i < PCI_CFG_SIZE && !state_error(v); i++)
        if (v->loading && !cfg_byte_ok(l, i, s->cfg[i]))
            state_fail(v, -EINVAL, "config byte 0x%02x: read-only bits changed", i);
    for (unsigned n = 0; n < PCI_NUM_BARS && !state_error(v); n++)
        if (v->loading && !bar_ok(l, s->cfg, n))
            state_fail(v, -EINVAL, "BAR%u: flags or alignment do not fit the BAR", n);
    for (unsigned i = 0; i < l->msix.nvec; i++) {
        STATE_U32(v, s->table[i].addr_lo);
        STATE_U32(v, s->table[i].addr_hi);
        STATE_U32(v, s->table[i].data);
        STATE_U32(v, s->table[i].ctrl);
        STATE_CHECK(v, s->table[i].ctrl <= 1);
    }
    STATE_U64(v, s->pba);
    STATE_CHECK(v, l->msix.nvec == 64 || s->pba >> l->msix.nvec == 0);
    STATE_BOOL(v, s->intx_level);
    state_end(v);
}

int pci_dev_save(struct pci_dev *d, struct state_visitor *v)
{
    struct pci_dev_state s = {0};
    if (d->bus)
        pthread_mutex_lock(&d->bus->lock);
    pthread_mutex_lock(&d->irq_lock);
    memcpy(s.cfg, d->cfg, sizeof(s.cfg));
    if (d->msix.nvec) /* the rest of s.table stays zero, as the vectors it does not have */
        memcpy(s.table, d->msix.table, d->msix.nvec * sizeof(s.table[0]));
    s.pba = d->msix.pba;
    s.intx_level = d->intx_level;
    pthread_mutex_unlock(&d->irq_lock);
    if (d->bus)
        pthread_mutex_unlock(&d->bus->lock);
    pci_dev_state_visit(v, &s, d);
    return state_error(v);
}

void pci_dev_state_load(struct pci_dev *d, struct state_visitor *v, struct pci_dev_state *s)
{
    memset(s, 0, sizeof(*s));
    pci_dev_state_visit(v, s, d);
    if (!state_error(v) && !d->bus)
        state_fail(v, -ENODEV, "pci %s: not on a bus", d->name);
}

void pci_dev_state_set(struct pci_dev *d, const struct pci_dev_state *s)
{
    pthread_mutex_lock(&d->bus->lock);
    pthread_mutex_lock(&d->irq_lock);
    memcpy(d->cfg, s->cfg, sizeof(d->cfg));
    if (d->msix.nvec) /* only the function's vectors are saved and loaded */
        memcpy(d->msix.table, s->table, d->msix.nvec * sizeof(s->table[0]));
    d->msix.pba = s->pba;
    d->intx_level = s->intx_level;
    pci_intx_apply(d);
    pthread_mutex_unlock(&d->irq_lock);
    pci_bars_refresh(d);
    if (d->msix.nvec)
        pci_msix_ctrl_written(d); /* enable/mask from the control word; sends what is due */
    if (d->msi.cap)
        pci_msi_written(d);
    pthread_mutex_unlock(&d->bus->lock);
}

int pci_dev_restore(struct pci_dev *d, struct state_visitor *v)
{
    struct pci_dev_state s;
    pci_dev_state_load(d, v, &s);
    if (!state_error(v))
        pci_dev_state_set(d, &s);
    return state_error(v);
}
