/* vga_regs.c — the std VGA register model: Bochs VBE dispi registers, the VGA ports 0x3b0-0x3df
 * and what they say is on the screen. Pure functions over struct vga_state. */
#include <string.h>

#include "dev/vga.h"
#include "util/state.h"
#include "util/util.h"

#define AR_PAS      0x20 /* attribute index bit 5: palette address source (screen on) */
#define AR_NREGS    0x15
#define CR_PROTECT  0x80 /* CR11 bit 7: CR0-CR7 write protected (but CR7 bit 4) */
#define MISC_COLOR  0x01 /* CRTC at 0x3d4 (else 0x3b4) */
#define GR_GRAPHICS 0x01 /* GR6 bit 0 */
#define SR_CHAIN4   0x08 /* SR4 bit 3 */

/* The standard 16 EGA colours for the DAC at power-on (6 bits per component). */
static const uint8_t ega16[16][3] = {
    {0, 0, 0},    {0, 0, 42},   {0, 42, 0},   {0, 42, 42},  {42, 0, 0},   {42, 0, 42},
    {42, 21, 0},  {42, 42, 42}, {21, 21, 21}, {21, 21, 63}, {21, 63, 21}, {21, 63, 63},
    {63, 21, 21}, {63, 21, 63}, {63, 63, 21}, {63, 63, 63},
};

void vga_regs_reset(struct vga_state *s)
{
    memset(s, 0, sizeof(*s));
    s->vbe[VBE_ID] = VBE_ID5;
    s->misc = MISC_COLOR;
    s->dac_mask = 0xff;
    s->qext_endian = VGA_QEXT_LITTLE;
    for (unsigned i = 0; i < 16; i++) {
        memcpy(&s->palette[i * 3], ega16[i], 3);
        s->ar[i] = (uint8_t)i;
    }
}

static unsigned bytes_pp(unsigned bpp)
{
    return (bpp + 7) / 8;
}

const char *vga_mode_error(unsigned xres, unsigned yres, unsigned bpp, uint64_t vram_bytes)
{
    if (bpp != 8 && bpp != 15 && bpp != 16 && bpp != 24 && bpp != 32)
        return "bits per pixel must be 8, 15, 16, 24 or 32";
    if (xres < 1 || xres > VBE_MAX_XRES)
        return "width must be 1 to 4096";
    if (yres < 1 || yres > VBE_MAX_YRES)
        return "height must be 1 to 2160";
    if ((uint64_t)xres * yres * bytes_pp(bpp) > vram_bytes)
        return "the mode does not fit the video memory";
    return NULL;
}

uint16_t vga_vbe_read(const struct vga_state *s, uint64_t vram_bytes)
{
    unsigned i = s->vbe_index;
    bool caps = s->vbe[VBE_ENABLE] & VBE_EN_GETCAPS;
    if (caps && i == VBE_XRES)
        return VBE_MAX_XRES;
    if (caps && i == VBE_YRES)
        return VBE_MAX_YRES;
    if (caps && i == VBE_BPP)
        return VBE_MAX_BPP;
    if (i == VBE_VIDEO_MEMORY_64K)
        return (uint16_t)MIN(vram_bytes >> 16, 0xffffULL);
    return i < VBE_NREGS ? s->vbe[i] : 0;
}

/* Virtual height for a line of WIDTH pixels at BPP in VRAM_BYTES. */
static uint16_t virt_height(unsigned width, unsigned bpp, uint64_t vram_bytes)
{
    uint64_t line = (uint64_t)width * bytes_pp(bpp);
    return line ? (uint16_t)MIN(vram_bytes / line, 0xffffULL) : 0;
}

void vga_vbe_write(struct vga_state *s, uint16_t val, uint64_t vram_bytes, bool *clear,
                   const char **refused)
{
    uint16_t *r = s->vbe;
    bool on = r[VBE_ENABLE] & VBE_EN_ENABLED;
    unsigned x = r[VBE_XRES], y = r[VBE_YRES], b = r[VBE_BPP];
    const char *why = NULL;
    *clear = false;
    *refused = NULL;
    switch (s->vbe_index) {
    case VBE_ID:
        if (val >= VBE_ID0 && val <= VBE_ID5)
            r[VBE_ID] = val;
        return;
    case VBE_XRES:
    case VBE_YRES:
    case VBE_BPP:
        if (on) { /* a live mode change: only to a mode the device offers */
            x = s->vbe_index == VBE_XRES ? val : x;
            y = s->vbe_index == VBE_YRES ? val : y;
            b = s->vbe_index == VBE_BPP ? val : b;
            if ((why = vga_mode_error(x, y, b, vram_bytes))) {
                *refused = why;
                return;
            }
            r[s->vbe_index] = val;
            r[VBE_VIRT_WIDTH] = (uint16_t)x;
            r[VBE_VIRT_HEIGHT] = virt_height(x, b, vram_bytes);
            r[VBE_X_OFFSET] = r[VBE_Y_OFFSET] = 0;
            return;
        }
        r[s->vbe_index] = val;
        return;
    case VBE_ENABLE:
        if ((val & VBE_EN_ENABLED) && !on) {
            if ((why = vga_mode_error(x, y, b, vram_bytes))) {
                *refused = why;
                r[VBE_ENABLE] = (uint16_t)(val & VBE_EN_GETCAPS); /* stays disabled */
                return;
            }
            r[VBE_VIRT_WIDTH] = (uint16_t)x;
            r[VBE_VIRT_HEIGHT] = virt_height(x, b, vram_bytes);
            r[VBE_X_OFFSET] = r[VBE_Y_OFFSET] = 0;
            r[VBE_BANK] = 0;
            *clear = !(val & VBE_EN_NOCLEARMEM);
        } else if (!(val & VBE_EN_ENABLED)) {
            r[VBE_BANK] = 0;
        }
        r[VBE_ENABLE] = val & (VBE_EN_ENABLED | VBE_EN_GETCAPS | VBE_EN_8BIT_DAC | VBE_EN_LFB);
        return;
    case VBE_BANK:
        if ((uint64_t)val << 16 < vram_bytes)
            r[VBE_BANK] = val;
        return;
    case VBE_VIRT_WIDTH:
        if (on && (val < x || (uint64_t)val * bytes_pp(b) * y > vram_bytes)) {
            *refused = "virtual width below the mode's width or beyond the video memory";
            return;
        }
        r[VBE_VIRT_WIDTH] = val;
        if (on)
            r[VBE_VIRT_HEIGHT] = virt_height(val, b, vram_bytes);
        return;
    case VBE_VIRT_HEIGHT:
    case VBE_X_OFFSET:
    case VBE_Y_OFFSET:
        r[s->vbe_index] = val; /* a panned view outside the memory shows blank (vga_mode_get) */
        return;
    default:
        return; /* VIDEO_MEMORY_64K and unknown indexes are read-only */
    }
}

static uint8_t *crtc_reg(struct vga_state *s, uint16_t port)
{
    bool color = s->misc & MISC_COLOR;
    if ((port & 0xfff0) != (color ? 0x3d0 : 0x3b0))
        return NULL;
    return &s->cr[s->cr_index & 0x1f];
}

uint8_t vga_port_read(struct vga_state *s, uint16_t port)
{
    uint8_t *cr;
    switch (port) {
    case 0x3c0:
        return s->ar_index;
    case 0x3c1:
        return s->ar[s->ar_index & 0x1f];
    case 0x3c2:
        return 0; /* input status 0 */
    case 0x3c4:
        return s->sr_index;
    case 0x3c5:
        return s->sr[s->sr_index & 7];
    case 0x3c6:
        return s->dac_mask;
    case 0x3c7:
        return s->dac_reading ? 3 : 0;
    case 0x3c8:
        return s->dac_windex;
    case 0x3c9: {
        uint8_t v = s->palette[s->dac_rindex * 3 + s->dac_sub];
        if (++s->dac_sub == 3) {
            s->dac_sub = 0;
            s->dac_rindex++;
        }
        return v;
    }
    case 0x3ca:
        return s->feature;
    case 0x3cc:
        return s->misc;
    case 0x3ce:
        return s->gr_index;
    case 0x3cf:
        return s->gr[s->gr_index & 0xf];
    case 0x3b4:
    case 0x3d4:
        return crtc_reg(s, port) ? s->cr_index : 0xff;
    case 0x3b5:
    case 0x3d5:
        return (cr = crtc_reg(s, port)) ? *cr : 0xff;
    case 0x3ba:
    case 0x3da:
        if (!crtc_reg(s, port))
            return 0xff;
        s->ar_flip = false;
        /* display enable and vertical retrace alternate, so polling loops end */
        return (s->st1 ^= 0x09);
    default:
        return 0xff;
    }
}

void vga_port_write(struct vga_state *s, uint16_t port, uint8_t val)
{
    uint8_t *cr;
    switch (port) {
    case 0x3c0:
        if (!s->ar_flip)
            s->ar_index = val & 0x3f;
        else if ((s->ar_index & 0x1f) < AR_NREGS)
            s->ar[s->ar_index & 0x1f] = val;
        s->ar_flip = !s->ar_flip;
        return;
    case 0x3c2:
        s->misc = val;
        return;
    case 0x3c4:
        s->sr_index = val;
        return;
    case 0x3c5:
        s->sr[s->sr_index & 7] = val;
        return;
    case 0x3c6:
        s->dac_mask = val;
        return;
    case 0x3c7:
        s->dac_rindex = val;
        s->dac_sub = 0;
        s->dac_reading = true;
        return;
    case 0x3c8:
        s->dac_windex = val;
        s->dac_sub = 0;
        s->dac_reading = false;
        return;
    case 0x3c9:
        s->dac_latch[s->dac_sub] = (s->vbe[VBE_ENABLE] & VBE_EN_8BIT_DAC) ? val : (val & 0x3f);
        if (++s->dac_sub == 3) {
            memcpy(&s->palette[s->dac_windex * 3], s->dac_latch, 3);
            s->dac_sub = 0;
            s->dac_windex++;
        }
        return;
    case 0x3ce:
        s->gr_index = val;
        return;
    case 0x3cf:
        s->gr[s->gr_index & 0xf] = val;
        return;
    case 0x3b4:
    case 0x3d4:
        if (crtc_reg(s, port))
            s->cr_index = val;
        return;
    case 0x3b5:
    case 0x3d5:
        if (!(cr = crtc_reg(s, port)))
            return;
        if ((s->cr[0x11] & CR_PROTECT) && (s->cr_index & 0x1f) <= 7) {
            if ((s->cr_index & 0x1f) == 7)
                s->cr[7] = (s->cr[7] & ~0x10) | (val & 0x10);
            return;
        }
        *cr = val;
        return;
    case 0x3ba:
    case 0x3da:
        if (crtc_reg(s, port))
            s->feature = val;
        return;
    default:
        return;
    }
}

/* Guest address of the window GR6 maps (0xA0000, 0xB0000 or 0xB8000). */
static uint32_t window_base(const struct vga_state *s)
{
    static const uint32_t base[4] = {0xa0000, 0xa0000, 0xb0000, 0xb8000};
    return base[(s->gr[6] >> 2) & 3];
}

static void mode_vbe(const struct vga_state *s, uint64_t vram_bytes, struct vga_mode *m)
{
    const uint16_t *r = s->vbe;
    unsigned bpp = r[VBE_BPP], bpp_bytes = bytes_pp(bpp);
    m->kind = VGA_VBE;
    m->width = r[VBE_XRES];
    m->height = r[VBE_YRES];
    m->bpp = bpp;
    m->stride = (unsigned)r[VBE_VIRT_WIDTH] * bpp_bytes;
    m->offset = (uint64_t)r[VBE_Y_OFFSET] * m->stride + (uint64_t)r[VBE_X_OFFSET] * bpp_bytes;
    uint64_t need =
        m->offset + (uint64_t)m->stride * (m->height - 1) + (uint64_t)m->width * bpp_bytes;
    if (vga_mode_error(m->width, m->height, bpp, vram_bytes) || m->stride < m->width * bpp_bytes ||
        need > vram_bytes)
        m->kind = VGA_UNSUPPORTED;
}

static void mode_text(const struct vga_state *s, struct vga_mode *m)
{
    unsigned vde = s->cr[0x12] | (s->cr[7] & 0x02) << 7 | (s->cr[7] & 0x40) << 3;
    unsigned start = (unsigned)s->cr[0x0c] << 8 | s->cr[0x0d];
    unsigned cursor = (unsigned)s->cr[0x0e] << 8 | s->cr[0x0f];
    m->kind = VGA_TEXT;
    m->char_h = (s->cr[9] & 0x1f) + 1u;
    m->char_w = (s->sr[1] & 1) ? 8 : 9;
    m->cols = s->cr[1] + 1u;
    m->rows = (vde + 1) / m->char_h;
    if (m->cols > 132 || m->rows < 1 || m->rows > 64 || m->cols * m->rows * 2 > 0x8000) {
        m->kind = VGA_UNSUPPORTED;
        return;
    }
    m->width = m->cols * m->char_w;
    m->height = m->rows * m->char_h;
    m->text_base = window_base(s) + (start * 2 & 0x7fff);
    uint8_t v = s->sr[3];
    unsigned a = ((v >> 5) & 1) | ((v >> 1) & 6), b = ((v >> 4) & 1) | ((v << 1) & 6);
    m->font_off[0] = a * 0x2000; /* attribute bit 3 set: map A */
    m->font_off[1] = b * 0x2000;
    m->cursor = (s->cr[0x0a] & 0x20) || cursor < start || cursor - start >= m->cols * m->rows
                    ? -1
                    : (int)(cursor - start);
    m->cur_start = s->cr[0x0a] & 0x1f;
    m->cur_end = s->cr[0x0b] & 0x1f;
}

static void mode_chain4(const struct vga_state *s, struct vga_mode *m)
{
    unsigned vde = s->cr[0x12] | (s->cr[7] & 0x02) << 7 | (s->cr[7] & 0x40) << 3;
    unsigned scan = ((s->cr[9] & 0x1f) + 1u) * ((s->cr[9] & 0x80) ? 2u : 1u);
    m->kind = VGA_CHAIN4;
    m->width = (s->cr[1] + 1u) * 8 / ((s->ar[0x10] & 0x40) ? 2 : 1);
    m->height = (vde + 1) / scan;
    m->bpp = 8;
    m->stride = m->width;
    m->text_base = window_base(s) + (((unsigned)s->cr[0x0c] << 8 | s->cr[0x0d]) * 4 & 0xffff);
    if (!m->width || !m->height || (uint64_t)m->width * m->height > VGA_LOW_SIZE / 2)
        m->kind = VGA_UNSUPPORTED;
}

void vga_mode_get(const struct vga_state *s, uint64_t vram_bytes, struct vga_mode *m)
{
    memset(m, 0, sizeof(*m));
    m->cursor = -1;
    if (s->vbe[VBE_ENABLE] & VBE_EN_ENABLED)
        mode_vbe(s, vram_bytes, m);
    else if (!(s->ar_index & AR_PAS))
        m->kind = VGA_BLANK;
    else if (!(s->gr[6] & GR_GRAPHICS))
        mode_text(s, m);
    else if (s->sr[4] & SR_CHAIN4)
        mode_chain4(s, m);
    else
        m->kind = VGA_UNSUPPORTED; /* planar 16-colour modes are not rendered */
    if (m->kind == VGA_BLANK || m->kind == VGA_UNSUPPORTED) {
        m->width = 640;
        m->height = 480;
    }
}

void vga_state_visit(struct state_visitor *v, struct vga_state *s)
{
    if (!state_begin(v, "vga", VGA_STATE_VERSION))
        return;
    STATE_U16(v, s->vbe_index);
    for (unsigned i = 0; i < VBE_NREGS; i++)
        STATE_U16(v, s->vbe[i]);
    STATE_CHECK(v, s->vbe[VBE_ID] >= VBE_ID0 && s->vbe[VBE_ID] <= VBE_ID5);
    STATE_U8(v, s->misc);
    STATE_U8(v, s->feature);
    STATE_U8(v, s->sr_index);
    STATE_BYTES(v, s->sr);
    STATE_U8(v, s->gr_index);
    STATE_BYTES(v, s->gr);
    STATE_U8(v, s->cr_index);
    STATE_BYTES(v, s->cr);
    STATE_U8(v, s->ar_index);
    STATE_BYTES(v, s->ar);
    STATE_BOOL(v, s->ar_flip);
    STATE_U8(v, s->dac_mask);
    STATE_U8(v, s->dac_rindex);
    STATE_U8(v, s->dac_windex);
    STATE_U8_MAX(v, s->dac_sub, 2);
    STATE_BOOL(v, s->dac_reading);
    STATE_BYTES(v, s->dac_latch);
    STATE_BYTES(v, s->palette);
    STATE_U32(v, s->qext_endian);
    state_end(v);
}
