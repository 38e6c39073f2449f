/* test_snapshot.c — the snapshot state file: header checks, the configuration section and the
 * KVM-free check of a payload, against well-formed and hostile inputs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "platform/config.h"
#include "machine/snapshot.h"
#include "util/state.h"
#include "vm/vm.h"

static char err[256];

/* A file image (header + PAYLOAD) in a malloc'd buffer of *LEN bytes. */
static uint8_t *image(const void *payload, size_t plen, size_t *len)
{
    struct snap_header h;
    snapfile_header(&h, payload, plen);
    uint8_t *b = malloc(sizeof(h) + plen + 1);
    memcpy(b, &h, sizeof(h));
    memcpy(b + sizeof(h), payload, plen);
    *len = sizeof(h) + plen;
    return b;
}

static int parse(const uint8_t *b, size_t len)
{
    const uint8_t *p;
    size_t plen;
    err[0] = 0;
    return snapfile_parse(b, len, &p, &plen, err, sizeof(err));
}

static void header_checks(void **state)
{
    static const char payload[] = "some state";
    size_t len;
    uint8_t *b = image(payload, sizeof(payload), &len);
    const uint8_t *p;
    size_t plen;
    assert_int_equal(snapfile_parse(b, len, &p, &plen, err, sizeof(err)), 0);
    assert_int_equal(plen, sizeof(payload));
    assert_memory_equal(p, payload, plen);
    assert_int_equal(parse(b, len - 1), -EINVAL); /* truncated */
    assert_non_null(strstr(err, "truncated"));
    assert_int_equal(parse(b, len + 1), -EINVAL); /* trailing byte */
    assert_int_equal(parse(b, 10), -EINVAL);      /* not even a header */
    b[len - 1] ^= 1;
    assert_int_equal(parse(b, len), -EINVAL);
    assert_non_null(strstr(err, "state checksum"));
    b[len - 1] ^= 1;
    b[0] = 'X';
    assert_int_equal(parse(b, len), -EINVAL);
    assert_non_null(strstr(err, "magic"));
    b[0] = 'T';
    b[8] = 2; /* format version, header checksum now wrong */
    assert_int_equal(parse(b, len), -EINVAL);
    assert_non_null(strstr(err, "header checksum"));
    free(b);
}

/* A header that is self-consistent but says what this truce refuses. */
static void header_fields_refused(void **state)
{
    struct snap_header h;
    snapfile_header(&h, "", 0);
    struct {
        uint32_t version, flags;
        uint64_t plen;
        const char *want;
    } cases[] = {
        {2, 0, 0, "format version 2"},
        {1, 4, 0, "unknown flags"},
        {1, 0, (uint64_t)SNAP_MAX_PAYLOAD + 1, "exceeds"},
        {1, 0, UINT64_MAX, "exceeds"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct snap_header x = h;
        x.format_version = cases[i].version;
        x.flags = cases[i].flags;
        x.payload_len = cases[i].plen;
        struct snap_header y;
        snapfile_header(&y, "", 0); /* recompute the header CRC over the edited fields */
        x.header_crc32 = (uint32_t)crc32(0, (const unsigned char *)&x,
                                         offsetof(struct snap_header, header_crc32));
        assert_int_equal(parse((const uint8_t *)&x, sizeof(x)), -EINVAL);
        assert_non_null(strstr(err, cases[i].want));
    }
}

static void fill_config(struct vm_config *c)
{
    config_defaults(c);
    strcpy(c->vm_id, "snap-vm");
    strcpy(c->kernel, "/boot/vmlinuz");
    strcpy(c->cmdline, "console=ttyS0 quiet");
    c->cmdline_set = true;
    c->cpus = 3;
    c->mem_bytes = 256 << 20;
    c->ndisks = 2;
    strcpy(c->disks[1].id, "data");
    strcpy(c->disks[1].path, "/var/lib/d.img");
    c->disks[1].readonly = true;
    c->disks[1].queues = 3;    /* multiqueue (machine section version 9) */
    c->disks[1].direct = true; /* direct=on (machine section version 14) */
    c->nnets = 1;
    c->nets[0].kind = NET_USER;
    c->nets[0].nfwd = 1;
    c->nets[0].fwd[0] = (struct hostfwd){.host_port = 8080, .guest_port = 80};
    c->nets[0].queues = 2;
    c->vsock.enabled = true;
    c->vsock.guest_cid = 7;
    strcpy(c->vsock.uds_path, "/run/v.sock");
    c->entropy = true;
    c->mmds = (struct mmds_config){.enabled = true,
                                   .version = 2,
                                   .imds_compat = true,
                                   .ipv4 = 0xa9fe0102,
                                   .iface_mask = 1}; /* saved, as Firecracker */
}

static void config_round_trip(void **state)
{
    struct vm_config *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    fill_config(a);
    struct state_visitor v;
    state_save_init(&v);
    config_state_visit(&v, a);
    assert_int_equal(state_finish(&v), 0);
    struct state_visitor l;
    config_defaults(b);
    state_load_init(&l, v.buf, v.len);
    config_state_visit(&l, b);
    assert_int_equal(state_finish(&l), 0);
    assert_memory_equal(a, b, sizeof(*a));
    /* a string length beyond its array, or a NUL inside a string, is refused */
    uint8_t *str = memmem(v.buf, v.len, "snap-vm", 7);
    uint16_t len = CFG_ID_LEN;
    memcpy(str - 2, &len, 2);
    state_load_init(&l, v.buf, v.len);
    config_state_visit(&l, b);
    assert_int_equal(state_error(&l), -EINVAL);
    assert_non_null(strstr(l.msg, "vm_id"));
    len = 7;
    memcpy(str - 2, &len, 2);
    str[3] = 0;
    state_load_init(&l, v.buf, v.len);
    config_state_visit(&l, b);
    assert_int_equal(state_error(&l), -EINVAL);
    assert_non_null(strstr(l.msg, "vm_id"));
    state_free(&v);
    a->cpus = 0;
    state_save_init(&v);
    config_state_visit(&v, a);
    state_load_init(&l, v.buf, v.len);
    config_state_visit(&l, b);
    assert_int_equal(state_error(&l), -EINVAL);
    assert_non_null(strstr(l.msg, "cpus"));
    state_free(&v);
    /* an MMDS version other than 1 or 2 is refused */
    a->cpus = 3;
    a->mmds.version = 3;
    state_save_init(&v);
    config_state_visit(&v, a);
    state_load_init(&l, v.buf, v.len);
    config_state_visit(&l, b);
    assert_int_equal(state_error(&l), -EINVAL);
    assert_non_null(strstr(l.msg, "mmds.version"));
    state_free(&v);
    free(a);
    free(b);
}

/* A payload as snapshot_create lays it out, from zeroed KVM state and NMSRS MSRs. */
static void build_payload(struct state_visitor *v, struct vm_config *cfg, uint32_t nmsrs)
{
    struct vm_kvm_state ks;
    struct vcpu_state *vs = calloc(1, sizeof(*vs));
    memset(&ks, 0, sizeof(ks));
    for (unsigned i = 0; i < 3; i++)
        ks.chip[i].chip_id = i;
    vs->nmsrs = nmsrs;
    state_save_init(v);
    assert_true(state_begin(v, "snapshot", SNAP_STATE_VERSION));
    config_state_visit(v, cfg);
    vm_kvm_state_visit(v, &ks);
    for (unsigned i = 0; i < cfg->cpus; i++)
        vcpu_state_visit(v, vs);
    state_end(v);
    free(vs);
}

static void check_payload(void **state)
{
    struct vm_config *cfg = calloc(1, sizeof(*cfg)), *out = calloc(1, sizeof(*out));
    fill_config(cfg);
    struct state_visitor v;
    build_payload(&v, cfg, 5);
    assert_int_equal(snapshot_check(v.buf, v.len, out, err, sizeof(err)), 0);
    assert_int_equal(out->cpus, 3);
    assert_int_equal(snapshot_check(v.buf, v.len - 3, out, err, sizeof(err)), -EINVAL);
    state_free(&v);
    /* an MSR count a hostile file inflates is refused before anything is allocated for it */
    build_payload(&v, cfg, VCPU_STATE_MAX_MSRS);
    uint32_t big = VCPU_STATE_MAX_MSRS + 1, at = VCPU_STATE_MAX_MSRS;
    uint8_t *p = memmem(v.buf, v.len, &at, 4);
    assert_non_null(p);
    memcpy(p, &big, 4);
    assert_int_equal(snapshot_check(v.buf, v.len, out, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "nmsrs"));
    state_free(&v);
    free(cfg);
    free(out);
}

/* kvm-vm keeps the wall-clock time of its clock reading (clock_realtime); a version 1 section,
 * written before it was there, still loads, with no wall-clock time. */
static void kvm_vm_clock_realtime(void **state)
{
    (void)state;
    struct vm_kvm_state ks, out;
    memset(&ks, 0, sizeof(ks));
    for (unsigned i = 0; i < 3; i++)
        ks.chip[i].chip_id = i;
    ks.clock.clock = 123456789;
    ks.clock.realtime = 1796000000000000000ull;
    struct state_visitor v, l;
    state_save_init(&v);
    vm_kvm_state_visit(&v, &ks);
    assert_int_equal(state_finish(&v), 0);
    memset(&out, 0xff, sizeof(out));
    state_load_init(&l, v.buf, v.len);
    vm_kvm_state_visit(&l, &out);
    assert_int_equal(state_finish(&l), 0);
    assert_int_equal(out.clock.clock, 123456789);
    assert_true(out.clock.realtime == ks.clock.realtime);
    /* version 1: the same section without its last field (the header: name, version, length) */
    uint8_t *b = v.buf;
    size_t hdr = 1 + b[0];
    uint32_t ver = 1, plen;
    memcpy(&plen, b + hdr + 4, 4);
    plen -= 8;
    memcpy(b + hdr, &ver, 4);
    memcpy(b + hdr + 4, &plen, 4);
    memset(&out, 0, sizeof(out));
    state_load_init(&l, b, v.len - 8);
    vm_kvm_state_visit(&l, &out);
    assert_int_equal(state_finish(&l), 0);
    assert_int_equal(out.clock.clock, 123456789);
    assert_true(out.clock.realtime == 0);
    state_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_checks),         cmocka_unit_test(header_fields_refused),
        cmocka_unit_test(config_round_trip),     cmocka_unit_test(check_payload),
        cmocka_unit_test(kvm_vm_clock_realtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
