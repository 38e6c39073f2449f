/* vga_render.c — turn the std VGA's memory into 0x00RRGGBB pixels: VBE linear modes of 8 to 32
 * bits, text mode with the guest's own font (VGA plane 2) and the 256-colour chain-4 mode. */
#include <string.h>

#include "dev/vga.h"
#include "util/util.h"

/* DAC entry I as 0x00RRGGBB (6-bit components scaled to 8 unless the 8-bit DAC is on). */
static uint32_t dac_rgb(const struct vga_state *s, unsigned i)
{
    const uint8_t *p = &s->palette[(i & 0xff) * 3];
    if (s->vbe[VBE_ENABLE] & VBE_EN_8BIT_DAC)
        return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    uint32_t r = p[0] & 0x3f, g = p[1] & 0x3f, b = p[2] & 0x3f;
    return (r << 2 | r >> 4) << 16 | (g << 2 | g >> 4) << 8 | (b << 2 | b >> 4);
}

static uint32_t px565(uint16_t v)
{
    uint32_t r = v >> 11, g = (v >> 5) & 0x3f, b = v & 0x1f;
    return (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2);
}

static uint32_t px555(uint16_t v)
{
    uint32_t r = (v >> 10) & 0x1f, g = (v >> 5) & 0x1f, b = v & 0x1f;
    return (r << 3 | r >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2);
}

static void render_vbe_row(const struct vga_state *s, const struct vga_mode *m, const uint8_t *p,
                           uint32_t *out)
{
    for (unsigned x = 0; x < m->width; x++) {
        switch (m->bpp) {
        case 8:
            out[x] = dac_rgb(s, p[x]);
            break;
        case 15:
            out[x] = px555((uint16_t)(p[2 * x] | p[2 * x + 1] << 8));
            break;
        case 16:
            out[x] = px565((uint16_t)(p[2 * x] | p[2 * x + 1] << 8));
            break;
        case 24:
            out[x] = (uint32_t)p[3 * x + 2] << 16 | (uint32_t)p[3 * x + 1] << 8 | p[3 * x];
            break;
        default:
            out[x] = (uint32_t)p[4 * x + 2] << 16 | (uint32_t)p[4 * x + 1] << 8 | p[4 * x];
        }
    }
}

/* Text attribute colour C (0-15) through the attribute controller's palette and the DAC. */
static uint32_t text_rgb(const struct vga_state *s, unsigned c)
{
    unsigned i = s->ar[c & 0xf] & 0x3f;
    if (s->ar[0x10] & 0x80) /* P54S: bits 5-4 from the colour select register */
        i = (i & 0x0f) | (s->ar[0x14] & 0x03) << 4;
    i |= (s->ar[0x14] & 0x0c) << 4;
    return dac_rgb(s, i & s->dac_mask);
}

/* One scan line Y of the text screen into OUT. LOW is the 128 KiB at 0xA0000. */
static void render_text_row(const struct vga_state *s, const struct vga_mode *m, const uint8_t *low,
                            unsigned y, uint32_t *out)
{
    unsigned row = y / m->char_h, line = y % m->char_h;
    bool blink = s->ar[0x10] & 0x08, lge = s->ar[0x10] & 0x04;
    for (unsigned col = 0; col < m->cols; col++) {
        unsigned cell = row * m->cols + col;
        uint64_t at = m->text_base - VGA_LOW_BASE + 2ULL * cell;
        uint8_t ch = 0, attr = 0;
        if (at + 1 < VGA_LOW_SIZE) {
            ch = low[at];
            attr = low[at + 1];
        }
        uint32_t fg = text_rgb(s, attr & 0xf), bg = text_rgb(s, (attr >> 4) & (blink ? 7 : 15));
        uint64_t f = (uint64_t)m->font_off[(attr & 0x08) ? 0 : 1] + ch * 32u + line;
        uint8_t bits = f < VGA_LOW_SIZE ? low[f] : 0;
        if ((int)cell == m->cursor && line >= m->cur_start && line <= m->cur_end)
            bits = 0xff;
        uint32_t *o = out + col * m->char_w;
        for (unsigned b = 0; b < 8; b++)
            o[b] = (bits & (0x80 >> b)) ? fg : bg;
        if (m->char_w == 9)
            o[8] = (lge && ch >= 0xc0 && ch <= 0xdf && (bits & 1)) ? fg : bg;
    }
}

void vga_render_rows(const struct vga_state *s, const struct vga_mode *m, const uint8_t *vram,
                     uint64_t vram_size, const uint8_t *low, struct vga_image *img, unsigned y0,
                     unsigned y1)
{
    y1 = MIN(y1, m->height);
    for (unsigned y = y0; y < y1; y++) {
        uint32_t *out = img->px + (size_t)y * img->stride;
        switch (m->kind) {
        case VGA_VBE: {
            uint64_t off = m->offset + (uint64_t)y * m->stride;
            if (off + (uint64_t)m->width * ((m->bpp + 7) / 8) <= vram_size) {
                render_vbe_row(s, m, vram + off, out);
                continue;
            }
            break;
        }
        case VGA_TEXT:
            if (low) {
                render_text_row(s, m, low, y, out);
                continue;
            }
            break;
        case VGA_CHAIN4: {
            uint64_t off = m->text_base - VGA_LOW_BASE + (uint64_t)y * m->stride;
            if (low && off + m->width <= VGA_LOW_SIZE) {
                for (unsigned x = 0; x < m->width; x++)
                    out[x] = dac_rgb(s, low[off + x] & s->dac_mask);
                continue;
            }
            break;
        }
        default:
            break;
        }
        memset(out, 0, (size_t)m->width * sizeof(*out));
    }
}
