/* test_balloon.c — virtio-balloon: pages given back, PFN checks, statistics, hinting, reporting,
 * the target and its config interrupt, huge pages, and the state round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "virtio_fixture.h"
#include "statetest.h"
#include "api/api_int.h"
#include "virtio/balloon.h"

#define PG      4096u
#define PFN_BUF (VF_BUF + 0x100000) /* where the driver's PFN arrays and stats live */
#define FREE    (16 * MiB)          /* guest pages the tests give to the balloon */

/* A VM with a balloon configured by BC, its driver up with every offered feature. */
static struct vfix *balloon_vm(struct balloon_config bc, bool hugepages, bool bringup)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.mem.hugepages = hugepages; /* the fixture's RAM is plain: only the bookkeeping differs */
    bc.enabled = true;
    f->vm.cfg.balloon = bc;
    char err[256] = "";
    assert_int_equal(device_class_find("virtio-balloon")->create(&f->vm, err, sizeof(err)), 0);
    vf_probe(f, 1);
    if (bringup) {
        unsigned nq =
            2 + !!bc.stats_polling_interval_s + bc.free_page_hinting + bc.free_page_reporting;
        vf_bringup(f, vf_features(f), nq);
    }
    return f;
}

static void vm_free(struct vfix *f)
{
    vf_fini(f);
    free(f);
}

static struct balloon_counters counters(struct vfix *f)
{
    struct balloon_counters c;
    balloon_get_counters(virtio_balloon_find(&f->vm), &c);
    return c;
}

/* Fill N pages from GPA with a pattern the guest "used". */
static void dirty(struct vfix *f, uint64_t gpa, size_t n)
{
    memset(gpa_to_hva(&f->vm.mem, gpa, n * PG), 0xa5, n * PG);
}

/* True when every byte of [gpa, gpa + len) is zero (the page went back to the host). */
static bool zero(struct vfix *f, uint64_t gpa, size_t len)
{
    const uint8_t *p = gpa_to_hva(&f->vm.mem, gpa, len);
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

/* Send N PFNS on queue Q (0 inflate, 1 deflate) as one buffer; wait until it is used. */
static void send_pfns(struct vfix *f, unsigned q, const uint32_t *pfns, unsigned n)
{
    uint16_t used = vf_used_idx(f, q);
    guest_mem_write(&f->vm.mem, PFN_BUF, pfns, n * 4);
    vf_desc(f, q, used % f->qsize[q], PFN_BUF, n * 4, 0, 0);
    vf_offer(f, q, used % f->qsize[q]);
    assert_true(vf_wait_used(f, q, (uint16_t)(used + 1)));
}

static void inflate_gives_pages_back(void **state)
{
    struct vfix *f = balloon_vm((struct balloon_config){.amount_mib = 8}, false, true);
    uint32_t pfns[256];
    dirty(f, FREE, 256);
    for (unsigned i = 0; i < 256; i++) /* out of order, as a guest's allocator hands them out */
        pfns[i] = (uint32_t)(FREE / PG) + (i * 37) % 256;
    send_pfns(f, 0, pfns, 256);
    assert_true(zero(f, FREE, 256 * PG));
    dirty(f, FREE + 256 * PG, 1); /* the page after them is untouched */
    send_pfns(f, 1, pfns, 256);   /* deflate: nothing to do on the host */
    assert_false(zero(f, FREE + 256 * PG, PG));
    struct balloon_counters c = counters(f);
    assert_int_equal(c.inflate_count, 1);
    assert_int_equal(c.deflate_count, 1);
    assert_int_equal(c.returned_bytes, 256 * PG);
    assert_int_equal(c.invalid_pfns, 0);
    /* the metrics line's object: Firecracker's names, and truce's */
    json_t *m = api_metrics_balloon(&f->vm);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "inflate_count")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "deflate_count")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "returned_bytes")), 256 * PG);
    assert_non_null(json_object_get(m, "free_page_hint_fails"));
    assert_int_equal(json_object_size(m), 14);
    json_decref(m);
    vm_free(f);
}

/* Every PFN is checked: outside RAM, in the MMIO hole, at 2^32-1. The good ones still count. */
static void hostile_pfns_are_skipped(void **state)
{
    struct vfix *f = balloon_vm((struct balloon_config){.amount_mib = 8}, false, true);
    uint32_t good = (uint32_t)(FREE / PG);
    uint32_t pfns[] = {good, (uint32_t)(VF_RAM / PG), 0xc0000, 0xfffff, 0xffffffff, good + 1};
    dirty(f, FREE, 2);
    send_pfns(f, 0, pfns, 6);
    assert_true(zero(f, FREE, 2 * PG));
    assert_int_equal(counters(f).invalid_pfns, 4);
    /* more than 256 PFNs, or not a whole number: skipped, the device goes on */
    dirty(f, FREE, 1);
    uint32_t many[300];
    for (unsigned i = 0; i < 300; i++)
        many[i] = good;
    send_pfns(f, 0, many, 300);
    uint16_t used = vf_used_idx(f, 0);
    vf_desc(f, 0, 0, PFN_BUF, 6, 0, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, (uint16_t)(used + 1)));
    assert_false(zero(f, FREE, PG));
    assert_int_equal(counters(f).event_fails, 2);
    assert_false(vf_status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    send_pfns(f, 0, pfns, 1);
    assert_true(zero(f, FREE, PG));
    vm_free(f);
}

static void target_and_config(void **state)
{
    struct vfix *f = balloon_vm((struct balloon_config){.amount_mib = 8}, false, false);
    struct virtio_balloon *b = virtio_balloon_find(&f->vm);
    char err[256] = "";
    assert_int_equal(balloon_set_target(b, 4, err, sizeof(err)), -ENODEV); /* no driver yet */
    vf_bringup(f, vf_features(f), 2);
    assert_int_equal(vf_rd(f, f->devcfg, 4), 8 * 256);
    int msis = atomic_load(&f->msis);
    assert_int_equal(balloon_set_target(b, 32, err, sizeof(err)), 0);
    assert_int_equal(vf_rd(f, f->devcfg, 4), 32 * 256);
    assert_int_equal(atomic_load(&f->msis), msis + 1);
    assert_int_equal(atomic_load(&f->last_msi_data), 0x40);                 /* the config vector */
    assert_int_equal(balloon_set_target(b, 65, err, sizeof(err)), -EINVAL); /* RAM is 64 MiB */
    assert_non_null(strstr(err, "64 MiB"));
    /* the driver reports what it holds in `actual`; num_pages is not its to write */
    vf_wr(f, f->devcfg + 4, 4, 1234);
    vf_wr(f, f->devcfg, 4, 1);
    vf_wr(f, f->devcfg + 8, 4, 77);
    struct balloon_info i;
    balloon_get_info(b, &i);
    assert_int_equal(i.actual_pages, 1234);
    assert_int_equal(i.target_pages, 32 * 256);
    assert_int_equal(vf_rd(f, f->devcfg + 8, 4), 0);
    assert_int_equal(vf_rd(f, f->devcfg + 6, 2), 0); /* upper half of actual, byte-wise */
    assert_true(i.active);
    vm_free(f);
}

/* One statistics buffer of N {le16 tag, le64 val} records at PFN_BUF, offered on queue 2. */
static void send_stats(struct vfix *f, const uint16_t *tags, const uint64_t *vals, unsigned n)
{
    uint8_t rec[10 * 16];
    for (unsigned i = 0; i < n; i++) {
        memcpy(rec + 10 * i, &tags[i], 2);
        memcpy(rec + 10 * i + 2, &vals[i], 8);
    }
    guest_mem_write(&f->vm.mem, PFN_BUF, rec, 10 * n);
    vf_desc(f, 2, 0, PFN_BUF, 10 * n, 0, 0);
    vf_offer(f, 2, 0);
    vf_quiesce(f);
}

static void statistics(void **state)
{
    struct vfix *f = balloon_vm(
        (struct balloon_config){.amount_mib = 0, .stats_polling_interval_s = 3600}, false, true);
    struct virtio_balloon *b = virtio_balloon_find(&f->vm);
    char err[256];
    uint16_t tags[] = {BALLOON_S_MEMFREE, BALLOON_S_MEMTOT, 42, BALLOON_S_DIRECT_RECLAIM};
    uint64_t vals[] = {1000, 64 * MiB, 7, 5};
    send_stats(f, tags, vals, 4);
    assert_int_equal(vf_used_idx(f, 2), 0); /* held until the next poll */
    struct balloon_stats s;
    assert_int_equal(balloon_get_stats(b, &s, err, sizeof(err)), 0);
    assert_int_equal(s.val[BALLOON_S_MEMFREE], 1000);
    assert_int_equal(s.val[BALLOON_S_MEMTOT], 64 * MiB);
    assert_int_equal(s.val[BALLOON_S_DIRECT_RECLAIM], 5);
    assert_int_equal(s.have, 1u << BALLOON_S_MEMFREE | 1u << BALLOON_S_MEMTOT |
                                 1u << BALLOON_S_DIRECT_RECLAIM);
    assert_int_equal(counters(f).stats_update_fails, 1); /* tag 42 */
    assert_int_equal(counters(f).stats_updates_count, 1);
    /* a new interval asks at once: the buffer goes back to the driver */
    assert_int_equal(balloon_set_stats_interval(b, 1, err, sizeof(err)), 0);
    assert_true(vf_wait_used(f, 2, 1));
    assert_int_equal(balloon_set_stats_interval(b, 0, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "enabled/disabled"));
    /* the driver refills it; the 1 s timer then asks again */
    vals[0] = 2000;
    send_stats(f, tags, vals, 1);
    assert_int_equal(balloon_get_stats(b, &s, err, sizeof(err)), 0);
    assert_int_equal(s.val[BALLOON_S_MEMFREE], 2000);
    assert_true(vf_wait_used(f, 2, 2));
    vm_free(f);
}

static void stats_parsing(void **state)
{
    uint8_t buf[35] = {0};
    struct balloon_stats s = {0};
    buf[0] = BALLOON_S_AVAIL;
    buf[2] = 0x11, buf[9] = 0x22;             /* 0x2200000000000011 */
    buf[10] = 0xff, buf[11] = 0xff;           /* tag 65535: unknown */
    buf[20] = BALLOON_S_SWAP_IN, buf[22] = 9; /* then 5 bytes of a partial record */
    assert_int_equal(balloon_stats_parse(buf, sizeof(buf), &s), 1);
    assert_int_equal(s.val[BALLOON_S_AVAIL], 0x2200000000000011ULL);
    assert_int_equal(s.val[BALLOON_S_SWAP_IN], 9);
    assert_int_equal(s.have, 1u << BALLOON_S_AVAIL | 1u << BALLOON_S_SWAP_IN);
    assert_int_equal(balloon_stats_parse(buf, 9, &s), 0);
    assert_string_equal(balloon_stat_names[BALLOON_S_MEMFREE], "free_memory");
    assert_string_equal(balloon_stat_names[BALLOON_S_HTLB_PGFAIL], "hugetlb_failures");
}

static void statistics_off(void **state)
{
    struct vfix *f = balloon_vm((struct balloon_config){.amount_mib = 1}, false, true);
    struct balloon_stats s;
    char err[256];
    assert_int_equal(balloon_get_stats(virtio_balloon_find(&f->vm), &s, err, sizeof(err)),
                     -ENOTSUP);
    assert_false(vf_features(f) >> BALLOON_F_STATS_VQ & 1);
    vm_free(f);
}

/* Free page reporting: writable buffers of free memory go back to the host. */
static void reporting(void **state)
{
    struct vfix *f = balloon_vm((struct balloon_config){.free_page_reporting = true}, false, true);
    dirty(f, FREE, 1024);
    vf_desc(f, 2, 0, FREE, 2 * MiB, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    vf_desc(f, 2, 1, FREE + 2 * MiB, 2 * MiB, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 2, 0);
    assert_true(vf_wait_used(f, 2, 1));
    assert_true(zero(f, FREE, 4 * MiB));
    struct balloon_counters c = counters(f);
    assert_int_equal(c.free_page_report_count, 2);
    assert_int_equal(c.free_page_report_freed, 4 * MiB);
    vm_free(f);
}

/* Hinting: the command id protocol. Queue 2 (statistics off). */
static void hinting(void **state)
{
    struct vfix *f = balloon_vm((struct balloon_config){.free_page_hinting = true}, false, true);
    struct virtio_balloon *b = virtio_balloon_find(&f->vm);
    char err[256];
    uint32_t host, guest;
    bool gset;
    assert_int_equal(balloon_hint_status(b, &host, &guest, &gset, err, sizeof(err)), 0);
    assert_int_equal(host, 0);
    assert_false(gset);
    assert_int_equal(balloon_hint_start(b, true, err, sizeof(err)), 0);
    assert_int_equal(vf_rd(f, f->devcfg + 8, 4), 2); /* the first run's id */
    /* the guest echoes the id, then hints a block; an old run's block is left alone */
    uint32_t id = 2, old = 7, stop = 0;
    guest_mem_write(&f->vm.mem, PFN_BUF, &id, 4);
    guest_mem_write(&f->vm.mem, PFN_BUF + 4, &old, 4);
    guest_mem_write(&f->vm.mem, PFN_BUF + 8, &stop, 4);
    dirty(f, FREE, 2048);
    vf_desc(f, 2, 0, PFN_BUF, 4, 0, 0);
    vf_desc(f, 2, 1, FREE, 4 * MiB, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 2, 0);
    vf_offer(f, 2, 1);
    assert_true(vf_wait_used(f, 2, 2));
    assert_true(zero(f, FREE, 4 * MiB));
    dirty(f, FREE, 1024);
    vf_desc(f, 2, 2, PFN_BUF + 4, 4, 0, 0); /* a stale id: its blocks are not taken */
    vf_desc(f, 2, 3, FREE, 4 * MiB, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 2, 2);
    vf_offer(f, 2, 3);
    assert_true(vf_wait_used(f, 2, 4));
    assert_false(zero(f, FREE, PG));
    assert_int_equal(balloon_hint_status(b, &host, &guest, &gset, err, sizeof(err)), 0);
    assert_int_equal(guest, 7);
    assert_true(gset);
    /* the guest says STOP: acknowledged with DONE, so it frees its hinted blocks */
    int msis = atomic_load(&f->msis);
    vf_desc(f, 2, 4, PFN_BUF + 8, 4, 0, 0);
    vf_offer(f, 2, 4);
    assert_true(vf_wait_used(f, 2, 5));
    vf_quiesce(f);
    assert_int_equal(vf_rd(f, f->devcfg + 8, 4), 1);
    assert_true(atomic_load(&f->msis) > msis);
    struct balloon_counters c = counters(f);
    assert_int_equal(c.free_page_hint_count, 1);
    assert_int_equal(c.free_page_hint_freed, 4 * MiB);
    /* a second run gets a new id; stop sends DONE */
    assert_int_equal(balloon_hint_start(b, false, err, sizeof(err)), 0);
    assert_int_equal(vf_rd(f, f->devcfg + 8, 4), 3);
    assert_int_equal(balloon_hint_stop(b, err, sizeof(err)), 0);
    assert_int_equal(vf_rd(f, f->devcfg + 8, 4), 1);
    vm_free(f);
}

static void hinting_off(void **state)
{
    struct vfix *f = balloon_vm((struct balloon_config){.amount_mib = 1}, false, true);
    char err[256];
    assert_int_equal(balloon_hint_start(virtio_balloon_find(&f->vm), true, err, sizeof(err)),
                     -ENOTSUP);
    assert_non_null(strstr(err, "hinting when not enabled"));
    vm_free(f);
}

/* With huge pages only a whole 2 MiB page can go back: it goes when its last 4 KiB is inflated. */
static void huge_pages_whole_only(void **state)
{
    struct vfix *f = balloon_vm((struct balloon_config){.amount_mib = 8}, true, true);
    uint64_t hp = FREE; /* huge pages are counted from the start of the RAM mapping */
    uint32_t pfns[256];
    dirty(f, hp, 512);
    for (unsigned half = 0; half < 2; half++) {
        for (unsigned i = 0; i < 256; i++)
            pfns[i] = (uint32_t)(hp / PG) + half * 256 + i;
        if (half) {
            send_pfns(f, 0, pfns, 255); /* all but the last page: kept */
            assert_false(zero(f, hp, PG));
            send_pfns(f, 0, pfns + 255, 1);
        } else {
            send_pfns(f, 0, pfns, 256);
            send_pfns(f, 1, pfns, 1); /* deflating one takes it out again */
            send_pfns(f, 0, pfns, 1);
        }
    }
    assert_true(zero(f, hp, 2 * MiB));
    assert_int_equal(counters(f).returned_bytes, 2 * MiB);
    vm_free(f);
}

/* guest_mem_discard on a shared mapping punches its file (MADV_REMOVE); a partial page stays. */
static void discard_shared_and_partial(void **state)
{
    int fd = memfd_create("balloon-test", 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 * MiB), 0);
    uint8_t *p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 1, 4 * MiB);
    struct guest_mem m = {.base = p, .map_size = 4 * MiB, .ram_size = 4 * MiB, .shared = true};
    struct stat st;
    fstat(fd, &st);
    blkcnt_t before = st.st_blocks;
    assert_int_equal(guest_mem_discard(&m, p + 100, 3 * PG), 2 * PG); /* whole pages only */
    assert_int_equal(p[100], 1);
    assert_int_equal(p[PG], 0);
    fstat(fd, &st);
    assert_true(st.st_blocks < before);
    assert_int_equal(guest_mem_discard(&m, p + 4 * MiB - PG, 2 * PG), -EFAULT);
    assert_int_equal(guest_mem_discard(&m, p - PG, PG), -EFAULT);
    m.hugepages = true;
    assert_int_equal(guest_mem_discard(&m, p + PG, 2 * MiB), 0); /* no whole huge page */
    munmap(p, 4 * MiB);
    close(fd);
}

/* Save with a held statistics buffer, a hinting run and a moved target; restore into a fresh
 * device: the same bytes, and the restored device gives the held buffer back on request. */
static void state_roundtrip(void **state)
{
    struct balloon_config bc = {
        .amount_mib = 4, .stats_polling_interval_s = 3600, .free_page_hinting = true};
    struct vfix *a = balloon_vm(bc, false, true), *b = balloon_vm(bc, false, false);
    char err[256];
    uint16_t tags[] = {BALLOON_S_MEMFREE};
    uint64_t vals[] = {4242};
    send_stats(a, tags, vals, 1);
    struct virtio_balloon *ba = virtio_balloon_find(&a->vm), *bb = virtio_balloon_find(&b->vm);
    assert_int_equal(balloon_set_target(ba, 16, err, sizeof(err)), 0);
    assert_int_equal(balloon_hint_start(ba, true, err, sizeof(err)), 0);
    vf_wr(a, a->devcfg + 4, 4, 99);
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    memcpy(gpa_to_hva(&b->vm.mem, 0, VF_RAM), gpa_to_hva(&a->vm.mem, 0, VF_RAM), VF_RAM);
    size_t len;
    uint8_t *buf = st_roundtrip(da, db, &len);
    struct balloon_info i;
    balloon_get_info(bb, &i);
    assert_int_equal(i.target_pages, 16 * 256);
    assert_int_equal(i.actual_pages, 99);
    assert_true(i.active);
    struct balloon_stats s;
    assert_int_equal(balloon_get_stats(bb, &s, err, sizeof(err)), 0);
    assert_int_equal(s.val[BALLOON_S_MEMFREE], 4242);
    uint32_t host, guest;
    bool gset;
    balloon_hint_status(bb, &host, &guest, &gset, err, sizeof(err));
    assert_int_equal(host, 2);
    b->qsize[2] = a->qsize[2];
    assert_int_equal(balloon_set_stats_interval(bb, 60, err, sizeof(err)), 0);
    assert_true(vf_wait_used(b, 2, 1)); /* the held buffer, given back by the restored device */
    /* the balloon section's own rules */
    st_reject_header(db, buf, len);
    free(buf);
    vm_free(a);
    vm_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inflate_gives_pages_back),
        cmocka_unit_test(hostile_pfns_are_skipped),
        cmocka_unit_test(target_and_config),
        cmocka_unit_test(statistics),
        cmocka_unit_test(stats_parsing),
        cmocka_unit_test(statistics_off),
        cmocka_unit_test(reporting),
        cmocka_unit_test(hinting),
        cmocka_unit_test(hinting_off),
        cmocka_unit_test(huge_pages_whole_only),
        cmocka_unit_test(discard_shared_and_partial),
        cmocka_unit_test(state_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
