/* test_lazyload.c — boot files loaded behind the guest's back (vm/lazyload.c): what is queued,
 * what is read at once, faults served first, writes over queued pages, a file that shrinks. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/util.h"
#include "vm/vm.h"

#define FILE_LEN (3 * MiB + 123)
#define AT       (16 * MiB + 100) /* unaligned: the first and last pages are read at once */

struct fixture {
    struct vm *vm;
    int fd;
    uint8_t *want;
    char path[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->vm = calloc(1, sizeof(*f->vm));
    f->vm->stop_pipe[0] = f->vm->stop_pipe[1] = -1;
    setenv("TRUCE_BOOT_LOAD", "lazy", 1); /* unset, a host with THP "always" loads eagerly */
    assert_int_equal(guest_mem_init(&f->vm->mem, 64 * MiB, false), 0);
    snprintf(f->path, sizeof(f->path), "/tmp/truce-lazy-XXXXXX");
    f->fd = mkstemp(f->path);
    assert_true(f->fd >= 0);
    f->want = malloc(FILE_LEN);
    for (size_t i = 0; i < FILE_LEN; i++)
        f->want[i] = (uint8_t)(i * 7 + i / 4096);
    assert_int_equal(write(f->fd, f->want, FILE_LEN), FILE_LEN);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lazy_stop(f->vm);
    guest_mem_free(&f->vm->mem);
    close(f->fd);
    unlink(f->path);
    free(f->want);
    free(f->vm);
    free(f);
    unsetenv("TRUCE_BOOT_LOAD");
    return 0;
}

static uint8_t *ram(struct fixture *f)
{
    return gpa_to_hva(&f->vm->mem, AT, FILE_LEN);
}

/* Queued when the host has a userfaultfd for us, else read at once; either way whole after the
 * loader ran, and the ranges ordinary memory again. */
static void loads_whole(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(lazy_copy(f->vm, ram(f), f->fd, 0, FILE_LEN, "test file"), 0);
    if (f->vm->lazy.uffd < 0)
        print_message("no userfaultfd for this process: read at once\n");
    else
        assert_int_equal(f->vm->lazy.npieces, (3 * MiB - 4096 + 256 * KiB - 1) / (256 * KiB));
    assert_int_equal(lazy_start(f->vm, NULL, 0), 0);
    lazy_finish(f->vm);
    assert_memory_equal(ram(f), f->want, FILE_LEN);
    assert_int_equal(f->vm->lazy.loaded, f->vm->lazy.npieces);
}

/* Demand mode: nothing loads until touched; a read from another thread is a fault the loader
 * serves with its piece; the rest comes when asked to finish. */
static void fault_served_first(void **state)
{
    struct fixture *f = *state;
    setenv("TRUCE_BOOT_LOAD", "demand", 1);
    assert_int_equal(lazy_copy(f->vm, ram(f), f->fd, 0, FILE_LEN, "test file"), 0);
    if (f->vm->lazy.uffd < 0)
        skip();
    assert_int_equal(lazy_start(f->vm, NULL, 0), 0);
    const volatile uint8_t *p = ram(f);
    size_t at = FILE_LEN - 5000; /* in the last queued piece */
    assert_int_equal(p[at], f->want[at]);
    assert_int_equal(f->vm->lazy.faults, 1);
    lazy_finish(f->vm);
    assert_memory_equal(ram(f), f->want, FILE_LEN);
    assert_int_equal(f->vm->lazy.loaded, f->vm->lazy.npieces);
}

/* A write by truce over a queued range before the loader runs loads the queue first (it would
 * wait for the loader otherwise); what truce wrote stays. */
static void write_over_queued(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(lazy_copy(f->vm, ram(f), f->fd, 0, FILE_LEN, "test file"), 0);
    assert_int_equal(lazy_before_write(f->vm, ram(f) + MiB, 4096), 0);
    memset(ram(f) + MiB, 0xab, 4096);
    memset(f->want + MiB, 0xab, 4096);
    assert_int_equal(lazy_start(f->vm, NULL, 0), 0);
    lazy_finish(f->vm);
    assert_memory_equal(ram(f), f->want, FILE_LEN);
}

/* Pages already backed in the middle (a neighbour's write, a huge page around it) are read at
 * once and the untouched runs around them queued; all of it whole in the end. */
static void partly_backed(void **state)
{
    struct fixture *f = *state;
    ram(f)[MiB] = 1; /* backs (at least) the page holding file offset 1 MiB */
    assert_int_equal(lazy_copy(f->vm, ram(f), f->fd, 0, FILE_LEN, "test file"), 0);
    if (f->vm->lazy.uffd < 0)
        skip();
    assert_true(f->vm->lazy.npieces > 0);
    assert_true(f->vm->lazy.bytes < 3 * MiB - 4096);
    assert_int_equal(lazy_start(f->vm, NULL, 0), 0);
    lazy_finish(f->vm);
    assert_memory_equal(ram(f), f->want, FILE_LEN);
}

/* Eager mode, or a range under 1 MiB: nothing queued, all there before the start. */
static void eager_and_small(void **state)
{
    struct fixture *f = *state;
    setenv("TRUCE_BOOT_LOAD", "eager", 1);
    assert_int_equal(lazy_copy(f->vm, ram(f), f->fd, 0, FILE_LEN, "test file"), 0);
    assert_int_equal(f->vm->lazy.npieces, 0);
    assert_memory_equal(ram(f), f->want, FILE_LEN);
    uint8_t *low = gpa_to_hva(&f->vm->mem, 32 * MiB, MiB - 4096);
    assert_int_equal(lazy_copy(f->vm, low, f->fd, 0, MiB - 4096, "small"), 0);
    assert_int_equal(f->vm->lazy.npieces, 0);
    assert_memory_equal(low, f->want, MiB - 4096);
}

/* The file cut short after it was queued: the loader stops the VM naming it and the offset. */
static void shrunk_file_stops_vm(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(lazy_copy(f->vm, ram(f), f->fd, 0, FILE_LEN, "initrd /x"), 0);
    if (f->vm->lazy.uffd < 0)
        skip();
    assert_int_equal(ftruncate(f->fd, MiB), 0);
    assert_int_equal(lazy_start(f->vm, NULL, 0), 0);
    lazy_finish(f->vm);
    assert_true(vm_stopping(f->vm));
    assert_int_equal(f->vm->exit_status, TRUCE_EXIT_HOST);
    assert_non_null(strstr(f->vm->exit_reason, "initrd /x: reading it into guest RAM at offset"));
    assert_non_null(strstr(f->vm->exit_reason, "the file shrank while it was loaded"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(loads_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(fault_served_first, setup, teardown),
        cmocka_unit_test_setup_teardown(write_over_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(partly_backed, setup, teardown),
        cmocka_unit_test_setup_teardown(eager_and_small, setup, teardown),
        cmocka_unit_test_setup_teardown(shrunk_file_stops_vm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
