/* test_pmem.c — virtio-pmem: the file mapped above RAM, flushes, read-only mapping, bogus requests,
 * the root argument, configuration checks and the state round trip. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_pmem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "virtio_fixture.h"
#include "statetest.h"

#define FILE_SIZE (3 * MiB + 100) /* not a multiple of the 2 MiB alignment */

/* A temporary file of SIZE bytes, byte i = i * 7; its path in PATH (a char[32]). */
static void make_file(char *path, size_t size)
{
    snprintf(path, 32, "/tmp/truce-pmem-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *buf = malloc(size);
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t)(i * 7);
    assert_int_equal(write(fd, buf, size), (ssize_t)size);
    free(buf);
    close(fd);
}

static uint64_t next_max_gpa; /* the guest CPU's reach in the next pmem_vm (0: unknown) */
static char last_err[256];    /* pmem_vm's create message */

/* A VM with one pmem device on PATH (brought up when BRINGUP); ERR gets create's message. */
static struct vfix *pmem_vm(const char *path, bool ro, bool root, bool bringup, int *rc)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.mem.max_gpa = next_max_gpa;
    char *err = last_err;
    err[0] = 0;
    struct pmem_config *p = &f->vm.cfg.pmem[0];
    snprintf(p->id, sizeof(p->id), "pm0");
    snprintf(p->path, sizeof(p->path), "%s", path);
    p->readonly = ro;
    p->is_root = root;
    f->vm.cfg.npmem = 1;
    snprintf(f->vm.cfg.cmdline, sizeof(f->vm.cfg.cmdline), "console=ttyS0");
    *rc = device_class_find("virtio-pmem")->create(&f->vm, err, sizeof(last_err));
    if (*rc)
        return f;
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

/* One request of TYPE (OUT_LEN bytes of it readable, IN_LEN writable); returns the used length
 * and the answer in *RET. */
static uint32_t request(struct vfix *f, uint32_t type, uint32_t out_len, uint32_t in_len,
                        uint32_t *ret)
{
    uint16_t used = vf_used_idx(f, 0);
    uint32_t t = htole32(type), r = 0xdead;
    guest_mem_write(&f->vm.mem, VF_BUF, &t, 4);
    guest_mem_write(&f->vm.mem, VF_BUF + 0x100, &r, 4);
    if (out_len && in_len) {
        vf_desc(f, 0, 0, VF_BUF, out_len, VRING_DESC_F_NEXT, 1);
        vf_desc(f, 0, 1, VF_BUF + 0x100, in_len, VRING_DESC_F_WRITE, 0);
    } else if (out_len) {
        vf_desc(f, 0, 0, VF_BUF, out_len, 0, 0);
    } else {
        vf_desc(f, 0, 0, VF_BUF + 0x100, in_len, VRING_DESC_F_WRITE, 0);
    }
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, (uint16_t)(used + 1)));
    guest_mem_read(&f->vm.mem, VF_BUF + 0x100, ret, 4);
    return vf_used(f, 0, used).len;
}

static void region_above_the_pci_window(void **state)
{
    char path[32];
    int rc;
    make_file(path, FILE_SIZE);
    struct vfix *f = pmem_vm(path, false, false, true, &rc);
    assert_int_equal(rc, 0);
    uint64_t start = vf_rd(f, f->devcfg, 8), size = vf_rd(f, f->devcfg + 8, 8);
    assert_int_equal(start, layout_devmem_base(VF_RAM));
    assert_int_equal(start % (2 * MiB), 0);
    assert_int_equal(size, 4 * MiB);
    /* the file's bytes at the start of the region, zeros after its end */
    const uint8_t *p = gpa_to_hva(&f->vm.mem, start, size);
    assert_non_null(p);
    assert_int_equal(p[12345], (uint8_t)(12345 * 7));
    assert_int_equal(p[FILE_SIZE - 1], (uint8_t)((FILE_SIZE - 1) * 7));
    assert_int_equal(p[FILE_SIZE], 0);
    assert_int_equal(p[size - 1], 0);
    /* nothing past the region, nothing straddling its end */
    assert_null(gpa_to_hva(&f->vm.mem, start + size, 1));
    assert_null(gpa_to_hva(&f->vm.mem, start + size - 4, 8));
    assert_null(gpa_to_hva(&f->vm.mem, start - 1, 2));
    vm_free(f);
    unlink(path);
}

/* Device memory goes above the largest 64-bit PCI window (68 GiB for small RAM): a guest CPU
 * with 36 physical address bits cannot reach it, so the device is refused with a message. */
static void region_beyond_the_cpu_refused(void **state)
{
    char path[32];
    int rc;
    make_file(path, FILE_SIZE);
    next_max_gpa = 1ULL << 36;
    struct vfix *f = pmem_vm(path, false, false, false, &rc);
    next_max_gpa = 0;
    assert_int_equal(rc, -ENOSPC);
    assert_non_null(strstr(last_err, "no room for 4 MiB of device memory"));
    vm_free(f);
    unlink(path);
}

static void flush_makes_writes_durable(void **state)
{
    char path[32];
    int rc;
    make_file(path, FILE_SIZE);
    struct vfix *f = pmem_vm(path, false, false, true, &rc);
    assert_int_equal(rc, 0);
    uint64_t start = vf_rd(f, f->devcfg, 8);
    memcpy(gpa_to_hva(&f->vm.mem, start + 4096, 5), "hello", 5);
    uint32_t ret;
    assert_int_equal(request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 4, &ret), 4);
    assert_int_equal(ret, 0);
    char back[6] = "";
    int fd = open(path, O_RDONLY);
    assert_int_equal(pread(fd, back, 5, 4096), 5);
    close(fd);
    assert_string_equal(back, "hello");
    vm_free(f);
    unlink(path);
}

static void bogus_requests_refused(void **state)
{
    char path[32];
    int rc;
    make_file(path, FILE_SIZE);
    struct vfix *f = pmem_vm(path, false, false, true, &rc);
    assert_int_equal(rc, 0);
    uint32_t ret;
    assert_int_equal(request(f, 7, 4, 4, &ret), 4); /* unknown type */
    assert_int_equal(ret, 1);
    assert_int_equal(request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH, 2, 4, &ret), 4); /* short request */
    assert_int_equal(ret, 1);
    assert_int_equal(request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 0, &ret), 0); /* no room */
    assert_int_equal(ret, 0xdead);
    assert_int_equal(request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 2, &ret), 0); /* too little */
    assert_int_equal(request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH, 0, 4, &ret), 4); /* no request */
    assert_int_equal(ret, 1);
    /* the device still works */
    assert_int_equal(request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 4, &ret), 4);
    assert_int_equal(ret, 0);
    assert_int_equal(vf_status(f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
    vm_free(f);
    unlink(path);
}

static void read_only_never_writable(void **state)
{
    char path[32];
    int rc;
    make_file(path, FILE_SIZE);
    struct vfix *f = pmem_vm(path, true, true, true, &rc);
    assert_int_equal(rc, 0);
    uint64_t start = vf_rd(f, f->devcfg, 8);
    /* devices cannot write into it (gpa_to_hva refuses), KVM maps it read-only */
    assert_null(gpa_to_hva(&f->vm.mem, start, 1));
    assert_true(f->vm.mem.ndev == 1 && f->vm.mem.dev[0].readonly);
    uint32_t ret;
    assert_int_equal(request(f, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 4, &ret), 4);
    assert_int_equal(ret, 0);
    assert_non_null(strstr(f->vm.cfg.cmdline, "console=ttyS0 root=/dev/pmem0 ro"));
    vm_free(f);
    unlink(path);
}

static void root_and_locking(void **state)
{
    char path[32];
    int rc, rc2;
    make_file(path, FILE_SIZE);
    struct vfix *f = pmem_vm(path, false, true, false, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(f->vm.cfg.cmdline, "console=ttyS0 root=/dev/pmem0 rw");
    /* a second writer of the same file is refused; nothing of it stays registered */
    struct vfix *g = pmem_vm(path, false, false, false, &rc2);
    assert_int_equal(rc2, -EWOULDBLOCK);
    assert_int_equal(g->vm.mem.ndev, 0);
    assert_null(g->vm.devices);
    vm_free(g);
    vm_free(f);
    unlink(path);
}

static void state_roundtrip(void **state)
{
    char pa[32], pb[32], pc[32];
    int rc;
    make_file(pa, FILE_SIZE);
    make_file(pb, FILE_SIZE);
    make_file(pc, 5 * MiB);
    struct vfix *a = pmem_vm(pa, false, false, true, &rc),
                *b = pmem_vm(pb, false, false, false, &rc),
                *c = pmem_vm(pc, false, false, false, &rc);
    uint32_t ret;
    request(a, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 4, &ret);
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    memcpy(gpa_to_hva(&b->vm.mem, VF_RING(0), 0xc000), gpa_to_hva(&a->vm.mem, VF_RING(0), 0xc000),
           0xc000);
    size_t len;
    uint8_t *buf = st_roundtrip(da, db, &len);
    st_reject_header(db, buf, len);
    /* a file of another size maps another region */
    st_expect_reject(st_last(&c->vm), buf, len, "maps 6144 KiB");
    /* B goes on where A stopped */
    b->qsize[0] = a->qsize[0];
    b->avail_idx[0] = a->avail_idx[0];
    assert_int_equal(request(b, VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 4, &ret), 4);
    assert_int_equal(vf_used_idx(b, 0), 2);
    free(buf);
    da->ops->resume(da->dev);
    vm_free(a);
    vm_free(b);
    vm_free(c);
    unlink(pa);
    unlink(pb);
    unlink(pc);
}

static void config_checks(void **state)
{
    char path[32], err[256];
    struct vm_config cfg;
    make_file(path, 4096);
    config_defaults(&cfg);
    snprintf(cfg.kernel, sizeof(cfg.kernel), "%s", path);
    char spec[64];
    snprintf(spec, sizeof(spec), "path=%s,ro=on,root=on", path);
    assert_int_equal(config_parse_pmem(&cfg, spec, err, sizeof(err)), 0);
    assert_true(cfg.pmem[0].readonly && cfg.pmem[0].is_root);
    assert_string_equal(cfg.pmem[0].id, "pmem0");
    assert_int_equal(config_validate(&cfg, err, sizeof(err)), 0);
    assert_int_equal(config_parse_pmem(&cfg, spec, err, sizeof(err)), 0);
    assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "a root device already exists (pmem 'pmem0')"));
    assert_int_equal(config_parse_pmem(&cfg, "ro=on", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "missing path"));
    assert_int_equal(config_parse_pmem(&cfg, "path=x,bogus=1", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown key 'bogus'"));
    /* an empty file cannot back a region */
    cfg.npmem = 1;
    cfg.pmem[0].is_root = false;
    int fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "the file is empty"));
    unlink(path);
}

/* Both memory devices on the MMIO transport: their windows, IDs and regions (one after the
 * other, 1 GiB aligned, not overlapping). */
static void mmio_transport(void **state)
{
    char path[32], err[256] = "";
    make_file(path, FILE_SIZE);
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.cfg.transport = TRANSPORT_MMIO;
    f->vm.cfg.npmem = 1;
    snprintf(f->vm.cfg.pmem[0].id, CFG_ID_LEN, "pm0");
    snprintf(f->vm.cfg.pmem[0].path, PATH_MAX, "%s", path);
    f->vm.cfg.memhp = (struct memhp_config){
        .total_bytes = 128 * MiB, .block_bytes = 2 * MiB, .slot_bytes = 128 * MiB};
    assert_int_equal(device_class_find("virtio-mem")->create(&f->vm, err, sizeof(err)), 0);
    assert_int_equal(device_class_find("virtio-pmem")->create(&f->vm, err, sizeof(err)), 0);
    uint64_t start[2] = {0}, size[2] = {0};
    unsigned ids = 0;
    for (unsigned n = 0; n < 2; n++) {
        uint64_t win = LAYOUT_VIRTIO_MMIO + n * LAYOUT_VIRTIO_MMIO_DEV;
        uint32_t magic = 0, id = 0;
        io_bus_access(&f->vm.mmio, win, (uint8_t *)&magic, 4, false);
        io_bus_access(&f->vm.mmio, win + 8, (uint8_t *)&id, 4, false);
        assert_int_equal(magic, 0x74726976); /* "virt" */
        ids |= 1u << (id == VIRTIO_ID_PMEM ? 0 : id == VIRTIO_ID_MEM ? 1 : 2);
        /* pmem: start, size; virtio-mem: block_size, node_id, addr, region_size */
        unsigned at = id == VIRTIO_ID_PMEM ? 0 : 16, sz = id == VIRTIO_ID_PMEM ? 8 : 24;
        io_bus_access(&f->vm.mmio, win + 0x100 + at, (uint8_t *)&start[n], 8, false);
        io_bus_access(&f->vm.mmio, win + 0x100 + sz, (uint8_t *)&size[n], 8, false);
        assert_int_equal(start[n] % LAYOUT_DEVMEM_ALIGN, 0);
        assert_true(start[n] >= layout_devmem_base(VF_RAM));
    }
    assert_int_equal(ids, 3);
    assert_true(start[0] + size[0] <= start[1] || start[1] + size[1] <= start[0]);
    assert_int_equal(f->vm.mem.ndev, 2);
    vf_fini(f);
    free(f);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(region_above_the_pci_window),
        cmocka_unit_test(region_beyond_the_cpu_refused),
        cmocka_unit_test(flush_makes_writes_durable),
        cmocka_unit_test(bogus_requests_refused),
        cmocka_unit_test(read_only_never_writable),
        cmocka_unit_test(root_and_locking),
        cmocka_unit_test(state_roundtrip),
        cmocka_unit_test(config_checks),
        cmocka_unit_test(mmio_transport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
