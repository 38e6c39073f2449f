/* display.c — test guest for the std VGA: finds 1234:1111 on PCI, checks the VBE dispi registers,
 * sets a 320x200x32 mode through ports 0x1ce/0x1cf (a mode the device does not offer is refused),
 * draws four coloured quadrants in the linear framebuffer (BAR0), then waits for the host to take
 * a screenshot and stops it. With "mmio" on the command line it drives the dispi registers through
 * BAR2. */
#include "lib.h"

#define W 320
#define H 200

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static uint32_t pci_read(unsigned slot, unsigned off)
{
    outl(0xcf8, 0x80000000u | slot << 11 | off);
    return inl(0xcfc);
}

static volatile uint16_t *dispi_mmio;

static void dispi_write(unsigned idx, uint16_t v)
{
    if (dispi_mmio) {
        dispi_mmio[idx] = v;
        return;
    }
    outw(0x1ce, (uint16_t)idx);
    outw(0x1cf, v);
}

static uint16_t dispi_read(unsigned idx)
{
    if (dispi_mmio)
        return dispi_mmio[idx];
    outw(0x1ce, (uint16_t)idx);
    return inw(0x1cf);
}

static __attribute__((noreturn)) void fail(const char *why)
{
    puts_("display: FAIL ");
    puts_(why);
    putc_('\n');
    debug_exit(0x30);
}

static uint32_t colour(unsigned x, unsigned y)
{
    static const uint32_t q[4] = {0x00ff0000, 0x0000ff00, 0x000000ff, 0x00ffffff};
    return q[(y >= H / 2) * 2 + (x >= W / 2)];
}

void main32(const struct hvm_start_info *si)
{
    const char *cmd = (const char *)(uintptr_t)si->cmdline_paddr;
    unsigned slot;
    for (slot = 1; slot < 32; slot++)
        if (pci_read(slot, 0) == 0x11111234u)
            break;
    if (slot == 32)
        fail("no 1234:1111 on the PCI bus");
    uint32_t class = pci_read(slot, 8) >> 8;
    uint32_t fb = pci_read(slot, 0x10) & ~0xfu, mmio = pci_read(slot, 0x18) & ~0xfu;
    if (class != 0x030000)
        fail("class code is not VGA");
    if (contains(cmd, "mmio"))
        dispi_mmio = (volatile uint16_t *)(uintptr_t)(mmio + 0x500);
    if (dispi_read(0) != 0xb0c5)
        fail("dispi id is not 0xb0c5");
    unsigned vram_mib = dispi_read(10) / 16;
    /* the maxima through GETCAPS */
    dispi_write(4, 0x02);
    unsigned maxx = dispi_read(1), maxy = dispi_read(2), maxbpp = dispi_read(3);
    dispi_write(4, 0);
    /* a mode larger than the video memory is refused: ENABLE stays off */
    dispi_write(1, 4096);
    dispi_write(2, 2160);
    dispi_write(3, 32);
    dispi_write(4, 0x41);
    if (dispi_read(4) & 1)
        fail("an oversized mode was enabled");
    puts_("display: 4096x2160x32 refused\n");
    dispi_write(1, W);
    dispi_write(2, H);
    dispi_write(3, 32);
    dispi_write(4, 0x41); /* enabled, linear framebuffer */
    if (!(dispi_read(4) & 1) || dispi_read(6) != W)
        fail("mode 320x200x32 not enabled");
    volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)fb;
    for (unsigned y = 0; y < H; y++)
        for (unsigned x = 0; x < W; x++)
            p[y * W + x] = colour(x, y);
    for (unsigned y = 0; y < H; y += 50)
        for (unsigned x = 0; x < W; x += 80)
            if (p[y * W + x] != colour(x, y))
                fail("framebuffer does not read back");
    puts_("display: vram ");
    putdec(vram_mib);
    puts_(" MiB, max ");
    putdec(maxx);
    putc_('x');
    putdec(maxy);
    putc_('x');
    putdec(maxbpp);
    puts_(", fb at 0x");
    puthex(fb, 8);
    puts_(", drawn\n");
    for (;;) /* spin (a halt with interrupts off would end the VM): the runner stops it */
        __asm__ volatile("pause");
}
