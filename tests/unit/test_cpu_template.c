/* test_cpu_template.c — CPU templates: JSON bitmaps into masks, applying them to a CPUID, the
 * host check that names missing features, and verification against what a vCPU reports. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api_int.h"
#include "platform/cpu_template.h"
#include "vm/vm.h"

struct cpuid_buf {
    struct kvm_cpuid2 hdr;
    struct kvm_cpuid_entry2 e[8];
};

static char err[512];

/* A small CPUID: leaf 0, leaf 1 (ECX SSE3|SSE4.2|hypervisor), leaf 7.0 (EBX AVX2). */
static void fill(struct cpuid_buf *c)
{
    memset(c, 0, sizeof(*c));
    c->hdr.nent = 3;
    c->e[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 7};
    c->e[1] = (struct kvm_cpuid_entry2){
        .function = 1, .ecx = (1u << 0) | (1u << 20) | (1u << 31), .edx = 1u << 26};
    c->e[2] = (struct kvm_cpuid_entry2){
        .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 1u << 5};
}

static int parse(const char *json, struct cpu_template *t)
{
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    assert_non_null(o);
    struct jctx c;
    jctx_init(&c, "", err, sizeof(err));
    int rc = api_parse_cpu_config(o, &c, t);
    json_decref(o);
    return rc;
}

static void bitmaps_into_masks(void **state)
{
    struct cpu_template t;
    assert_int_equal(parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x7\", \"subleaf\": \"0\", "
                           "\"flags\": 1, \"modifiers\": [{\"register\": \"ebx\", \"bitmap\": "
                           "\"0b1xxxxxxx_xxxxxxxx_xxxxxxxx_xx0xxxx1\"}]}], \"msr_modifiers\": "
                           "[{\"addr\": \"0x1a0\", \"bitmap\": \"0b"
                           "1"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0\"}], \"kvm_capabilities\": [\"7\", "
                           "\"!99\"]}",
                           &t),
                     0);
    assert_int_equal(t.ncpuid, 1);
    assert_int_equal(t.cpuid[0].leaf, 7);
    assert_int_equal(t.cpuid[0].mask[CPUID_EBX], 0x80000021u);
    assert_int_equal(t.cpuid[0].value[CPUID_EBX], 0x80000001u);
    assert_int_equal(t.cpuid[0].mask[CPUID_EAX], 0);
    assert_int_equal(t.nmsr, 1);
    assert_true(t.msr[0].mask == 0x8000000000000001ULL);
    assert_true(t.msr[0].value == 0x8000000000000000ULL);
    assert_int_equal(t.ncaps, 2);
    assert_true(t.caps[0] == 7 && t.caps[1] == -100);
    /* 31 characters, a bad character, a bad number: refused, naming the field */
    assert_int_equal(
        parse("{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"flags\": "
              "0, \"modifiers\": [{\"register\": \"ecx\", \"bitmap\": "
              "\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}]}",
              &t),
        -EINVAL);
    assert_non_null(strstr(err, "bitmap"));
    assert_int_equal(
        parse("{\"msr_modifiers\": [{\"addr\": \"0x0x10\", \"bitmap\": \"0b0\"}]}", &t), -EINVAL);
    assert_non_null(strstr(err, "addr"));
}

static void apply_and_verify(void **state)
{
    struct cpuid_buf c;
    struct cpu_template t = {0};
    fill(&c);
    t.ncpuid = 1;
    t.cpuid[0] = (struct cpuid_modifier){
        .leaf = 1, .mask = {0, 0, (1u << 20) | (1u << 1), 0}, .value = {0, 0, 1u << 1, 0}};
    assert_int_equal(cpu_template_apply_cpuid(&t, &c.hdr, err, sizeof(err)), 0);
    assert_int_equal(c.e[1].ecx, (1u << 0) | (1u << 1) | (1u << 31)); /* 20 cleared, 1 set */
    assert_int_equal(cpu_template_verify_cpuid(&t, &c.hdr, err, sizeof(err)), 0);
    c.e[1].ecx |= 1u << 20; /* a host that ignored the template */
    assert_int_equal(cpu_template_verify_cpuid(&t, &c.hdr, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "leaf 0x1 subleaf 0x0 ecx"));
    t.cpuid[0].leaf = 0x8000001f; /* a leaf the CPUID lacks */
    assert_int_equal(cpu_template_apply_cpuid(&t, &c.hdr, err, sizeof(err)), -ENOTSUP);
    assert_non_null(strstr(err, "0x8000001f"));
}

static void host_check_names_missing_features(void **state)
{
    struct cpuid_buf want, host;
    fill(&want);
    fill(&host);
    assert_int_equal(cpuid_check_host(&want.hdr, &host.hdr, err, sizeof(err)), 0);
    host.e[1].ecx &= ~(1u << 31); /* hypervisor bit: truce's own, never a "missing feature" */
    assert_int_equal(cpuid_check_host(&want.hdr, &host.hdr, err, sizeof(err)), 0);
    want.e[2].ebx |= 1u << 16; /* avx512f, which the host lacks */
    want.e[1].ecx |= 1u << 25; /* aes */
    want.e[1].eax = 0x12345;   /* not a feature register: anything goes */
    assert_int_equal(cpuid_check_host(&want.hdr, &host.hdr, err, sizeof(err)), -ENOTSUP);
    assert_non_null(strstr(err, "ecx bit 25 (aes)"));
    assert_non_null(strstr(err, "leaf 0x7 subleaf 0x0 ebx bit 16 (avx512f)"));
    host.hdr.nent = 2; /* leaf 7 missing on the host altogether */
    want.e[1].ecx &= ~(1u << 25);
    assert_int_equal(cpuid_check_host(&want.hdr, &host.hdr, err, sizeof(err)), -ENOTSUP);
    assert_non_null(strstr(err, "bit 5 (avx2)"));
}

/* Firecracker's static templates: the host CPUs each is for, and what T2A does to a CPUID. */
static void static_templates(void **state)
{
    const uint32_t milan = 0x00a00f11, cascade_lake = 0x00050657, ice_lake = 0x000606a6;
    assert_int_equal(cpu_template_static_host_check("T2A", "AuthenticAMD", milan, err, 512), 0);
    assert_int_equal(cpu_template_static_host_check("T2A", "AuthenticAMD", 0x00a10f11, err, 512),
                     -ENOTSUP); /* a later AMD model: not in Firecracker's list for T2A */
    assert_non_null(strstr(err, "not made for this CPU model"));
    assert_int_equal(cpu_template_static_host_check("T2A", "GenuineIntel", milan, err, 512),
                     -ENOTSUP);
    assert_non_null(strstr(err, "AuthenticAMD hosts"));
    assert_int_equal(
        cpu_template_static_host_check("T2CL", "GenuineIntel", cascade_lake | 0x3000, err, 512), 0);
    assert_int_equal(cpu_template_static_host_check("T2S", "GenuineIntel", ice_lake, err, 512),
                     -ENOTSUP);
    assert_int_equal(cpu_template_static_host_check("C3", "GenuineIntel", ice_lake, err, 512), 0);
    assert_int_equal(cpu_template_static_host_check("Z9", "GenuineIntel", ice_lake, err, 512),
                     -EINVAL);

    struct cpu_template *t = calloc(1, sizeof(*t));
    assert_int_equal(cpu_template_static_fill("T2A", t), 0);
    assert_int_equal(t->nmsr, 0);
    assert_int_equal(cpu_template_static_fill("T2S", t), 0);
    assert_int_equal(t->nmsr, 1);
    assert_int_equal(t->msr[0].addr, 0x10a); /* IA32_ARCH_CAPABILITIES */
    assert_int_equal(cpu_template_static_fill("T2A", t), 0);
    struct cpuid_buf c;
    fill(&c); /* and every other leaf T2A sets */
    c.e[3] = (struct kvm_cpuid_entry2){
        .function = 0xd, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
    c.e[4] = (struct kvm_cpuid_entry2){
        .function = 0xd, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
    c.e[5] = (struct kvm_cpuid_entry2){.function = 0x80000001};
    c.e[6] = (struct kvm_cpuid_entry2){.function = 0x80000008};
    c.hdr.nent = 7;
    c.e[2].ebx |= (1u << 16) | (1u << 9); /* avx512f (hidden by T2A), erms (set by it) */
    c.e[2].ebx &= ~(1u << 9);
    int rc = cpu_template_apply_cpuid(t, &c.hdr, err, sizeof(err));
    free(t);
    assert_int_equal(rc, 0);
    assert_false(c.e[2].ebx & (1u << 16));
    assert_true(c.e[2].ebx & (1u << 9));
    assert_int_equal(c.e[1].eax & 0x0fff3fff, 0x000306f2); /* the family/model T2A shows */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bitmaps_into_masks),
        cmocka_unit_test(apply_and_verify),
        cmocka_unit_test(host_check_names_missing_features),
        cmocka_unit_test(static_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
