/* multiboot.c — multiboot v1 test guest: checks the entry state and prints the boot information
 * (command line, memory sizes and map, loader name, each module's command line and contents);
 * with "fwcfg" on its command line it also reads fw_cfg (both interfaces, DMA errors). */
#include "lib.h"

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
    uint32_t boot_loader_name;
};

struct mb_module {
    uint32_t mod_start, mod_end, string, reserved;
};

struct mb_mmap {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
} __attribute__((packed));

static __attribute__((noreturn)) void fail(const char *what)
{
    puts_("truce-guest: FAIL ");
    puts_(what);
    putc_('\n');
    debug_exit(0x21);
}

static uint32_t read_cr0(void)
{
    uint32_t v;
    __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}

static uint32_t read_eflags(void)
{
    uint32_t v;
    __asm__ volatile("pushf; pop %0" : "=r"(v));
    return v;
}

/* Print a module's bytes: printable ones as they are, the rest as '.', at most 64. */
static void put_contents(const uint8_t *p, uint32_t len)
{
    for (uint32_t i = 0; i < len && i < 64; i++)
        putc_(p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.');
}

static void put_modules(const struct mb_info *mi)
{
    const struct mb_module *m = (const void *)(uintptr_t)mi->mods_addr;
    for (uint32_t i = 0; i < mi->mods_count; i++) {
        if (m[i].mod_start & 0xfff)
            fail("module not page-aligned");
        if (m[i].mod_end < m[i].mod_start)
            fail("module end before start");
        puts_("truce-guest: module ");
        putdec(i);
        puts_(" '");
        puts_((const char *)(uintptr_t)m[i].string);
        puts_("' ");
        putdec(m[i].mod_end - m[i].mod_start);
        puts_(" bytes: ");
        put_contents((const uint8_t *)(uintptr_t)m[i].mod_start, m[i].mod_end - m[i].mod_start);
        putc_('\n');
    }
}

/* ---- fw_cfg (QEMU's interface), checked when the command line holds "fwcfg" ---- */
#define FW_CFG_SEL  0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_DMA  0x514

struct fw_dma {
    uint32_t control, length; /* big-endian */
    uint64_t address;
} __attribute__((packed, aligned(16)));

static struct fw_dma dma;
static uint8_t fw_buf[4096];

static void outw_(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

/* Traditional interface: N bytes of item KEY into P. */
static void fw_read(uint16_t key, void *p, uint32_t n)
{
    outw_(FW_CFG_SEL, key);
    for (uint32_t i = 0; i < n; i++)
        ((uint8_t *)p)[i] = inb(FW_CFG_DATA);
}

/* DMA: run CONTROL for LEN bytes at ADDR; returns the control word the device wrote back. */
static uint32_t fw_dma(uint32_t control, uint32_t len, uint32_t addr)
{
    dma.control = __builtin_bswap32(control);
    dma.length = __builtin_bswap32(len);
    dma.address = __builtin_bswap64(addr);
    __asm__ volatile("" ::: "memory"); /* the descriptor is in memory before the trigger */
    outl(FW_CFG_DMA, 0);
    outl(FW_CFG_DMA + 4, __builtin_bswap32((uint32_t)(uintptr_t)&dma));
    __asm__ volatile("" ::: "memory"); /* and the device has written memory after it */
    return __builtin_bswap32(*(volatile uint32_t *)&dma.control);
}

static int memeq(const void *a, const void *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (((const uint8_t *)a)[i] != ((const uint8_t *)b)[i])
            return 0;
    return 1;
}

/* Find file NAME in the directory (read by DMA); returns its key, 0 when absent. */
static uint16_t fw_file(const char *name, uint32_t *size)
{
    uint32_t count;
    if (fw_dma(0x19 << 16 | 0x08 | 0x02, 4, (uint32_t)(uintptr_t)&count) != 0)
        fail("fw_cfg DMA read of the file directory");
    count = __builtin_bswap32(count);
    for (uint32_t i = 0; i < count && i < 64; i++) {
        uint8_t e[64];
        if (fw_dma(0x02, 64, (uint32_t)(uintptr_t)e) != 0)
            fail("fw_cfg DMA read of a directory entry");
        if (streq((const char *)e + 8, name)) {
            *size = __builtin_bswap32(*(uint32_t *)e);
            return (uint16_t)(e[4] << 8 | e[5]);
        }
    }
    return 0;
}

static void check_fw_cfg(const struct mb_info *mi)
{
    char sig[5] = {0};
    uint32_t id = 0, size = 0;
    uint16_t cpus = 0;
    uint64_t ram = 0;
    fw_read(0x00, sig, 4);
    fw_read(0x01, &id, 4);
    fw_read(0x05, &cpus, 2);
    fw_read(0x03, &ram, 8);
    if (!streq(sig, "QEMU") || !(id & 2))
        fail("fw_cfg signature or DMA feature bit");
    if (inl(FW_CFG_DMA) != 0x554d4551) /* "QEMU" of "QEMU CFG", big-endian */
        fail("fw_cfg DMA register signature");
    puts_("truce-guest: fw_cfg id ");
    putdec(id);
    puts_(", cpus ");
    putdec(cpus);
    puts_(", ram ");
    putdec((uint32_t)(ram >> 20));
    puts_(" MiB\n");
    uint16_t key = fw_file("etc/e820", &size);
    if (!key || size % 20 || size > sizeof(fw_buf) || size != mi->mmap_length / 24 * 20)
        fail("fw_cfg etc/e820 missing or not the size of the multiboot map");
    if (fw_dma((uint32_t)key << 16 | 0x08 | 0x02, size, (uint32_t)(uintptr_t)fw_buf) != 0)
        fail("fw_cfg DMA read of etc/e820");
    for (uint32_t i = 0; i < size / 20; i++)
        if (!memeq(fw_buf + i * 20, (const uint8_t *)(uintptr_t)mi->mmap_addr + i * 24 + 4, 20))
            fail("fw_cfg etc/e820 differs from the multiboot memory map");
    puts_("truce-guest: fw_cfg etc/e820 ");
    putdec(size / 20);
    puts_(" entries match the memory map\n");
    /* refused: a write (no item is writable), a read into the MMIO hole */
    if (fw_dma(0x10, 4, (uint32_t)(uintptr_t)fw_buf) != 1)
        fail("fw_cfg DMA write was not refused");
    if (fw_dma(0x00 << 16 | 0x08 | 0x02, 4, 0xf0000000u) != 1)
        fail("fw_cfg DMA read outside RAM was not refused");
    fw_read(0x00, sig, 4); /* the device still answers */
    if (!streq(sig, "QEMU"))
        fail("fw_cfg after refused DMA");
    puts_("truce-guest: fw_cfg dma errors reported\n");
}

void mb_main(uint32_t magic, const struct mb_info *mi)
{
    if (magic != 0x2BADB002)
        fail("EAX is not the multiboot boot loader magic");
    if ((read_cr0() & 0x80000001) != 1 || (read_eflags() & 0x200))
        fail("entry state: want protected mode, paging off, interrupts off");
    if ((mi->flags & 0x245) != 0x245) /* memory, cmdline, memory map, loader name */
        fail("boot information flags");
    puts_("truce-guest: multiboot cmdline '");
    puts_((const char *)(uintptr_t)mi->cmdline);
    puts_("'\ntruce-guest: mem_lower ");
    putdec(mi->mem_lower);
    puts_(" KiB, mem_upper ");
    putdec(mi->mem_upper);
    puts_(" KiB\n");
    uint64_t ram = 0;
    uint32_t n = 0;
    for (uint32_t off = 0; off + 24 <= mi->mmap_length; n++) {
        const struct mb_mmap *e = (const void *)(uintptr_t)(mi->mmap_addr + off);
        if (e->type == 1)
            ram += e->len;
        off += e->size + 4;
    }
    puts_("truce-guest: memory map ");
    putdec(n);
    puts_(" entries, ram ");
    putdec((uint32_t)(ram >> 10));
    puts_(" KiB\ntruce-guest: loader '");
    puts_((const char *)(uintptr_t)mi->boot_loader_name);
    puts_("', ");
    putdec(mi->flags & 8 ? mi->mods_count : 0);
    puts_(" modules\n");
    if (mi->flags & 8)
        put_modules(mi);
    if (contains((const char *)(uintptr_t)mi->cmdline, "fwcfg"))
        check_fw_cfg(mi);
    puts_("truce-guest: multiboot ok\n");
    debug_exit(0x2a); /* exit status 85 */
}
