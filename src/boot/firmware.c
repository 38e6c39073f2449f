/* firmware.c — raw firmware ROM: its top 256 KiB copied to end at 1 MiB, the whole image mapped
 * read-only to end at 4 GiB, started at F000:FFF0; UEFI flash images go to boot/ovmf.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define FW_MAX_SIZE (16 * MiB)
/* 0xC0000-0xFFFFF: the legacy window below 1 MiB. A 256 KiB SeaBIOS is linked for all of it and
 * copies its lower half there through the chipset's PAM registers, which truce does not model;
 * the window is RAM pre-filled with the image's top 256 KiB instead. */
#define FW_LEGACY_MAX (256 * KiB)
#define FW_MIN_SIZE   16 /* must hold the reset vector at 0xFFFF0 */

/* One line in ERR when IMG looks like something that should go through --kernel. */
static bool looks_like_kernel(const uint8_t *img, size_t len, char *err, size_t errlen)
{
    if (len >= 4 && memcmp(img, "\177ELF", 4) == 0) {
        snprintf(err, errlen, "is an ELF file, not a raw ROM: boot it with --kernel");
        return true;
    }
    if (len >= 0x206 && img[0x1fe] == 0x55 && img[0x1ff] == 0xaa &&
        memcmp(img + 0x202, "HdrS", 4) == 0) {
        snprintf(err, errlen, "is a Linux bzImage, not a raw ROM: boot it with --kernel");
        return true;
    }
    return false;
}

/* The read-only copy of the image below 4 GiB: a device instance so vm_destroy unmaps it. */
struct fw_rom {
    void *map;
    size_t size;
};

static void fw_rom_destroy(void *dev)
{
    struct fw_rom *r = dev;
    munmap(r->map, r->size);
    free(r);
}

static const struct device_ops fw_rom_ops = {.name = "firmware-rom", .destroy = fw_rom_destroy};

/* Map IMG read-only at [4 GiB - LEN, 4 GiB), as the flash of a PC: guest writes there exit as
 * unmapped MMIO (counted, dropped) and never reach the file. An image whose window would cover
 * KVM's TSS or identity map below it is only copied below 1 MiB. Returns 0 or -errno with ERR. */
int firmware_map_high(struct vm *vm, const uint8_t *img, size_t len, char *err, size_t errlen)
{
    size_t size = ALIGN_UP(len, 4 * KiB);
    uint64_t base = LAYOUT_4G - size;
    if (base < LAYOUT_TSS_ADDR + 3 * 4 * KiB) {
        log_info("firmware: %llu KiB image not mapped below 4 GiB (it would cover KVM's TSS)",
                 (unsigned long long)(len / KiB));
        return 0;
    }
    if (!vm->kvm)
        return 0; /* unit-test fixture: no KVM VM */
    struct fw_rom *r = calloc(1, sizeof(*r));
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!r || map == MAP_FAILED) {
        free(r);
        snprintf(err, errlen, "cannot map the ROM: out of memory");
        return -ENOMEM;
    }
    memcpy((uint8_t *)map + (size - len), img, len);
    mprotect(map, size, PROT_READ);
    *r = (struct fw_rom){.map = map, .size = size};
    struct kvm_userspace_memory_region reg = {.slot = FW_ROM_SLOT,
                                              .flags = KVM_MEM_READONLY,
                                              .guest_phys_addr = base,
                                              .memory_size = size,
                                              .userspace_addr = (uintptr_t)map};
    int rc = ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0 ? -errno : 0;
    if (!rc)
        rc = device_add(vm, &fw_rom_ops, r);
    if (rc) {
        fw_rom_destroy(r);
        snprintf(err, errlen, "cannot map the ROM read-only at 0x%llx: %s",
                 (unsigned long long)base, strerror(-rc));
    }
    return rc;
}

int firmware_load(struct vm *vm, const uint8_t *img, size_t len, uint64_t *rom_base, char *err,
                  size_t errlen)
{
    if (len < FW_MIN_SIZE) {
        snprintf(err, errlen, "ROM of %zu bytes is too small to hold a reset vector", len);
        return -EINVAL;
    }
    if (len > FW_MAX_SIZE) {
        snprintf(err, errlen, "ROM of %zu bytes is larger than %llu MiB", len,
                 (unsigned long long)(FW_MAX_SIZE / MiB));
        return -EFBIG;
    }
    if (looks_like_kernel(img, len, err, errlen))
        return -EINVAL;
    if (ovmf_is_flash(img, len)) {
        *rom_base = BOOT_HIMEM; /* nothing below 1 MiB */
        return ovmf_load(vm, img, len, err, errlen);
    }
    if (vm->cfg.firmware_vars[0]) {
        snprintf(err, errlen,
                 "--firmware-vars: only a UEFI (OVMF) code image has a variable "
                 "store, this is a legacy BIOS ROM");
        return -EINVAL;
    }

    size_t n = MIN(len, (size_t)FW_LEGACY_MAX);
    uint64_t base = BOOT_HIMEM - n;
    if (guest_mem_write(&vm->mem, base, img + len - n, n) < 0) {
        snprintf(err, errlen, "cannot write the ROM into guest RAM at 0x%llx",
                 (unsigned long long)base);
        return -EFAULT;
    }
    int rc = firmware_map_high(vm, img, len, err, errlen);
    if (rc)
        return rc;
    *rom_base = base;
    vm->boot.mode = BOOT_REAL16;
    vm->boot.entry = 0xffff0; /* F000:FFF0 */
    return 0;
}

int firmware_restore(struct vm *vm, const uint8_t *img, size_t len, char *err, size_t errlen)
{
    if (len < FW_MIN_SIZE || len > FW_MAX_SIZE) {
        snprintf(err, errlen, "%zu bytes: not the firmware this VM booted", len);
        return -EINVAL;
    }
    if (ovmf_is_flash(img, len))
        return ovmf_load(vm, img, len, err, errlen);
    return firmware_map_high(vm, img, len, err, errlen);
}
