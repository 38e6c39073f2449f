/* png.c — screenshots: a rendered screen as a PNG through libpng. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/ui.h"
#include "ui/ui_lib.h"
#include "vm/vm.h"

struct membuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static void mem_write(png_structp png, png_bytep data, size_t n)
{
    struct membuf *b = png_lib_get(NULL, 0)->get_io_ptr(png); /* loaded: we are its callback */
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n + 65536;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

int png_encode(const struct vga_image *img, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    const struct png_lib *L = png_lib_get(err, errlen);
    if (!L)
        return -ENOSYS;
    if (!img->width || !img->height)
        return snprintf(err, errlen, "screenshot: empty image"), -EINVAL;
    struct membuf b = {0};
    uint8_t *row = malloc((size_t)img->width * 3);
    png_structp png = L->create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? L->create_info_struct(png) : NULL;
    int rc = -ENOMEM;
    if (!row || !info)
        goto out;
    rc = -EIO;
    if (setjmp(*L->set_longjmp_fn(png, longjmp, sizeof(jmp_buf))))
        goto out;
    L->set_write_fn(png, &b, mem_write, mem_flush);
    L->set_compression_level(png, 3); /* fast: a screenshot is taken while the guest runs */
    L->set_filter(png, 0, PNG_FILTER_SUB);
    L->set_IHDR(png, info, img->width, img->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    L->write_info(png, info);
    for (unsigned y = 0; y < img->height; y++) {
        const uint32_t *src = img->px + (size_t)y * img->stride;
        for (unsigned x = 0; x < img->width; x++) {
            row[3 * x] = (uint8_t)(src[x] >> 16);
            row[3 * x + 1] = (uint8_t)(src[x] >> 8);
            row[3 * x + 2] = (uint8_t)src[x];
        }
        L->write_row(png, row);
    }
    L->write_end(png, info);
    rc = b.oom ? -ENOMEM : 0;
out:
    if (png)
        L->destroy_write_struct(&png, info ? &info : NULL);
    free(row);
    if (rc) {
        free(b.p);
        snprintf(err, errlen, "screenshot: %s", rc == -ENOMEM ? "out of memory" : "libpng failed");
        return rc;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

int ui_screenshot_png(struct vm *vm, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    struct vga *g = vga_find(vm);
    if (!g)
        return snprintf(err, errlen, "this VM has no display (--display std or vnc=)"), -ENODEV;
    struct vga_image img;
    int rc = vga_screenshot(g, &img);
    if (rc)
        return snprintf(err, errlen, "screenshot: out of memory"), rc;
    rc = png_encode(&img, out, len, err, errlen);
    free(img.px);
    return rc;
}
