/* test_core.c — unit tests of the VM core without /dev/kvm: io buses, guest memory, exits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/util.h"
#include "vm/vm.h"

/* ---- io bus ---- */
struct rec {
    uint64_t off;
    uint8_t val;
    unsigned size;
    int reads, writes;
};

static void rec_read(void *o, uint64_t off, uint8_t *d, unsigned size)
{
    struct rec *r = o;
    r->reads++;
    r->off = off;
    memset(d, 0x5a, size);
}

static void rec_write(void *o, uint64_t off, const uint8_t *d, unsigned size)
{
    struct rec *r = o;
    r->writes++;
    r->off = off;
    r->val = d[0];
    r->size = size;
}

static const struct io_ops rec_ops = {.read = rec_read, .write = rec_write};

static void iobus_routes_and_rejects_overlap(void **state)
{
    struct io_bus b;
    struct rec a = {0}, c = {0};
    io_bus_init(&b, "t");
    assert_int_equal(io_bus_register(&b, 0x100, 8, &rec_ops, &a, "a"), 0);
    assert_int_equal(io_bus_register(&b, 0x200, 0x10, &rec_ops, &c, "c"), 0);
    assert_int_equal(io_bus_register(&b, 0x104, 8, &rec_ops, &c, "x"), -EEXIST);
    assert_int_equal(io_bus_register(&b, 0xfc, 8, &rec_ops, &c, "x"), -EEXIST);
    assert_int_equal(io_bus_register(&b, 0x1f8, 9, &rec_ops, &c, "x"), -EEXIST);
    assert_int_equal(io_bus_register(&b, 0, 0, &rec_ops, &c, "x"), -EINVAL);
    assert_int_equal(io_bus_register(&b, UINT64_MAX - 2, 8, &rec_ops, &c, "x"), -EINVAL);
    uint8_t d[4] = {0x77};
    assert_int_equal(io_bus_access(&b, 0x103, d, 1, true), 0);
    assert_int_equal(a.writes, 1);
    assert_int_equal(a.off, 3);
    assert_int_equal(a.val, 0x77);
    assert_int_equal(io_bus_access(&b, 0x20f, d, 1, false), 0);
    assert_int_equal(c.reads, 1);
    assert_int_equal(d[0], 0x5a);
    /* straddling the end of a range is unmapped, and reads see all-ones */
    assert_int_equal(io_bus_access(&b, 0x106, d, 4, false), -ENOENT);
    assert_memory_equal(d, "\xff\xff\xff\xff", 4);
    assert_int_equal(io_bus_access(&b, 0x300, d, 2, true), -ENOENT);
    assert_int_equal(io_bus_unregister(&b, 0x100), 0);
    assert_int_equal(io_bus_unregister(&b, 0x100), -ENOENT);
    assert_int_equal(io_bus_access(&b, 0x100, d, 1, false), -ENOENT);
    io_bus_free(&b);
}

/* ---- guest memory ---- */
static void mem_small_guest_is_one_region(void **state)
{
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 64 << 20, false), 0);
    assert_int_equal(m.nr, 1);
    assert_non_null(gpa_to_hva(&m, 0, 64 << 20));
    assert_null(gpa_to_hva(&m, 0, (64 << 20) + 1));
    assert_non_null(gpa_to_hva(&m, (64 << 20) - 1, 1));
    assert_null(gpa_to_hva(&m, 64 << 20, 1));
    assert_null(gpa_to_hva(&m, UINT64_MAX, 2));      /* overflow */
    assert_null(gpa_to_hva(&m, 16, UINT64_MAX - 8)); /* overflow */
    assert_int_equal(guest_mem_end(&m), 64 << 20);
    uint32_t v = 0xdeadbeef, r = 0;
    assert_int_equal(guest_mem_write(&m, 0x1000, &v, 4), 0);
    assert_int_equal(guest_mem_read(&m, 0x1000, &r, 4), 0);
    assert_int_equal(r, v);
    assert_int_equal(guest_mem_write(&m, (64 << 20) - 2, &v, 4), -EFAULT);
    guest_mem_free(&m);
}

static void mem_large_guest_splits_around_hole(void **state)
{
    struct guest_mem m;
    uint64_t size = 6 * GiB;
    assert_int_equal(guest_mem_init(&m, size, false), 0);
    assert_int_equal(m.nr, 2);
    assert_int_equal(m.r[0].size, LAYOUT_MMIO_HOLE);
    assert_int_equal(m.r[1].gpa, LAYOUT_4G);
    assert_int_equal(m.r[1].size, size - LAYOUT_MMIO_HOLE);
    assert_null(gpa_to_hva(&m, LAYOUT_MMIO_HOLE, 1));     /* the hole is not RAM */
    assert_null(gpa_to_hva(&m, LAYOUT_MMIO_HOLE - 4, 8)); /* straddles into the hole */
    assert_non_null(gpa_to_hva(&m, LAYOUT_4G, 4096));
    assert_ptr_equal(gpa_to_hva(&m, LAYOUT_4G, 1), (uint8_t *)m.base + LAYOUT_MMIO_HOLE);
    assert_int_equal(guest_mem_end(&m), LAYOUT_4G + size - LAYOUT_MMIO_HOLE);
    guest_mem_free(&m);
}

static void mem_sizes_accepted_and_rejected(void **state)
{
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 16 << 20, false), 0);
    guest_mem_free(&m);
    assert_int_equal(guest_mem_init(&m, 64 * GiB, false), 0); /* MAP_NORESERVE: no commit */
    assert_int_equal(m.nr, 2);
    guest_mem_free(&m);
    assert_int_equal(guest_mem_init(&m, 8 << 20, false), -EINVAL);
    assert_int_equal(guest_mem_init(&m, (16 << 20) + 100, false), -EINVAL);
    assert_int_equal(guest_mem_init(&m, (16 << 20) + 4096, true), -EINVAL); /* not 2 MiB */
}

/* Guest RAM starts on a 2 MiB boundary (KVM maps it with 2 MiB pages only then), whether
 * anonymous or from a file (a restore), and the file's offset 0 is still guest-physical 0. */
static void mem_base_is_2mib_aligned(void **state)
{
    static const uint64_t sizes[] = {16 << 20, (16 << 20) + 4096, 130 << 20, 6 * GiB};
    struct guest_mem m;
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        assert_int_equal(guest_mem_init(&m, sizes[i], false), 0);
        assert_int_equal((uintptr_t)m.base % (2 * MiB), 0);
        assert_int_equal(guest_mem_write(&m, sizes[i] - 4, "end", 4), 0); /* last byte mapped */
        guest_mem_free(&m);
    }
    int fd = memfd_create("ram", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 16 << 20), 0);
    assert_int_equal(pwrite(fd, "gpa0", 4, 0), 4);
    assert_int_equal(guest_mem_init_file(&m, 16 << 20, fd), 0);
    assert_int_equal((uintptr_t)m.base % (2 * MiB), 0);
    char got[4];
    assert_int_equal(guest_mem_read(&m, 0, got, 4), 0);
    assert_memory_equal(got, "gpa0", 4);
    guest_mem_free(&m);
    close(fd);
}

/* The VmFlags line of this process's mapping that starts at P (/proc/self/smaps), or "". */
static void vm_flags_at(const void *p, char *out, size_t n)
{
    char line[512];
    bool here = false;
    FILE *f = fopen("/proc/self/smaps", "r");
    out[0] = 0;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo;
        const char *dash = strchr(line, '-'), *sp = strchr(line, ' ');
        if (dash && sp && dash < sp && sscanf(line, "%lx-", &lo) == 1) /* a mapping's first line */
            here = lo == (uintptr_t)p;
        else if (here && !strncmp(line, "VmFlags:", 8)) {
            snprintf(out, n, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

/* --thp: guest RAM is advised MADV_HUGEPAGE (VmFlags hg), only normal anonymous RAM can be;
 * whether it is then backed by huge pages follows the host's policy. */
static void mem_thp_advice(void **state)
{
    struct guest_mem m;
    char flags[256];
    enum thp_host h = thp_host_policy();
    assert_int_equal(guest_mem_init(&m, 16 << 20, false), 0);
    vm_flags_at(m.base, flags, sizeof(flags));
    assert_null(strstr(flags, " hg"));
    assert_int_equal(guest_mem_thp_backed(&m), h == THP_HOST_ALWAYS);
    if (h == THP_HOST_UNKNOWN) {
        guest_mem_free(&m);
        skip(); /* a kernel without THP (or no /sys): nothing to check against */
    }
    assert_int_equal(guest_mem_thp(&m), 0);
    assert_true(m.thp);
    vm_flags_at(m.base, flags, sizeof(flags));
    assert_non_null(strstr(flags, " hg"));
    assert_int_equal(guest_mem_thp_backed(&m), h == THP_HOST_ALWAYS || h == THP_HOST_MADVISE);
    m.hugepages = true; /* hugetlb RAM: already huge, never advised */
    assert_int_equal(guest_mem_thp(&m), -EINVAL);
    assert_false(guest_mem_thp_backed(&m));
    m.hugepages = false;
    guest_mem_free(&m);
    struct guest_mem none = {0};
    assert_int_equal(guest_mem_thp(&none), -EINVAL);
}

/* ---- exit dispatch with synthetic exits ---- */
static struct vm *test_vm(void)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    vm->fd = -1;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    assert_int_equal(pipe(vm->stop_pipe), 0);
    io_bus_init(&vm->pio, "pio");
    io_bus_init(&vm->mmio, "mmio");
    vm->state = VM_RUNNING;
    return vm;
}

static void test_vm_free(struct vm *vm)
{
    io_bus_free(&vm->pio);
    io_bus_free(&vm->mmio);
    close(vm->stop_pipe[0]);
    close(vm->stop_pipe[1]);
    free(vm);
}

static void exit_io_routes_rep_and_counts_unmapped(void **state)
{
    struct vm *vm = test_vm();
    struct rec r = {0};
    assert_int_equal(io_bus_register(&vm->pio, 0x3f8, 8, &rec_ops, &r, "uart"), 0);
    uint8_t buf[8] = {1, 2, 3, 4};
    struct vm_exit e = {.reason = KVM_EXIT_IO,
                        .io = {.port = 0x3f8, .size = 1, .in = false, .count = 4, .data = buf}};
    assert_int_equal(exit_dispatch(vm, NULL, &e), EXIT_RESUME);
    assert_int_equal(r.writes, 4); /* rep outsb: one access per element */
    assert_int_equal(r.val, 4);
    e.io.port = 0x1234;
    e.io.in = true;
    e.io.count = 2;
    assert_int_equal(exit_dispatch(vm, NULL, &e), EXIT_RESUME);
    assert_int_equal(buf[0], 0xff);
    assert_int_equal(buf[1], 0xff);
    assert_int_equal(atomic_load(&vm->stats.pio_unmapped), 2);
    assert_int_equal(atomic_load(&vm->stats.by_reason[KVM_EXIT_IO]), 2);
    assert_false(vm_stopping(vm));
    test_vm_free(vm);
}

/* exit_stats_format: the kinds seen with their counts, unseen ones left out, and a short buffer
 * cut, never overrun. */
static void exit_stats_line(void **state)
{
    struct vm *vm = test_vm();
    struct rec r = {0};
    assert_int_equal(io_bus_register(&vm->pio, 0x3f8, 8, &rec_ops, &r, "uart"), 0);
    uint8_t buf[1] = {'x'};
    struct vm_exit e = {.reason = KVM_EXIT_IO,
                        .io = {.port = 0x3f8, .size = 1, .in = false, .count = 1, .data = buf}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(exit_dispatch(vm, NULL, &e), EXIT_RESUME);
    atomic_store(&vm->stats.by_reason[40], 1); /* a reason with no name */
    char line[256];
    exit_stats_format(vm, line, sizeof(line));
    assert_non_null(strstr(line, "exit-stats first_run_ns=0 now_ns="));
    assert_non_null(strstr(line, " io=3/"));
    assert_non_null(strstr(line, " reason_40=1/0"));
    assert_null(strstr(line, "mmio="));
    char small[24];
    memset(small, '#', sizeof(small));
    exit_stats_format(vm, small, 20);
    assert_int_equal(strlen(small), 19);
    assert_int_equal(small[20], '#');
    test_vm_free(vm);
}

static void exit_mmio_unmapped_read_all_ones(void **state)
{
    struct vm *vm = test_vm();
    uint8_t data[8] = {0};
    struct vm_exit e = {.reason = KVM_EXIT_MMIO,
                        .mmio = {.gpa = 0xd0000000, .len = 4, .write = false, .data = data}};
    assert_int_equal(exit_dispatch(vm, NULL, &e), EXIT_RESUME);
    assert_memory_equal(data, "\xff\xff\xff\xff", 4);
    e.mmio.write = true;
    e.mmio.len = 3; /* odd size: still only counted */
    assert_int_equal(exit_dispatch(vm, NULL, &e), EXIT_RESUME);
    assert_int_equal(atomic_load(&vm->stats.mmio_unmapped), 2);
    assert_false(vm_stopping(vm));
    test_vm_free(vm);
}

static void expect_stop(uint32_t reason, uint32_t sub, int status)
{
    struct vm *vm = test_vm();
    struct vm_exit e = {.reason = reason};
    if (reason == KVM_EXIT_SYSTEM_EVENT)
        e.system.type = sub;
    if (reason == KVM_EXIT_INTERNAL_ERROR)
        e.internal.suberror = sub;
    assert_int_equal(exit_dispatch(vm, NULL, &e), EXIT_STOP);
    assert_true(vm_stopping(vm));
    assert_int_equal(vm->exit_status, status);
    assert_true(strlen(vm->exit_reason) > 0);
    test_vm_free(vm);
}

static void exit_policy_statuses(void **state)
{
    expect_stop(KVM_EXIT_SHUTDOWN, 0, TRUCE_EXIT_TRIPLE);
    expect_stop(KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_SHUTDOWN, TRUCE_EXIT_POWEROFF);
    expect_stop(KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_RESET, TRUCE_EXIT_REBOOT);
    expect_stop(KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_CRASH, TRUCE_EXIT_PANIC);
    expect_stop(KVM_EXIT_SYSTEM_EVENT, 99, TRUCE_EXIT_GUEST);
    expect_stop(KVM_EXIT_INTERNAL_ERROR, KVM_INTERNAL_ERROR_EMULATION, TRUCE_EXIT_GUEST);
    expect_stop(KVM_EXIT_FAIL_ENTRY, 0, TRUCE_EXIT_HOST);
    expect_stop(KVM_EXIT_HYPERCALL, 0, TRUCE_EXIT_GUEST); /* no handler: unknown */
    expect_stop(1000, 0, TRUCE_EXIT_GUEST);               /* beyond the table */
}

static void exit_first_stop_wins(void **state)
{
    struct vm *vm = test_vm();
    vm_request_stop(vm, TRUCE_EXIT_REBOOT, "first");
    vm_request_stop(vm, TRUCE_EXIT_POWEROFF, "second");
    assert_int_equal(vm->exit_status, TRUCE_EXIT_REBOOT);
    assert_string_equal(vm->exit_reason, "first");
    struct vm_exit e = {.reason = 1000};
    exit_dispatch(vm, NULL, &e);
    assert_int_equal(atomic_load(&vm->stats.unknown), 1);
    assert_int_equal(vm->exit_status, TRUCE_EXIT_REBOOT);
    test_vm_free(vm);
}

static void exit_decode_io(void **state)
{
    uint8_t page[4096] = {0};
    struct kvm_run *run = (struct kvm_run *)page;
    run->exit_reason = KVM_EXIT_IO;
    run->io.port = 0xf4;
    run->io.size = 2;
    run->io.direction = KVM_EXIT_IO_OUT;
    run->io.count = 1;
    run->io.data_offset = 1024;
    struct vm_exit e;
    exit_decode(run, &e);
    assert_int_equal(e.reason, KVM_EXIT_IO);
    assert_int_equal(e.io.port, 0xf4);
    assert_int_equal(e.io.size, 2);
    assert_false(e.io.in);
    assert_ptr_equal(e.io.data, page + 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(iobus_routes_and_rejects_overlap),
        cmocka_unit_test(mem_small_guest_is_one_region),
        cmocka_unit_test(mem_large_guest_splits_around_hole),
        cmocka_unit_test(mem_sizes_accepted_and_rejected),
        cmocka_unit_test(mem_base_is_2mib_aligned),
        cmocka_unit_test(mem_thp_advice),
        cmocka_unit_test(exit_io_routes_rep_and_counts_unmapped),
        cmocka_unit_test(exit_mmio_unmapped_read_all_ones),
        cmocka_unit_test(exit_policy_statuses),
        cmocka_unit_test(exit_stats_line),
        cmocka_unit_test(exit_first_stop_wins),
        cmocka_unit_test(exit_decode_io),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
