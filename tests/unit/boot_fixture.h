/* boot_fixture.h — helpers for the boot unit tests: a hand-built VM, temp files, crafted images. */
#ifndef TRUCE_BOOT_FIXTURE_H
#define TRUCE_BOOT_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "util/util.h"
#include "vm/vm.h"

#define FIX_MAX_FILES 8

/* A VM as boot_load sees it: memory and config only, no /dev/kvm. */
struct fixture {
    struct vm *vm;
    char err[512];
    char files[FIX_MAX_FILES][64];
    unsigned nfiles;
};

/* Allocate a fixture with MEM bytes of RAM and NCPUS vCPUs. Returns NULL on failure. */
static inline struct fixture *fix_new(uint64_t mem, unsigned ncpus)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->vm = calloc(1, sizeof(*f->vm));
    if (!f->vm || guest_mem_init(&f->vm->mem, mem, false) < 0) {
        free(f->vm);
        free(f);
        return NULL;
    }
    f->vm->cfg.cpus = ncpus;
    f->vm->cfg.mem_bytes = mem;
    f->vm->ncpus = ncpus;
    return f;
}

static inline void fix_free(struct fixture *f)
{
    if (!f)
        return;
    for (unsigned i = 0; i < f->nfiles; i++)
        unlink(f->files[i]);
    guest_mem_free(&f->vm->mem);
    free(f->vm);
    free(f);
}

/* Write LEN bytes of DATA (or a sparse file of LEN bytes when DATA is NULL) to a new temp file;
 * returns its path (owned by F) or NULL. */
static inline const char *fix_file(struct fixture *f, const void *data, size_t len)
{
    if (f->nfiles >= FIX_MAX_FILES)
        return NULL;
    char *path = f->files[f->nfiles];
    snprintf(path, sizeof(f->files[0]), "/tmp/truce-boot-testXXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    f->nfiles++;
    int rc = data ? write_full(fd, data, len) : (ftruncate(fd, (off_t)len) < 0 ? -errno : 0);
    close(fd);
    return rc < 0 ? NULL : path;
}

/* Set the kernel (or firmware) file of F's VM to a temp file holding IMG. */
static inline int fix_kernel(struct fixture *f, const void *img, size_t len, bool firmware)
{
    const char *p = fix_file(f, img, len);
    if (!p)
        return -1;
    snprintf(firmware ? f->vm->cfg.firmware : f->vm->cfg.kernel, PATH_MAX, "%s", p);
    return 0;
}

/* boot_load F's VM from the kernel IMG of LEN bytes and, when INITRD is nonzero, an initrd of
 * INITRD bytes whose byte i is FILL(i). Asserts that the files were written; returns boot_load's
 * result (its message in F->err). */
static inline int fix_boot_load(struct fixture *f, const void *img, size_t len, size_t initrd,
                                uint8_t (*fill)(size_t i))
{
    assert_int_equal(fix_kernel(f, img, len, false), 0);
    if (initrd) {
        uint8_t *rd = malloc(initrd);
        assert_non_null(rd);
        for (size_t i = 0; i < initrd; i++)
            rd[i] = fill(i);
        const char *p = fix_file(f, rd, initrd);
        free(rd);
        assert_non_null(p);
        snprintf(f->vm->cfg.initrd, PATH_MAX, "%s", p);
    }
    return boot_load(f->vm, f->err, sizeof(f->err));
}

/* Guest pointer for [GPA, GPA + LEN) or NULL. */
static inline void *fix_gpa(struct fixture *f, uint64_t gpa, uint64_t len)
{
    return gpa_to_hva(&f->vm->mem, gpa, len);
}

/* True when ERR is a single non-empty line. */
static inline bool one_line(const char *err)
{
    return err[0] && !strchr(err, '\n');
}

/* Expect boot_load's result RC to be RET with a one-line error in F containing WHAT. */
static inline void fix_expect_fail(struct fixture *f, int rc, int ret, const char *what)
{
    if (getenv("TRUCE_TEST_VERBOSE"))
        print_message("rc %d: %s\n", rc, f->err);
    assert_int_equal(rc, ret);
    assert_true(one_line(f->err));
    if (!strstr(f->err, what))
        fail_msg("error \"%s\" lacks \"%s\"", f->err, what);
}

#endif
