/* test_virtio_state.c — virtio devices: save/restore of the PCI function, common and queue state,
 * and pause (a kick made while paused is handled only after resume). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio_fixture.h"
#include "statetest.h"
#include "virtio/blk.h"

static struct vfix *rng_new(bool bringup)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    char err[256] = "";
    f->vm.cfg.entropy = true;
    assert_int_equal(device_class_find("virtio-rng")->create(&f->vm, err, sizeof(err)), 0);
    vf_probe(f, 1);
    if (bringup)
        vf_bringup(f, vf_features(f), 1);
    return f;
}

static void vfix_free(struct vfix *f)
{
    vf_fini(f);
    free(f);
}

/* One 64-byte request on the rng queue, waited for. */
static void rng_request(struct vfix *f)
{
    uint16_t used = vf_used_idx(f, 0);
    vf_desc(f, 0, 0, VF_BUF, 64, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, (uint16_t)(used + 1)));
}

/* Offset of the section after the one at OFF. */
static size_t next_section(const uint8_t *buf, size_t off)
{
    size_t name = buf[off];
    return off + 1 + name + 8 + get_le32(buf + off + 1 + name + 4);
}

static void test_rng_roundtrip(void **state)
{
    struct vfix *a = rng_new(true), *b = rng_new(false);
    for (int i = 0; i < 3; i++)
        rng_request(a);
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    /* the rings live in guest RAM, which a snapshot carries apart from the devices */
    memcpy(gpa_to_hva(&b->vm.mem, VF_RING(0), 0xc000), gpa_to_hva(&a->vm.mem, VF_RING(0), 0xc000),
           0xc000);
    size_t len;
    uint8_t *buf = st_roundtrip(da, db, &len);
    /* B is the same device: status, MSI-X on, and its queue goes on from index 3 */
    assert_int_equal(vf_status(b), vf_status(a));
    assert_int_equal(vf_cfg_read(b, 1, b->msix_cap + 2, 2), vf_cfg_read(a, 1, a->msix_cap + 2, 2));
    b->qsize[0] = a->qsize[0];
    b->avail_idx[0] = a->avail_idx[0];
    assert_int_equal(vf_used_idx(b, 0), 3);
    int msis = atomic_load(&b->msis);
    uint16_t used_event = 3; /* EVENT_IDX: interrupt when the used index passes 3 */
    guest_mem_write(&b->vm.mem, VF_RING(0) + 0x4000 + 4 + 2 * b->qsize[0], &used_event, 2);
    rng_request(b);
    assert_int_equal(vf_used_idx(b, 0), 4);
    assert_true(atomic_load(&b->msis) > msis);

    /* the virtio section, checked against the device */
    size_t vs = next_section(buf, 0);
    size_t p = vs + st_payload(buf + vs), q0 = p + 31;
    st_reject_patched(db, buf, len, p, buf[p] ^ 1, "host_features");
    st_reject_patched(db, buf, len, p + 15, 0x80, "guest_features");
    st_reject_patched(db, buf, len, p + 16, 0x2f, "status");
    st_reject_patched(db, buf, len, p + 30, 0x01, "msix_config");
    st_reject_patched(db, buf, len, q0, 3, "q->size");
    st_reject_patched(db, buf, len, q0 + 3, 0x01, "q->msix_vector");
    st_reject_patched(db, buf, len, q0 + 5 + 7, 0x40, "rings outside guest RAM");
    st_reject_patched(db, buf, len, q0 + 30, 0x40, "last_avail");
    st_reject_patched(db, buf, len, vs + 1 + 7, 'x', "was expected"); /* "virtio-rng" */
    /* the PCI function: a BAR register with other flags */
    size_t f0 = st_payload(buf);
    st_reject_patched(db, buf, len, f0 + 0x10, 0x00, "BAR0");
    /* after all that B still holds the first restore */
    size_t n2;
    uint8_t *again = st_save(db, &n2);
    assert_int_equal(n2, len);
    free(again);
    free(buf);
    da->ops->resume(da->dev);
    vfix_free(a);
    vfix_free(b);
}

/* The whole-VM walk: devices_save / devices_restore. */
static void test_devices_walk(void **state)
{
    struct vfix *a = rng_new(true), *b = rng_new(false);
    rng_request(a);
    devices_pause(&a->vm);
    struct state_visitor v, l, w;
    state_save_init(&v);
    assert_int_equal(devices_save(&a->vm, &v), 0);
    assert_int_equal(state_finish(&v), 0);
    state_load_init(&l, v.buf, v.len);
    assert_int_equal(devices_restore(&b->vm, &l), 0);
    assert_int_equal(state_finish(&l), 0);
    state_save_init(&w);
    assert_int_equal(devices_save(&b->vm, &w), 0);
    assert_int_equal(w.len, v.len);
    assert_memory_equal(w.buf, v.buf, v.len);
    /* a VM with one device more does not take it */
    char err[256] = "";
    b->vm.cfg.entropy = true;
    assert_int_equal(device_class_find("virtio-rng")->create(&b->vm, err, sizeof(err)), 0);
    state_load_init(&l, v.buf, v.len);
    assert_int_equal(devices_restore(&b->vm, &l), -EINVAL);
    assert_non_null(strstr(l.msg, "state of devices: truncated at section header"));
    state_free(&v);
    state_free(&w);
    devices_resume(&a->vm);
    vfix_free(a);
    vfix_free(b);
}

/* A kick made while paused stays pending: handled after resume, never before. */
static void test_pause_holds_kicks(void **state)
{
    struct vfix *f = rng_new(true);
    rng_request(f);
    devices_pause(&f->vm);
    vf_desc(f, 0, 0, VF_BUF, 64, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    vf_quiesce(f); /* the I/O thread went round its loop with the kick pending */
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, 0), 1);
    devices_resume(&f->vm);
    assert_true(vf_wait_used(f, 0, 2));
    /* paused twice in a row and resumed: still one pass per kick */
    devices_pause(&f->vm);
    devices_resume(&f->vm);
    rng_request(f);
    assert_int_equal(vf_used_idx(f, 0), 3);
    vfix_free(f);
}

/* virtio-blk: a paused disk has no request in flight, and its state restores into a fresh one. */
static void test_blk_pause_roundtrip(void **state)
{
    char path[] = "/tmp/truce-state-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    struct vfix *f[2];
    for (int i = 0; i < 2; i++) {
        f[i] = calloc(1, sizeof(*f[i]));
        vf_init(f[i]);
        struct disk_config *dc = &f[i]->vm.cfg.disks[f[i]->vm.cfg.ndisks++];
        *dc = (struct disk_config){.readonly = true};
        snprintf(dc->id, sizeof(dc->id), "drive0");
        snprintf(dc->path, sizeof(dc->path), "%s", path);
        char err[256] = "";
        assert_int_equal(virtio_blk_create(&f[i]->vm, dc, err, sizeof(err)), 0);
        vf_probe(f[i], 1);
    }
    vf_bringup(f[0], vf_features(f[0]), 1);
    /* a read: header, 4 KiB of data, status */
    struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = 8};
    guest_mem_write(&f[0]->vm.mem, VF_BUF, &h, sizeof(h));
    vf_desc(f[0], 0, 0, VF_BUF, sizeof(h), VRING_DESC_F_NEXT, 1);
    vf_desc(f[0], 0, 1, VF_BUF + 0x1000, 4096, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    vf_desc(f[0], 0, 2, VF_BUF + 0x3000, 1, VRING_DESC_F_WRITE, 0);
    vf_offer(f[0], 0, 0);
    assert_true(vf_wait_used(f[0], 0, 1));
    struct device_instance *da = st_last(&f[0]->vm), *db = st_last(&f[1]->vm);
    da->ops->pause(da->dev);
    size_t len;
    free(st_roundtrip(da, db, &len));
    assert_int_equal(vf_status(f[1]), vf_status(f[0]));
    da->ops->resume(da->dev);
    for (int i = 0; i < 2; i++) {
        vf_fini(f[i]);
        free(f[i]);
    }
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_roundtrip),
        cmocka_unit_test(test_devices_walk),
        cmocka_unit_test(test_pause_holds_kicks),
        cmocka_unit_test(test_blk_pause_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
