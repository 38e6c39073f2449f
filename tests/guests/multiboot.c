/* multiboot.c — multiboot v1 test guest: checks the entry state and prints the boot information
 * (command line, memory sizes and map, loader name, each module's command line and contents). */
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
    puts_("truce-guest: multiboot ok\n");
    debug_exit(0x2a); /* exit status 85 */
}
