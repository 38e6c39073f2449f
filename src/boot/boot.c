/* boot.c — boot_load(): read the image, detect its kind, build tables; e820, initrd, cmdline. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "boot/multiboot.h"
#include "bus/pci.h"
#include "dev/fw_cfg.h"
#include "util/modlist.h"
#include "util/util.h"
#include "virtio/virtio_mmio.h"
#include "vm/vm.h"

#define BOOT_KERNEL_MAX   (2 * GiB)  /* an ELF vmlinux with debug info can be large */
#define BOOT_FIRMWARE_MAX (16 * MiB) /* a flash image */
#define BOOT_ACPI_ROOM    (16 * KiB) /* what the ACPI tables need at most, for 64 vCPUs */

/* Append [ADDR, ADDR + SIZE) of TYPE to LIST (room for BOOT_E820_MAX). */
static void e820_add(struct e820_entry *list, unsigned *n, uint64_t addr, uint64_t size,
                     uint32_t type)
{
    if (size == 0 || *n >= BOOT_E820_MAX)
        return;
    list[*n] = (struct e820_entry){.addr = addr, .size = size, .type = type};
    (*n)++;
}

unsigned boot_e820(const struct guest_mem *m, struct e820_entry *out, unsigned max)
{
    struct e820_entry list[BOOT_E820_MAX];
    unsigned n = 0;

    for (unsigned i = 0; i < m->nr && i < MEM_MAX_REGIONS; i++) {
        uint64_t lo = m->r[i].gpa, hi = m->r[i].gpa + m->r[i].size;
        /* RAM minus the EBDA/BIOS window [BOOT_EBDA_START, BOOT_HIMEM) */
        if (lo < BOOT_EBDA_START)
            e820_add(list, &n, lo, MIN(hi, BOOT_EBDA_START) - lo, E820_RAM);
        if (hi > BOOT_HIMEM)
            e820_add(list, &n, MAX(lo, BOOT_HIMEM), hi - MAX(lo, BOOT_HIMEM), E820_RAM);
    }
    e820_add(list, &n, BOOT_EBDA_START, BOOT_HIMEM - BOOT_EBDA_START, E820_RESERVED);
    e820_add(list, &n, LAYOUT_PCI_ECAM, LAYOUT_PCI_ECAM_SIZE, E820_RESERVED);
    /* KVM's identity-map page and the 3 TSS pages right after it */
    e820_add(list, &n, LAYOUT_IDENTITY_MAP, LAYOUT_TSS_ADDR + 3 * 4 * KiB - LAYOUT_IDENTITY_MAP,
             E820_RESERVED);

    for (unsigned i = 1; i < n; i++) { /* insertion sort by address */
        struct e820_entry e = list[i];
        unsigned j = i;
        for (; j > 0 && list[j - 1].addr > e.addr; j--)
            list[j] = list[j - 1];
        list[j] = e;
    }
    n = MIN(n, max);
    memcpy(out, list, n * sizeof(*out));
    return n;
}

void boot_pci_mmio64(const struct guest_mem *m, uint64_t *base, uint64_t *size)
{
    layout_pci_mmio64(guest_mem_end(m), guest_mem_max_gpa(m), base, size);
}

int boot_write_cmdline(struct vm *vm)
{
    size_t n = strnlen(vm->cfg.cmdline, sizeof(vm->cfg.cmdline) - 1);
    uint8_t *dst = gpa_to_hva(&vm->mem, BOOT_CMDLINE, n + 1);
    if (!dst)
        return -EFAULT;
    memcpy(dst, vm->cfg.cmdline, n);
    dst[n] = 0;
    return 0;
}

int boot_place_initrd(struct vm *vm, uint64_t lo, uint64_t hi, uint64_t *addr, uint64_t *size,
                      char *err, size_t errlen)
{
    const char *path = vm->cfg.initrd;
    size_t len = 0;
    int ret, fd;

    *addr = *size = 0;
    if (!path[0])
        return 0;
    lo = ALIGN_UP(lo, 4 * KiB);
    if (hi <= lo + 4 * KiB) {
        snprintf(err, errlen,
                 "initrd %s: no room between the kernel end 0x%llx and the "
                 "highest usable address 0x%llx; raise --memory",
                 path, (unsigned long long)lo, (unsigned long long)hi);
        return -EFBIG;
    }
    if ((fd = boot_open_regular(path, &len)) < 0) {
        snprintf(err, errlen, "initrd %s: %s", path, strerror(-fd));
        return fd;
    }
    ret = -EINVAL;
    if (len == 0) {
        snprintf(err, errlen, "initrd %s is empty", path);
        goto out;
    }
    ret = -EFBIG;
    if (hi - lo < len || ALIGN_DOWN(hi - len, 4 * KiB) < lo) {
        snprintf(err, errlen,
                 "initrd %s (%zu bytes) is larger than the %llu KiB free between the kernel end "
                 "0x%llx and 0x%llx; raise --memory",
                 path, len, (unsigned long long)((hi - lo) / KiB), (unsigned long long)lo,
                 (unsigned long long)hi);
        goto out;
    }
    *addr = ALIGN_DOWN(hi - len, 4 * KiB);
    /* read once, straight into guest RAM (perhaps while the guest already runs: lazyload.c) */
    uint8_t *dst = gpa_to_hva(&vm->mem, *addr, len);
    char what[LAZY_WHAT_LEN];
    snprintf(what, sizeof(what), "initrd %.180s", path);
    ret = dst ? lazy_copy(vm, dst, fd, 0, len, what) : -EFAULT;
    if (ret < 0) {
        snprintf(err, errlen, "initrd %s: %s at 0x%llx: %s", path,
                 dst ? "reading it into guest RAM" : "cannot write guest RAM",
                 (unsigned long long)*addr, strerror(-ret));
        goto out;
    }
    *size = len;
out:
    if (ret < 0)
        *addr = 0;
    close(fd);
    return ret;
}

/* Put the ACPI tables beside a firmware ROM that starts at ROM_BASE. Returns 0 or -errno. */
static int firmware_acpi(struct vm *vm, uint64_t rom_base, uint64_t *rsdp)
{
    if (rom_base >= BOOT_ACPI_START + BOOT_ACPI_ROOM)
        return acpi_build_at(vm, BOOT_ACPI_START, rom_base, rsdp);
    if (rom_base >= BOOT_ACPI_ALT + BOOT_ACPI_ROOM)
        return acpi_build_at(vm, BOOT_ACPI_ALT, MIN(rom_base, BOOT_ACPI_START), rsdp);
    log_info("firmware: the ROM fills 0xC0000-0xFFFFF; no truce ACPI tables below 1 MiB");
    return 0; /* a firmware that large (SeaBIOS) builds its own */
}

/* Without firmware, a guest that reboots by jumping to the BIOS reset vector F000:FFF0 (Linux
 * does when ACPI and EFI reboot are unavailable) finds code that resets through port 0xCF9
 * instead of running zeros. It lives in the e820-reserved BIOS area. */
static int boot_reset_stub(struct vm *vm)
{
    static const uint8_t stub[] = {
        0xb0,
        0x06, /* mov al, 6 */
        0xba,
        PORT_RESET & 0xff,
        PORT_RESET >> 8, /* mov dx, PORT_RESET */
        0xee,            /* out dx, al */
        0xf4,            /* hlt */
        0xeb,
        0xfd, /* jmp hlt */
    };
    return guest_mem_write(&vm->mem, BOOT_RESET_VECTOR, stub, sizeof(stub));
}

/* A kernel: bzImage, ELF with a PVH note, then multiboot; an ELF without either gets PVH's
 * message. Several --initrd modules are for multiboot kernels only. */
static int boot_kernel(struct vm *vm, const struct boot_image *im, uint64_t rsdp, char *err,
                       size_t errlen)
{
    const uint8_t *img = im->buf;
    size_t len = im->len;
    bool elf = len >= 4 && memcmp(img, "\177ELF", 4) == 0;
    bool bzimage = len >= 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0;
    uint32_t entry;
    if (!bzimage && !(elf && pvh_find_entry(img, len, &entry, err, errlen) == 0)) {
        long mb = multiboot_find(img, len, err, errlen);
        if (mb >= 0)
            return multiboot_load(vm, img, len, (size_t)mb, err, errlen);
        if (mb != -ENOENT)
            return (int)mb;
    }
    if (vm->cfg.initrd[0] && modlist_is_list(vm->cfg.initrd)) {
        snprintf(err, errlen,
                 "--initrd: several modules, or one with arguments, need a multiboot kernel");
        return -EINVAL;
    }
    if (elf)
        return pvh_load(vm, im, rsdp, err, errlen);
    return linux_load(vm, im, rsdp, err, errlen);
}

/* Load the image IM per its kind; tables first so the RSDP address is known. */
static int boot_dispatch(struct vm *vm, const struct boot_image *im, bool firmware, char *err,
                         size_t errlen)
{
    uint64_t rsdp = 0, rom_base = 0;
    int ret = mptable_build(vm);
    if (ret < 0) {
        snprintf(err, errlen, "cannot write the MP table: %s", strerror(-ret));
        return ret;
    }
    if (firmware) {
        ret = firmware_load(vm, im->buf, im->len, &rom_base, err, errlen);
        if (ret < 0)
            return ret;
        ret = firmware_acpi(vm, rom_base, &rsdp);
    } else {
        ret = acpi_build(vm, &rsdp);
    }
    if (ret < 0) {
        snprintf(err, errlen, "cannot write the ACPI tables: %s", strerror(-ret));
        return ret;
    }
    if (firmware)
        return 0;
    ret = boot_reset_stub(vm);
    if (ret < 0) {
        snprintf(err, errlen, "cannot write the reset vector: %s", strerror(-ret));
        return ret;
    }
    return boot_kernel(vm, im, rsdp, err, errlen);
}

#define VIRTIO_BLK_PCI_ID 0x1042 /* modern virtio-blk: 0x1040 + device type 2 */

/* fw_cfg "bootorder" for the firmware: the virtio-blk disks in the order the user gave them (they
 * take PCI slots in that order), as the OpenFirmware paths QEMU writes
 * ("/pci@i0cf8/scsi@SLOT/disk@0,0", one a line), which SeaBIOS and OVMF read. Nothing without
 * disks. */
static int boot_order(struct vm *vm, struct fw_cfg *f)
{
    char buf[PCI_SLOTS * 40] = "";
    size_t n = 0;
    for (unsigned slot = 1; vm->pci && slot < PCI_SLOTS; slot++) {
        const struct pci_dev *d = vm->pci->dev[slot];
        if (d && get_le16(d->cfg + 2) == VIRTIO_BLK_PCI_ID)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "/pci@i0cf8/scsi@%x/disk@0,0\n", slot);
    }
    if (!n)
        return 0;
    log_info("firmware: boot order %.*s", (int)n - 1, buf);
    return fw_cfg_add_file(f, "bootorder", buf, n + 1);
}

/* What firmware and test kernels read from fw_cfg besides the device's own items: the memory
 * map as etc/e820. Nothing when the VM has no fw_cfg device (unit-test fixtures). */
static int boot_fw_cfg(struct vm *vm, char *err, size_t errlen)
{
    struct fw_cfg *f = fw_cfg_find(vm);
    struct e820_entry map[BOOT_E820_MAX];
    if (!f)
        return 0;
    unsigned n = boot_e820(&vm->mem, map, BOOT_E820_MAX);
    int ret = fw_cfg_add_file(f, "etc/e820", map, n * sizeof(map[0]));
    /* SeaBIOS: its console on COM1 (as QEMU's -nographic); with nothing to boot it reboots at
     * once (truce then exits with the reboot status) instead of retrying every 60 s */
    uint16_t sercon = PORT_COM1;
    uint32_t fail_wait = 0;
    if (!ret && vm->cfg.firmware[0])
        ret = fw_cfg_add_file(f, "etc/sercon-port", &sercon, sizeof(sercon));
    if (!ret && vm->cfg.firmware[0])
        ret = fw_cfg_add_file(f, "etc/boot-fail-wait", &fail_wait, sizeof(fail_wait));
    if (!ret && vm->cfg.firmware[0])
        ret = acpi_fw_cfg(vm); /* the firmware installs them through the table loader */
    if (!ret && vm->cfg.firmware[0])
        ret = smbios_fw_cfg(vm);
    if (!ret && vm->cfg.firmware[0])
        ret = boot_order(vm, f);
    if (ret < 0)
        snprintf(err, errlen, "cannot build the fw_cfg items: %s", strerror(-ret));
    return ret;
}

/* SeaBIOS boots a fw_cfg kernel through QEMU's linuxboot option ROM, given to it as the fw_cfg
 * file genroms/linuxboot_dma.bin (Debian's qemu-system-data); OVMF reads the items itself. */
static int boot_linuxboot_rom(struct vm *vm, char *err, size_t errlen)
{
    uint8_t *rom = NULL;
    size_t len = 0;
    int ret = read_file(CFG_LINUXBOOT_ROM, 64 * KiB, &rom, &len);
    if (ret < 0) {
        log_warn("%s: %s: SeaBIOS cannot boot --kernel without it (apt-get install "
                 "qemu-system-data)",
                 CFG_LINUXBOOT_ROM, strerror(-ret));
        return 0;
    }
    ret = fw_cfg_add_file_owned(fw_cfg_find(vm), "genroms/linuxboot_dma.bin", rom, len);
    if (ret < 0)
        snprintf(err, errlen, "cannot add the linuxboot option ROM: %s", strerror(-ret));
    return ret;
}

/* --firmware with --kernel: the firmware boots the kernel it finds in fw_cfg. */
static int boot_firmware_kernel(struct vm *vm, char *err, size_t errlen)
{
    char why[256] = "";
    uint8_t *img = NULL;
    size_t len = 0;
    int ret = read_file(vm->cfg.kernel, BOOT_KERNEL_MAX, &img, &len);
    if (ret < 0)
        snprintf(why, sizeof(why), "%s", ret == -EFBIG ? "too large" : strerror(-ret));
    else
        ret = boot_fw_cfg_linux(vm, img, len, why, sizeof(why));
    if (ret == 0)
        ret = boot_linuxboot_rom(vm, why, sizeof(why));
    if (ret < 0)
        snprintf(err, errlen, "kernel %s (for the firmware): %s", vm->cfg.kernel, why);
    free(img);
    return ret;
}

int boot_load(struct vm *vm, char *err, size_t errlen)
{
    bool firmware = vm->cfg.firmware[0] != 0;
    const char *what = firmware ? "firmware" : "kernel";
    const char *path = firmware ? vm->cfg.firmware : vm->cfg.kernel;
    size_t max = firmware ? BOOT_FIRMWARE_MAX : BOOT_KERNEL_MAX;
    char why[256] = "";
    uint8_t *img = NULL;
    size_t len = 0;
    int ret;

    if (!path[0]) {
        snprintf(err, errlen, "no boot image: give --kernel or --firmware");
        return -EINVAL;
    }
    if (virtio_mmio_cmdline(vm, vm->cfg.cmdline, sizeof(vm->cfg.cmdline)) < 0) {
        snprintf(err, errlen, "--cmdline: no room for the virtio_mmio.device= entries");
        return -EINVAL;
    }
    /* a firmware is read whole; a kernel mostly straight into guest RAM (image.c) */
    struct boot_image im = {.fd = -1};
    ret = firmware ? read_file(path, max, &img, &len) : boot_image_open(&im, path, max);
    if (firmware)
        im.buf = img, im.len = len;
    if (ret == -EFBIG)
        snprintf(why, sizeof(why), "larger than %llu MiB", (unsigned long long)(max / MiB));
    else if (ret < 0)
        snprintf(why, sizeof(why), "%s", strerror(-ret));
    else
        ret = boot_dispatch(vm, &im, firmware, why, sizeof(why));
    if (ret == 0)
        ret = boot_fw_cfg(vm, why, sizeof(why));
    if (ret < 0)
        snprintf(err, errlen, "%s %s: %s", what, path, why);
    if (firmware)
        free(img);
    else
        boot_image_close(&im);
    if (ret == 0 && firmware && vm->cfg.kernel[0])
        ret = boot_firmware_kernel(vm, err, errlen);
    if (ret == 0 && firmware && fw_cfg_find(vm))
        ret = netboot_fw_cfg(vm, err, errlen);
    return ret;
}

int boot_restore(struct vm *vm, char *err, size_t errlen)
{
    const char *path = vm->cfg.firmware;
    char why[256] = "";
    uint8_t *img = NULL;
    size_t len = 0;
    if (!path[0])
        return 0;
    int ret = read_file(path, BOOT_FIRMWARE_MAX, &img, &len);
    if (ret < 0)
        snprintf(why, sizeof(why), "%s", ret == -EFBIG ? "too large" : strerror(-ret));
    else
        ret = firmware_restore(vm, img, len, why, sizeof(why));
    if (ret < 0)
        snprintf(err, errlen, "firmware %s (restoring the VM that booted it): %s", path, why);
    free(img);
    return ret;
}
