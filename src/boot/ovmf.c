/* ovmf.c — UEFI flash images: OVMF's code mapped read-only ending at 4 GiB, its variable store a
 * CFI flash right below (persistent with --firmware-vars); the single-file OVMF.fd as a ROM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "dev/pflash.h"
#include "util/util.h"
#include "vm/vm.h"

/* EFI_FIRMWARE_VOLUME_HEADER: ZeroVector[16], FileSystemGuid at 0x10, FvLength at 0x20,
 * Signature "_FVH" at 0x28. */
#define FV_GUID_OFF 0x10
#define FV_SIG_OFF  0x28
#define FV_HDR_MIN  0x38
#define VARS_MAX    (1 * MiB)
/* EFI_SYSTEM_NV_DATA_FV_GUID fff12b8d-7696-4c8b-a985-2747075b4f50: the variable store's volume */
static const uint8_t nv_fv_guid[16] = {0x8d, 0x2b, 0xf1, 0xff, 0x96, 0x76, 0x8b, 0x4c,
                                       0xa9, 0x85, 0x27, 0x47, 0x07, 0x5b, 0x4f, 0x50};

static bool is_fv(const uint8_t *img, size_t len)
{
    return len >= FV_HDR_MIN && memcmp(img + FV_SIG_OFF, "_FVH", 4) == 0;
}

/* The volume at IMG is the variable store. */
static bool is_nv_fv(const uint8_t *img, size_t len)
{
    return is_fv(img, len) && memcmp(img + FV_GUID_OFF, nv_fv_guid, 16) == 0;
}

bool ovmf_is_flash(const uint8_t *img, size_t len)
{
    return is_fv(img, len);
}

/* Debian's template next to CODE: OVMF_CODE_4M.fd -> OVMF_VARS_4M.fd (the .secboot/.ms code
 * builds share the plain template). Returns 0 or -ENOENT when CODE is not named that way. */
static int vars_template(const char *code, char *out, size_t outlen)
{
    const char *base = strrchr(code, '/');
    base = base ? base + 1 : code;
    const char *at = strstr(base, "_CODE");
    if (!at || strlen(code) + 1 > outlen)
        return -ENOENT;
    size_t n = (size_t)(at - code);
    memcpy(out, code, n);
    snprintf(out + n, outlen - n, "_VARS%s", at + 5);
    char *sec = strstr(out + n, ".secboot");
    if (!sec)
        sec = strstr(out + n, ".ms");
    if (sec)
        memmove(sec, strchr(sec + 1, '.'), strlen(strchr(sec + 1, '.')) + 1);
    return 0;
}

/* Open the variable store: the user's file read-write (*FD), or the template read into *COPY.
 * *SIZE gets its size; *PATH_OUT names it for messages. Returns 0 or -errno with ERR. */
static int vars_open(struct vm *vm, int *fd, uint8_t **copy, size_t *size, char *path,
                     size_t pathlen, char *err, size_t errlen)
{
    *fd = -1;
    *copy = NULL;
    if (vm->cfg.firmware_vars[0]) {
        snprintf(path, pathlen, "%s", vm->cfg.firmware_vars);
        *fd = open(path, O_RDWR | O_CLOEXEC);
        struct stat st;
        if (*fd < 0 || fstat(*fd, &st) < 0) {
            int rc = -errno;
            snprintf(err, errlen, "--firmware-vars %s: %s", path, strerror(-rc));
            return rc == -ENOENT || rc == -EACCES ? -EINVAL : rc;
        }
        *size = (size_t)st.st_size;
        uint8_t *hdr = calloc(1, FV_HDR_MIN);
        ssize_t got = hdr ? pread(*fd, hdr, FV_HDR_MIN, 0) : -1;
        bool ok = got == FV_HDR_MIN && is_nv_fv(hdr, FV_HDR_MIN);
        free(hdr);
        if (!ok) {
            snprintf(err, errlen,
                     "--firmware-vars %s: not a UEFI variable store (start from a "
                     "copy of /usr/share/OVMF/OVMF_VARS_4M.fd)",
                     path);
            return -EINVAL;
        }
        return 0;
    }
    if (vars_template(vm->cfg.firmware, path, pathlen) < 0) {
        snprintf(err, errlen, "no variable store for this UEFI code image: give --firmware-vars");
        return -EINVAL;
    }
    int rc = read_file(path, VARS_MAX, copy, size);
    if (rc < 0) {
        snprintf(err, errlen, "variable store template %s: %s (give --firmware-vars)", path,
                 rc == -EFBIG ? "too large" : strerror(-rc));
        return -EINVAL;
    }
    if (!is_nv_fv(*copy, *size)) {
        snprintf(err, errlen, "variable store template %s: not a UEFI variable store", path);
        return -EINVAL;
    }
    return 0;
}

/* Code and variables together fill the flash device the build was made for (OVMF's FD_SIZE
 * 1, 2 or 4 MiB): that is how OVMF finds its variables at a fixed address. */
static bool flash_sizes_match(size_t code, size_t vars)
{
    size_t fd = code + vars;
    return code % PFLASH_SECTOR == 0 && vars % PFLASH_SECTOR == 0 &&
           (fd == 1 * MiB || fd == 2 * MiB || fd == 4 * MiB);
}

int ovmf_load(struct vm *vm, const uint8_t *img, size_t len, char *err, size_t errlen)
{
    if (len % PFLASH_SECTOR) {
        snprintf(err, errlen, "UEFI image of %zu bytes: not a whole number of 4 KiB flash blocks",
                 len);
        return -EINVAL;
    }
    if (is_nv_fv(img, len)) { /* OVMF.fd: variables inside, kept in RAM by OVMF (like -bios) */
        if (vm->cfg.firmware_vars[0]) {
            snprintf(err, errlen,
                     "--firmware-vars: this single-file OVMF image keeps its "
                     "variables inside; use OVMF_CODE_4M.fd for persistent ones");
            return -EINVAL;
        }
        log_info("firmware: single-file UEFI image; variables last until the VM exits");
        int rc = firmware_map_high(vm, img, len, err, errlen);
        vm->boot.mode = BOOT_REAL16;
        vm->boot.entry = BOOT_RESET_ARCH;
        return rc;
    }
    int fd;
    uint8_t *copy;
    size_t vsize = 0;
    char path[PATH_MAX];
    int rc = vars_open(vm, &fd, &copy, &vsize, path, sizeof(path), err, errlen);
    if (rc)
        goto out;
    rc = -EINVAL;
    if (!flash_sizes_match(len, vsize)) {
        snprintf(err, errlen,
                 "variable store %s (%zu bytes) does not belong to this code image (%zu bytes): "
                 "together they must fill a 1, 2 or 4 MiB flash (OVMF_CODE_4M.fd goes with "
                 "OVMF_VARS_4M.fd)",
                 path, vsize, len);
        goto out;
    }
    rc = firmware_map_high(vm, img, len, err, errlen);
    if (!rc)
        rc =
            pflash_create(vm, LAYOUT_4G - len - vsize, vsize, FW_FLASH_SLOT, fd, copy, err, errlen);
    if (!rc) {
        log_info("firmware: UEFI code %zu KiB, variables %s (%zu KiB%s)", (size_t)(len / KiB), path,
                 (size_t)(vsize / KiB), fd >= 0 ? ", persistent" : ", a private copy");
        vm->boot.mode = BOOT_REAL16;
        vm->boot.entry = BOOT_RESET_ARCH;
    }
out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}
