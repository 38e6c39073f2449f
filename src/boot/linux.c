/* linux.c — bzImage through the Linux 64-bit boot protocol: header checks, zero page, initrd. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "util/util.h"
#include "vm/vm.h"

#define HDR_MIN_LEN 0x206 /* through the "HdrS" magic */
#define HDR_MAX_END (LINUX_HDR_OFFSET + sizeof(struct linux_setup_header))

/* End of the setup header in IMG: 0x202 + the jump's byte offset (boot.rst). */
static size_t hdr_end(const uint8_t *img)
{
    return 0x202 + (size_t)img[0x201];
}

/* Copy the setup header of IMG (LEN >= its end) into H; fields past its end read as 0. */
static void hdr_read(const uint8_t *img, size_t len, struct linux_setup_header *h)
{
    size_t n = MIN(MIN(hdr_end(img), HDR_MAX_END), len) - LINUX_HDR_OFFSET;
    memset(h, 0, sizeof(*h));
    memcpy(h, img + LINUX_HDR_OFFSET, n);
}

/* Size in bytes of the real-mode setup code (boot sector included). */
static size_t setup_size(const struct linux_setup_header *h)
{
    return ((size_t)(h->setup_sects ? h->setup_sects : 4) + 1) * 512;
}

/* The feature checks of an intact header H. Returns 0 or -EINVAL with ERR. */
static int check_features(const struct linux_setup_header *h, char *err, size_t errlen)
{
    if (h->version < LINUX_MIN_VERSION) {
        snprintf(err, errlen, "boot protocol %u.%02u is too old (2.06 or later needed)",
                 h->version >> 8, h->version & 0xff);
        return -EINVAL;
    }
    if (h->version < LINUX_XLF_VERSION || !(h->xloadflags & LINUX_XLF_KERNEL_64)) {
        snprintf(err, errlen,
                 "no 64-bit entry point (xloadflags lacks XLF_KERNEL_64; boot "
                 "protocol %u.%02u): a 64-bit kernel is needed",
                 h->version >> 8, h->version & 0xff);
        return -EINVAL;
    }
    if (!h->relocatable_kernel) {
        snprintf(err, errlen, "kernel is not relocatable (relocatable_kernel is 0)");
        return -EINVAL;
    }
    if (!(h->loadflags & LINUX_LOADED_HIGH)) {
        snprintf(err, errlen, "loadflags lacks LOADED_HIGH: not a bzImage");
        return -EINVAL;
    }
    if (h->setup_sects > LINUX_SETUP_SECT_MAX) {
        snprintf(err, errlen, "setup_sects %u is out of range (at most %u)", h->setup_sects,
                 LINUX_SETUP_SECT_MAX);
        return -EINVAL;
    }
    if (h->kernel_alignment & (h->kernel_alignment - 1)) {
        snprintf(err, errlen, "kernel_alignment 0x%x is not a power of two", h->kernel_alignment);
        return -EINVAL;
    }
    return 0;
}

int linux_check_bzimage(const uint8_t *img, size_t len, char *err, size_t errlen)
{
    struct linux_setup_header h;
    int ret;

    if (len < HDR_MIN_LEN || get_le16(img + 0x1fe) != LINUX_BOOT_FLAG ||
        get_le32(img + 0x202) != LINUX_HDRS_MAGIC) {
        snprintf(err, errlen,
                 "not a kernel: neither a bzImage (boot flag 0xAA55 and \"HdrS\" "
                 "setup header) nor an ELF vmlinux");
        return -EINVAL;
    }
    if (len < hdr_end(img) || len < 0x208) {
        snprintf(err, errlen,
                 "truncated: the setup header ends at 0x%zx but the file has %zu "
                 "bytes",
                 MAX(hdr_end(img), (size_t)0x208), len);
        return -EINVAL;
    }
    hdr_read(img, len, &h);
    ret = check_features(&h, err, errlen);
    if (ret < 0)
        return ret;
    if (hdr_end(img) < LINUX_HDR_OFFSET + offsetof(struct linux_setup_header, init_size) + 4) {
        snprintf(err, errlen, "setup header too short (ends at 0x%zx) for protocol %u.%02u",
                 hdr_end(img), h.version >> 8, h.version & 0xff);
        return -EINVAL;
    }
    if (setup_size(&h) >= len) {
        snprintf(err, errlen, "truncated: %zu bytes of setup code but the file has %zu bytes",
                 setup_size(&h), len);
        return -EINVAL;
    }
    if (h.syssize == 0 || (uint64_t)h.syssize * 16 > len - setup_size(&h)) {
        snprintf(err, errlen, "truncated: syssize says %llu bytes of kernel, the file holds %zu",
                 (unsigned long long)h.syssize * 16, len - setup_size(&h));
        return -EINVAL;
    }
    return 0;
}

/* Where the protected-mode kernel goes: pref_address when it is usable, else 1 MiB. */
static uint64_t load_address(const struct linux_setup_header *h, uint64_t low_end)
{
    uint64_t align = h->kernel_alignment ? h->kernel_alignment : 4096;
    if (h->pref_address >= BOOT_HIMEM && h->pref_address < low_end && h->pref_address % align == 0)
        return h->pref_address;
    return BOOT_HIMEM;
}

/* Where a kernel loaded at LOAD decompresses: a relocatable kernel below pref_address
 * (LOAD_PHYSICAL_ADDR) moves up to it. Clamped so that sums with it cannot overflow. */
static uint64_t run_address(const struct linux_setup_header *h, uint64_t load)
{
    uint64_t align = h->kernel_alignment ? h->kernel_alignment : 4096;
    return MAX(ALIGN_UP(load, align), MIN(h->pref_address, LAYOUT_MAX_GPA));
}

/* End of the memory the kernel uses while it starts: the loaded image and init_size bytes at
 * its run address. */
static uint64_t footprint_end(const struct linux_setup_header *h, uint64_t load, size_t ksize)
{
    uint64_t run = run_address(h, load);
    return MAX(load + ksize, run + MAX((uint64_t)h->init_size, (uint64_t)ksize));
}

/* Fill the zero page at BOOT_ZERO_PAGE. Returns 0 or -EFAULT. */
static int write_zero_page(struct vm *vm, const uint8_t *img, size_t len, uint64_t load,
                           uint64_t initrd, uint64_t initrd_size, uint64_t rsdp)
{
    struct linux_boot_params *bp = gpa_to_hva(&vm->mem, BOOT_ZERO_PAGE, sizeof(*bp));
    if (!bp)
        return -EFAULT;
    memset(bp, 0, sizeof(*bp));
    hdr_read(img, len, &bp->hdr);
    bp->hdr.type_of_loader = LINUX_LOADER_UNKNOWN;
    bp->hdr.setup_data = 0;       /* no setup_data list, whatever the image says */
    bp->hdr.hardware_subarch = 0; /* X86_SUBARCH_PC */
    bp->hdr.hardware_subarch_data = 0;
    bp->hdr.code32_start = (uint32_t)load;
    bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE;
    bp->ext_cmd_line_ptr = (uint32_t)(BOOT_CMDLINE >> 32);
    bp->hdr.ramdisk_image = (uint32_t)initrd;
    bp->ext_ramdisk_image = (uint32_t)(initrd >> 32);
    bp->hdr.ramdisk_size = (uint32_t)initrd_size;
    bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
    bp->e820_entries = (uint8_t)boot_e820(&vm->mem, bp->e820_table, ARRAY_SIZE(bp->e820_table));
    if (bp->hdr.version >= LINUX_RSDP_VERSION)
        bp->acpi_rsdp_addr = rsdp;
    return 0;
}

int linux_load(struct vm *vm, const struct boot_image *im, uint64_t rsdp, char *err, size_t errlen)
{
    const uint8_t *img = im->buf;
    size_t len = im->len;
    struct linux_setup_header h;
    uint64_t initrd = 0, initrd_size = 0;
    int ret = linux_check_bzimage(img, len, err, errlen);
    if (ret < 0)
        return ret;
    hdr_read(img, len, &h);

    size_t ksize = len - setup_size(&h);
    const struct mem_region *low = &vm->mem.r[0];
    uint64_t low_end = low->gpa + low->size;
    uint64_t load = load_address(&h, low_end);
    uint64_t kend = footprint_end(&h, load, ksize);
    if (kend > low_end) {
        snprintf(err, errlen,
                 "kernel needs RAM up to %llu MiB (init_size %u KiB from 0x%llx) "
                 "but --memory gives %llu MiB below 4 GiB",
                 (unsigned long long)(kend / MiB), h.init_size / 1024,
                 (unsigned long long)run_address(&h, load), (unsigned long long)(low_end / MiB));
        return -EFBIG;
    }
    size_t clen = strnlen(vm->cfg.cmdline, sizeof(vm->cfg.cmdline));
    if (clen > h.cmdline_size) {
        snprintf(err, errlen,
                 "--cmdline is %zu bytes; this kernel accepts at most %u "
                 "(cmdline_size)",
                 clen, h.cmdline_size);
        return -EINVAL;
    }
    uint8_t *dst = gpa_to_hva(&vm->mem, load, ksize);
    if (!dst || boot_write_cmdline(vm) < 0) {
        snprintf(err, errlen, "cannot write the kernel into guest RAM at 0x%llx",
                 (unsigned long long)load);
        return -EFAULT;
    }
    /* read now, not behind the guest's back (lazyload.c): the kernel decompresses itself in
     * place, onto pages the host may back with huge pages */
    if ((ret = boot_image_copy(dst, im->fd, img, setup_size(&h), ksize)) < 0) {
        snprintf(err, errlen, "reading the kernel: %s", strerror(-ret));
        return ret;
    }
    uint64_t initrd_top = MIN((uint64_t)h.initrd_addr_max + 1, low_end);
    ret = boot_place_initrd(vm, kend, initrd_top, &initrd, &initrd_size, err, errlen);
    if (ret < 0)
        return ret;
    if (write_zero_page(vm, img, len, load, initrd, initrd_size, rsdp) < 0 ||
        boot_setup_long_mode(vm) < 0) {
        snprintf(err, errlen, "cannot write the zero page or page tables");
        return -EFAULT;
    }
    vm->boot.mode = BOOT_LINUX64;
    vm->boot.entry = load + LINUX_ENTRY64_OFFSET;
    vm->boot.rsi = BOOT_ZERO_PAGE;
    return 0;
}
