/* fuzz_boot.c — libFuzzer target: boot_load on a fuzzed boot image — bzImage setup header, PVH
 * ELF headers and notes, raw firmware — with the MP table, ACPI tables, command line and an
 * initrd placed around it. Input: [flags(1)][initrd KiB(1)][image...]; flags bit 0 loads the image
 * as firmware, bits 1-2 pick the RAM size, bits 3-4 the vCPU count. A fresh VM per input. */
#include "boot_fixture.h"

/* the smallest VM, two common sizes, and RAM split around the PCI hole (reserved, not touched) */
static const uint64_t ram[4] = {CFG_MIN_MEM, 64 * MiB, 256 * MiB, 4 * GiB + 512 * MiB};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t flags = data[0];
    size_t initrd = data[1] * 4 * KiB;
    struct fixture *f = fix_new(ram[(flags >> 1) & 3], 1 + ((flags >> 3) & 3));
    if (!f)
        abort();
    snprintf(f->vm->cfg.cmdline, CFG_CMDLINE_LEN, "console=ttyS0 root=/dev/vda");
    if (fix_kernel(f, data + 2, size - 2, flags & 1) < 0)
        abort();
    if (initrd) {
        const char *p = fix_file(f, NULL, initrd); /* sparse: zeros */
        if (!p)
            abort();
        snprintf(f->vm->cfg.initrd, PATH_MAX, "%s", p);
    }
    f->err[0] = 0;
    int rc = boot_load(f->vm, f->err, sizeof(f->err));
    if (getenv("FUZZ_VERBOSE")) /* to check what a seed reaches */
        fprintf(stderr, "fuzz_boot: boot_load: %d %s\n", rc, f->err);
    if (rc > 0 || (rc < 0 && !one_line(f->err))) {
        fprintf(stderr, "fuzz_boot: boot_load returned %d with \"%s\"\n", rc, f->err);
        abort(); /* the contract: 0, or <0 with one line naming the image and the problem */
    }
    fix_free(f);
    return 0;
}
