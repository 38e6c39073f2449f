/* pci_host.c — the PCI host bridge: config mechanism #1 (0xCF8/0xCFC), ECAM, the bus itself. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/pci.h"
#include "bus/device.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

/* Host bridge identity: Red Hat's generic PCIe host bridge IDs, which Linux binds nothing to;
 * with --firmware an Intel 440FX (82441FX), the chipset SeaBIOS and OVMF both know (README "Boot
 * any OS"; its south bridge is dev/piix.c). */
#define HOST_VENDOR   0x1b36
#define HOST_DEVICE   0x0008
#define I440FX_VENDOR 0x8086
#define I440FX_DEVICE 0x1237
#define I440FX_PAM0   0x59 /* PAM0-6: shadow RAM control, kept (the legacy window is RAM) */
#define I440FX_SMRAM  0x72

/* ---- mechanism #1 (0xCF8/0xCFC), the reset control register (0xCF9), ECAM ------------------ */

static void cf8_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct pci_bus *bus = opaque;
    if (off == 0 && size == 4) {
        pthread_mutex_lock(&bus->lock);
        put_le32(data, bus->cf8);
        pthread_mutex_unlock(&bus->lock);
    } else if (off == 1 && size == 1) {
        data[0] = 0; /* reset control: nothing latched */
    }
}

static void cf8_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct pci_bus *bus = opaque;
    if (off == 0 && size == 4) {
        pthread_mutex_lock(&bus->lock);
        bus->cf8 = get_le32(data);
        pthread_mutex_unlock(&bus->lock);
    } else if (off == 1 && size == 1 && (data[0] & 0x04)) {
        /* PORT_RESET shares this dword with the address register (as on PIIX/ICH chipsets) */
        vm_request_stop(bus->vm, TRUCE_EXIT_REBOOT, "guest reset through port 0xcf9");
    }
}

/* Decode the latched address for a data-port access at OFF: slot and register, or false. */
static bool cf8_decode(struct pci_bus *bus, uint64_t off, unsigned *slot, unsigned *fn,
                       unsigned *reg)
{
    pthread_mutex_lock(&bus->lock);
    uint32_t a = bus->cf8;
    pthread_mutex_unlock(&bus->lock);
    if (!(a & 0x80000000u) || ((a >> 16) & 0xff))
        return false; /* disabled or bus != 0 */
    *slot = (a >> 11) & 0x1f;
    *fn = (a >> 8) & 7;
    *reg = (a & 0xfc) + (unsigned)off;
    return true;
}

/* The SIZE-byte (at most 4) little-endian value of a config data access DATA. */
static uint32_t access_value(const uint8_t *data, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)data[i] << (8 * i);
    return v;
}

static void cfc_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    unsigned slot, fn, reg;
    uint32_t v = 0xffffffffu;
    if (cf8_decode(opaque, off, &slot, &fn, &reg))
        v = pci_cfg_read_fn(opaque, slot, fn, reg, size);
    for (unsigned i = 0; i < size; i++)
        data[i] = (uint8_t)(v >> (8 * i));
}

static void cfc_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    unsigned slot, fn, reg;
    if (size > 4 || !cf8_decode(opaque, off, &slot, &fn, &reg))
        return;
    pci_cfg_write_fn(opaque, slot, fn, reg, size, access_value(data, size));
}

/* ECAM: bus[27:20] dev[19:15] fn[14:12] reg[11:0]; only bus 0 exists. */
static void ecam_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    uint32_t v = 0xffffffffu;
    if (!(off >> 20) && size <= 4)
        v = pci_cfg_read_fn(opaque, (off >> 15) & 0x1f, (off >> 12) & 7, off & 0xfff, size);
    for (unsigned i = 0; i < size; i++)
        data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0xff;
}

static void ecam_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    if ((off >> 20) || size > 4)
        return;
    pci_cfg_write_fn(opaque, (off >> 15) & 0x1f, (off >> 12) & 7, off & 0xfff, size,
                     access_value(data, size));
}

static const struct io_ops cf8_ops = {.read = cf8_read, .write = cf8_write};
static const struct io_ops cfc_ops = {.read = cfc_read, .write = cfc_write};
static const struct io_ops ecam_ops = {.read = ecam_read, .write = ecam_write};

/* ---- bus ----------------------------------------------------------------------------------- */

void pci_mmio64_window(const struct vm *vm, uint64_t *base, uint64_t *size)
{
    layout_pci_mmio64(guest_mem_end(&vm->mem), guest_mem_max_gpa(&vm->mem), base, size);
}

int pci_bus_create(struct vm *vm)
{
    struct pci_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    bus->vm = vm;
    pthread_mutex_init(&bus->lock, NULL);
    bus->irq.msi = irq_msi;
    bus->irq.line = irq_line;
    bus->mmio32_next = LAYOUT_PCI_MMIO32;
    pci_mmio64_window(vm, &bus->mmio64_base, &bus->mmio64_size);
    bus->mmio64_next = bus->mmio64_base;
    /* subsystem 1af4:1100 ("QEMU virtual machine"): SeaBIOS uses fw_cfg only when it sees it */
    bool fw = vm->cfg.firmware[0] != 0;
    pci_dev_init(&bus->host, "host-bridge", fw ? I440FX_VENDOR : HOST_VENDOR,
                 fw ? I440FX_DEVICE : HOST_DEVICE, 0x060000, fw ? 2 : 0, 0x1af4, 0x1100, NULL,
                 NULL);
    bus->host.cfg[PCI_INT_PIN] = 0;
    if (fw) {
        memset(bus->host.wmask + I440FX_PAM0, 0xff, 7);
        bus->host.cfg[I440FX_SMRAM] = 0x02; /* no SMRAM open, nothing locked */
    }
    bus->host.bus = bus;
    bus->host.slot = 0;
    bus->dev[0] = &bus->host;
    int rc = io_bus_register(&vm->pio, PORT_PCI_CONFIG, 4, &cf8_ops, bus, "pci-cf8");
    if (rc < 0)
        goto fail;
    rc = io_bus_register(&vm->pio, PORT_PCI_CONFIG + 4, 4, &cfc_ops, bus, "pci-cfc");
    if (rc < 0)
        goto fail_cf8;
    rc = io_bus_register(&vm->mmio, LAYOUT_PCI_ECAM, LAYOUT_PCI_ECAM_SIZE, &ecam_ops, bus,
                         "pci-ecam");
    if (rc < 0)
        goto fail_cfc;
    vm->pci = bus;
    return 0;
fail_cfc:
    io_bus_unregister(&vm->pio, PORT_PCI_CONFIG + 4);
fail_cf8:
    io_bus_unregister(&vm->pio, PORT_PCI_CONFIG);
fail:
    pthread_mutex_destroy(&bus->host.irq_lock);
    pthread_mutex_destroy(&bus->lock);
    free(bus);
    return rc;
}

void pci_bus_destroy(struct vm *vm)
{
    struct pci_bus *bus = vm->pci;
    if (!bus)
        return;
    io_bus_unregister(&vm->mmio, LAYOUT_PCI_ECAM);
    io_bus_unregister(&vm->pio, PORT_PCI_CONFIG + 4);
    io_bus_unregister(&vm->pio, PORT_PCI_CONFIG);
    pthread_mutex_destroy(&bus->host.irq_lock);
    pthread_mutex_destroy(&bus->lock);
    free(bus);
    vm->pci = NULL;
}

/* The host bridge class: creates vm->pci before any PCI device. */
static void host_bridge_destroy(void *dev)
{
    pci_bus_destroy(dev);
}

/* The bus's own state: the mechanism #1 address latch and the host bridge function. */
static void host_bridge_state_visit(struct state_visitor *v, uint32_t *cf8)
{
    if (!state_begin(v, "pci-host", 1))
        return;
    STATE_U32(v, *cf8);
    state_end(v);
}

static int host_bridge_save(void *dev, struct state_visitor *v)
{
    struct pci_bus *bus = ((struct vm *)dev)->pci;
    pthread_mutex_lock(&bus->lock);
    uint32_t cf8 = bus->cf8;
    pthread_mutex_unlock(&bus->lock);
    host_bridge_state_visit(v, &cf8);
    return pci_dev_save(&bus->host, v);
}

static int host_bridge_restore(void *dev, struct state_visitor *v)
{
    struct pci_bus *bus = ((struct vm *)dev)->pci;
    uint32_t cf8 = 0;
    host_bridge_state_visit(v, &cf8);
    if (!state_error(v) && !pci_dev_restore(&bus->host, v)) {
        pthread_mutex_lock(&bus->lock);
        bus->cf8 = cf8;
        pthread_mutex_unlock(&bus->lock);
    }
    return state_error(v);
}

static const struct device_ops host_bridge_ops = {
    .name = "pci-host",
    .save = host_bridge_save,
    .restore = host_bridge_restore,
    .destroy = host_bridge_destroy,
};

static int host_bridge_create(struct vm *vm, char *err, size_t errlen)
{
    int rc = pci_bus_create(vm);
    if (rc < 0) {
        snprintf(err, errlen, "pci: cannot create the host bridge: %s", strerror(-rc));
        return rc;
    }
    rc = device_add(vm, &host_bridge_ops, vm);
    if (rc < 0) {
        pci_bus_destroy(vm);
        snprintf(err, errlen, "pci: out of memory");
    }
    return rc;
}

static const struct device_class pci_host_class = {
    .name = "pci-host",
    .order = DEV_ORDER_BUS,
    .create = host_bridge_create,
};
DEVICE_CLASS(pci_host_class);
