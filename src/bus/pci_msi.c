/* pci_msi.c — the plain MSI capability (one vector, 64-bit address) for PCI functions. */
#include <errno.h>
#include <string.h>

#include "bus/pci.h"
#include "util/util.h"
#include "vm/vm.h"

#define PCI_CAP_ID_MSI  0x05
#define MSI_CTRL_ENABLE 0x0001
#define MSI_CTRL_64BIT  0x0080
#define MSI_OFF_CTRL    2
#define MSI_OFF_ADDR_LO 4
#define MSI_OFF_ADDR_HI 8
#define MSI_OFF_DATA    12
#define MSI_CAP_LEN     14

int pci_msi_init(struct pci_dev *d)
{
    if (d->msi.cap)
        return -EINVAL;
    uint8_t cap[MSI_CAP_LEN] = {PCI_CAP_ID_MSI, 0};
    put_le16(cap + MSI_OFF_CTRL, MSI_CTRL_64BIT); /* one vector requested, 64-bit capable */
    int at = pci_add_cap(d, cap, sizeof(cap));
    if (at < 0)
        return at;
    d->msi.cap = (uint8_t)at;
    d->wmask[at + MSI_OFF_CTRL] = MSI_CTRL_ENABLE; /* Multiple Message Enable stays 0: 1 vector */
    memset(d->wmask + at + MSI_OFF_ADDR_LO, 0xff, 8);
    d->wmask[at + MSI_OFF_ADDR_LO] = 0xfc; /* dword aligned */
    memset(d->wmask + at + MSI_OFF_DATA, 0xff, 2);
    return 0;
}

void pci_msi_written(struct pci_dev *d)
{
    const uint8_t *c = d->cfg + d->msi.cap;
    pthread_mutex_lock(&d->irq_lock);
    d->msi.enabled = get_le16(c + MSI_OFF_CTRL) & MSI_CTRL_ENABLE;
    d->msi.addr = (uint64_t)get_le32(c + MSI_OFF_ADDR_HI) << 32 | get_le32(c + MSI_OFF_ADDR_LO);
    d->msi.data = get_le16(c + MSI_OFF_DATA);
    pthread_mutex_unlock(&d->irq_lock);
}

bool pci_msi_enabled(struct pci_dev *d)
{
    pthread_mutex_lock(&d->irq_lock);
    bool en = d->msi.cap && d->msi.enabled;
    pthread_mutex_unlock(&d->irq_lock);
    return en;
}

int pci_msi_notify(struct pci_dev *d)
{
    int rc = -EINVAL;
    pthread_mutex_lock(&d->irq_lock);
    if (d->msi.cap && d->msi.enabled && d->bus)
        rc = d->bus->irq.msi(d->bus->vm, d->msi.addr, d->msi.data);
    pthread_mutex_unlock(&d->irq_lock);
    return rc;
}
