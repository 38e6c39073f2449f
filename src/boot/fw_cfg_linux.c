/* fw_cfg_linux.c — direct Linux boot through firmware: bzImage, initrd and command line handed
 * to the firmware as fw_cfg items, the way QEMU's -kernel does for SeaBIOS and OVMF. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "dev/fw_cfg.h"
#include "util/util.h"
#include "vm/vm.h"

/* Where the firmware's loader (SeaBIOS's linuxboot option ROM) puts the pieces, as on QEMU for a
 * protocol 2.02+ kernel loaded high. */
#define FWL_REAL_ADDR    0x10000ULL  /* setup code (real mode) */
#define FWL_CMDLINE_ADDR 0x20000ULL  /* command line */
#define FWL_PROT_ADDR    0x100000ULL /* protected-mode kernel */
#define FWL_LOADER_TYPE  0xb0        /* type_of_loader QEMU reports */
#define FWL_ACPI_ROOM    (128 * KiB) /* kept free below the top of low RAM for firmware tables */

/* Patch the setup header in SETUP (a copy of the real-mode part) as a boot loader would. */
static void fwl_patch_header(uint8_t *setup, uint32_t initrd, uint32_t initrd_size)
{
    struct linux_setup_header h;
    memcpy(&h, setup + LINUX_HDR_OFFSET, sizeof(h));
    h.type_of_loader = FWL_LOADER_TYPE;
    h.cmd_line_ptr = (uint32_t)FWL_CMDLINE_ADDR;
    h.heap_end_ptr = (uint16_t)(FWL_CMDLINE_ADDR - FWL_REAL_ADDR - 0x200);
    h.loadflags |= LINUX_CAN_USE_HEAP;
    h.ramdisk_image = initrd;
    h.ramdisk_size = initrd_size;
    memcpy(setup + LINUX_HDR_OFFSET, &h, sizeof(h));
}

/* The initrd (vm->cfg.initrd, may be unset) as fw_cfg INITRD_* items, placed page-aligned as
 * high as the kernel accepts below the top of low RAM. *ADDR and *SIZE get its place. */
static int fwl_initrd(struct vm *vm, struct fw_cfg *f, const struct linux_setup_header *h,
                      uint64_t kend, uint32_t *addr, uint32_t *size, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t top = vm->mem.r[0].gpa + vm->mem.r[0].size - FWL_ACPI_ROOM;
    top = MIN(top, (uint64_t)h->initrd_addr_max + 1);
    *addr = *size = 0;
    if (!vm->cfg.initrd[0])
        return 0;
    int ret = top > kend ? read_file(vm->cfg.initrd, top - kend, &buf, &len) : -EFBIG;
    if (ret < 0) {
        snprintf(
            err, errlen, "initrd %s: %s", vm->cfg.initrd,
            ret == -EFBIG
                ? "does not fit between the kernel and the top of RAM below 4 GiB; raise --memory"
                : strerror(-ret));
        return ret == -EFBIG ? -EFBIG : -EINVAL;
    }
    if (ALIGN_DOWN(top - len, 4 * KiB) < kend) {
        free(buf);
        snprintf(err, errlen, "initrd %s does not fit above the kernel; raise --memory",
                 vm->cfg.initrd);
        return -EFBIG;
    }
    *addr = (uint32_t)ALIGN_DOWN(top - len, 4 * KiB);
    *size = (uint32_t)len;
    ret = fw_cfg_add_item_owned(f, FW_CFG_INITRD_DATA, buf, len);
    if (!ret)
        ret = fw_cfg_add_u32(f, FW_CFG_INITRD_ADDR, *addr);
    if (!ret)
        ret = fw_cfg_add_u32(f, FW_CFG_INITRD_SIZE, *size);
    return ret;
}

int boot_fw_cfg_linux(struct vm *vm, const uint8_t *img, size_t len, char *err, size_t errlen)
{
    struct fw_cfg *f = fw_cfg_find(vm);
    struct linux_setup_header h;
    uint32_t initrd, initrd_size;
    if (!f) {
        snprintf(err, errlen, "no fw_cfg device to hand the kernel to the firmware");
        return -EINVAL;
    }
    int ret = linux_check_bzimage(img, len, err, errlen);
    if (ret < 0)
        return ret;
    memcpy(&h, img + LINUX_HDR_OFFSET, sizeof(h));
    size_t setup = ((size_t)(h.setup_sects ? h.setup_sects : 4) + 1) * 512;
    size_t clen = strnlen(vm->cfg.cmdline, sizeof(vm->cfg.cmdline));
    if (clen > h.cmdline_size) {
        snprintf(err, errlen, "--cmdline is %zu bytes; this kernel accepts at most %u", clen,
                 h.cmdline_size);
        return -EINVAL;
    }
    uint64_t kend = FWL_PROT_ADDR + ALIGN_UP(MAX((uint64_t)(len - setup), h.init_size), 4 * KiB);
    if ((ret = fwl_initrd(vm, f, &h, kend, &initrd, &initrd_size, err, errlen)) < 0)
        return ret;
    uint8_t *s = malloc(setup);
    if (!s)
        return -ENOMEM;
    memcpy(s, img, setup);
    fwl_patch_header(s, initrd, initrd_size);
    ret = fw_cfg_add_item_owned(f, FW_CFG_SETUP_DATA, s, setup);
    if (!ret)
        ret = fw_cfg_add_u32(f, FW_CFG_SETUP_ADDR, (uint32_t)FWL_REAL_ADDR);
    if (!ret)
        ret = fw_cfg_add_u32(f, FW_CFG_SETUP_SIZE, (uint32_t)setup);
    if (!ret)
        ret = fw_cfg_add_item(f, FW_CFG_KERNEL_DATA, img + setup, len - setup);
    if (!ret)
        ret = fw_cfg_add_u32(f, FW_CFG_KERNEL_ADDR, (uint32_t)FWL_PROT_ADDR);
    if (!ret)
        ret = fw_cfg_add_u32(f, FW_CFG_KERNEL_SIZE, (uint32_t)(len - setup));
    if (!ret)
        ret = fw_cfg_add_item(f, FW_CFG_CMDLINE_DATA, vm->cfg.cmdline, clen + 1);
    if (!ret)
        ret = fw_cfg_add_u32(f, FW_CFG_CMDLINE_ADDR, (uint32_t)FWL_CMDLINE_ADDR);
    if (!ret)
        ret = fw_cfg_add_u32(f, FW_CFG_CMDLINE_SIZE, (uint32_t)(clen + 1));
    if (ret < 0)
        snprintf(err, errlen, "cannot build the fw_cfg kernel items: %s", strerror(-ret));
    return ret;
}
