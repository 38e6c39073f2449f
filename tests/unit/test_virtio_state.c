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
#include "virtio/net.h"

static struct rl_config rng_limit; /* of the next rng_new */

static struct vfix *rng_new(bool bringup)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    char err[256] = "";
    f->vm.cfg.entropy = true;
    f->vm.cfg.entropy_rate_limiter = rng_limit;
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
    size_t p = vs + st_payload(buf + vs), q0 = p + 35;
    st_reject_patched(db, buf, len, p, buf[p] ^ 1, "host_features");
    st_reject_patched(db, buf, len, p + 15, 0x80, "guest_features");
    st_reject_patched(db, buf, len, p + 16, 0x2f, "status");
    st_reject_patched(db, buf, len, p + 30, 0x01, "msix_config");
    st_reject_patched(db, buf, len, p + 31, 3, "3 queues saved, the device has 1");
    st_reject_patched(db, buf, len, q0, 3, "q->size");
    st_reject_patched(db, buf, len, q0 + 3, 0x01, "q->msix_vector");
    st_reject_patched(db, buf, len, q0 + 5 + 7, 0x40, "rings outside guest RAM");
    st_reject_patched(db, buf, len, q0 + 30, 0x40, "last_avail");
    st_reject_patched(db, buf, len, vs + 1 + 7, 'x', "was expected"); /* "virtio-rng" */
    /* a version 2 state (before the queue count was saved) still restores, to the same device */
    size_t n2v = len - 4, vh = vs + 1 + buf[vs];
    uint8_t *v2 = malloc(len);
    assert_non_null(v2);
    memcpy(v2, buf, p + 31);
    memcpy(v2 + p + 31, buf + p + 35, len - p - 35);
    v2[vh] = 2; /* the section's version, then its payload length, 4 bytes shorter */
    uint32_t plen = get_le32(buf + vh + 4) - 4;
    memcpy(v2 + vh + 4, &plen, 4);
    char msg[256] = "";
    if (st_restore(db, v2, n2v, msg, sizeof(msg)))
        fail_msg("restore of a version 2 state: %s", msg);
    free(v2);
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

/* The rng's rate limiter of VM. */
static struct ratelimiter *rng_rl(struct vfix *f)
{
    return &virtio_find(&f->vm, VIRTIO_ID_RNG, NULL)->rl[0]->rl;
}

/* A rate limiter's buckets travel with the device (virtio state version 2): the budget left is
 * restored; a device configured with other limits, or none, refuses the state. */
static void test_rng_limiter_roundtrip(void **state)
{
    rng_limit = (struct rl_config){.ops = {.size = 10, .refill_time = 3600000},
                                   .bandwidth = {.size = 1 << 20, .refill_time = 3600000}};
    struct vfix *a = rng_new(true), *b = rng_new(false);
    rng_limit.ops.size = 11;
    struct vfix *c = rng_new(false);
    rng_limit = (struct rl_config){0};
    struct vfix *d = rng_new(false);
    for (int i = 0; i < 3; i++)
        rng_request(a);
    assert_int_equal(rng_rl(a)->ops.budget, 7);
    assert_int_equal(rng_rl(a)->bw.budget, (1 << 20) - 3 * 64);
    struct device_instance *da = st_last(&a->vm);
    da->ops->pause(da->dev);
    memcpy(gpa_to_hva(&b->vm.mem, VF_RING(0), 0xc000), gpa_to_hva(&a->vm.mem, VF_RING(0), 0xc000),
           0xc000);
    size_t len;
    uint8_t *buf = st_save(da, &len);
    char msg[256] = "";
    assert_int_equal(st_restore(st_last(&b->vm), buf, len, msg, sizeof(msg)), 0);
    assert_int_equal(rng_rl(b)->ops.budget, 7);
    assert_int_equal(rng_rl(b)->bw.budget, (1 << 20) - 3 * 64);
    assert_false(rl_blocked(rng_rl(b)));
    st_expect_reject(st_last(&c->vm), buf, len, "ops bucket");
    st_expect_reject(st_last(&d->vm), buf, len, "bucket");
    free(buf);
    da->ops->resume(da->dev);
    vfix_free(a);
    vfix_free(b);
    vfix_free(c);
    vfix_free(d);
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

/* A VM with one read-only virtio-blk on PATH, probed, not brought up. */
static struct vfix *blk_new(const char *path)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    struct disk_config *dc = &f->vm.cfg.disks[f->vm.cfg.ndisks++];
    *dc = (struct disk_config){.readonly = true};
    snprintf(dc->id, sizeof(dc->id), "drive0");
    snprintf(dc->path, sizeof(dc->path), "%s", path);
    char err[256] = "";
    assert_int_equal(virtio_blk_create(&f->vm, dc, err, sizeof(err)), 0);
    vf_probe(f, 1);
    return f;
}

/* Create a sparse image of SIZE bytes at PATH (a mkstemp template). */
static void image(char *path, off_t size)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
}

/* virtio-blk: a paused disk has no request in flight, its state restores into a fresh one, and
 * not into a disk of another size. */
static void test_blk_pause_roundtrip(void **state)
{
    char path[] = "/tmp/truce-state-XXXXXX", other[] = "/tmp/truce-state-XXXXXX";
    image(path, 1 << 20);
    image(other, 2 << 20);
    struct vfix *f[3] = {blk_new(path), blk_new(path), blk_new(other)};
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
    uint8_t *buf = st_roundtrip(da, db, &len);
    assert_int_equal(vf_status(f[1]), vf_status(f[0]));
    st_expect_reject(st_last(&f[2]->vm), buf, len,
                     "disk drive0: the image has 4096 sectors, the saved device had 2048");
    free(buf);
    da->ops->resume(da->dev);
    for (int i = 0; i < 3; i++) {
        vf_fini(f[i]);
        free(f[i]);
    }
    unlink(path);
    unlink(other);
}

/* ---- the other virtio devices: one VM each, A brought up, B fresh ---------------------------- */

enum kind { K_NET, K_CONSOLE, K_VSOCK };

static char vsock_dir[64];

static struct vfix *dev_new(enum kind k, int which)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    char err[256] = "";
    const char *cls = NULL;
    if (k == K_NET) {
        f->vm.cfg.nets[0] = (struct net_config){.id = "net0", .kind = NET_USER};
        f->vm.cfg.nnets = 1;
        cls = "virtio-net";
    } else if (k == K_CONSOLE) {
        f->vm.cfg.console = CONSOLE_VIRTIO;
        assert_int_equal(console_open_fds(&f->vm, -1, -1, err, sizeof(err)), 0);
        cls = "virtio-console";
    } else {
        f->vm.cfg.vsock.enabled = true;
        f->vm.cfg.vsock.guest_cid = 3;
        snprintf(f->vm.cfg.vsock.uds_path, sizeof(f->vm.cfg.vsock.uds_path), "%s/v%d.sock",
                 vsock_dir, which);
        cls = "virtio-vsock";
    }
    const struct device_class *c = device_class_find(cls);
    assert_non_null(c);
    if (c->create(&f->vm, err, sizeof(err)))
        fail_msg("create %s: %s", cls, err);
    vf_probe(f, 1);
    return f;
}

#define CF(field) offsetof(struct virtio_pci_common_cfg, field)

static uint64_t crd(struct vfix *f, size_t off, unsigned size)
{
    return vf_rd(f, f->common + (uint32_t)off, size);
}

static void cwr(struct vfix *f, size_t off, unsigned size, uint64_t v)
{
    vf_wr(f, f->common + (uint32_t)off, size, v);
}

/* Config offset of F's VIRTIO_PCI_CAP_PCI_CFG capability (slot 1). */
static unsigned cfg_cap(struct vfix *f)
{
    for (unsigned p = vf_cfg_read(f, 1, 0x34, 1); p; p = vf_cfg_read(f, 1, p + 1, 1))
        if (vf_cfg_read(f, 1, p, 1) == 0x09 &&
            vf_cfg_read(f, 1, p + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
            return p;
    fail_msg("no VIRTIO_PCI_CAP_PCI_CFG capability");
    return 0;
}

/* Bring A up with every queue, round-trip it into B, check B answers as A (also the PCI
 * configuration access capability the guest programmed: guest-visible config state). */
static void roundtrip_kind(enum kind k)
{
    struct vfix *a = dev_new(k, 0), *b = dev_new(k, 1);
    unsigned nq = (unsigned)crd(a, CF(num_queues), 2);
    vf_bringup(a, vf_features(a), nq);
    unsigned cap = cfg_cap(a);
    vf_cfg_write(a, 1, cap + 8, 4, (uint32_t)(a->common + CF(device_status)));
    vf_cfg_write(a, 1, cap + 12, 4, 1);
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    if (k == K_NET) /* as a restored VM's: running, it would ask the guest to announce itself */
        db->ops->pause(db->dev);
    size_t len;
    free(st_roundtrip(da, db, &len));
    assert_int_equal(vf_status(b), vf_status(a));
    assert_int_equal(cfg_cap(b), cap);
    assert_int_equal(vf_cfg_read(b, 1, cap + 8, 4), a->common + CF(device_status));
    assert_int_equal(vf_cfg_read(b, 1, cap + 12, 4), 1);
    assert_int_equal(vf_cfg_read(b, 1, cap + 16, 1), vf_status(a)); /* through B's window */
    cwr(a, CF(guest_feature_select), 4, 0);
    cwr(b, CF(guest_feature_select), 4, 0);
    assert_int_equal(crd(b, CF(guest_feature), 4), crd(a, CF(guest_feature), 4));
    for (unsigned q = 0; q < nq; q++) {
        cwr(a, CF(queue_select), 2, q);
        cwr(b, CF(queue_select), 2, q);
        assert_int_equal(crd(b, CF(queue_desc_lo), 4), crd(a, CF(queue_desc_lo), 4));
        assert_int_equal(crd(b, CF(queue_msix_vector), 2), crd(a, CF(queue_msix_vector), 2));
        assert_int_equal(crd(b, CF(queue_enable), 2), 1);
    }
    da->ops->resume(da->dev);
    vfix_free(a);
    vfix_free(b);
}

static void test_net_roundtrip(void **state)
{
    roundtrip_kind(K_NET);
}

static void test_console_roundtrip(void **state)
{
    roundtrip_kind(K_CONSOLE);
}

static void test_vsock_roundtrip(void **state)
{
    snprintf(vsock_dir, sizeof(vsock_dir), "/tmp/truce-vstate-XXXXXX");
    assert_non_null(mkdtemp(vsock_dir));
    roundtrip_kind(K_VSOCK);
    char p[128];
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%s/v%d.sock", vsock_dir, i);
        unlink(p);
    }
    rmdir(vsock_dir);
}

/* Queue RXQ's chains popped and not used yet (device lock taken). */
static uint16_t rx_outstanding(struct virtio_dev *vdev)
{
    virtio_lock(vdev);
    struct virtq *q = &vdev->vq[NET_RXQ];
    uint16_t n = (uint16_t)(q->last_avail - q->used_idx);
    virtio_unlock(vdev);
    return n;
}

/* Wait (bounded, generous: a broken device fails instead of hanging) until chains are held. */
static bool chains_held(struct virtio_dev *vdev)
{
    for (int i = 0; i < 10000 && !rx_outstanding(vdev); i++)
        usleep(1000);
    return rx_outstanding(vdev) > 0;
}

/* Receive chains virtio-net popped and holds for a frame that does not fit yet go back to the
 * avail ring at pause, so the saved ring indices lose none of the guest's buffers. The frame is
 * user networking's answer to an ARP request for the gateway; the guest offers two 16-byte
 * mergeable buffers, too few for it. */
static void test_net_pause_gives_chains_back(void **state)
{
    struct vfix *f = dev_new(K_NET, 0);
    uint64_t feat = vf_features(f);
    assert_true(feat >> VIRTIO_NET_F_MRG_RXBUF & 1);
    vf_bringup(f, feat, 2);
    struct virtio_dev *vdev = virtio_find(&f->vm, VIRTIO_ID_NET, NULL);
    assert_non_null(vdev);
    const uint8_t *mac = ((struct virtio_net *)vdev->opaque)->mac;
    for (unsigned i = 0; i < 2; i++) {
        vf_desc(f, NET_RXQ, i, VF_BUF + 0x1000 * i, 16, VRING_DESC_F_WRITE, 0);
        vf_offer(f, NET_RXQ, (uint16_t)i);
    }
    uint8_t frame[12 + 42] = {0}; /* vnet header, then the Ethernet frame */
    uint8_t *e = frame + 12;
    memset(e, 0xff, 6);
    memcpy(e + 6, mac, 6);
    e[12] = 0x08, e[13] = 0x06;                               /* ARP */
    e[15] = 1, e[16] = 0x08, e[18] = 6, e[19] = 4, e[21] = 1; /* Ethernet/IPv4, request */
    memcpy(e + 22, mac, 6);
    memcpy(e + 28, (uint8_t[]){10, 0, 2, 15}, 4);
    memcpy(e + 38, (uint8_t[]){10, 0, 2, 2}, 4);
    guest_mem_write(&f->vm.mem, VF_BUF + 0x10000, frame, sizeof(frame));
    vf_desc(f, NET_TXQ, 0, VF_BUF + 0x10000, sizeof(frame), 0, 0);
    vf_offer(f, NET_TXQ, 0);
    assert_true(vf_wait_used(f, NET_TXQ, 1));
    assert_true(chains_held(vdev)); /* the reply waits in the two held chains */
    uint16_t held = rx_outstanding(vdev);
    assert_int_equal(held, 2);
    assert_int_equal(vf_used_idx(f, NET_RXQ), 0);
    devices_pause(&f->vm);
    assert_int_equal(rx_outstanding(vdev), 0);
    /* a third buffer makes room: after resume the reply lands in the buffers given back */
    vf_desc(f, NET_RXQ, 2, VF_BUF + 0x2000, 2048, VRING_DESC_F_WRITE, 0);
    vf_offer(f, NET_RXQ, 2);
    devices_resume(&f->vm);
    assert_true(vf_wait_used(f, NET_RXQ, 3));
    assert_int_equal(vf_used(f, NET_RXQ, 0).id, 0);
    assert_int_equal(vf_used(f, NET_RXQ, 1).id, 1);
    assert_int_equal(vf_used(f, NET_RXQ, 2).id, 2);
    vfix_free(f);
}

/* virtio-console while paused takes no host input: it waits in the console until resume. */
static void test_console_paused_input(void **state)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    int in[2];
    assert_int_equal(pipe(in), 0);
    char err[256] = "";
    f->vm.cfg.console = CONSOLE_VIRTIO;
    assert_int_equal(console_open_fds(&f->vm, in[0], -1, err, sizeof(err)), 0);
    assert_int_equal(device_class_find("virtio-console")->create(&f->vm, err, sizeof(err)), 0);
    vf_probe(f, 1);
    vf_bringup(f, vf_features(f), 2);
    vf_desc(f, 0, 0, VF_BUF, 64, VRING_DESC_F_WRITE, 0); /* receiveq: one buffer */
    vf_offer(f, 0, 0);
    vf_quiesce(f);
    devices_pause(&f->vm);
    assert_int_equal(write_full(in[1], "hi", 2), 0);
    vf_quiesce(f); /* the console read the bytes and offered them */
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, 0), 0);
    devices_resume(&f->vm);
    assert_true(vf_wait_used(f, 0, 1));
    assert_int_equal(vf_used(f, 0, 0).len, 2);
    assert_memory_equal(gpa_to_hva(&f->vm.mem, VF_BUF, 2), "hi", 2);
    vfix_free(f);
    close(in[0]);
    close(in[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_roundtrip),
        cmocka_unit_test(test_rng_limiter_roundtrip),
        cmocka_unit_test(test_devices_walk),
        cmocka_unit_test(test_pause_holds_kicks),
        cmocka_unit_test(test_blk_pause_roundtrip),
        cmocka_unit_test(test_net_roundtrip),
        cmocka_unit_test(test_console_roundtrip),
        cmocka_unit_test(test_vsock_roundtrip),
        cmocka_unit_test(test_net_pause_gives_chains_back),
        cmocka_unit_test(test_console_paused_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
