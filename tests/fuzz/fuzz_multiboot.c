/* fuzz_multiboot.c — multiboot kernel images: header search, a.out-kludge and ELF loading, boot
 * information, all into a 16 MiB guest; a failure must come with one line naming the problem. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/multiboot.h"
#include "fuzz_sandbox.h"
#include "util/util.h"
#include "vm/vm.h"

static struct vm *vm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char err[512] = "";
    if (!vm) {
        fuzz_sandbox_init(); /* no file writes: the loader only reads */
        vm = calloc(1, sizeof(*vm));
        if (!vm || guest_mem_init(&vm->mem, 16 * MiB, false) < 0)
            abort();
        vm->cfg.mem_bytes = 16 * MiB;
        vm->cfg.cpus = vm->ncpus = 1;
        snprintf(vm->cfg.kernel, sizeof(vm->cfg.kernel), "/fuzz/kernel");
        snprintf(vm->cfg.cmdline, sizeof(vm->cfg.cmdline), "console=ttyS0 fuzz");
    }
    long off = multiboot_find(data, len, err, sizeof(err));
    if (off == -ENOENT)
        return 0;
    if (off < 0) {
        if (!err[0] || strchr(err, '\n'))
            abort();
        return 0;
    }
    if (off > (long)len - 12 || off % 4)
        abort();
    memset(&vm->boot, 0, sizeof(vm->boot));
    int rc = multiboot_load(vm, data, len, (size_t)off, err, sizeof(err));
    if (rc == 0 && (vm->boot.mode != BOOT_MULTIBOOT32 || vm->boot.rbx != MB_INFO_ADDR))
        abort();
    if (rc < 0 && (!err[0] || strchr(err, '\n') || (rc != -EINVAL && rc != -EFBIG)))
        abort();
    return 0;
}
