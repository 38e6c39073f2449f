/* test_vga.c — the std VGA display: dispi register semantics, mode validation, VGA ports,
 * rendering of VBE and text modes, the device on PCI and its ports, state round trip, PNG. */
#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

#include "devtest.h"
#include "statetest.h"
#include "bus/pci.h"
#include "dev/vga.h"
#include "ui/ui.h"

#define VRAM (4ULL << 20)

static void vbe_w(struct vga_state *s, unsigned idx, uint16_t v, bool *clear, const char **why)
{
    s->vbe_index = (uint16_t)idx;
    vga_vbe_write(s, v, VRAM, clear, why);
}

static uint16_t vbe_r(struct vga_state *s, unsigned idx)
{
    s->vbe_index = (uint16_t)idx;
    return vga_vbe_read(s, VRAM);
}

static void test_dispi(void **state)
{
    struct vga_state s;
    bool clear;
    const char *why;
    vga_regs_reset(&s);
    assert_int_equal(vbe_r(&s, VBE_ID), VBE_ID5);
    vbe_w(&s, VBE_ID, 0x1234, &clear, &why); /* not an id: ignored */
    assert_int_equal(vbe_r(&s, VBE_ID), VBE_ID5);
    vbe_w(&s, VBE_ID, VBE_ID0 + 2, &clear, &why);
    assert_int_equal(vbe_r(&s, VBE_ID), VBE_ID0 + 2);
    assert_int_equal(vbe_r(&s, VBE_VIDEO_MEMORY_64K), VRAM >> 16);
    vbe_w(&s, VBE_VIDEO_MEMORY_64K, 1, &clear, &why); /* read-only */
    assert_int_equal(vbe_r(&s, VBE_VIDEO_MEMORY_64K), VRAM >> 16);
    assert_int_equal(vbe_r(&s, 0x44), 0); /* unknown index */
    /* GETCAPS: the maxima instead of the registers */
    vbe_w(&s, VBE_XRES, 800, &clear, &why);
    vbe_w(&s, VBE_ENABLE, VBE_EN_GETCAPS, &clear, &why);
    assert_int_equal(vbe_r(&s, VBE_XRES), VBE_MAX_XRES);
    assert_int_equal(vbe_r(&s, VBE_YRES), VBE_MAX_YRES);
    assert_int_equal(vbe_r(&s, VBE_BPP), 32);
    vbe_w(&s, VBE_ENABLE, 0, &clear, &why);
    assert_int_equal(vbe_r(&s, VBE_XRES), 800);
    /* a mode: virtual size and offsets follow, the memory is cleared */
    vbe_w(&s, VBE_YRES, 600, &clear, &why);
    vbe_w(&s, VBE_BPP, 32, &clear, &why);
    vbe_w(&s, VBE_ENABLE, VBE_EN_ENABLED | VBE_EN_LFB, &clear, &why);
    assert_null(why);
    assert_true(clear);
    assert_int_equal(vbe_r(&s, VBE_ENABLE), VBE_EN_ENABLED | VBE_EN_LFB);
    assert_int_equal(vbe_r(&s, VBE_VIRT_WIDTH), 800);
    assert_int_equal(vbe_r(&s, VBE_VIRT_HEIGHT), VRAM / (800 * 4));
    /* a live change to a mode that does not fit is refused; one that fits is taken */
    vbe_w(&s, VBE_XRES, 2048, &clear, &why);
    assert_non_null(why);
    assert_int_equal(vbe_r(&s, VBE_XRES), 800);
    vbe_w(&s, VBE_XRES, 1024, &clear, &why);
    assert_null(why);
    assert_int_equal(vbe_r(&s, VBE_VIRT_WIDTH), 1024);
    /* virtual width: not below the width, not beyond the memory */
    vbe_w(&s, VBE_VIRT_WIDTH, 512, &clear, &why);
    assert_non_null(why);
    vbe_w(&s, VBE_VIRT_WIDTH, 1800, &clear, &why);
    assert_non_null(why); /* 1800 * 4 * 600 > 4 MiB */
    vbe_w(&s, VBE_VIRT_WIDTH, 1280, &clear, &why);
    assert_null(why);
    assert_int_equal(vbe_r(&s, VBE_VIRT_HEIGHT), VRAM / (1280 * 4));
    /* bank: inside the memory only */
    vbe_w(&s, VBE_BANK, 63, &clear, &why);
    assert_int_equal(vbe_r(&s, VBE_BANK), 63);
    vbe_w(&s, VBE_BANK, 64, &clear, &why);
    assert_int_equal(vbe_r(&s, VBE_BANK), 63);
    /* disable; enable again without clearing */
    vbe_w(&s, VBE_ENABLE, 0, &clear, &why);
    assert_int_equal(vbe_r(&s, VBE_BANK), 0);
    vbe_w(&s, VBE_ENABLE, VBE_EN_ENABLED | VBE_EN_NOCLEARMEM, &clear, &why);
    assert_false(clear);
    assert_int_equal(vbe_r(&s, VBE_ENABLE), VBE_EN_ENABLED); /* NOCLEARMEM is not stored */
}

static void test_mode_validation(void **state)
{
    assert_null(vga_mode_error(1920, 1080, 32, 16ULL << 20));
    assert_null(vga_mode_error(2560, 1600, 32, 16ULL << 20));
    assert_null(vga_mode_error(640, 480, 8, VRAM));
    assert_null(vga_mode_error(1366, 768, 16, VRAM));
    assert_non_null(vga_mode_error(1920, 1080, 32, VRAM)); /* 8.3 MB > 4 MiB */
    assert_non_null(vga_mode_error(640, 480, 4, VRAM));    /* planar 4-bit: not offered */
    assert_non_null(vga_mode_error(640, 480, 0, VRAM));
    assert_non_null(vga_mode_error(640, 480, 12, VRAM));
    assert_non_null(vga_mode_error(0, 480, 32, VRAM));
    assert_non_null(vga_mode_error(640, 0, 32, VRAM));
    assert_non_null(vga_mode_error(4097, 16, 8, 64ULL << 20));
    assert_non_null(vga_mode_error(16, 2161, 8, 64ULL << 20));
    /* refused at ENABLE: stays disabled */
    struct vga_state s;
    bool clear;
    const char *why;
    vga_regs_reset(&s);
    vbe_w(&s, VBE_XRES, 1920, &clear, &why);
    vbe_w(&s, VBE_YRES, 1080, &clear, &why);
    vbe_w(&s, VBE_BPP, 32, &clear, &why);
    vbe_w(&s, VBE_ENABLE, VBE_EN_ENABLED | VBE_EN_LFB, &clear, &why);
    assert_non_null(why);
    assert_false(clear);
    assert_int_equal(vbe_r(&s, VBE_ENABLE) & VBE_EN_ENABLED, 0);
    struct vga_mode m;
    vga_mode_get(&s, VRAM, &m);
    assert_int_not_equal(m.kind, VGA_VBE);
}

static void test_vga_ports(void **state)
{
    struct vga_state s;
    vga_regs_reset(&s);
    /* attribute controller: index, data, and the flip-flop reset by input status 1 */
    vga_port_write(&s, 0x3c0, 0x30); /* index 0x10 with PAS */
    vga_port_write(&s, 0x3c0, 0x0c);
    assert_int_equal(s.ar[0x10], 0x0c);
    vga_port_write(&s, 0x3c0, 0x11);
    (void)vga_port_read(&s, 0x3da); /* flip-flop back to index */
    vga_port_write(&s, 0x3c0, 0x32);
    assert_int_equal(vga_port_read(&s, 0x3c0), 0x32);
    assert_int_equal(s.ar[0x11], 0);
    /* input status 1 toggles so polling loops end */
    uint8_t a = vga_port_read(&s, 0x3da), b = vga_port_read(&s, 0x3da);
    assert_int_not_equal(a & 0x08, b & 0x08);
    /* DAC: three writes per entry, auto-increment; reads the same way */
    vga_port_write(&s, 0x3c8, 5);
    for (uint8_t i = 0; i < 6; i++)
        vga_port_write(&s, 0x3c9, (uint8_t)(0x40 | (10 + i))); /* 6-bit DAC drops bit 6 */
    assert_int_equal(vga_port_read(&s, 0x3c8), 7);
    vga_port_write(&s, 0x3c7, 5);
    assert_int_equal(vga_port_read(&s, 0x3c7), 3);
    for (uint8_t i = 0; i < 6; i++)
        assert_int_equal(vga_port_read(&s, 0x3c9), 10 + i);
    /* CRTC at 0x3d4 in colour mode, absent at 0x3b4; CR0-7 write-protected by CR11 bit 7 */
    vga_port_write(&s, 0x3d4, 0x01);
    vga_port_write(&s, 0x3d5, 0x4f);
    assert_int_equal(vga_port_read(&s, 0x3d5), 0x4f);
    assert_int_equal(vga_port_read(&s, 0x3b5), 0xff);
    vga_port_write(&s, 0x3d4, 0x11);
    vga_port_write(&s, 0x3d5, 0x80);
    vga_port_write(&s, 0x3d4, 0x01);
    vga_port_write(&s, 0x3d5, 0x27);
    assert_int_equal(vga_port_read(&s, 0x3d5), 0x4f);
    vga_port_write(&s, 0x3c2, 0x00); /* monochrome: the CRTC moves to 0x3b4 */
    vga_port_write(&s, 0x3b4, 0x0e);
    assert_int_equal(vga_port_read(&s, 0x3b4), 0x0e);
    assert_int_equal(vga_port_read(&s, 0x3d4), 0xff);
}

/* Program S for 80x25 text with 16-line characters, 8 dots wide, cursor at cell CUR. */
static void text_mode(struct vga_state *s, unsigned cur)
{
    vga_regs_reset(s);
    s->ar_index = 0x20;
    s->sr[1] = 0x01;
    s->gr[6] = 0x0e; /* text, B8000 */
    s->cr[1] = 79;
    s->cr[9] = 15;
    s->cr[0x12] = 0x8f; /* 400 lines - 1 = 0x18f */
    s->cr[7] = 0x02;
    s->cr[0x0a] = 14;
    s->cr[0x0b] = 15;
    s->cr[0x0e] = (uint8_t)(cur >> 8);
    s->cr[0x0f] = (uint8_t)cur;
}

static void test_render_text(void **state)
{
    struct vga_state s;
    text_mode(&s, 81);
    struct vga_mode m;
    vga_mode_get(&s, VRAM, &m);
    assert_int_equal(m.kind, VGA_TEXT);
    assert_int_equal(m.cols, 80);
    assert_int_equal(m.rows, 25);
    assert_int_equal(m.width, 640);
    assert_int_equal(m.height, 400);
    assert_int_equal(m.cursor, 81);
    uint8_t *low = calloc(1, VGA_LOW_SIZE);
    assert_non_null(low);
    /* the font in plane 2 (at 0xA0000 here): 'A' has its left column lit on every line */
    for (unsigned l = 0; l < 16; l++)
        low['A' * 32 + l] = 0x80;
    low[0x18000] = 'A'; /* cell 0: 'A', white on blue */
    low[0x18001] = 0x1f;
    low[0x18002] = ' '; /* cell 1: blank, grey on black */
    low[0x18003] = 0x07;
    low[0x18000 + 2 * 81 + 1] = 0x07; /* the cursor's cell: grey on black */
    struct vga_image img = {calloc(640 * 400, 4), 640, 400, 640};
    vga_render_rows(&s, &m, NULL, 0, low, &img, 0, 400);
    assert_int_equal(img.px[0], 0xffffff);           /* lit: colour 15 */
    assert_int_equal(img.px[1], 0x0000aa);           /* background: colour 1 */
    assert_int_equal(img.px[5 * 640 + 8], 0x000000); /* cell 1 */
    /* the cursor: lines 14-15 of cell 81 (row 1, column 1) in the foreground colour */
    assert_int_equal(img.px[(16 + 14) * 640 + 9], 0xaaaaaa);
    assert_int_equal(img.px[(16 + 13) * 640 + 9], 0x000000);
    /* palette address source off: blank */
    s.ar_index = 0;
    vga_mode_get(&s, VRAM, &m);
    assert_int_equal(m.kind, VGA_BLANK);
    free(img.px);
    free(low);
}

static void test_render_vbe(void **state)
{
    static const struct {
        unsigned bpp;
        uint8_t px[4];
        uint32_t want;
    } cases[] = {
        {32, {0x33, 0x22, 0x11, 0}, 0x112233}, {24, {0x33, 0x22, 0x11, 0}, 0x112233},
        {16, {0x1f, 0xf8, 0, 0}, 0xff00ff}, /* red and blue full, green 0 */
        {15, {0xe0, 0x03, 0, 0}, 0x00ff00}, /* green full */
        {8, {4, 0, 0, 0}, 0xaa0000},        /* DAC entry 4: EGA red */
    };
    uint8_t *vram = calloc(1, VRAM);
    assert_non_null(vram);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct vga_state s;
        bool clear;
        const char *why;
        vga_regs_reset(&s);
        vbe_w(&s, VBE_XRES, 16, &clear, &why);
        vbe_w(&s, VBE_YRES, 8, &clear, &why);
        vbe_w(&s, VBE_BPP, (uint16_t)cases[i].bpp, &clear, &why);
        vbe_w(&s, VBE_ENABLE, VBE_EN_ENABLED, &clear, &why);
        vbe_w(&s, VBE_Y_OFFSET, 2, &clear, &why); /* panned: row 0 shows line 2 */
        struct vga_mode m;
        vga_mode_get(&s, VRAM, &m);
        assert_int_equal(m.kind, VGA_VBE);
        unsigned bpp = (cases[i].bpp + 7) / 8;
        memset(vram, 0, 4096);
        memcpy(vram + 2 * 16 * bpp + 3 * bpp, cases[i].px, bpp); /* line 2, pixel 3 */
        uint32_t px[16 * 8];
        struct vga_image img = {px, 16, 8, 16};
        vga_render_rows(&s, &m, vram, VRAM, NULL, &img, 0, 8);
        if (px[3] != cases[i].want)
            fail_msg("%u bpp: %#x, want %#x", cases[i].bpp, px[3], cases[i].want);
        assert_int_equal(px[2], 0);
        /* panned beyond the memory: nothing is read from outside it */
        vbe_w(&s, VBE_VIRT_WIDTH, 4096, &clear, &why);
        vbe_w(&s, VBE_Y_OFFSET, 0xffff, &clear, &why);
        vga_mode_get(&s, VRAM, &m);
        assert_int_equal(m.kind, VGA_UNSUPPORTED);
    }
    free(vram);
}

/* ---- the device ------------------------------------------------------------------------- */

static void dev_vm(struct vm *vm, uint8_t **ram)
{
    test_vm_init(vm, 16 * MiB);
    *ram = calloc(1, 16 * MiB);
    assert_non_null(*ram);
    vm->mem.r[0].hva = *ram;
    vm->cfg.display = (struct display_config){.kind = DISPLAY_STD, .vram_mib = 4};
    assert_int_equal(pci_bus_create(vm), 0);
    test_create(vm, "vga");
}

static void dev_free(struct vm *vm, uint8_t *ram)
{
    test_vm_free(vm, NULL);
    pci_bus_destroy(vm);
    free(ram);
}

static void outw_(struct vm *vm, uint16_t port, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    assert_int_equal(io_bus_access(&vm->pio, port, b, 2, true), 0);
}

static uint16_t inw_(struct vm *vm, uint16_t port)
{
    uint8_t b[2];
    assert_int_equal(io_bus_access(&vm->pio, port, b, 2, false), 0);
    return (uint16_t)(b[0] | b[1] << 8);
}

static void dispi_port(struct vm *vm, unsigned idx, uint16_t v)
{
    outw_(vm, VBE_PORT_INDEX, (uint16_t)idx);
    outw_(vm, VBE_PORT_DATA, v);
}

static void test_device(void **state)
{
    struct vm vm;
    uint8_t *ram;
    dev_vm(&vm, &ram);
    struct vga *g = vga_find(&vm);
    assert_non_null(g);
    /* PCI identity and BARs */
    unsigned slot = (unsigned)g->pci.slot;
    assert_int_equal(pci_cfg_read(vm.pci, slot, 0, 4), 0x11111234);
    assert_int_equal(pci_cfg_read(vm.pci, slot, 8, 4) >> 8, 0x030000);
    assert_int_equal(pci_cfg_read(vm.pci, slot, 0x10, 4) & 0xf, 0x8); /* prefetchable memory */
    uint64_t mmio = g->pci.bar[2].addr;
    assert_true(mmio != 0);
    /* the dispi registers through the ports and through the MMIO BAR agree */
    outw_(&vm, VBE_PORT_INDEX, VBE_ID);
    assert_int_equal(inw_(&vm, VBE_PORT_DATA), VBE_ID5);
    uint8_t b[4];
    assert_int_equal(
        io_bus_access(&vm.mmio, mmio + VGA_MMIO_DISPI + 2 * VBE_VIDEO_MEMORY_64K, b, 2, false), 0);
    assert_int_equal(b[0] | b[1] << 8, 64);
    assert_int_equal(io_bus_access(&vm.mmio, mmio + VGA_MMIO_QEXT, b, 4, false), 0);
    assert_int_equal(b[0], VGA_QEXT_SIZE);
    assert_int_equal(io_bus_access(&vm.mmio, mmio, b, 4, false), 0); /* no EDID: zeros */
    assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
    /* a mode through the MMIO BAR, read back through the ports */
    uint16_t w = 64;
    assert_int_equal(
        io_bus_access(&vm.mmio, mmio + VGA_MMIO_DISPI + 2 * VBE_XRES, (uint8_t *)&w, 2, true), 0);
    dispi_port(&vm, VBE_YRES, 32);
    dispi_port(&vm, VBE_BPP, 32);
    dispi_port(&vm, VBE_ENABLE, VBE_EN_ENABLED | VBE_EN_LFB);
    outw_(&vm, VBE_PORT_INDEX, VBE_XRES);
    assert_int_equal(inw_(&vm, VBE_PORT_DATA), 64);
    /* the VGA ports through the MMIO BAR: attribute index with PAS */
    b[0] = 0x20;
    assert_int_equal(io_bus_access(&vm.mmio, mmio + VGA_MMIO_VGA, b, 1, true), 0);
    assert_int_equal(test_inb(&vm, 0x3c0), 0x20);
    /* a screenshot shows what is in the VRAM */
    ((uint32_t *)g->vram)[64 * 5 + 7] = 0x00abcdef;
    struct vga_image img;
    assert_int_equal(vga_screenshot(g, &img), 0);
    assert_int_equal(img.width, 64);
    assert_int_equal(img.height, 32);
    assert_int_equal(img.px[64 * 5 + 7], 0xabcdef);
    assert_int_equal(img.px[0], 0);
    free(img.px);
    /* a mode larger than the VRAM is refused and counted */
    dispi_port(&vm, VBE_ENABLE, 0);
    dispi_port(&vm, VBE_XRES, 2048);
    dispi_port(&vm, VBE_YRES, 2048);
    dispi_port(&vm, VBE_ENABLE, VBE_EN_ENABLED);
    outw_(&vm, VBE_PORT_INDEX, VBE_ENABLE);
    assert_int_equal(inw_(&vm, VBE_PORT_DATA) & VBE_EN_ENABLED, 0);
    assert_int_equal(g->refused, 1);
    dev_free(&vm, ram);
}

static void test_state_roundtrip(void **state)
{
    struct vm a, b;
    uint8_t *ra, *rb;
    dev_vm(&a, &ra);
    dev_vm(&b, &rb);
    dispi_port(&a, VBE_XRES, 32);
    dispi_port(&a, VBE_YRES, 16);
    dispi_port(&a, VBE_BPP, 32);
    dispi_port(&a, VBE_ENABLE, VBE_EN_ENABLED | VBE_EN_LFB);
    test_outb(&a, 0x3c8, 9);
    test_outb(&a, 0x3c9, 1);
    test_outb(&a, 0x3c9, 2); /* a DAC write half done */
    struct vga *ga = vga_find(&a), *gb = vga_find(&b);
    memset(gb->vram, 0x55, 3 * 4096); /* restored memory must replace everything */
    ((uint32_t *)ga->vram)[100] = 0x123456;
    size_t len;
    uint8_t *buf = st_roundtrip(st_last(&a), st_last(&b), &len);
    assert_true(len < 8192); /* only the used part of the VRAM is saved */
    assert_int_equal(((uint32_t *)gb->vram)[100], 0x123456);
    assert_int_equal(gb->vram[5000], 0);
    test_outb(&b, 0x3c9, 3); /* completes the DAC entry begun before the snapshot */
    assert_memory_equal(&gb->s.palette[27], ((uint8_t[]){1, 2, 3}), 3);
    /* a snapshot of another VRAM size is refused */
    gb->vram_size = 8ULL << 20;
    st_expect_reject(st_last(&b), buf, len, "video memory size");
    gb->vram_size = 4ULL << 20;
    free(buf);
    dev_free(&a, ra);
    dev_free(&b, rb);
}

/* ---- PNG --------------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_png(void **state)
{
    enum { W = 7, H = 5 };
    uint32_t px[W * H];
    for (unsigned i = 0; i < W * H; i++)
        px[i] = (i * 0x10203u) & 0xffffff;
    struct vga_image img = {px, W, H, W};
    uint8_t *png;
    size_t len;
    char err[256];
    assert_int_equal(png_encode(&img, &png, &len, err, sizeof(err)), 0);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    /* IHDR, then every IDAT inflated and unfiltered gives the pixels back */
    assert_int_equal(be32(png + 16), W);
    assert_int_equal(be32(png + 20), H);
    assert_int_equal(png[24], 8); /* bit depth */
    assert_int_equal(png[25], 2); /* RGB */
    uint8_t z[4096];
    size_t zl = 0;
    for (size_t off = 8; off + 12 <= len;) {
        uint32_t n = be32(png + off);
        if (!memcmp(png + off + 4, "IDAT", 4)) {
            memcpy(z + zl, png + off + 8, n);
            zl += n;
        }
        off += 12 + n;
    }
    uint8_t raw[H * (1 + 3 * W)];
    uLongf rl = sizeof(raw);
    assert_int_equal(uncompress(raw, &rl, z, zl), Z_OK);
    assert_int_equal(rl, sizeof(raw));
    for (unsigned y = 0; y < H; y++) {
        uint8_t *r = raw + y * (1 + 3 * W);
        assert_true(r[0] <= 1); /* none or sub */
        for (unsigned x = 0; x < W; x++)
            for (unsigned c = 0; c < 3; c++) {
                uint8_t v = r[1 + 3 * x + c];
                if (r[0] == 1 && x)
                    v = (uint8_t)(v + r[1 + 3 * (x - 1) + c]), r[1 + 3 * x + c] = v;
                assert_int_equal(v, (uint8_t)(px[y * W + x] >> (16 - 8 * c)));
            }
    }
    free(png);
    img.width = 0;
    assert_int_equal(png_encode(&img, &png, &len, err, sizeof(err)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispi),           cmocka_unit_test(test_mode_validation),
        cmocka_unit_test(test_vga_ports),       cmocka_unit_test(test_render_text),
        cmocka_unit_test(test_render_vbe),      cmocka_unit_test(test_device),
        cmocka_unit_test(test_state_roundtrip), cmocka_unit_test(test_png),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
