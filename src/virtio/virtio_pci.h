/* virtio_pci.h — internals shared by the virtio-pci transport files (pci.c, pci_common.c). */
#ifndef TRUCE_VIRTIO_PCI_H
#define TRUCE_VIRTIO_PCI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/pci.h"
#include "virtio/virtio.h"

#define VPCI_VENDOR        0x1af4
#define VPCI_SUBSYS_MODERN 0x1100 /* subsystem id of every device (QEMU's) */
/* One 64-bit memory BAR holds every structure, each in its own 4 KiB page. */
#define VPCI_BAR            0
#define VPCI_BAR_SIZE       0x8000
#define VPCI_COMMON_OFF     0x0000
#define VPCI_COMMON_LEN     0x38 /* struct virtio_pci_common_cfg (no queue_notify_data/reset) */
#define VPCI_ISR_OFF        0x1000
#define VPCI_DEVCFG_OFF     0x2000
#define VPCI_NOTIFY_OFF     0x3000
#define VPCI_NOTIFY_MULT    4 /* queue N notifies at VPCI_NOTIFY_OFF + 4 * N */
#define VPCI_MSIX_TABLE_OFF 0x4000
#define VPCI_MSIX_PBA_OFF   0x5000
#define VPCI_ISR_QUEUE      0x1
#define VPCI_ISR_CONFIG     0x2

_Static_assert((VIRTIO_MAX_QUEUES + 1) * 16 <= VPCI_MSIX_PBA_OFF - VPCI_MSIX_TABLE_OFF,
               "MSI-X table fits its page");
_Static_assert(VIRTIO_MAX_QUEUES *VPCI_NOTIFY_MULT <= 0x1000, "notify area fits its page");

/* Transport state of one device (the PCI function is in here; the virtio state in vdev). */
struct virtio_pci {
    struct pci_dev pci;
    struct virtio_dev *vdev;
    bool ioeventfd[VIRTIO_MAX_QUEUES]; /* KVM ioeventfd assigned for the queue */
    bool ioeventfd_warned;
    _Atomic uint64_t slow_kicks;  /* notifications that came through a vCPU exit (no ioeventfd) */
    struct pci_msix_entry msix[]; /* the MSI-X table: vdev->nqueues + 1 vectors */
};

/* Common configuration structure accesses (pci_common.c); vCPU threads. */
void vpci_common_read(void *opaque, uint64_t off, uint8_t *data, unsigned size);
void vpci_common_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size);

#endif
