/* test_net_vhost.c — virtio-net's vhost-net backend where no kernel is needed: the feature
 * negotiation with vhost, the vnet header size, `--net ...,vhost=` and the API / config-file
 * field with the combinations they refuse, the flag in a snapshot's machine section, and the
 * dirty log: vhost's bitmap of guest physical pages merged into RAM's dirty bitmap, its size,
 * and the dirty sources' life cycle in vm/dirty.c. (The rings in the kernel, and their log, are
 * proven by the lab scenario net-vhost.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"
#include "machine/snapshot.h"
#include "platform/config.h"
#include "util/state.h"
#include "virtio/net.h"
#include "vm/vm.h"

#define BIT(n) (1ULL << (n))
#define RING_OF                                                                                    \
    (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_RING_F_INDIRECT_DESC))
/* What Linux 6.1's vhost-net reports (VHOST_NET_FEATURES without ACCESS_PLATFORM, RING_RESET). */
#define VHOST_61                                                                                   \
    (BIT(VIRTIO_F_NOTIFY_ON_EMPTY) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |                            \
     BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VHOST_F_LOG_ALL) | BIT(VIRTIO_F_ANY_LAYOUT) |              \
     BIT(VIRTIO_F_VERSION_1) | BIT(VHOST_NET_F_VIRTIO_NET_HDR) | BIT(VIRTIO_NET_F_MRG_RXBUF))

/* ---- features ------------------------------------------------------------------------------ */

static void offer_keeps_what_vhost_serves(void **state)
{
    uint64_t dev = RING_OF | net_host_features(NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 |
                                               NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN);
    /* a vhost with every ring feature: the device offers exactly what it did */
    assert_int_equal(net_vhost_offer(dev, VHOST_61), dev);
    /* offloads are the tap's: kept although vhost does not list them */
    assert_true(net_vhost_offer(dev, VHOST_61) & BIT(VIRTIO_NET_F_GUEST_TSO4));
    assert_true(net_vhost_offer(dev, VHOST_61) & BIT(VIRTIO_NET_F_MAC));
    /* a vhost without EVENT_IDX or mergeable buffers: those are not offered */
    uint64_t old = VHOST_61 & ~(BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_NET_F_MRG_RXBUF));
    uint64_t o = net_vhost_offer(dev, old);
    assert_false(o & BIT(VIRTIO_RING_F_EVENT_IDX));
    assert_false(o & BIT(VIRTIO_NET_F_MRG_RXBUF));
    assert_int_equal(o | BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_NET_F_MRG_RXBUF), dev);
}

static void ack_is_the_ring_part(void **state)
{
    uint64_t guest = RING_OF | BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CSUM) |
                     BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_MAC) |
                     BIT(VIRTIO_NET_F_STATUS);
    uint64_t f = net_vhost_ack(guest, VHOST_61);
    assert_int_equal(f, RING_OF | BIT(VIRTIO_NET_F_MRG_RXBUF));
    /* never the header-in-vhost bit (the tap carries the vnet header) nor dirty logging */
    assert_false(net_vhost_ack(~0ULL, VHOST_61) & BIT(VHOST_NET_F_VIRTIO_NET_HDR));
    assert_false(net_vhost_ack(~0ULL, VHOST_61) & BIT(VHOST_F_LOG_ALL));
    /* what the guest did not accept is not asked of vhost */
    assert_false(net_vhost_ack(BIT(VIRTIO_F_VERSION_1), VHOST_61) & BIT(VIRTIO_RING_F_EVENT_IDX));
}

static void header_size_matches_the_tap(void **state)
{
    assert_int_equal(net_vhost_hdr_len(BIT(VIRTIO_F_VERSION_1)), 12);
    assert_int_equal(net_vhost_hdr_len(BIT(VIRTIO_NET_F_MRG_RXBUF)), 12);
    assert_int_equal(net_vhost_hdr_len(0), 10);
    assert_int_equal(net_vhost_hdr_len(RING_OF), NET_VNET_HDR_LEN); /* what tap.c sets */
}

/* ---- the command line --------------------------------------------------------------------- */

static int parse(struct vm_config *c, const char *spec, char *err, size_t errlen)
{
    config_defaults(c);
    c->cpus = 2;
    err[0] = 0;
    return config_parse_net(c, spec, err, errlen);
}

static void cli_flag(void **state)
{
    struct vm_config *c = calloc(1, sizeof(*c));
    char err[256];
    assert_int_equal(parse(c, "tap=tap0,vhost=on", err, sizeof(err)), 0);
    assert_true(c->nets[0].vhost);
    assert_int_equal(parse(c, "tap=tap0,vhost=off", err, sizeof(err)), 0);
    assert_false(c->nets[0].vhost);
    assert_int_equal(parse(c, "tap=tap0", err, sizeof(err)), 0);
    assert_false(c->nets[0].vhost); /* the default: the userspace path */
    assert_int_equal(parse(c, "tap=tap0,vhost=on,queues=2", err, sizeof(err)), 0);
    assert_true(c->nets[0].vhost); /* one vhost-net instance per queue pair */
    assert_int_equal(c->nets[0].queues, 2);
    static const struct {
        const char *spec, *want;
    } bad[] = {
        {"tap=tap0,vhost=1", "--net: vhost=1: expected on or off"},
        {"tap=tap0,vhost=", "--net: vhost=: expected on or off"},
        {"user,vhost=on", "--net net0: vhost=on needs a tap"},
        {"tap=tap0,vhost=on,rx_bw=1M", "--net net0: vhost=on moves frames in the host kernel"},
        {"tap=tap0,tx_ops=100,vhost=on", "--net net0: vhost=on moves frames in the host kernel"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(c, bad[i].spec, err, sizeof(err));
        if (rc != -EINVAL || strncmp(err, bad[i].want, strlen(bad[i].want)))
            fail_msg("'%s': rc %d, '%s', want '%s'", bad[i].spec, rc, err, bad[i].want);
        assert_int_equal(c->nnets, 0); /* nothing half-added */
    }
    free(c);
}

/* ---- the API body and the config file ------------------------------------------------------ */

static char kernel[64];

static int load(struct api **out, char *err, size_t errlen, const char *iface)
{
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"network-interfaces\": [%s]}",
             kernel, iface);
    *out = api_new(NULL);
    return api_load_config(*out, json, strlen(json), err, errlen);
}

static void api_field(void **state)
{
    struct api *api;
    char err[512] = "";
    int rc = load(&api, err, sizeof(err),
                  "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"vhost\": true}");
    if (rc)
        fail_msg("%s", err);
    assert_true(api->cfg.nets[0].vhost);
    /* GET /vm/config shows it, and a config file made from that loads the same */
    json_t *j = api_export_vm_config(api);
    json_t *iface = json_array_get(json_object_get(j, "network-interfaces"), 0);
    assert_true(json_is_true(json_object_get(iface, "vhost")));
    json_decref(j);
    api_free(api);
    rc = load(&api, err, sizeof(err), "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}");
    assert_int_equal(rc, 0);
    j = api_export_vm_config(api); /* off: the field is left out, as before */
    iface = json_array_get(json_object_get(j, "network-interfaces"), 0);
    assert_null(json_object_get(iface, "vhost"));
    json_decref(j);
    api_free(api);
    rc = load(&api, err, sizeof(err),
              "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"vhost\": true, "
              "\"num_queue_pairs\": 2}"); /* multiqueue with vhost: accepted */
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(api->cfg.nets[0].queues, 2);
    api_free(api);
    static const struct {
        const char *iface, *want;
    } bad[] = {
        {"{\"iface_id\": \"e0\", \"host_dev_name\": \"tap0\", \"vhost\": \"on\"}",
         "network-interfaces[0].vhost: must be"},
        {"{\"iface_id\": \"e0\", \"host_dev_name\": \"tap0\", \"vhost\": true, "
         "\"rx_rate_limiter\": {\"bandwidth\": {\"size\": 1000, \"refill_time\": 100}}}",
         "network-interfaces[0].vhost: --net e0: vhost=on moves frames"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = load(&api, err, sizeof(err), bad[i].iface);
        if (rc != -EINVAL || strncmp(err, bad[i].want, strlen(bad[i].want)))
            fail_msg("case %zu: rc %d, '%s', want '%s'", i, rc, err, bad[i].want);
        api_free(api);
    }
}

/* ---- snapshots: the flag is part of the machine section ----------------------------------- */

static void machine_section_keeps_vhost(void **state)
{
    struct vm_config *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    config_defaults(a);
    strcpy(a->kernel, "/boot/vmlinuz");
    a->nnets = 2;
    a->nets[0] = (struct net_config){.id = "eth0", .kind = NET_TAP, .tap = "tap0", .vhost = true};
    a->nets[1] = (struct net_config){.id = "eth1", .kind = NET_TAP, .tap = "tap1"};
    struct state_visitor v, l;
    state_save_init(&v);
    config_state_visit(&v, a);
    assert_int_equal(state_finish(&v), 0);
    config_defaults(b);
    state_load_init(&l, v.buf, v.len);
    config_state_visit(&l, b);
    assert_int_equal(state_finish(&l), 0);
    assert_true(b->nets[0].vhost);
    assert_false(b->nets[1].vhost);
    state_free(&v);
    free(a);
    free(b);
}

/* ---- the dirty log ------------------------------------------------------------------------- */

#define PG 4096ull

static void set_page(_Atomic uint64_t *log, uint64_t p)
{
    atomic_fetch_or(&log[p / 64], 1ull << (p % 64));
}

static bool page_in(const uint64_t *bits, uint64_t p)
{
    return bits[p / 64] >> (p % 64) & 1;
}

/* RAM in two regions, neither boundary on a 64-page word: pages 0..99 at gpa 0 (mapping offset
 * 0) and 70 pages at gpa page 1000 (mapping offset page 100). */
static void two_regions(struct guest_mem *m)
{
    memset(m, 0, sizeof(*m));
    m->base = (void *)(uintptr_t)0x7f0000000000ull; /* never dereferenced */
    m->nr = 2;
    m->r[0] = (struct mem_region){.gpa = 0, .size = 100 * PG, .hva = m->base};
    m->r[1] = (struct mem_region){
        .gpa = 1000 * PG, .size = 70 * PG, .hva = (uint8_t *)m->base + 100 * PG};
    m->ram_size = 170 * PG;
}

static void gpa_log_merges_into_region_order(void **state)
{
    struct guest_mem m;
    two_regions(&m);
    uint64_t log_pages = 1088;
    _Atomic uint64_t *log = calloc(log_pages / 64, sizeof(*log));
    uint64_t *out = calloc(DIRTY_WORDS(&m), sizeof(*out));
    assert_int_equal(DIRTY_WORDS(&m), 3);
    /* in RAM: 0, 63, 64, 99 (region 0), 1000, 1069 (region 1); outside: 100, 999, 1070, 1087 */
    static const uint64_t pages[] = {0, 63, 64, 99, 100, 999, 1000, 1069, 1070, 1087};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
        set_page(log, pages[i]);
    out[0] = 1ull << 63; /* page 63 was already dirty: not counted again */
    assert_int_equal(dirty_merge_gpa_log(&m, log, log_pages, out), 5);
    static const uint64_t want[] = {0, 63, 64, 99, 100, 169};
    uint64_t n = 0;
    for (uint64_t p = 0; p < 170; p++)
        n += page_in(out, p);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!page_in(out, want[i]))
            fail_msg("page %llu of RAM not dirty", (unsigned long long)want[i]);
    /* the RAM bits were taken out of the log, the others left */
    uint64_t left = 0;
    for (uint64_t w = 0; w < log_pages / 64; w++)
        left += (uint64_t)__builtin_popcountll(log[w]);
    assert_int_equal(left, 4);
    assert_true(log[100 / 64] >> (100 % 64) & 1);
    assert_true(log[1087 / 64] >> (1087 % 64) & 1);
    assert_false(log[1000 / 64] >> (1000 % 64) & 1);
    /* a second harvest finds nothing new */
    assert_int_equal(dirty_merge_gpa_log(&m, log, log_pages, out), 0);
    /* a log shorter than RAM's addresses: only what it covers (1000..1009) */
    memset(out, 0, DIRTY_WORDS(&m) * sizeof(*out));
    for (uint64_t p = 1000; p < 1070; p++)
        set_page(log, p);
    assert_int_equal(dirty_merge_gpa_log(&m, log, 1010, out), 10);
    assert_true(page_in(out, 109));
    assert_false(page_in(out, 110));
    free((void *)log);
    free(out);
}

static void log_covers_the_memory_table(void **state)
{
    struct guest_mem m;
    two_regions(&m);
    assert_int_equal(net_vhost_log_pages(&m), 1088); /* 1070 rounded up to whole words */
    m.ndev = 2; /* pmem read-only (not in vhost's table) below a writable virtio-mem region */
    m.dev[0] = (struct mem_dev_region){.gpa = 1ull << 33, .size = 1 << 21, .readonly = true};
    m.dev[1] = (struct mem_dev_region){.gpa = 1ull << 32, .size = 1 << 30};
    assert_int_equal(net_vhost_log_pages(&m), ((1ull << 32) + (1ull << 30)) / PG);
    m.dev[0].readonly = false;
    assert_int_equal(net_vhost_log_pages(&m), ((1ull << 33) + (1 << 21)) / PG);
}

/* A dirty source that counts its calls and reports page 5 of RAM at each harvest. */
struct counting {
    int starts, stops, harvests, fail_start;
};

static int c_start(void *o)
{
    struct counting *c = o;
    c->starts++;
    return c->fail_start;
}

static void c_stop(void *o)
{
    ((struct counting *)o)->stops++;
}

static long c_harvest(void *o, uint64_t *out)
{
    ((struct counting *)o)->harvests++;
    long added = !(out[0] & 1 << 5);
    out[0] |= 1 << 5;
    return added;
}

static void dirty_sources_follow_tracking(void **state)
{
    struct vm *vm = calloc(1, sizeof(*vm)); /* no RAM slot: KVM is never asked */
    vm->fd = -1;
    vm->mem.ram_size = 64 * PG;
    struct counting a = {0}, b = {0};
    struct dirty_source sa = {c_start, c_stop, c_harvest, &a, NULL};
    struct dirty_source sb = {c_start, c_stop, c_harvest, &b, NULL};
    assert_int_equal(vm_dirty_source_add(vm, &sa), 0);
    assert_int_equal(a.starts, 0); /* tracking is off: nothing to log yet */
    assert_int_equal(vm_dirty_start(vm), 0);
    assert_int_equal(a.starts, 1);
    assert_int_equal(vm_dirty_source_add(vm, &sb), 0); /* added while on: started at once */
    assert_int_equal(b.starts, 1);
    uint64_t out[1] = {0};
    assert_int_equal(vm_dirty_harvest(vm, out), 1); /* page 5, counted once for both */
    assert_int_equal(out[0], 1 << 5);
    assert_int_equal(a.harvests + b.harvests, 2);
    vm_dirty_stop(vm);
    assert_int_equal(a.stops, 1);
    assert_int_equal(b.stops, 1);
    assert_false(vm_dirty_tracking(vm));
    /* a source that cannot start: tracking does not start, the others are stopped again */
    b.fail_start = -EOPNOTSUPP;
    assert_int_equal(vm_dirty_start(vm), -EOPNOTSUPP);
    assert_false(vm_dirty_tracking(vm));
    assert_int_equal(b.starts, 2);
    assert_int_equal(a.stops, a.starts); /* every source started before b stopped again */
    assert_int_equal(b.stops, 1);        /* b itself never started this time */
    /* removed sources are no longer called */
    vm_dirty_source_del(vm, &sb);
    assert_int_equal(vm_dirty_start(vm), 0);
    int before = b.starts;
    vm_dirty_stop(vm);
    assert_int_equal(b.starts, before);
    /* adding while on with a failing start: refused, not registered */
    assert_int_equal(vm_dirty_start(vm), 0);
    struct counting c = {.fail_start = -ENOMEM};
    struct dirty_source sc = {c_start, c_stop, c_harvest, &c, NULL};
    assert_int_equal(vm_dirty_source_add(vm, &sc), -ENOMEM);
    vm_dirty_stop(vm);
    assert_int_equal(c.stops, 0);
    vm_dirty_source_del(vm, &sa);
    assert_null(vm->dirty_sources);
    free(vm);
}

static int setup(void **state)
{
    snprintf(kernel, sizeof(kernel), "/tmp/truce-vhost-kernel-%d", getpid());
    FILE *f = fopen(kernel, "w");
    if (!f)
        return -1;
    fputs("not a kernel, but a file", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    unlink(kernel);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offer_keeps_what_vhost_serves),
        cmocka_unit_test(ack_is_the_ring_part),
        cmocka_unit_test(header_size_matches_the_tap),
        cmocka_unit_test(cli_flag),
        cmocka_unit_test(api_field),
        cmocka_unit_test(machine_section_keeps_vhost),
        cmocka_unit_test(gpa_log_merges_into_region_order),
        cmocka_unit_test(log_covers_the_memory_table),
        cmocka_unit_test(dirty_sources_follow_tracking),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
