/* pvh64.c — 64-bit PVH test guest: checks hvm_start_info, CPUID, the command line and an initrd
 * in the test's pattern. */
#include "lib.h"

static int fail(const char *what)
{
    puts_("truce-guest: FAIL ");
    puts_(what);
    putc_('\n');
    debug_exit(0x21);
}

/* The pattern of the initrds tests/guests/run.sh writes: 8-byte word I holds I * INITRD_K + 1. */
#define INITRD_K 0x9e3779b97f4a7c15ull

struct hvm_modlist_entry {
    uint64_t paddr, size, cmdline_paddr, reserved;
};

/* Module 0, if any, in the pattern: the first and the last word of every page, the last page first
 * with "initrd=reverse" on the command line (ahead of a loader that goes front to back), after a
 * key on COM1 with "initrd=key". */
static void check_initrd(const struct hvm_start_info *si, const char *cmdline)
{
    if (!si->nr_modules || !si->modlist_paddr)
        return;
    const struct hvm_modlist_entry *m = (const void *)(uintptr_t)si->modlist_paddr;
    const volatile uint64_t *w = (const volatile uint64_t *)(uintptr_t)m->paddr;
    uint64_t n = m->size / 8, pages = (n + 511) / 512;
    int reverse = contains(cmdline, "initrd=reverse");
    if (contains(cmdline, "initrd=key")) { /* the test changes the file, then types a key */
        puts_("truce-guest: initrd waits for a key\n");
        while (!(inb(COM1 + 5) & 0x01)) /* LSR.DR */
            ;
        inb(COM1);
    }
    for (uint64_t k = 0; k < pages; k++) {
        uint64_t p = reverse ? pages - 1 - k : k;
        uint64_t first = p * 512, last = first + 511 < n ? first + 511 : n - 1;
        if (w[first] != first * INITRD_K + 1 || w[last] != last * INITRD_K + 1) {
            puts_("truce-guest: initrd differs in page ");
            putdec((uint32_t)p);
            putc_('\n');
            fail("initrd content");
        }
    }
    puts_("truce-guest: initrd ok ");
    putdec((uint32_t)(m->size >> 10));
    puts_(" KiB\n");
}

void main64(const struct hvm_start_info *si)
{
    uint32_t a, b, c, d;
    puts_("truce-guest: long mode alive\n");
    if (si->magic != HVM_START_MAGIC)
        fail("start_info magic");
    if (si->version < 1 || !si->memmap_entries || !si->memmap_paddr || !si->rsdp_paddr)
        fail("start_info version/memmap/rsdp");
    const struct hvm_memmap_entry *mm = (const void *)(uintptr_t)si->memmap_paddr;
    uint64_t ram = 0;
    for (uint32_t i = 0; i < si->memmap_entries && i < 64; i++)
        if (mm[i].type == 1)
            ram += mm[i].size;
    puts_("truce-guest: ram ");
    putdec((uint32_t)(ram >> 20));
    puts_(" MiB\n");
    const char *cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
    puts_("truce-guest: cmdline '");
    puts_(cmdline ? cmdline : "");
    puts_("'\n");
    check_initrd(si, cmdline);
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(c & (1u << 31)))
        fail("cpuid hypervisor bit");
    cpuid(0x40000000, 0, &a, &b, &c, &d);
    if (b != 0x4b4d564b || c != 0x564b4d56 || d != 0x4d) /* "KVMKVMKVM\0\0\0" */
        fail("cpuid KVM signature");
    puts_("truce-guest: pvh64 ok\n");
    debug_exit(0x20); /* exit status 65 */
}
