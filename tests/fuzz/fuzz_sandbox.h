/* fuzz_sandbox.h — keeps fuzzed API requests from touching the host: no KVM, no file writes
 * outside the fuzzer's own directory (linked with -Wl,--wrap=open,--wrap=kvm_host_open). */
#ifndef TRUCE_FUZZ_SANDBOX_H
#define TRUCE_FUZZ_SANDBOX_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include "vm/vm.h"

static char fuzz_dir[64]; /* the only place fuzzed requests may create or write files */

int __real_open(const char *path, int flags, ...);

int __wrap_open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & O_CREAT) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    bool writes = (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
    if (writes &&
        (!fuzz_dir[0] || strncmp(path, fuzz_dir, strlen(fuzz_dir)) || strstr(path, ".."))) {
        errno = EACCES;
        return -1;
    }
    return __real_open(path, flags, mode);
}

int __wrap_kvm_host_open(struct kvm_host *kvm, char *err, size_t errlen)
{
    snprintf(err, errlen, "fuzzing: no KVM");
    return -ENODEV;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static void fuzz_sandbox_cleanup(void)
{
    nftw(fuzz_dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Create the fuzzer's directory once; it is removed when the fuzzer exits. */
static void fuzz_sandbox_init(void)
{
    if (fuzz_dir[0])
        return;
    snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/truce-fuzz-XXXXXX");
    if (!mkdtemp(fuzz_dir))
        abort();
    atexit(fuzz_sandbox_cleanup);
}

#endif
