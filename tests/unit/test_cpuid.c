/* test_cpuid.c — CPUID normalisation: APIC ids, topology leaves (AMD's cache leaf included),
 * hypervisor bit, signature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/vm.h"

static struct kvm_cpuid2 *alloc_cpuid(unsigned n)
{
    return calloc(1, sizeof(struct kvm_cpuid2) + n * sizeof(struct kvm_cpuid_entry2));
}

static void add(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t a, uint32_t b,
                uint32_t cx, uint32_t d)
{
    c->entries[c->nent++] = (struct kvm_cpuid_entry2){
        .function = fn, .index = idx, .eax = a, .ebx = b, .ecx = cx, .edx = d};
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (unsigned i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx)
            return &c->entries[i];
    return NULL;
}

/* A host-like supported list: Intel-ish leaves with host topology (8 threads) and a brand. */
static struct kvm_cpuid2 *host(void)
{
    struct kvm_cpuid2 *c = alloc_cpuid(32);
    add(c, 0x0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
    add(c, 0x1, 0, 0x000906ea, 0x07080800, 0x7ffafbff, 0xbfebfbff & ~(1u << 28));
    add(c, 0x4, 0, 0x1c004121, 0x01c0003f, 0x3f, 0);   /* L1d, 8 cores, 2 sharing */
    add(c, 0x4, 3, 0x1c03c163, 0x03c0003f, 0x3fff, 6); /* L3 */
    add(c, 0xb, 0, 1, 2, 0x100, 7);
    add(c, 0xb, 1, 4, 8, 0x201, 7);
    add(c, 0xb, 2, 0, 0, 2, 7);
    add(c, 0x80000002, 0, 0x65746e49, 0x2952286c, 0x6f655820, 0x2952286e);
    add(c, 0x8000001e, 0, 9, 0x105, 0x300, 0);
    return c;
}

static void leaf1_apic_id_and_hypervisor_bit(void **state)
{
    struct kvm_cpuid2 *sup = host(), *out = alloc_cpuid(sup->nent + 8);
    cpuid_normalise(sup, out, 3, 4);
    const struct kvm_cpuid_entry2 *e = find(out, 1, 0);
    assert_non_null(e);
    assert_int_equal(e->ebx >> 24, 3);
    assert_int_equal((e->ebx >> 16) & 0xff, 4);
    assert_int_equal(e->ebx & 0xffff, 0x0800); /* CLFLUSH size kept */
    assert_true(e->ecx & (1u << 31));
    assert_true(e->edx & (1u << 28));
    assert_int_equal(e->eax, 0x000906ea);
    cpuid_normalise(sup, out, 0, 1);
    e = find(out, 1, 0);
    assert_int_equal(e->ebx >> 24, 0);
    assert_false(e->edx & (1u << 28)); /* one CPU: no HTT */
    free(sup);
    free(out);
}

static void topology_leaves_match_vcpu_count(void **state)
{
    struct kvm_cpuid2 *sup = host(), *out = alloc_cpuid(sup->nent + 8);
    cpuid_normalise(sup, out, 5, 6);
    const struct kvm_cpuid_entry2 *smt = find(out, 0xb, 0), *core = find(out, 0xb, 1),
                                  *end = find(out, 0xb, 2);
    assert_int_equal(smt->ebx, 1);
    assert_int_equal(smt->eax, 0);
    assert_int_equal((smt->ecx >> 8) & 0xff, 1);
    assert_int_equal(core->ebx, 6);
    assert_int_equal(core->eax, 3); /* 2^3 >= 6 */
    assert_int_equal((core->ecx >> 8) & 0xff, 2);
    assert_int_equal(end->ebx, 0);
    assert_int_equal((end->ecx >> 8) & 0xff, 0);
    assert_int_equal(smt->edx, 5);
    assert_int_equal(core->edx, 5);
    const struct kvm_cpuid_entry2 *l1 = find(out, 4, 0), *l3 = find(out, 4, 3);
    assert_int_equal(l1->eax >> 26, 5);           /* cores per package - 1 */
    assert_int_equal((l1->eax >> 14) & 0xfff, 0); /* L1 private */
    assert_int_equal((l3->eax >> 14) & 0xfff, 5); /* L3 shared by all 6 */
    assert_int_equal(l3->eax & 0x3fff, 0x0163);   /* cache type/level kept */
    const struct kvm_cpuid_entry2 *amd = find(out, 0x8000001e, 0);
    assert_int_equal(amd->eax, 5);
    free(sup);
    free(out);
}

static void kvm_signature_added_and_brand_untouched(void **state)
{
    struct kvm_cpuid2 *sup = host(), *out = alloc_cpuid(sup->nent + 8);
    cpuid_normalise(sup, out, 0, 2);
    const struct kvm_cpuid_entry2 *sig = find(out, 0x40000000, 0);
    assert_non_null(sig);
    char s[13] = {0};
    memcpy(s, &sig->ebx, 4);
    memcpy(s + 4, &sig->ecx, 4);
    memcpy(s + 8, &sig->edx, 4);
    assert_string_equal(s, "KVMKVMKVM");
    assert_true(sig->eax >= 0x40000001);
    assert_memory_equal(find(out, 0x80000002, 0), find(sup, 0x80000002, 0),
                        sizeof(struct kvm_cpuid_entry2));
    assert_int_equal(out->nent, sup->nent + 1);
    free(sup);
    free(out);
}

/* ---- AMD's cache leaf 0x8000001D ------------------------------------------------------------ */

/* The cache subleaves KVM passes from an EPYC host: 2 threads per core share L1 and L2, 16 the L3,
 * then the null type. */
static const uint32_t epyc_cache[5][4] = {{0x00004121, 0x01c0003f, 0x3f, 0},   /* L1d */
                                          {0x00004122, 0x00c0003f, 0xff, 0},   /* L1i */
                                          {0x00004143, 0x01c0003f, 0x3ff, 2},  /* L2 */
                                          {0x0003c163, 0x03c0003f, 0x3fff, 1}, /* L3 */
                                          {0, 0, 0, 0}};

static void amd_cache_sharing_follows_vcpus(void **state)
{
    struct kvm_cpuid2 *sup = alloc_cpuid(16);
    add(sup, 0x0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65); /* AuthenticAMD */
    for (uint32_t sub = 0; sub < 5; sub++)
        add(sup, 0x8000001d, sub, epyc_cache[sub][0], epyc_cache[sub][1], epyc_cache[sub][2],
            epyc_cache[sub][3]);
    struct kvm_cpuid2 *out = alloc_cpuid(sup->nent + 8);
    cpuid_normalise(sup, out, 1, 4);
    for (uint32_t sub = 0; sub < 5; sub++) {
        const struct kvm_cpuid_entry2 *e = find(out, 0x8000001d, sub);
        assert_non_null(e);
        assert_int_equal(e->eax & 0x3fff, epyc_cache[sub][0] & 0x3fff); /* type, level, flags */
        assert_int_equal(e->eax >> 26, epyc_cache[sub][0] >> 26);
        assert_int_equal(e->ebx, epyc_cache[sub][1]); /* line size, partitions, ways */
        assert_int_equal(e->ecx, epyc_cache[sub][2]); /* sets */
        /* one thread per core: L1 and L2 private; the L3 shared by the 4 vCPUs */
        assert_int_equal((e->eax >> 14) & 0xfff, sub == 3 ? 3 : 0);
    }
    cpuid_normalise(sup, out, 0, 1); /* a single vCPU shares nothing */
    assert_int_equal((find(out, 0x8000001d, 3)->eax >> 14) & 0xfff, 0);
    free(sup);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leaf1_apic_id_and_hypervisor_bit),
        cmocka_unit_test(topology_leaves_match_vcpu_count),
        cmocka_unit_test(kvm_signature_added_and_brand_untouched),
        cmocka_unit_test(amd_cache_sharing_follows_vcpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
