/* pci.c — the virtio 1.2 modern PCI transport: capabilities, BAR registers, ioeventfd, MSI-X/INTx.
 */
#include <errno.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bus/pci.h"
#include "dev/dev.h"
#include "util/state.h"
#include "virtio/virtio_mmio.h"
#include "virtio/virtio_pci.h"
#include "vm/vm.h"

static const struct io_ops common_ops = {.read = vpci_common_read, .write = vpci_common_write};

/* ---- ISR, device config, notify ------------------------------------------------------------ */

/* ISR status: read-to-clear; reading also lowers INTx. */
static void isr_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    memset(data, 0, size);
    if (off != 0)
        return;
    virtio_lock(vp->vdev);
    data[0] = vp->vdev->isr;
    vp->vdev->isr = 0;
    pci_intx_set(&vp->pci, false);
    virtio_unlock(vp->vdev);
}

static void devcfg_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    struct virtio_dev *vdev = vp->vdev;
    if (off + size > vdev->config_size || !vdev->ops->config_read)
        return; /* all-ones */
    virtio_lock(vdev);
    vdev->ops->config_read(vdev->opaque, (uint32_t)off, data, size);
    virtio_unlock(vdev);
}

static void devcfg_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    struct virtio_dev *vdev = vp->vdev;
    if (off + size > vdev->config_size || !vdev->ops->config_write)
        return;
    virtio_lock(vdev);
    vdev->ops->config_write(vdev->opaque, (uint32_t)off, data, size);
    virtio_unlock(vdev);
}

/* A notify write that KVM did not turn into an ioeventfd signal (no KVM, or another width):
 * signal the same eventfd, so the I/O thread does the work either way. */
static void notify_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_pci *vp = opaque;
    unsigned qi = (unsigned)(off / VPCI_NOTIFY_MULT);
    if (qi >= vp->vdev->nqueues || vp->vdev->vq[qi].kick_fd < 0)
        return;
    vp->slow_kicks++;
    eventfd_write(vp->vdev->vq[qi].kick_fd, 1);
}

static void notify_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    memset(data, 0, size);
}

static const struct io_ops isr_ops = {.read = isr_read};
static const struct io_ops devcfg_ops = {.read = devcfg_read, .write = devcfg_write};
static const struct io_ops notify_ops = {.read = notify_read, .write = notify_write};

/* ---- interrupts ---------------------------------------------------------------------------- */

/* tops->interrupt: MSI-X vector of Q (or the config vector), or ISR + INTx. Device lock held.
 * MSIs go out with KVM_SIGNAL_MSI (irq_msi): one ioctl from the I/O thread per interrupt. An
 * irqfd would cost the same one syscall (an eventfd write) from the same thread, and needs a
 * GSI route per vector kept in step with the guest's MSI-X table in the VM-wide routing table;
 * it only pays off when the kernel signals the eventfd itself (vhost), so it waits for that. */
static void vpci_interrupt(struct virtio_dev *vdev, struct virtq *q)
{
    struct virtio_pci *vp = vdev->transport;
    if (pci_msix_enabled(&vp->pci)) {
        uint16_t vec = q ? q->msix_vector : vdev->msix_config;
        if (vec != VIRTIO_MSI_NO_VECTOR)
            pci_msix_notify(&vp->pci, vec);
        return;
    }
    vdev->isr |= q ? VPCI_ISR_QUEUE : VPCI_ISR_CONFIG;
    pci_intx_set(&vp->pci, true);
}

static void vpci_transport_reset(struct virtio_dev *vdev)
{
    struct virtio_pci *vp = vdev->transport;
    pci_intx_set(&vp->pci, false);
}

static bool vpci_msi_message(struct virtio_dev *vdev, struct virtq *q, uint64_t *addr,
                             uint32_t *data)
{
    struct virtio_pci *vp = vdev->transport;
    return q->msix_vector != VIRTIO_MSI_NO_VECTOR &&
           pci_msix_message(&vp->pci, q->msix_vector, addr, data);
}

static const struct virtio_transport_ops vpci_tops = {
    .interrupt = vpci_interrupt,
    .reset = vpci_transport_reset,
    .msi_message = vpci_msi_message,
};

/* pci_dev_ops.msix_changed: tell a device whose queues a kernel backend serves (vhost: its kicks
 * are external, set at creation) that its interrupts moved; any other device is left alone. */
static void vpci_msix_changed(void *opaque)
{
    struct virtio_pci *vp = opaque;
    if (!vp->vdev->ops->irq_changed || !vp->vdev->kicks_external)
        return;
    virtio_lock(vp->vdev);
    vp->vdev->ops->irq_changed(vp->vdev->opaque);
    virtio_unlock(vp->vdev);
}

/* ---- notifications: eventfd per queue, KVM ioeventfd at its notify address ------------------ */

/* Assign (or deassign) queue QI's ioeventfd at notify base BASE. Returns 0 or -errno. */
static int ioeventfd_set(struct virtio_pci *vp, unsigned qi, uint64_t base, bool assign)
{
    struct vm *vm = vp->vdev->vm;
    if (vm->fd < 0)
        return -EBADF;
    struct kvm_ioeventfd io = {
        .addr = base + (uint64_t)qi * VPCI_NOTIFY_MULT,
        .len = 0, /* any width, data ignored: the address names the queue */
        .fd = vp->vdev->vq[qi].kick_fd,
        .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
    };
    return ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* Move every queue's ioeventfd from OLD_BASE to NEW_BASE (0: none). */
static void ioeventfds_move(struct virtio_pci *vp, uint64_t old_base, uint64_t new_base)
{
    for (unsigned i = 0; i < vp->vdev->nqueues; i++) {
        if (old_base && vp->ioeventfd[i])
            ioeventfd_set(vp, i, old_base, false);
        int rc = new_base ? ioeventfd_set(vp, i, new_base, true) : -ENOENT;
        vp->ioeventfd[i] = rc == 0;
        if (new_base && rc < 0 && rc != -EBADF && !vp->ioeventfd_warned) {
            log_warn("%s: KVM_IOEVENTFD failed (%s): queue notifications exit to the vCPU thread",
                     vp->vdev->name, strerror(-rc));
            vp->ioeventfd_warned = true;
        }
    }
}

static void vpci_bar_moved(void *opaque, unsigned bar, uint64_t old_gpa, uint64_t new_gpa)
{
    struct virtio_pci *vp = opaque;
    if (bar != VPCI_BAR)
        return;
    ioeventfds_move(vp, old_gpa ? old_gpa + VPCI_NOTIFY_OFF : 0,
                    new_gpa ? new_gpa + VPCI_NOTIFY_OFF : 0);
}

/* VIRTIO_PCI_CAP_PCI_CFG: the driver puts a BAR, an offset and a length (1, 2 or 4) in the
 * capability, then reads or writes pci_cfg_data to access that part of the BAR through config
 * space (firmware drivers such as iPXE require the capability). Anything else reads as zero and
 * writes nothing. */
static uint32_t vpci_cfg_window(void *opaque, unsigned off, unsigned size, bool write, uint32_t val)
{
    struct virtio_pci *vp = opaque;
    const uint8_t *cap =
        vp->pci.cfg + vp->pci.window - offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
    uint32_t boff = get_le32(cap + offsetof(struct virtio_pci_cap, offset));
    uint32_t len = get_le32(cap + offsetof(struct virtio_pci_cap, length));
    uint8_t data[4] = {0};
    (void)val;
    if (cap[offsetof(struct virtio_pci_cap, bar)] != VPCI_BAR ||
        (len != 1 && len != 2 && len != 4) || boff % len || boff + len > VPCI_BAR_SIZE)
        return 0;
    for (unsigned i = 0; i < vp->pci.nregion; i++) {
        const struct pci_region *r = &vp->pci.region[i];
        if (r->bar != VPCI_BAR || boff < r->off || boff + len > r->off + r->len)
            continue;
        if (write) {
            memcpy(data, vp->pci.cfg + vp->pci.window, 4);
            r->ops->write(r->opaque, boff - r->off, data, len);
            return 0;
        }
        r->ops->read(r->opaque, boff - r->off, data, len);
        break;
    }
    return get_le32(data) >> (8 * off) & (size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1);
}

static const struct pci_dev_ops vpci_pci_ops = {.bar_moved = vpci_bar_moved,
                                                .msix_changed = vpci_msix_changed,
                                                .window_access = vpci_cfg_window};

/* ---- PCI function layout ------------------------------------------------------------------- */

/* Append one virtio vendor capability describing [off, off + len) of the BAR. */
static int add_vcap(struct pci_dev *d, uint8_t type, uint32_t off, uint32_t len, bool notify)
{
    struct virtio_pci_notify_cap c = {
        .cap = {.cap_vndr = 0x09, /* PCI_CAP_ID_VNDR */
                .cap_len =
                    notify ? sizeof(struct virtio_pci_notify_cap) : sizeof(struct virtio_pci_cap),
                .cfg_type = type,
                .bar = VPCI_BAR,
                .offset = off,
                .length = len},
        .notify_off_multiplier = VPCI_NOTIFY_MULT,
    };
    int rc = pci_add_cap(d, &c, c.cap.cap_len);
    return rc < 0 ? rc : 0;
}

/* The PCI configuration access capability (vpci_cfg_window): bar, offset, length and the data
 * window are the guest's to write. */
static int add_cfg_cap(struct pci_dev *d)
{
    struct virtio_pci_cfg_cap c = {
        .cap = {.cap_vndr = 0x09, .cap_len = sizeof(c), .cfg_type = VIRTIO_PCI_CAP_PCI_CFG}};
    int at = pci_add_cap(d, &c, sizeof(c));
    if (at < 0)
        return at;
    d->wmask[at + offsetof(struct virtio_pci_cap, bar)] = 0xff;
    memset(d->wmask + at + offsetof(struct virtio_pci_cap, offset), 0xff, 8); /* offset, length */
    memset(d->wmask + at + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), 0xff, 4);
    d->window = (uint8_t)(at + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data));
    return 0;
}

/* Describe VP's PCI function: IDs, the BAR and its regions, capabilities, MSI-X. */
static int vpci_layout(struct virtio_pci *vp)
{
    struct virtio_dev *vdev = vp->vdev;
    struct pci_dev *d = &vp->pci;
    /* subsystem 1af4:1100 as QEMU's modern-only devices: a non-transitional device's subsystem id
     * must be 0x40 or more (virtio 1.2 4.1.2.1), else OVMF's Virtio10Dxe will not bind it */
    pci_dev_init(d, vdev->name, VPCI_VENDOR, (uint16_t)(0x1040 + vdev->device_id), vdev->pci_class,
                 1, VPCI_VENDOR, VPCI_SUBSYS_MODERN, &vpci_pci_ops, vp);
    int rc = pci_bar_init(d, VPCI_BAR, VPCI_BAR_SIZE, true, false);
    if (!rc)
        rc = pci_bar_add_region(d, VPCI_BAR, VPCI_COMMON_OFF, 0x1000, &common_ops, vp, vdev->name);
    if (!rc)
        rc = pci_bar_add_region(d, VPCI_BAR, VPCI_ISR_OFF, 0x1000, &isr_ops, vp, vdev->name);
    if (!rc && vdev->config_size)
        rc = pci_bar_add_region(d, VPCI_BAR, VPCI_DEVCFG_OFF, 0x1000, &devcfg_ops, vp, vdev->name);
    if (!rc)
        rc = pci_bar_add_region(d, VPCI_BAR, VPCI_NOTIFY_OFF, 0x1000, &notify_ops, vp, vdev->name);
    if (!rc)
        rc = add_vcap(d, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON_OFF, VPCI_COMMON_LEN, false);
    if (!rc)
        rc = add_vcap(d, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR_OFF, 1, false);
    if (!rc)
        rc = add_vcap(d, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY_OFF,
                      vdev->nqueues * VPCI_NOTIFY_MULT, true);
    if (!rc && vdev->config_size)
        rc = add_vcap(d, VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVCFG_OFF, vdev->config_size, false);
    if (!rc)
        rc = add_cfg_cap(d);
    if (!rc)
        rc = pci_msix_init(d, vdev->nqueues + 1, VPCI_BAR, VPCI_MSIX_TABLE_OFF, VPCI_MSIX_PBA_OFF,
                           vp->msix);
    return rc;
}

/* ---- device instance (reset/stop/destroy) --------------------------------------------------- */

static void vpci_inst_reset(void *opaque)
{
    struct virtio_pci *vp = opaque;
    virtio_lock(vp->vdev);
    virtio_reset(vp->vdev);
    virtio_unlock(vp->vdev);
}

static void vpci_inst_stop(void *opaque)
{
    struct virtio_pci *vp = opaque;
    struct virtio_dev *vdev = vp->vdev;
    virtio_kicks_unwatch(vdev);
    virtio_unwatch_all(vdev);
    if (vdev->ops->stop)
        vdev->ops->stop(vdev->opaque);
}

static void vpci_inst_destroy(void *opaque)
{
    struct virtio_pci *vp = opaque;
    struct virtio_dev *vdev = vp->vdev;
    vpci_inst_stop(vp); /* idempotent: covers a VM that never ran devices_stop */
    if (vp->slow_kicks)
        log_info("%s: %llu queue notifications came through vCPU exits", vdev->name,
                 (unsigned long long)vp->slow_kicks);
    ioeventfds_move(
        vp, vp->pci.bar[VPCI_BAR].mapped ? vp->pci.bar[VPCI_BAR].mapped + VPCI_NOTIFY_OFF : 0, 0);
    pci_dev_remove(&vp->pci);
    virtio_kicks_close(vp->vdev);
    pthread_mutex_destroy(&vp->pci.irq_lock);
    virtio_dev_fini(vdev);
    if (vdev->ops->destroy)
        vdev->ops->destroy(vdev->opaque);
    free(vp);
}

/* Pause: kicks stop being read (a notification stays pending in its eventfd), the device
 * finishes in-flight work, backend watches come off the loop. */
static void vpci_inst_pause(void *opaque)
{
    struct virtio_pci *vp = opaque;
    virtio_dev_pause(vp->vdev);
}

/* Resume: watches and kicks back on the loop, then every enabled queue of a live device is
 * kicked once, so work that arrived while paused (or was restored) is looked at. */
static void vpci_inst_resume(void *opaque)
{
    struct virtio_pci *vp = opaque;
    virtio_dev_resume(vp->vdev);
}

/* The PCI function (config space, MSI-X), then the virtio state. */
static int vpci_inst_save(void *opaque, struct state_visitor *v)
{
    struct virtio_pci *vp = opaque;
    struct virtio_state s;
    if (pci_dev_save(&vp->pci, v))
        return state_error(v);
    virtio_lock(vp->vdev);
    virtio_state_get(vp->vdev, &s);
    virtio_state_visit(v, &s, vp->vdev, vp->pci.msix.nvec);
    virtio_unlock(vp->vdev);
    return state_error(v);
}

/* Both sections are read and checked before either is applied. */
static int vpci_inst_restore(void *opaque, struct state_visitor *v)
{
    struct virtio_pci *vp = opaque;
    struct pci_dev_state ps;
    struct virtio_state s = {0};
    pci_dev_state_load(&vp->pci, v, &ps);
    virtio_lock(vp->vdev);
    virtio_state_visit(v, &s, vp->vdev, vp->pci.msix.nvec);
    virtio_unlock(vp->vdev);
    if (state_error(v))
        return state_error(v);
    pci_dev_state_set(&vp->pci, &ps); /* BAR moves carry the ioeventfds along */
    virtio_lock(vp->vdev);
    virtio_state_set(vp->vdev, &s);
    virtio_unlock(vp->vdev);
    return 0;
}

static const struct device_ops vpci_inst_ops = {
    .name = "virtio-pci",
    .reset = vpci_inst_reset,
    .pause = vpci_inst_pause,
    .resume = vpci_inst_resume,
    .save = vpci_inst_save,
    .restore = vpci_inst_restore,
    .stop = vpci_inst_stop,
    .destroy = vpci_inst_destroy,
};

int virtio_pci_add(struct vm *vm, struct virtio_dev *vdev, char *err, size_t errlen)
{
    if (!vm->pci || !vm->loop) {
        snprintf(err, errlen, "%s: no PCI bus or I/O thread", vdev->name);
        return -ENODEV;
    }
    struct virtio_pci *vp = calloc(1, sizeof(*vp) + (vdev->nqueues + 1) * sizeof(vp->msix[0]));
    if (!vp) {
        snprintf(err, errlen, "%s: out of memory", vdev->name);
        return -ENOMEM;
    }
    vp->vdev = vdev;
    vdev->vm = vm;
    vdev->tops = &vpci_tops;
    vdev->transport = vp;
    int rc = vpci_layout(vp);
    if (rc < 0) {
        snprintf(err, errlen, "%s: PCI layout: %s", vdev->name, strerror(-rc));
        goto fail;
    }
    rc = virtio_kicks_open(vdev);
    if (rc < 0) {
        snprintf(err, errlen, "%s: queue eventfds: %s", vdev->name, strerror(-rc));
        goto fail;
    }
    rc = pci_dev_add(vm, &vp->pci);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot place on the PCI bus: %s", vdev->name,
                 rc == -ENOSPC ? "no free slot or BAR space" : strerror(-rc));
        goto fail;
    }
    ioeventfds_move(vp, 0, vp->pci.bar[VPCI_BAR].mapped + VPCI_NOTIFY_OFF);
    rc = device_add(vm, &vpci_inst_ops, vp);
    if (rc < 0) {
        snprintf(err, errlen, "%s: out of memory", vdev->name);
        ioeventfds_move(vp, vp->pci.bar[VPCI_BAR].mapped + VPCI_NOTIFY_OFF, 0);
        pci_dev_remove(&vp->pci);
        goto fail;
    }
    log_debug("%s: PCI 00:%02x.0, BAR at %#llx", vdev->name, vp->pci.slot,
              (unsigned long long)vp->pci.bar[VPCI_BAR].addr);
    return 0;
fail:
    virtio_kicks_close(vp->vdev);
    pthread_mutex_destroy(&vp->pci.irq_lock);
    vdev->tops = NULL;
    vdev->transport = NULL;
    free(vp);
    return rc;
}

struct virtio_dev *virtio_find(struct vm *vm, uint16_t device_id, struct virtio_dev *prev)
{
    bool past = !prev;
    for (struct device_instance *d = vm->devices; d; d = d->next) {
        struct virtio_dev *vdev =
            d->ops == &vpci_inst_ops ? ((struct virtio_pci *)d->dev)->vdev : virtio_mmio_vdev(d);
        if (!vdev || vdev->device_id != device_id)
            continue;
        if (past)
            return vdev;
        past = vdev == prev;
    }
    return NULL;
}
