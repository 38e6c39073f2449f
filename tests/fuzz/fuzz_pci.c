/* fuzz_pci.c — libFuzzer target: PCI config space (mechanism #1 and ECAM), BAR sizing and moves,
 * and MSI-X table, PBA and Message Control, as a guest drives them, on a fresh VM per input with
 * the host bridge and two virtio-pci functions (virtio-rng, virtio-console). Input: operations of
 * [kind (bits 0-2) and slot (bits 3-4)][offset(2)][width (bits 0-1), write (bit 7)][value(8)];
 * kind 4 raises a function's MSI-X vector (an interrupt meeting what the guest left there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio_fixture.h"

static void create(struct vfix *f)
{
    char err[256] = "";
    f->vm.cfg.entropy = true;
    f->vm.cfg.console = CONSOLE_VIRTIO;
    if (device_class_find("virtio-rng")->create(&f->vm, err, sizeof(err)) ||
        console_open_fds(&f->vm, -1, -1, err, sizeof(err)) ||
        device_class_find("virtio-console")->create(&f->vm, err, sizeof(err)))
        fail_msg("%s", err);
}

/* Where BAR 0 of SLOT decodes now (as the guest programmed it). */
static uint64_t bar0(struct vfix *f, unsigned slot)
{
    struct pci_dev *d = f->vm.pci->dev[slot];
    return d ? d->bar[0].addr : 0;
}

static void op(struct vfix *f, const uint8_t *p)
{
    unsigned kind = (p[0] & 7) % 5, slot = (p[0] >> 3) & 3, off = p[1] | p[2] << 8;
    unsigned width = 1u << (p[3] % 4);
    bool write = p[3] & 0x80;
    uint8_t v[8];
    memcpy(v, p + 4, 8);
    switch (kind) {
    case 0: /* mechanism #1: the address latch, then a data port access */
        io_bus_access(&f->vm.pio, PORT_PCI_CONFIG, v, 4, true);
        io_bus_access(&f->vm.pio, PORT_PCI_CONFIG + 4 + off % 4, v + 4, MIN(width, 4), write);
        break;
    case 1: /* ECAM: slots 0-3 (host bridge, the two functions, an empty slot), any offset */
        io_bus_access(&f->vm.mmio, LAYOUT_PCI_ECAM + ((uint64_t)slot << 15) + off % 4096, v, width,
                      write);
        break;
    case 2: /* BAR 0 wherever it is now, a bit past its end too */
        io_bus_access(&f->vm.mmio, bar0(f, slot) + off % 0x8100, v, width, write);
        break;
    case 3: /* the MSI-X table and PBA pages */
        io_bus_access(&f->vm.mmio, bar0(f, slot) + 0x4000 + off % 0x1100, v, width, write);
        break;
    case 4:
        if (f->vm.pci->dev[slot])
            pci_msix_notify(f->vm.pci->dev[slot], off % 40);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vfix f;
    vf_init(&f);
    create(&f);
    for (; size >= 12; data += 12, size -= 12)
        op(&f, data);
    vf_fini(&f);
    return 0;
}
