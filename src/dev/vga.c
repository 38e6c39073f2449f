/* vga.c — the std VGA PCI display (1234:1111): VRAM as its own KVM memory slot behind BAR0, the
 * MMIO BAR2, the legacy VGA and VBE ports, SeaBIOS's option ROM, save/restore. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "dev/dev.h"
#include "dev/fw_cfg.h"
#include "dev/vga.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define VGA_ROM        "/usr/share/seabios/vgabios-stdvga.bin"
#define VGA_ROM_FWCFG  "pci1234,1111.rom" /* SeaBIOS's name for this function's option ROM */
#define VGA_PORT_BASE  0x3b0
#define VGA_PORT_COUNT 0x30
#define VGA_FB_VERSION 1

static const struct device_ops vga_dev_ops;

struct vga *vga_find(struct vm *vm)
{
    return device_find(vm, &vga_dev_ops);
}

/* Put the VRAM's slot at GPA (0: remove it). Lock held. */
static void vga_map(struct vga *g, uint64_t gpa)
{
    if (g->vm->fd < 0 || gpa == g->vram_gpa)
        return;
    struct kvm_userspace_memory_region r = {.slot = KVM_SLOT_VGA};
    if (g->vram_gpa && ioctl(g->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        log_warn("display: cannot unmap the framebuffer: %s", strerror(errno));
    g->vram_gpa = 0;
    if (!gpa)
        return;
    r = (struct kvm_userspace_memory_region){.slot = KVM_SLOT_VGA,
                                             .flags = KVM_MEM_LOG_DIRTY_PAGES,
                                             .guest_phys_addr = gpa,
                                             .memory_size = g->vram_size,
                                             .userspace_addr = (uintptr_t)g->vram};
    if (ioctl(g->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        /* firmware sizing the BAR (all-ones) places it over the ROM for a moment: not an error
         * until the guest leaves it there, when the framebuffer shows nothing */
        log_debug("display: cannot map the framebuffer at %#llx: %s", (unsigned long long)gpa,
                  strerror(errno));
        return;
    }
    g->vram_gpa = gpa;
    g->dirty_log = true;
}

static void vga_bar_moved(void *opaque, unsigned bar, uint64_t old_gpa, uint64_t new_gpa)
{
    struct vga *g = opaque;
    if (bar != 0)
        return;
    pthread_mutex_lock(&g->lock);
    vga_map(g, new_gpa);
    pthread_mutex_unlock(&g->lock);
}

static const struct pci_dev_ops vga_pci_ops = {.bar_moved = vga_bar_moved};

/* The VBE data register was written: apply it. Lock held. */
static void vbe_write(struct vga *g, uint16_t val)
{
    bool clear;
    const char *why;
    unsigned idx = g->s.vbe_index;
    vga_vbe_write(&g->s, val, g->vram_size, &clear, &why);
    if (why) {
        g->refused++;
        log_info("display: VBE register %u = %u refused: %s (mode %ux%ux%u)", idx, val, why,
                 g->s.vbe[VBE_XRES], g->s.vbe[VBE_YRES], g->s.vbe[VBE_BPP]);
    }
    if (clear) /* fresh zero pages: nothing becomes resident that the guest does not draw */
        madvise(g->vram, g->vram_size, MADV_DONTNEED);
}

static void vga_pio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct vga *g = opaque;
    pthread_mutex_lock(&g->lock);
    for (unsigned i = 0; i < size; i++)
        data[i] = vga_port_read(&g->s, (uint16_t)(VGA_PORT_BASE + off + i));
    pthread_mutex_unlock(&g->lock);
}

static void vga_pio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vga *g = opaque;
    pthread_mutex_lock(&g->lock);
    for (unsigned i = 0; i < size; i++) /* outw 0x3c4 writes index then data, as on hardware */
        vga_port_write(&g->s, (uint16_t)(VGA_PORT_BASE + off + i), data[i]);
    pthread_mutex_unlock(&g->lock);
}

static const struct io_ops vga_pio_ops = {.read = vga_pio_read, .write = vga_pio_write};

/* 0x1ce: index, 0x1cf: data, 16-bit accesses (the one at 0x1cf covers 0x1d0 too; a byte access
 * reads or writes the low byte). */
static void vbe_pio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct vga *g = opaque;
    pthread_mutex_lock(&g->lock);
    uint16_t v = off == 0 ? g->s.vbe_index : vga_vbe_read(&g->s, g->vram_size);
    pthread_mutex_unlock(&g->lock);
    memset(data, 0, size);
    data[0] = (uint8_t)v;
    if (size > 1)
        data[1] = (uint8_t)(v >> 8);
}

static void vbe_pio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vga *g = opaque;
    uint16_t v = (uint16_t)(data[0] | (size > 1 ? data[1] << 8 : 0));
    pthread_mutex_lock(&g->lock);
    if (off == 0)
        g->s.vbe_index = v;
    else
        vbe_write(g, v);
    pthread_mutex_unlock(&g->lock);
}

static const struct io_ops vbe_pio_ops = {.read = vbe_pio_read, .write = vbe_pio_write};

static void vga_mmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct vga *g = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&g->lock);
    if (off >= VGA_MMIO_VGA && off + size <= VGA_MMIO_VGA + 0x20) {
        for (unsigned i = 0; i < size; i++)
            v |= (uint64_t)vga_port_read(&g->s, (uint16_t)(0x3c0 + off - VGA_MMIO_VGA + i))
                 << 8 * i;
    } else if (off >= VGA_MMIO_DISPI && off < VGA_MMIO_DISPI + 2 * 11 && size == 2 && !(off & 1)) {
        uint16_t keep = g->s.vbe_index;
        g->s.vbe_index = (uint16_t)((off - VGA_MMIO_DISPI) / 2);
        v = vga_vbe_read(&g->s, g->vram_size);
        g->s.vbe_index = keep;
    } else if (off == VGA_MMIO_QEXT && size == 4) {
        v = VGA_QEXT_SIZE;
    } else if (off == VGA_MMIO_QEXT + 4 && size == 4) {
        v = g->s.qext_endian;
    } /* the EDID area and everything else read as zero */
    pthread_mutex_unlock(&g->lock);
    for (unsigned i = 0; i < size; i++)
        data[i] = (uint8_t)(v >> 8 * i);
}

static void vga_mmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vga *g = opaque;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)data[i] << 8 * i;
    pthread_mutex_lock(&g->lock);
    if (off >= VGA_MMIO_VGA && off + size <= VGA_MMIO_VGA + 0x20) {
        for (unsigned i = 0; i < size; i++)
            vga_port_write(&g->s, (uint16_t)(0x3c0 + off - VGA_MMIO_VGA + i), data[i]);
    } else if (off >= VGA_MMIO_DISPI && off < VGA_MMIO_DISPI + 2 * 11 && size == 2 && !(off & 1)) {
        uint16_t keep = g->s.vbe_index;
        g->s.vbe_index = (uint16_t)((off - VGA_MMIO_DISPI) / 2);
        vbe_write(g, (uint16_t)v);
        g->s.vbe_index = keep;
    } else if (off == VGA_MMIO_QEXT + 4 && size == 4 &&
               (v == VGA_QEXT_LITTLE || v == VGA_QEXT_BIG)) {
        g->s.qext_endian = (uint32_t)v;
    }
    pthread_mutex_unlock(&g->lock);
}

static const struct io_ops vga_mmio_ops = {.read = vga_mmio_read, .write = vga_mmio_write};

/* ---- state -------------------------------------------------------------------------------- */

/* Bytes of VRAM worth saving: up to the end of the last page that is not all zero. */
static uint64_t vram_used(const struct vga *g)
{
    static const uint8_t zero[4096];
    for (uint64_t end = g->vram_size; end; end -= 4096)
        if (memcmp(g->vram + end - 4096, zero, 4096))
            return end;
    return 0;
}

static int vga_save(void *dev, struct state_visitor *v)
{
    struct vga *g = dev;
    pthread_mutex_lock(&g->lock);
    vga_state_visit(v, &g->s);
    uint64_t size = g->vram_size, used = vram_used(g);
    if (state_begin(v, "vga-fb", VGA_FB_VERSION)) {
        STATE_U64(v, size);
        STATE_U64(v, used);
        state_bytes(v, g->vram, used, "framebuffer");
        state_end(v);
    }
    pthread_mutex_unlock(&g->lock);
    return state_error(v);
}

static int vga_restore(void *dev, struct state_visitor *v)
{
    struct vga *g = dev;
    struct vga_state s;
    uint64_t size = 0, used = 0;
    uint8_t *fb = NULL;
    vga_state_visit(v, &s);
    if (!state_error(v) && (s.vbe[VBE_ENABLE] & VBE_EN_ENABLED))
        state_check(v,
                    !vga_mode_error(s.vbe[VBE_XRES], s.vbe[VBE_YRES], s.vbe[VBE_BPP], g->vram_size),
                    "an enabled VBE mode the device offers");
    if (state_begin(v, "vga-fb", VGA_FB_VERSION)) {
        STATE_U64(v, size);
        state_check(v, size == g->vram_size, "the same video memory size");
        STATE_U64(v, used);
        STATE_CHECK(v, used <= size && used % 4096 == 0);
        if (!state_error(v) && !(fb = malloc(used ? used : 1)))
            state_fail(v, -ENOMEM, "vga-fb: out of memory");
        if (!state_error(v))
            state_bytes(v, fb, used, "framebuffer");
        state_end(v);
    }
    int rc = state_error(v);
    if (!rc) {
        pthread_mutex_lock(&g->lock);
        s.st1 = g->s.st1;
        g->s = s;
        memcpy(g->vram, fb, used);
        memset(g->vram + used, 0, g->vram_size - used);
        pthread_mutex_unlock(&g->lock);
    }
    free(fb);
    return rc;
}

static void vga_reset(void *dev)
{
    struct vga *g = dev;
    pthread_mutex_lock(&g->lock);
    vga_regs_reset(&g->s);
    pthread_mutex_unlock(&g->lock);
}

static void vga_destroy(void *dev)
{
    struct vga *g = dev;
    pci_dev_remove(&g->pci);
    if (g->vram)
        munmap(g->vram, g->vram_size);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static const struct device_ops vga_dev_ops = {
    .name = "vga",
    .reset = vga_reset,
    .save = vga_save,
    .restore = vga_restore,
    .destroy = vga_destroy,
};

/* ---- screen access ------------------------------------------------------------------------- */

void vga_current_mode(struct vga *g, struct vga_mode *m)
{
    pthread_mutex_lock(&g->lock);
    vga_mode_get(&g->s, g->vram_size, m);
    pthread_mutex_unlock(&g->lock);
}

int vga_screenshot(struct vga *g, struct vga_image *out)
{
    struct vga_mode m;
    pthread_mutex_lock(&g->lock);
    vga_mode_get(&g->s, g->vram_size, &m);
    out->width = out->stride = m.width;
    out->height = m.height;
    out->px = calloc((size_t)m.width * m.height, sizeof(uint32_t));
    if (!out->px) {
        pthread_mutex_unlock(&g->lock);
        return -ENOMEM;
    }
    const uint8_t *low = gpa_to_hva(&g->vm->mem, VGA_LOW_BASE, VGA_LOW_SIZE);
    vga_render_rows(&g->s, &m, g->vram, g->vram_size, low, out, 0, m.height);
    pthread_mutex_unlock(&g->lock);
    return 0;
}

int vga_dirty_pages(struct vga *g, uint64_t *bits)
{
    pthread_mutex_lock(&g->lock);
    int rc = -ENODEV;
    if (g->vram_gpa && g->dirty_log) {
        struct kvm_dirty_log d = {.slot = KVM_SLOT_VGA, .dirty_bitmap = bits};
        rc = ioctl(g->vm->fd, KVM_GET_DIRTY_LOG, &d) < 0 ? -errno : 0;
        if (rc)
            g->dirty_log = false; /* the caller compares contents from now on */
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

/* ---- creation ---------------------------------------------------------------------------- */

/* SeaBIOS runs the option ROM it finds in fw_cfg under this function's name. */
static int vga_add_rom(struct vm *vm, char *err, size_t errlen)
{
    struct fw_cfg *f = fw_cfg_find(vm);
    if (!f)
        return 0;
    int rc = fw_cfg_add_u16(f, FW_CFG_NOGRAPHIC, 0);
    if (rc || !vm->cfg.firmware[0])
        return rc;
    uint8_t *rom;
    size_t len;
    if ((rc = read_file(VGA_ROM, 256 * KiB, &rom, &len)) < 0) {
        log_warn("display: %s: %s: SeaBIOS shows nothing without it (apt-get install seabios)",
                 VGA_ROM, strerror(-rc));
        return 0;
    }
    if ((rc = fw_cfg_add_file_owned(f, VGA_ROM_FWCFG, rom, len)) < 0)
        snprintf(err, errlen, "display: cannot add the VGA option ROM: %s", strerror(-rc));
    return rc;
}

static int vga_setup(struct vm *vm, struct vga *g, char *err, size_t errlen)
{
    const char *what = "VRAM";
    g->vram = mmap(NULL, g->vram_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g->vram == MAP_FAILED) {
        g->vram = NULL;
        return snprintf(err, errlen, "display: cannot map %llu MiB of video memory",
                        (unsigned long long)(g->vram_size >> 20)),
               -ENOMEM;
    }
    madvise(g->vram, g->vram_size, MADV_DONTFORK);
    pci_dev_init(&g->pci, "vga", 0x1234, 0x1111, 0x030000, 2, 0x1af4, 0x1100, &vga_pci_ops, g);
    g->pci.cfg[PCI_INT_PIN] = 0; /* no interrupt */
    int rc = pci_bar_init(&g->pci, 0, g->vram_size, false, true);
    if (!rc)
        rc = pci_bar_init(&g->pci, 2, VGA_MMIO_SIZE, false, false);
    if (!rc)
        rc = pci_bar_add_region(&g->pci, 2, 0, VGA_MMIO_SIZE, &vga_mmio_ops, g, "vga-mmio");
    if (!rc && (what = "PCI slot", rc = pci_dev_add(vm, &g->pci)) == 0) {
        pthread_mutex_lock(&g->lock);
        vga_map(g, g->pci.bar[0].mapped);
        pthread_mutex_unlock(&g->lock);
    }
    if (!rc &&
        (what = "ports 0x3b0-0x3df", rc = io_bus_register(&vm->pio, VGA_PORT_BASE, VGA_PORT_COUNT,
                                                          &vga_pio_ops, g, "vga")) == 0 &&
        (what = "ports 0x1ce-0x1d0",
         rc = io_bus_register(&vm->pio, VBE_PORT_INDEX, 3, &vbe_pio_ops, g, "vbe")) < 0)
        io_bus_unregister(&vm->pio, VGA_PORT_BASE);
    if (rc)
        snprintf(err, errlen, "display: %s: %s", what, strerror(-rc));
    return rc;
}

static int vga_create(struct vm *vm, char *err, size_t errlen)
{
    const struct display_config *d = &vm->cfg.display;
    if (d->kind == DISPLAY_NONE)
        return 0;
    struct vga *g = calloc(1, sizeof(*g));
    if (!g)
        return snprintf(err, errlen, "display: out of memory"), -ENOMEM;
    g->vm = vm;
    g->vram_size = (uint64_t)(d->vram_mib ? d->vram_mib : CFG_VRAM_DEFAULT_MIB) << 20;
    pthread_mutex_init(&g->lock, NULL);
    vga_regs_reset(&g->s);
    int rc = vga_setup(vm, g, err, errlen);
    if (!rc && (rc = device_add(vm, &vga_dev_ops, g)) < 0)
        snprintf(err, errlen, "display: out of memory");
    if (rc) {
        vga_destroy(g);
        return rc;
    }
    log_info("display: std VGA 1234:1111, %llu MiB VRAM at %#llx, MMIO at %#llx",
             (unsigned long long)(g->vram_size >> 20), (unsigned long long)g->pci.bar[0].addr,
             (unsigned long long)g->pci.bar[2].addr);
    return vga_add_rom(vm, err, errlen);
}

static const struct device_class vga_class = {
    .name = "vga",
    .order = DEV_ORDER_PCI,
    .create = vga_create,
};
DEVICE_CLASS(vga_class);
