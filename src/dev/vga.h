/* vga.h — contracts of the VGA-compatible PCI display (Bochs/QEMU "std VGA", PCI 1234:1111):
 * its register model, the device, and rendering its screen for VNC and screenshots. */
#ifndef TRUCE_VGA_H
#define TRUCE_VGA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/pci.h"

struct vm;
struct state_visitor;

/* ---- the Bochs VBE "dispi" interface -----------------------------------------------------------
 * Index/data at ports 0x1ce/0x1cf and, 16 bits per index, at offset 0x500 of the MMIO BAR. */
#define VBE_PORT_INDEX       0x1ce
#define VBE_PORT_DATA        0x1cf
#define VBE_ID               0
#define VBE_XRES             1
#define VBE_YRES             2
#define VBE_BPP              3
#define VBE_ENABLE           4
#define VBE_BANK             5
#define VBE_VIRT_WIDTH       6
#define VBE_VIRT_HEIGHT      7
#define VBE_X_OFFSET         8
#define VBE_Y_OFFSET         9
#define VBE_VIDEO_MEMORY_64K 10
#define VBE_NREGS            10 /* stored registers 0..9; 10 is computed */
#define VBE_ID0              0xb0c0
#define VBE_ID5              0xb0c5
#define VBE_EN_ENABLED       0x01
#define VBE_EN_GETCAPS       0x02
#define VBE_EN_8BIT_DAC      0x20
#define VBE_EN_LFB           0x40
#define VBE_EN_NOCLEARMEM    0x80
#define VBE_MAX_XRES         4096 /* offered maxima (GETCAPS); a mode must also fit the VRAM */
#define VBE_MAX_YRES         2160
#define VBE_MAX_BPP          32

/* MMIO BAR (BAR2, 4 KiB) as QEMU's std VGA: EDID blob (none here: reads zero), the VGA ports
 * 0x3c0-0x3df, the dispi registers, QEMU's extended registers (size, framebuffer byte order). */
#define VGA_MMIO_SIZE   0x1000
#define VGA_MMIO_VGA    0x400
#define VGA_MMIO_DISPI  0x500
#define VGA_MMIO_QEXT   0x600
#define VGA_QEXT_SIZE   8
#define VGA_QEXT_LITTLE 0x1e1e1e1eu
#define VGA_QEXT_BIG    0xbebebebeu

/* The legacy window below 1 MiB (guest RAM in truce: text and chain-4 modes read it there). */
#define VGA_LOW_BASE 0xa0000ULL
#define VGA_LOW_SIZE 0x20000ULL

/* Guest-visible registers: what a snapshot holds besides the framebuffer. */
#define VGA_STATE_VERSION 1
struct vga_state {
    uint16_t vbe_index;
    uint16_t vbe[VBE_NREGS];
    uint8_t misc, feature;
    uint8_t sr_index, sr[8];
    uint8_t gr_index, gr[16];
    uint8_t cr_index, cr[32];
    uint8_t ar_index, ar[32];
    bool ar_flip; /* the next 0x3c0 write is data */
    uint8_t dac_mask, dac_rindex, dac_windex, dac_sub;
    bool dac_reading; /* 0x3c7 state: last set up for reads */
    uint8_t dac_latch[3];
    uint8_t palette[256 * 3]; /* 6 bits per component (8 with VBE_EN_8BIT_DAC) */
    uint32_t qext_endian;
    uint8_t st1; /* input status 1 retrace toggle: runtime, not saved */
};

/* What the registers say is on the screen. */
enum vga_kind { VGA_BLANK, VGA_TEXT, VGA_CHAIN4, VGA_VBE, VGA_UNSUPPORTED };
struct vga_mode {
    enum vga_kind kind;
    unsigned width, height; /* pixels */
    /* VBE */
    unsigned bpp, stride; /* bits per pixel, bytes per line */
    uint64_t offset;      /* of the first visible pixel in the VRAM */
    /* text */
    unsigned cols, rows, char_h, char_w; /* char_w 8 or 9 */
    uint32_t text_base;                  /* guest address of the first character cell */
    uint32_t font_off[2];                /* offsets of the two character maps in plane 2 */
    int cursor;                          /* cell index, -1: hidden */
    unsigned cur_start, cur_end;
};

/* ---- register model (dev/vga_regs.c): pure, no VM ------------------------------------------- */
/* Power-on values (VRAM of VRAM_BYTES). */
void vga_regs_reset(struct vga_state *s);
/* Read / write the VBE data register (index s->vbe_index). A write of ENABLE with ENABLED set is
 * refused (ENABLE stays as it was, *REFUSED set to a static message) when the mode in XRES, YRES,
 * BPP is not one the device offers or does not fit VRAM_BYTES. *CLEAR is set when the caller must
 * zero the VRAM (a mode was enabled without NOCLEARMEM). */
uint16_t vga_vbe_read(const struct vga_state *s, uint64_t vram_bytes);
void vga_vbe_write(struct vga_state *s, uint16_t val, uint64_t vram_bytes, bool *clear,
                   const char **refused);
/* Why XRES x YRES x BPP is not offered with VRAM_BYTES (NULL: it is). */
const char *vga_mode_error(unsigned xres, unsigned yres, unsigned bpp, uint64_t vram_bytes);
/* VGA port PORT (0x3b0-0x3df) read / write of one byte. */
uint8_t vga_port_read(struct vga_state *s, uint16_t port);
void vga_port_write(struct vga_state *s, uint16_t port, uint8_t val);
/* Decode the registers into M. */
void vga_mode_get(const struct vga_state *s, uint64_t vram_bytes, struct vga_mode *m);
/* The state description for save and load (range rules included). */
void vga_state_visit(struct state_visitor *v, struct vga_state *s);

/* ---- the device (dev/vga.c) ------------------------------------------------------------------ */
struct vga {
    struct vm *vm;
    pthread_mutex_t lock; /* s, and the framebuffer's mapping */
    struct vga_state s;
    struct pci_dev pci;
    uint8_t *vram; /* VRAM (BAR0), its own mapping: not guest RAM */
    uint64_t vram_size;
    uint64_t vram_gpa; /* where its KVM slot is (0: not mapped) */
    bool dirty_log;    /* the slot logs dirty pages */
    uint64_t refused;  /* mode changes refused (counter) */
    uint32_t retrace;  /* input status 1 toggle (runtime) */
};

/* The display of VM, or NULL (no --display). */
struct vga *vga_find(struct vm *vm);

/* A rendered screen: 32-bit pixels 0x00RRGGBB, WIDTH * HEIGHT, STRIDE pixels per line. */
struct vga_image {
    uint32_t *px;
    unsigned width, height, stride;
};

/* ---- rendering (dev/vga_render.c) ------------------------------------------------------------
 * Render what M describes from VRAM (the framebuffer) and LOW (the guest's 128 KiB at 0xA0000,
 * NULL when unavailable) with S's palette into IMG, rows [Y0, Y1) only. IMG must be
 * M->width x M->height. Pure. */
void vga_render_rows(const struct vga_state *s, const struct vga_mode *m, const uint8_t *vram,
                     uint64_t vram_size, const uint8_t *low, struct vga_image *img, unsigned y0,
                     unsigned y1);
/* Snapshot the current mode and render the whole screen into a malloc'd image (*OUT; free
 * out->px). Any thread. Returns 0 or -ENOMEM / -ENODEV. */
int vga_screenshot(struct vga *g, struct vga_image *out);
/* The current mode (under the lock). */
void vga_current_mode(struct vga *g, struct vga_mode *m);
/* Pages of the framebuffer written since the last call: a bitmap of vram_size / 4096 bits in
 * BITS (KVM dirty log). Returns 0, or -errno when dirty logging is unavailable (the caller then
 * compares contents). */
int vga_dirty_pages(struct vga *g, uint64_t *bits);

#endif
