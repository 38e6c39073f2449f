/* dsdt.c — the DSDT in AML: \_S5, PCI host bridge (_CRS, _PRT), COM1, i8042, pvpanic, RTC, fw_cfg,
 * ECAM, virtio-mmio devices. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/acpi_tables.h"
#include "boot/aml.h"
#include "boot/boot.h"
#include "bus/device.h"
#include "util/util.h"
#include "virtio/virtio_mmio.h"
#include "vm/vm.h"

#define PCI_SLOTS      32
#define PCI_IO_CFG_END (PORT_PCI_CONFIG + 7) /* 0xcf8-0xcff: configuration mechanism #1 */

/* Name(NAME, EisaId(ID)) */
static void name_eisaid(struct aml *a, const char *name, const char *id)
{
    aml_name(a, name);
    aml_eisaid(a, id);
}

/* Name(NAME, INTEGER) */
static void name_int(struct aml *a, const char *name, uint64_t v)
{
    aml_name(a, name);
    aml_integer(a, v);
}

/* Name(_S5, Package() { SLP_TYPa, SLP_TYPb, 0, 0 }) at the root, both types TYP. */
static void put_s5(struct aml *a, unsigned typ)
{
    aml_name(a, "\\_S5");
    aml_package_open(a, 4);
    aml_integer(a, typ);
    aml_integer(a, typ);
    aml_integer(a, 0);
    aml_integer(a, 0);
    aml_close(a);
}

/* The host bridge's resources: bus 0, config ports, the rest of I/O, both MMIO windows. */
static void put_pci_crs(struct aml *a, const struct guest_mem *m)
{
    uint64_t base64, size64;
    boot_pci_mmio64(m, &base64, &size64);

    aml_name(a, "_CRS");
    aml_buffer_open(a);
    aml_res_word_bus(a, 0, 0);
    aml_res_io(a, PORT_PCI_CONFIG, PORT_PCI_CONFIG, 1, PCI_IO_CFG_END - PORT_PCI_CONFIG + 1);
    aml_res_word_io(a, 0, PORT_PCI_CONFIG - 1);
    aml_res_word_io(a, PCI_IO_CFG_END + 1, 0xffff);
    aml_res_dword_mem(a, (uint32_t)LAYOUT_PCI_MMIO32,
                      (uint32_t)(LAYOUT_PCI_MMIO32 + LAYOUT_PCI_MMIO32_SIZE - 1),
                      AML_MEM_NONCACHEABLE);
    if (size64)
        aml_res_qword_mem(a, base64, base64 + size64 - 1, AML_MEM_CACHEABLE);
    aml_res_end(a);
    aml_close(a);
}

/* _PRT: every slot's INTA-INTD to its GSI by the PCI_INTX_GSI rule. */
static void put_pci_prt(struct aml *a)
{
    aml_name(a, "_PRT");
    aml_package_open(a, PCI_SLOTS * 4);
    for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            aml_package_open(a, 4);
            aml_dword(a, slot << 16 | 0xffff); /* any function of SLOT */
            aml_integer(a, pin);
            aml_integer(a, 0); /* no link device: the next field is a GSI */
            aml_integer(a, PCI_INTX_GSI(slot, pin));
            aml_close(a);
        }
    }
    aml_close(a);
}

static void put_pci0(struct aml *a, const struct guest_mem *m)
{
    aml_device_open(a, "PCI0");
    name_eisaid(a, "_HID", "PNP0A08");
    name_eisaid(a, "_CID", "PNP0A03");
    name_int(a, "_SEG", 0);
    name_int(a, "_UID", 0);
    name_int(a, "_BBN", 0);
    put_pci_crs(a, m);
    put_pci_prt(a);
    aml_close(a);
}

/* Motherboard resources: the ECAM area, so the OS knows it is claimed. */
static void put_mres(struct aml *a)
{
    aml_device_open(a, "MRES");
    name_eisaid(a, "_HID", "PNP0C02");
    name_int(a, "_UID", 0);
    aml_name(a, "_CRS");
    aml_buffer_open(a);
    aml_res_mem32_fixed(a, (uint32_t)LAYOUT_PCI_ECAM, (uint32_t)LAYOUT_PCI_ECAM_SIZE);
    aml_res_end(a);
    aml_close(a);
    aml_close(a);
}

/* An ISA device NAME with _HID ID (an EISA id, or a string when STR_HID), UID and N port
 * ranges PORTS/LENS, plus IRQ (or none when IRQ < 0). */
static void put_isa_dev(struct aml *a, const char *name, const char *id, bool str_hid, unsigned uid,
                        const uint16_t *ports, const uint8_t *lens, unsigned n, int irq)
{
    aml_device_open(a, name);
    aml_name(a, "_HID");
    if (str_hid)
        aml_string(a, id);
    else
        aml_eisaid(a, id);
    name_int(a, "_UID", uid);
    aml_name(a, "_CRS");
    aml_buffer_open(a);
    for (unsigned i = 0; i < n; i++)
        aml_res_io(a, ports[i], ports[i], 1, lens[i]);
    if (irq >= 0)
        aml_res_irq(a, (unsigned)irq);
    aml_res_end(a);
    aml_close(a);
    aml_close(a);
}

static void put_devices(struct aml *a, const struct vm *vm)
{
    const uint16_t com1[] = {PORT_COM1}, kbd[] = {PORT_I8042_DATA, PORT_I8042_CMD};
    const uint16_t pvp[] = {PORT_PVPANIC}, rtc[] = {PORT_CMOS}, fwc[] = {PORT_FW_CFG};
    const uint8_t com1_len[] = {8}, kbd_len[] = {1, 1}, pvp_len[] = {1}, rtc_len[] = {2};
    const uint8_t fwc_len[] = {12}; /* selector, data, DMA address */

    put_isa_dev(a, "COM1", "PNP0501", false, 1, com1, com1_len, 1, GSI_COM1);
    put_isa_dev(a, "KBD", "PNP0303", false, 0, kbd, kbd_len, 2, GSI_I8042_KBD);
    if (vm->cfg.display.kind != DISPLAY_NONE) /* the PS/2 mouse on the i8042's AUX port */
        put_isa_dev(a, "MOU", "PNP0F13", false, 0, NULL, NULL, 0, GSI_I8042_AUX);
    put_isa_dev(a, "PEVT", "QEMU0001", true, 0, pvp, pvp_len, 1, -1);
    /* The RTC without an interrupt (dev/cmos.c raises none): on HW-reduced ACPI rtc_cmos binds
     * polled; on the firmware machine's full ACPI Linux assumes ISA IRQ 8, which stays quiet. */
    put_isa_dev(a, "RTC", "PNP0B00", false, 0, rtc, rtc_len, 1, -1);
    put_isa_dev(a, "FWCF", "QEMU0002", true, 0, fwc, fwc_len, 1, -1); /* fw_cfg (qemu_fw_cfg) */
}

/* Every virtio-mmio device as Firecracker's ACPI describes it: _HID LNRO0005 (Linux's
 * virtio_mmio ACPI match), its 4 KiB window and its GSI, so a kernel without
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (Debian's) finds them too. */
static void put_virtio_mmio(struct aml *a, const struct vm *vm)
{
    unsigned n = 0;
    for (const struct device_instance *d = vm->devices; d; d = d->next) {
        const struct virtio_dev *vdev = virtio_mmio_vdev(d);
        if (!vdev)
            continue;
        const struct virtio_mmio *m = vdev->transport;
        char name[8];
        snprintf(name, sizeof(name), "VR%02u", n % 100);
        aml_device_open(a, name);
        aml_name(a, "_HID");
        aml_string(a, "LNRO0005");
        name_int(a, "_UID", n++);
        aml_name(a, "_CRS");
        aml_buffer_open(a);
        aml_res_mem32_fixed(a, (uint32_t)m->base, (uint32_t)LAYOUT_VIRTIO_MMIO_DEV);
        aml_res_ext_irq_level(a, m->gsi);
        aml_res_end(a);
        aml_close(a);
        aml_close(a);
    }
}

int dsdt_build(const struct vm *vm, uint8_t *buf, size_t cap)
{
    return dsdt_build_s5(vm, ACPI_S5_SLP_TYP, buf, cap);
}

int dsdt_build_s5(const struct vm *vm, unsigned s5_typ, uint8_t *buf, size_t cap)
{
    struct aml a;
    if (cap < sizeof(struct acpi_header))
        return -ENOSPC;
    aml_init(&a, buf + sizeof(struct acpi_header), cap - sizeof(struct acpi_header));

    put_s5(&a, s5_typ);
    aml_scope_open(&a, "\\_SB");
    put_pci0(&a, &vm->mem);
    put_mres(&a);
    put_devices(&a, vm);
    put_virtio_mmio(&a, vm);
    aml_close(&a);
    if (!aml_ok(&a))
        return -ENOSPC; /* the only way out of a well-formed build */

    struct acpi_header *h = (struct acpi_header *)buf;
    uint32_t len = (uint32_t)(sizeof(*h) + a.len);
    acpi_header(h, "DSDT", len, 2);
    h->checksum = acpi_checksum(buf, len);
    return (int)len;
}
