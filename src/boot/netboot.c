/* netboot.c — the virtio-net option ROM (iPXE) that lets SeaBIOS boot from the network. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot_priv.h"
#include "dev/fw_cfg.h"
#include "platform/config.h"
#include "util/util.h"
#include "virtio/virtio_pci.h"
#include "vm/vm.h"

#define NETBOOT_ROM_MAX       (1 * MiB)
#define VIRTIO_NET_PCI_DEVICE 0x1041 /* modern virtio-net: 0x1040 + device id 1 */

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int netboot_rom_check(const uint8_t *rom, size_t len, uint16_t vendor, uint16_t device, char *why,
                      size_t whylen)
{
    if (len < 0x1a || rom[0] != 0x55 || rom[1] != 0xaa) {
        snprintf(why, whylen, "not a PCI option ROM (no 55 AA signature)");
        return -EINVAL;
    }
    if ((size_t)rom[2] * 512 > len || rom[2] == 0) {
        snprintf(why, whylen, "its header says %u bytes, the file has %zu", rom[2] * 512u, len);
        return -EINVAL;
    }
    size_t p = le16(rom + 0x18);
    if (p + 0x18 > len || memcmp(rom + p, "PCIR", 4)) {
        snprintf(why, whylen, "no PCI data structure (PCIR)");
        return -EINVAL;
    }
    uint16_t v = le16(rom + p + 4), d = le16(rom + p + 6);
    if (v != vendor || d != device || rom[p + 0x14] != 0) {
        snprintf(why, whylen,
                 "a ROM for PCI %04x:%04x (code type %u), not for virtio-net %04x:%04x (x86 BIOS)",
                 v, d, rom[p + 0x14], vendor, device);
        return -EINVAL;
    }
    return 0;
}

/* The ROM the VM's NICs ask for: the first rom= (not "off"), else CFG_IPXE_ROM when an interface
 * has a bootfile. NULL: none. -EINVAL with WHY when two interfaces ask for different ROMs. */
static int netboot_rom_path(const struct vm_config *cfg, const char **path, char *why,
                            size_t whylen)
{
    *path = NULL;
    for (unsigned i = 0; i < cfg->nnets; i++) {
        const struct net_config *n = &cfg->nets[i];
        const char *p = n->rom[0] ? n->rom : n->bootfile[0] ? CFG_IPXE_ROM : NULL;
        if (!p || !strcmp(p, "off"))
            continue;
        if (*path && strcmp(*path, p)) {
            snprintf(why, whylen,
                     "--net %s: rom=%s: every virtio-net interface shares one option ROM (%s)",
                     n->id, p, *path);
            return -EINVAL;
        }
        *path = p;
    }
    return 0;
}

int netboot_fw_cfg(struct vm *vm, char *err, size_t errlen)
{
    const char *path;
    char why[256] = "";
    int ret = netboot_rom_path(&vm->cfg, &path, err, errlen);
    if (ret < 0 || !path)
        return ret;
    if (vm->cfg.transport != TRANSPORT_PCI) {
        snprintf(err, errlen, "--net rom=%s: network boot needs virtio over PCI", path);
        return -EINVAL;
    }
    uint8_t *rom = NULL;
    size_t len = 0;
    ret = read_file(path, NETBOOT_ROM_MAX, &rom, &len);
    if (ret < 0)
        snprintf(why, sizeof(why), "%s%s", ret == -EFBIG ? "larger than 1 MiB" : strerror(-ret),
                 ret == -ENOENT && !strcmp(path, CFG_IPXE_ROM) ? " (apt-get install ipxe-qemu)"
                                                               : "");
    else
        ret = netboot_rom_check(rom, len, VPCI_VENDOR, VIRTIO_NET_PCI_DEVICE, why, sizeof(why));
    if (ret == 0) {
        /* SeaBIOS runs a fw_cfg file "pciVVVV,DDDD.rom" as the option ROM of every device with
         * that id, with its bus/device/function, as if it came from the device's ROM BAR */
        char name[32];
        snprintf(name, sizeof(name), "pci%04x,%04x.rom", VPCI_VENDOR, VIRTIO_NET_PCI_DEVICE);
        ret = fw_cfg_add_file_owned(fw_cfg_find(vm), name, rom, len);
        rom = NULL;
        if (ret < 0)
            snprintf(why, sizeof(why), "cannot add it to fw_cfg: %s", strerror(-ret));
    }
    if (ret < 0)
        snprintf(err, errlen, "--net rom=%s: %s", path, why);
    free(rom);
    return ret;
}
