/* image.c — a kernel file opened for loading: what the parsers read in a buffer, the bulk of a
 * PVH vmlinux or a bzImage read once, straight into guest RAM. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot_priv.h"
#include "util/util.h"

#define IMAGE_HEAD (64 * KiB) /* read first: every header truce parses starts in it */

/* Read [OFF, OFF+N) of the file into the buffer (clipped to the file). Returns 0 or -errno. */
static int image_fill(struct boot_image *im, uint64_t off, uint64_t n)
{
    if (off >= im->len)
        return 0;
    n = MIN(n, im->len - off);
    return pread_full(im->fd, im->buf + off, n, off);
}

/* An ELF with a PVH note: its header, program headers and notes. True when the note was found,
 * so that nothing else of the file is parsed (the segments go to guest RAM by boot_image_copy). */
static bool image_elf_pvh(struct boot_image *im)
{
    struct elf_info e;
    char err[160];
    uint32_t entry;
    if (boot_elf_parse(im->buf, im->len, &e, err, sizeof(err)) < 0 ||
        image_fill(im, e.phoff, (uint64_t)e.phnum * (e.is64 ? 56 : 32)) < 0)
        return false;
    for (unsigned i = 0; i < e.phnum; i++) {
        Elf64_Phdr p = boot_elf_phdr(im->buf, &e, i);
        if (p.p_type == PT_NOTE && image_fill(im, p.p_offset, p.p_filesz) < 0)
            return false;
    }
    return pvh_find_entry(im->buf, im->len, &entry, err, sizeof(err)) == 0;
}

int boot_open_regular(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL : 0;
    if (rc) {
        close(fd);
        return rc;
    }
    *len = (size_t)st.st_size;
    return fd;
}

int boot_image_open(struct boot_image *im, const char *path, size_t max)
{
    memset(im, 0, sizeof(*im));
    im->fd = boot_open_regular(path, &im->len);
    if (im->fd < 0)
        return im->fd;
    int rc = im->len > max ? -EFBIG : 0;
    if (rc)
        goto fail;
    /* pages never read into stay unbacked */
    im->map_len = im->len ? im->len : 1;
    im->buf = mmap(NULL, im->map_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (im->buf == MAP_FAILED) {
        im->buf = NULL;
        rc = -errno;
        goto fail;
    }
    if ((rc = image_fill(im, 0, IMAGE_HEAD)) < 0)
        goto fail;
    bool bzimage = im->len >= 0x206 && memcmp(im->buf + 0x202, "HdrS", 4) == 0;
    bool elf = im->len >= 4 && memcmp(im->buf, "\177ELF", 4) == 0;
    if (bzimage || (elf && image_elf_pvh(im)))
        return 0; /* sparse: the loaders read the kernel from FD */
    /* anything else (multiboot, a bad file) is parsed whole */
    if ((rc = image_fill(im, IMAGE_HEAD, im->len)) < 0)
        goto fail;
    close(im->fd);
    im->fd = -1;
    return 0;
fail:
    boot_image_close(im);
    return rc;
}

void boot_image_close(struct boot_image *im)
{
    if (im->buf)
        munmap(im->buf, im->map_len);
    if (im->fd >= 0)
        close(im->fd);
    memset(im, 0, sizeof(*im));
    im->fd = -1;
}

int boot_image_copy(void *dst, int fd, const uint8_t *img, uint64_t off, size_t n)
{
    if (fd >= 0)
        return pread_full(fd, dst, n, off);
    memcpy(dst, img + off, n);
    return 0;
}
