/* pvh64.c — 64-bit PVH test guest: checks hvm_start_info, CPUID and the command line. */
#include "lib.h"

static int fail(const char *what)
{
    puts_("truce-guest: FAIL ");
    puts_(what);
    putc_('\n');
    debug_exit(0x21);
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
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(c & (1u << 31)))
        fail("cpuid hypervisor bit");
    cpuid(0x40000000, 0, &a, &b, &c, &d);
    if (b != 0x4b4d564b || c != 0x564b4d56 || d != 0x4d) /* "KVMKVMKVM\0\0\0" */
        fail("cpuid KVM signature");
    puts_("truce-guest: pvh64 ok\n");
    debug_exit(0x20); /* exit status 65 */
}
