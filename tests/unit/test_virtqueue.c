/* test_virtqueue.c — the split virtqueue walker against well-formed and hostile rings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "virtio/virtio.h"
#include "vm/vm.h"

#define RAM   (16 * MiB)
#define QSIZE 8
#define DESC  0x10000ULL
#define AVAIL 0x20000ULL
#define USED  0x30000ULL
#define INDIR 0x40000ULL
#define BUF   0x100000ULL

struct fix {
    struct vm vm;
    struct virtio_dev vdev;
    struct virtq *q;
    struct iovec iov[16];
    struct virtq_chain c;
    uint16_t avail_idx;
};

static const struct virtio_dev_ops no_ops = {0};

/* Set up a queue of N entries with FEATURES negotiated. */
static void fix_queue(struct fix *f, uint16_t n, uint64_t features)
{
    if (f->vdev.vq) /* set up again within a test: free the last queue array */
        virtio_dev_fini(&f->vdev);
    assert_int_equal(
        virtio_dev_init(&f->vdev, &f->vm, "test", VIRTIO_ID_RNG, 0, 0, 1, 1024, 0, &no_ops, NULL),
        0);
    f->vdev.status = VIRTIO_CONFIG_S_DRIVER_OK;
    f->q = &f->vdev.vq[0];
    f->q->size = n;
    f->q->desc_gpa = DESC;
    f->q->avail_gpa = AVAIL;
    f->q->used_gpa = USED;
    f->q->enabled = true;
    assert_int_equal(virtq_activate(f->q, &f->vm.mem, features), 0);
    f->c = (struct virtq_chain){.iov = f->iov, .max_iov = 16};
    f->avail_idx = 0;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    f->vm.fd = -1;
    assert_int_equal(guest_mem_init(&f->vm.mem, RAM, false), 0);
    fix_queue(f, QSIZE, VIRTIO_TRANSPORT_FEATURES);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    virtio_dev_fini(&f->vdev);
    guest_mem_free(&f->vm.mem);
    free(f);
    return 0;
}

static void put_desc(struct fix *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    struct vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
    assert_int_equal(guest_mem_write(&f->vm.mem, table + 16 * i, &d, sizeof(d)), 0);
}

/* Make HEAD available and publish the new index. */
static void offer(struct fix *f, uint16_t head)
{
    uint16_t slot = f->avail_idx % f->q->size;
    guest_mem_write(&f->vm.mem, AVAIL + 4 + 2 * slot, &head, 2);
    f->avail_idx++;
    guest_mem_write(&f->vm.mem, AVAIL + 2, &f->avail_idx, 2);
}

static uint16_t used_idx(struct fix *f)
{
    uint16_t v;
    guest_mem_read(&f->vm.mem, USED + 2, &v, 2);
    return v;
}

/* The queue must now be broken and the device asking for a reset. */
static void assert_broken(struct fix *f)
{
    assert_true(f->q->broken);
    assert_true(f->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_int_equal(virtq_pop(f->q, &f->c), -EIO);
}

static void pops_split_chain(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF + 0x100, 100, VRING_DESC_F_NEXT, 2);
    put_desc(f, DESC, 2, BUF + 0x1000, 512, VRING_DESC_F_WRITE, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), 0);
    offer(f, 0);
    assert_true(virtq_has_avail(f->q));
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    assert_int_equal(f->c.head, 0);
    assert_int_equal(f->c.nout, 2);
    assert_int_equal(f->c.nin, 1);
    assert_int_equal(f->c.out_len, 116);
    assert_int_equal(f->c.in_len, 512);
    assert_ptr_equal(f->iov[1].iov_base, gpa_to_hva(&f->vm.mem, BUF + 0x100, 1));
    assert_int_equal(virtq_pop(f->q, &f->c), 0);
    virtq_push(f->q, f->c.head, 512);
    assert_int_equal(used_idx(f), 1);
    struct vring_used_elem e;
    guest_mem_read(&f->vm.mem, USED + 4, &e, sizeof(e));
    assert_int_equal(e.id, 0);
    assert_int_equal(e.len, 512);
    assert_false(f->q->broken);
}

static void chain_copy_helpers(void **state)
{
    struct fix *f = *state;
    uint8_t src[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8] = {0};
    guest_mem_write(&f->vm.mem, BUF, src, 3);
    guest_mem_write(&f->vm.mem, BUF + 0x100, src + 3, 5);
    put_desc(f, DESC, 0, BUF, 3, VRING_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF + 0x100, 5, VRING_DESC_F_NEXT, 2);
    put_desc(f, DESC, 2, BUF + 0x200, 2, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
    put_desc(f, DESC, 3, BUF + 0x300, 4, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    assert_int_equal(virtq_chain_read(&f->c, 2, out, 8), 6);
    assert_memory_equal(out, src + 2, 6);
    assert_int_equal(virtq_chain_write(&f->c, 1, src, 8), 5);
    uint8_t a[2], b[4];
    guest_mem_read(&f->vm.mem, BUF + 0x200, a, 2);
    guest_mem_read(&f->vm.mem, BUF + 0x300, b, 4);
    assert_int_equal(a[1], 1);
    assert_int_equal(b[0], 2);
    assert_int_equal(b[3], 5);
}

static void rejects_loop(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF, 16, VRING_DESC_F_NEXT, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -ELOOP);
    assert_broken(f);
}

static void rejects_self_loop_with_zero_lengths(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 3, BUF, 0, VRING_DESC_F_NEXT, 3);
    offer(f, 3);
    assert_int_equal(virtq_pop(f->q, &f->c), -ELOOP);
    assert_broken(f);
}

static void rejects_address_outside_ram(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, RAM + 0x1000, 16, 0, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EFAULT);
    assert_broken(f);
}

static void rejects_buffer_crossing_ram_end(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, RAM - 8, 16, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EFAULT);
    assert_broken(f);
}

static void rejects_huge_length(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 0xffffffffu, 0, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EFAULT);
    assert_broken(f);
}

static void rejects_wrapping_address(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, UINT64_MAX - 4, 16, 0, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EFAULT);
    assert_broken(f);
}

static void skips_zero_length(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 0, VRING_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF, 4, 0, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    assert_int_equal(f->c.nout, 1);
    assert_int_equal(f->c.out_len, 4);
}

static void rejects_total_length_overflow(void **state)
{
    struct fix *f = *state;
    /* 300 readable descriptors of 15 MiB each in an indirect table: 4.4 GB > 32 bits */
    struct iovec big[512];
    fix_queue(f, 512, VIRTIO_TRANSPORT_FEATURES);
    f->c = (struct virtq_chain){.iov = big, .max_iov = 512};
    for (unsigned i = 0; i < 300; i++)
        put_desc(f, DESC, i, 0x100000, 15 * MiB, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
    put_desc(f, DESC, 299, 0x100000, 15 * MiB, 0, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EOVERFLOW);
    assert_broken(f);
}

static void rejects_head_out_of_range(void **state)
{
    struct fix *f = *state;
    offer(f, QSIZE);
    assert_int_equal(virtq_pop(f->q, &f->c), -EINVAL);
    assert_broken(f);
}

static void rejects_next_out_of_range(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 4, VRING_DESC_F_NEXT, 200);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EINVAL);
    assert_broken(f);
}

static void rejects_avail_jump(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 4, 0, 0);
    uint16_t idx = QSIZE + 1;
    guest_mem_write(&f->vm.mem, AVAIL + 2, &idx, 2);
    assert_int_equal(virtq_pop(f->q, &f->c), -EINVAL);
    assert_broken(f);
    assert_false(virtq_has_avail(f->q));
}

static void rejects_readable_after_writable(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF, 4, 0, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EINVAL);
    assert_broken(f);
}

static void rejects_too_many_segments(void **state)
{
    struct fix *f = *state;
    f->c.max_iov = 2;
    put_desc(f, DESC, 0, BUF, 4, VRING_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF, 4, VRING_DESC_F_NEXT, 2);
    put_desc(f, DESC, 2, BUF, 4, 0, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -E2BIG);
    assert_broken(f);
}

static void walks_indirect_table(void **state)
{
    struct fix *f = *state;
    put_desc(f, INDIR, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    put_desc(f, INDIR, 1, BUF + 0x100, 1, VRING_DESC_F_WRITE, 0);
    put_desc(f, DESC, 5, INDIR, 32, VRING_DESC_F_INDIRECT, 0);
    offer(f, 5);
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    assert_int_equal(f->c.head, 5);
    assert_int_equal(f->c.nout, 1);
    assert_int_equal(f->c.nin, 1);
    assert_int_equal(f->c.in_len, 1);
}

static void rejects_nested_indirect(void **state)
{
    struct fix *f = *state;
    put_desc(f, INDIR, 0, INDIR + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
    put_desc(f, INDIR + 0x100, 0, BUF, 16, 0, 0);
    put_desc(f, DESC, 0, INDIR, 16, VRING_DESC_F_INDIRECT, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EINVAL);
    assert_broken(f);
}

static void rejects_indirect_loop(void **state)
{
    struct fix *f = *state;
    put_desc(f, INDIR, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    put_desc(f, INDIR, 1, BUF, 16, VRING_DESC_F_NEXT, 0);
    put_desc(f, DESC, 0, INDIR, 32, VRING_DESC_F_INDIRECT, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -ELOOP);
    assert_broken(f);
}

/* Regression (a hostile guest hung the I/O thread): an INDIRECT descriptor whose table is the
 * queue's own descriptor table re-enters that table; the old walker took it for a fresh,
 * non-nested table and reset its loop bound each time, so the walk never ended. */
static void rejects_indirect_into_own_table(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, DESC, 16 * QSIZE, VRING_DESC_F_INDIRECT, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EINVAL);
    assert_broken(f);
}

/* The same reached through zero-length direct descriptors first (skipped, but counted). */
static void rejects_zero_length_chain_into_own_table(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 0, VRING_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, BUF, 0, VRING_DESC_F_NEXT, 2);
    put_desc(f, DESC, 2, DESC, 16 * QSIZE, VRING_DESC_F_INDIRECT, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EINVAL);
    assert_broken(f);
}

/* An indirect table of zero-length descriptors that loops inside itself ends with -ELOOP: the
 * budget is the queue size plus the table size, for the whole walk. */
static void bounds_whole_walk_across_tables(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 0, VRING_DESC_F_NEXT, 1);
    put_desc(f, DESC, 1, INDIR, 16 * 4, VRING_DESC_F_INDIRECT, 0);
    for (unsigned i = 0; i < 4; i++)
        put_desc(f, INDIR, i, BUF, 0, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 4));
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -ELOOP);
    assert_broken(f);
}

static void rejects_bad_indirect_tables(void **state)
{
    struct fix *f = *state;
    static const struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        int err;
    } cases[] = {
        {INDIR, 24, VRING_DESC_F_INDIRECT, -EINVAL},                     /* not 16*n */
        {INDIR, 0, VRING_DESC_F_INDIRECT, -EINVAL},                      /* empty */
        {INDIR, 16 * 2048, VRING_DESC_F_INDIRECT, -EINVAL},              /* too large */
        {INDIR, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, -EINVAL}, /* with NEXT */
        {RAM - 16, 32, VRING_DESC_F_INDIRECT, -EFAULT},                  /* outside RAM */
    };
    for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
        fix_queue(f, QSIZE, VIRTIO_TRANSPORT_FEATURES);
        put_desc(f, DESC, 0, cases[i].addr, cases[i].len, cases[i].flags, 1);
        put_desc(f, INDIR, 0, BUF, 16, 0, 0);
        offer(f, 0);
        assert_int_equal(virtq_pop(f->q, &f->c), cases[i].err);
        assert_broken(f);
        virtio_dev_fini(&f->vdev);
    }
    fix_queue(f, QSIZE, VIRTIO_TRANSPORT_FEATURES);
}

static void rejects_indirect_without_feature(void **state)
{
    struct fix *f = *state;
    fix_queue(f, QSIZE, 1ULL << VIRTIO_F_VERSION_1);
    put_desc(f, INDIR, 0, BUF, 16, 0, 0);
    put_desc(f, DESC, 0, INDIR, 16, VRING_DESC_F_INDIRECT, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), -EINVAL);
    assert_broken(f);
}

static void activate_checks_rings(void **state)
{
    struct fix *f = *state;
    struct virtq *q = f->q;
    q->size = 6;
    assert_int_equal(virtq_activate(q, &f->vm.mem, 0), -EINVAL);
    q->size = 2048;
    assert_int_equal(virtq_activate(q, &f->vm.mem, 0), -EINVAL);
    q->size = QSIZE;
    q->desc_gpa = DESC + 8;
    assert_int_equal(virtq_activate(q, &f->vm.mem, 0), -EINVAL);
    q->desc_gpa = RAM - 16;
    assert_int_equal(virtq_activate(q, &f->vm.mem, 0), -EFAULT);
    q->desc_gpa = DESC;
    q->used_gpa = RAM - 8;
    assert_int_equal(virtq_activate(q, &f->vm.mem, 0), -EFAULT);
}

static void no_interrupt_flag(void **state)
{
    struct fix *f = *state;
    fix_queue(f, QSIZE, 1ULL << VIRTIO_F_VERSION_1);
    put_desc(f, DESC, 0, BUF, 4, 0, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    virtq_push(f->q, 0, 0);
    assert_true(virtq_should_interrupt(f->q));
    assert_false(virtq_should_interrupt(f->q)); /* nothing new */
    uint16_t flags = VRING_AVAIL_F_NO_INTERRUPT;
    guest_mem_write(&f->vm.mem, AVAIL, &flags, 2);
    offer(f, 0);
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    virtq_push(f->q, 0, 0);
    assert_false(virtq_should_interrupt(f->q));
    /* notification suppression towards the driver */
    virtq_disable_notify(f->q);
    guest_mem_read(&f->vm.mem, USED, &flags, 2);
    assert_int_equal(flags, VRING_USED_F_NO_NOTIFY);
    assert_false(virtq_enable_notify(f->q));
    guest_mem_read(&f->vm.mem, USED, &flags, 2);
    assert_int_equal(flags, 0);
}

static void event_idx_suppression(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 0, BUF, 4, 0, 0);
    for (int i = 0; i < 3; i++)
        offer(f, 0);
    uint16_t used_event = 1; /* interrupt once used idx passes 1 */
    guest_mem_write(&f->vm.mem, AVAIL + 4 + 2 * QSIZE, &used_event, 2);
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    virtq_push(f->q, 0, 0);
    assert_true(virtq_should_interrupt(f->q)); /* first interrupt always goes */
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    virtq_push(f->q, 0, 0); /* used idx 1 -> 2: crosses used_event 1 */
    assert_true(virtq_should_interrupt(f->q));
    assert_int_equal(virtq_pop(f->q, &f->c), 1);
    virtq_push(f->q, 0, 0); /* 2 -> 3: used_event still 1 */
    assert_false(virtq_should_interrupt(f->q));
    /* enable_notify publishes avail_event = last_avail and reports nothing pending */
    assert_false(virtq_enable_notify(f->q));
    uint16_t avail_event;
    guest_mem_read(&f->vm.mem, USED + 4 + 8 * QSIZE, &avail_event, 2);
    assert_int_equal(avail_event, 3);
    offer(f, 0);
    assert_true(virtq_enable_notify(f->q));
}

static void push_wraps_ring(void **state)
{
    struct fix *f = *state;
    put_desc(f, DESC, 2, BUF, 4, VRING_DESC_F_WRITE, 0);
    for (unsigned i = 0; i < 3 * QSIZE; i++) {
        offer(f, 2);
        assert_int_equal(virtq_pop(f->q, &f->c), 1);
        virtq_push(f->q, f->c.head, i);
    }
    assert_int_equal(used_idx(f), 3 * QSIZE);
    struct vring_used_elem e;
    guest_mem_read(&f->vm.mem, USED + 4 + 8 * ((3 * QSIZE - 1) % QSIZE), &e, sizeof(e));
    assert_int_equal(e.len, 3 * QSIZE - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pops_split_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_copy_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_self_loop_with_zero_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_address_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_buffer_crossing_ram_end, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_huge_length, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_wrapping_address, setup, teardown),
        cmocka_unit_test_setup_teardown(skips_zero_length, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_total_length_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_head_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_next_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_avail_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_readable_after_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_too_many_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(walks_indirect_table, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_nested_indirect, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_indirect_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_indirect_into_own_table, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_zero_length_chain_into_own_table, setup, teardown),
        cmocka_unit_test_setup_teardown(bounds_whole_walk_across_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_bad_indirect_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_indirect_without_feature, setup, teardown),
        cmocka_unit_test_setup_teardown(activate_checks_rings, setup, teardown),
        cmocka_unit_test_setup_teardown(no_interrupt_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(event_idx_suppression, setup, teardown),
        cmocka_unit_test_setup_teardown(push_wraps_ring, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
