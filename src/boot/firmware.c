/* firmware.c — raw firmware ROM: its top 128 KiB copied to end at 1 MiB, started at F000:FFF0. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "util/util.h"
#include "vm/vm.h"

#define FW_MAX_SIZE   (16 * MiB)
#define FW_LEGACY_MAX (128 * KiB) /* 0xE0000-0xFFFFF: what real mode sees below 1 MiB */
#define FW_MIN_SIZE   16          /* must hold the reset vector at 0xFFFF0 */

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

    size_t n = MIN(len, (size_t)FW_LEGACY_MAX);
    uint64_t base = BOOT_HIMEM - n;
    if (guest_mem_write(&vm->mem, base, img + len - n, n) < 0) {
        snprintf(err, errlen, "cannot write the ROM into guest RAM at 0x%llx",
                 (unsigned long long)base);
        return -EFAULT;
    }
    *rom_base = base;
    vm->boot.mode = BOOT_REAL16;
    vm->boot.entry = 0xffff0; /* F000:FFF0 */
    return 0;
}
