/* test_virtio_mem.c — virtio-mem: the region above RAM, plug/unplug/unplug-all/state validated
 * against it, unplugged blocks given back (read as zeros), the requested size changed live, the
 * configuration checks and the state round trip. */
#include <linux/virtio_mem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio_fixture.h"
#include "statetest.h"
#include "virtio/mem.h"

#define REGION (256 * MiB)
#define BLOCK  (2 * MiB)

/* A VM with a virtio-mem device of REGION bytes, REQUESTED asked for (brought up when BRINGUP). */
static struct vfix *mem_vm(uint64_t region, uint64_t requested, bool bringup)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    char err[256] = "";
    f->vm.cfg.memhp = (struct memhp_config){.total_bytes = region,
                                            .block_bytes = BLOCK,
                                            .slot_bytes = 128 * MiB,
                                            .requested_bytes = requested};
    if (device_class_find("virtio-mem")->create(&f->vm, err, sizeof(err)))
        fail_msg("create: %s", err);
    vf_probe(f, 1);
    if (bringup)
        vf_bringup(f, vf_features(f), 1);
    return f;
}

static void vm_free(struct vfix *f)
{
    vf_fini(f);
    free(f);
}

static uint64_t cfg64(struct vfix *f, size_t off)
{
    return vf_rd(f, f->devcfg + (uint32_t)off, 8);
}
#define CFG(field) cfg64(f, offsetof(struct virtio_mem_config, field))

/* One request (TYPE, ADDR, NB); OUT_LEN/IN_LEN bytes of request/response descriptors. Returns
 * the response type (0xffff when nothing was written), the state in *STATE when not NULL. */
static unsigned request_n(struct vfix *f, uint16_t type, uint64_t addr, uint16_t nb,
                          uint32_t out_len, uint32_t in_len, uint16_t *state)
{
    uint16_t used = vf_used_idx(f, 0);
    struct virtio_mem_req q = {.type = type, .u.plug = {.addr = addr, .nb_blocks = nb}};
    struct virtio_mem_resp r;
    memset(&r, 0xff, sizeof(r));
    guest_mem_write(&f->vm.mem, VF_BUF, &q, sizeof(q));
    guest_mem_write(&f->vm.mem, VF_BUF + 0x100, &r, sizeof(r));
    vf_desc(f, 0, 0, VF_BUF, out_len, VRING_DESC_F_NEXT, 1);
    vf_desc(f, 0, 1, VF_BUF + 0x100, in_len, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, (uint16_t)(used + 1)));
    guest_mem_read(&f->vm.mem, VF_BUF + 0x100, &r, sizeof(r));
    if (state)
        *state = r.u.state.state;
    return vf_used(f, 0, used).len ? r.type : 0xffff;
}

static unsigned request(struct vfix *f, uint16_t type, uint64_t addr, uint16_t nb)
{
    return request_n(f, type, addr, nb, sizeof(struct virtio_mem_req),
                     sizeof(struct virtio_mem_resp), NULL);
}

static void region_above_ram(void **state)
{
    struct vfix *f = mem_vm(REGION, 0, true);
    assert_int_equal(CFG(block_size), BLOCK);
    assert_int_equal(CFG(addr), layout_devmem_base(VF_RAM));
    assert_int_equal(CFG(addr) % LAYOUT_DEVMEM_ALIGN, 0);
    assert_int_equal(CFG(region_size), REGION);
    assert_int_equal(CFG(usable_region_size), REGION);
    assert_int_equal(CFG(plugged_size), 0);
    assert_int_equal(CFG(requested_size), 0);
    assert_true(vf_features(f) >> VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE & 1);
    /* the guest's RAM map is unchanged: device memory is not RAM */
    assert_int_equal(guest_mem_end(&f->vm.mem), VF_RAM);
    assert_int_equal(f->vm.mem.ram_size, VF_RAM);
    vm_free(f);
}

static void plug_follows_requested_size(void **state)
{
    struct vfix *f = mem_vm(REGION, 0, true);
    uint64_t a = CFG(addr);
    assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, a, 1), VIRTIO_MEM_RESP_NACK);
    int msis = atomic_load(&f->msis);
    char err[256];
    assert_int_equal(virtio_mem_request(&f->vm, 8 * MiB, err, sizeof(err)), 0);
    assert_int_equal(CFG(requested_size), 8 * MiB);
    assert_true(atomic_load(&f->msis) > msis); /* the configuration-change interrupt */
    assert_int_equal(atomic_load(&f->last_msi_data), 0x40);
    assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, a, 2), VIRTIO_MEM_RESP_ACK);
    assert_int_equal(CFG(plugged_size), 4 * MiB);
    assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, a + BLOCK, 1), VIRTIO_MEM_RESP_ERROR);
    assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, a + 4 * BLOCK, 3), VIRTIO_MEM_RESP_NACK);
    assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, a + 4 * BLOCK, 2), VIRTIO_MEM_RESP_ACK);
    uint16_t st;
    request_n(f, VIRTIO_MEM_REQ_STATE, a, 2, 24, 10, &st);
    assert_int_equal(st, VIRTIO_MEM_STATE_PLUGGED);
    request_n(f, VIRTIO_MEM_REQ_STATE, a, 6, 24, 10, &st);
    assert_int_equal(st, VIRTIO_MEM_STATE_MIXED);
    request_n(f, VIRTIO_MEM_REQ_STATE, a + 2 * BLOCK, 2, 24, 10, &st);
    assert_int_equal(st, VIRTIO_MEM_STATE_UNPLUGGED);
    struct virtio_mem_status s;
    assert_int_equal(virtio_mem_status(&f->vm, &s), 0);
    assert_int_equal(s.plugged_size, 8 * MiB);
    assert_int_equal(s.plugs, 2);
    /* plugged memory is guest memory: devices reach it too */
    uint8_t *p = gpa_to_hva(&f->vm.mem, a + BLOCK, 4096);
    assert_non_null(p);
    memset(p, 0x5a, 4096);
    /* unplugging gives the block back: it reads as zeros */
    assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG, a + BLOCK, 1), VIRTIO_MEM_RESP_ACK);
    assert_int_equal(p[0] | p[4095], 0);
    assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG, a + BLOCK, 1), VIRTIO_MEM_RESP_ERROR);
    assert_int_equal(CFG(plugged_size), 6 * MiB);
    assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0), VIRTIO_MEM_RESP_ACK);
    assert_int_equal(CFG(plugged_size), 0);
    request_n(f, VIRTIO_MEM_REQ_STATE, a, 128, 24, 10, &st);
    assert_int_equal(st, VIRTIO_MEM_STATE_UNPLUGGED);
    /* bad requested sizes never reach the device */
    assert_int_equal(virtio_mem_request(&f->vm, 3 * MiB, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "multiple of the block size"));
    assert_int_equal(virtio_mem_request(&f->vm, REGION + BLOCK, err, sizeof(err)), -EINVAL);
    assert_int_equal(CFG(requested_size), 8 * MiB);
    vm_free(f);
}

static void bogus_requests(void **state)
{
    struct vfix *f = mem_vm(REGION, REGION, true);
    uint64_t a = CFG(addr);
    const struct {
        uint64_t addr;
        uint16_t nb;
    } bad[] = {
        {a - BLOCK, 1},          /* below the region (guest RAM side) */
        {a, 0},                  /* no blocks */
        {a + 1, 1},              /* misaligned */
        {a + REGION, 1},         /* just past the end */
        {a + REGION - BLOCK, 2}, /* crosses the end */
        {a, 65535},              /* far too many */
        {~0ULL - BLOCK + 1, 1},  /* near 2^64 */
        {0, 1},                  /* guest RAM */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        for (uint16_t t = VIRTIO_MEM_REQ_PLUG; t <= VIRTIO_MEM_REQ_STATE; t++)
            if (t != VIRTIO_MEM_REQ_UNPLUG_ALL &&
                request(f, t, bad[i].addr, bad[i].nb) != VIRTIO_MEM_RESP_ERROR)
                fail_msg("bad range %u (0x%llx, %u blocks), type %u accepted", i,
                         (unsigned long long)bad[i].addr, bad[i].nb, t);
    assert_int_equal(request(f, 77, a, 1), VIRTIO_MEM_RESP_ERROR);
    assert_int_equal(request_n(f, VIRTIO_MEM_REQ_PLUG, a, 1, 10, 10, NULL), VIRTIO_MEM_RESP_ERROR);
    assert_int_equal(request_n(f, VIRTIO_MEM_REQ_PLUG, a, 1, 24, 4, NULL), 0xffff);
    /* nothing got plugged on the way; the device still works */
    assert_int_equal(CFG(plugged_size), 0);
    assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, a + REGION - BLOCK, 1), VIRTIO_MEM_RESP_ACK);
    assert_int_equal(vf_status(f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
    vm_free(f);
}

static void state_roundtrip(void **state)
{
    struct vfix *a = mem_vm(REGION, 0, true), *b = mem_vm(REGION, 0, false),
                *c = mem_vm(2 * REGION, 0, false);
    char err[256];
    assert_int_equal(virtio_mem_request(&a->vm, 16 * MiB, err, sizeof(err)), 0);
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    memcpy(gpa_to_hva(&b->vm.mem, VF_RING(0), 0xc000), gpa_to_hva(&a->vm.mem, VF_RING(0), 0xc000),
           0xc000);
    size_t len;
    uint8_t *buf = st_roundtrip(da, db, &len);
    st_reject_header(db, buf, len);
    st_expect_reject(st_last(&c->vm), buf, len, "the region is 512 MiB");
    struct vfix *f = b;
    assert_int_equal(CFG(requested_size), 16 * MiB);
    free(buf);
    da->ops->resume(da->dev);
    /* plugged memory is not in a snapshot's memory file: saving refuses */
    f = a;
    assert_int_equal(request(a, VIRTIO_MEM_REQ_PLUG, CFG(addr), 1), VIRTIO_MEM_RESP_ACK);
    struct state_visitor v;
    state_save_init(&v);
    assert_int_equal(da->ops->save(da->dev, &v), -ENOTSUP);
    assert_non_null(strstr(v.msg, "2 MiB of hotplugged memory is plugged"));
    state_free(&v);
    vm_free(a);
    vm_free(b);
    vm_free(c);
}

static void config_checks(void **state)
{
    struct vm_config cfg;
    char err[256];
    config_defaults(&cfg);
    assert_int_equal(config_parse_memhp(&cfg, "size=1G", err, sizeof(err)), 0);
    assert_int_equal(cfg.memhp.total_bytes, 1ULL << 30);
    assert_int_equal(cfg.memhp.block_bytes, 2 * MiB);
    assert_int_equal(cfg.memhp.slot_bytes, 128 * MiB);
    assert_int_equal(cfg.memhp.requested_bytes, 0);
    assert_int_equal(config_parse_memhp(&cfg, "size=1G,block=4M,requested=256M", err, sizeof(err)),
                     0);
    assert_int_equal(cfg.memhp.requested_bytes, 256 * MiB);
    static const struct {
        const char *spec, *why;
    } bad[] = {
        {"block=2M", "missing size"},
        {"size=100M", "multiple of the slot size"},
        {"size=1G,block=3M", "power of 2"},
        {"size=1G,block=1M", "power of 2 of at least 2 MiB"},
        {"size=1G,slot=64M", "at least 128 MiB"},
        {"size=1G,requested=2G", "at most the total size"},
        {"size=1G,requested=1M", "multiple of the block"},
        {"size=1G,bogus=1", "unknown key 'bogus'"},
        {"size=lots", "not a size"},
        {"size=2T", "at most 1 TiB"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(config_parse_memhp(&cfg, bad[i].spec, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i].why))
            fail_msg("--memory-hotplug %s: \"%s\" does not say \"%s\"", bad[i].spec, err,
                     bad[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(region_above_ram), cmocka_unit_test(plug_follows_requested_size),
        cmocka_unit_test(bogus_requests),   cmocka_unit_test(state_roundtrip),
        cmocka_unit_test(config_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
