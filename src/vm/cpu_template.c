/* cpu_template.c — CPU templates applied to what a guest sees: CPUID bits, MSR bits, and the
 * check that a CPUID (a template's, or one saved in a snapshot) asks only for what this host has.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/util.h"
#include "vm/vm.h"

/* Names of well-known feature bits, for messages (leaf, subleaf, register, bit). */
static const struct feature_name {
    uint32_t leaf, subleaf;
    uint8_t reg, bit;
    const char *name;
} feature_names[] = {
    {0x1, 0, CPUID_ECX, 0, "sse3"},
    {0x1, 0, CPUID_ECX, 9, "ssse3"},
    {0x1, 0, CPUID_ECX, 12, "fma"},
    {0x1, 0, CPUID_ECX, 19, "sse4.1"},
    {0x1, 0, CPUID_ECX, 20, "sse4.2"},
    {0x1, 0, CPUID_ECX, 22, "movbe"},
    {0x1, 0, CPUID_ECX, 23, "popcnt"},
    {0x1, 0, CPUID_ECX, 25, "aes"},
    {0x1, 0, CPUID_ECX, 26, "xsave"},
    {0x1, 0, CPUID_ECX, 28, "avx"},
    {0x1, 0, CPUID_ECX, 29, "f16c"},
    {0x1, 0, CPUID_ECX, 30, "rdrand"},
    {0x1, 0, CPUID_EDX, 25, "sse"},
    {0x1, 0, CPUID_EDX, 26, "sse2"},
    {0x7, 0, CPUID_EBX, 3, "bmi1"},
    {0x7, 0, CPUID_EBX, 5, "avx2"},
    {0x7, 0, CPUID_EBX, 8, "bmi2"},
    {0x7, 0, CPUID_EBX, 9, "erms"},
    {0x7, 0, CPUID_EBX, 16, "avx512f"},
    {0x7, 0, CPUID_EBX, 17, "avx512dq"},
    {0x7, 0, CPUID_EBX, 18, "rdseed"},
    {0x7, 0, CPUID_EBX, 19, "adx"},
    {0x7, 0, CPUID_EBX, 29, "sha"},
    {0x7, 0, CPUID_EBX, 30, "avx512bw"},
    {0x7, 0, CPUID_EBX, 31, "avx512vl"},
    {0x7, 0, CPUID_ECX, 1, "avx512vbmi"},
    {0x7, 0, CPUID_ECX, 9, "vaes"},
    {0x7, 0, CPUID_ECX, 10, "vpclmulqdq"},
    {0x7, 0, CPUID_EDX, 4, "fsrm"},
    {0x80000001, 0, CPUID_ECX, 5, "abm"},
    {0x80000001, 0, CPUID_ECX, 6, "sse4a"},
    {0x80000001, 0, CPUID_EDX, 27, "rdtscp"},
    {0x80000001, 0, CPUID_EDX, 26, "pdpe1gb"},
};

/* Registers whose bits say "the CPU has feature X" (a template may set only what the host
 * offers). Leaf 1 ECX bit 31 (hypervisor) and EDX bit 28 (HTT) are truce's own choice. */
uint32_t cpuid_feature_bits(uint32_t leaf, uint32_t subleaf, unsigned reg)
{
    switch (leaf) {
    case 0x1:
        return reg == CPUID_ECX ? 0x7fffffffu : reg == CPUID_EDX ? ~(1u << 28) : 0;
    case 0x7:
        if (subleaf == 0)
            return reg == CPUID_EAX ? 0 : ~0u;
        return subleaf == 1 && reg == CPUID_EAX ? ~0u : 0;
    case 0xd:
        return subleaf == 1 && reg == CPUID_EAX ? ~0u : 0;
    case 0x80000001:
        return reg == CPUID_ECX || reg == CPUID_EDX ? ~0u : 0;
    default:
        return 0;
    }
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, unsigned reg)
{
    uint32_t *regs[4] = {&e->eax, &e->ebx, &e->ecx, &e->edx};
    return regs[reg];
}

static const char *const reg_names[4] = {"eax", "ebx", "ecx", "edx"};

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t subleaf)
{
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == leaf &&
            (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == subleaf))
            return e;
    }
    return NULL;
}

/* "leaf 0x7 subleaf 0x0 ebx bit 16 (avx512f)" for BIT of REG into BUF. */
static void bit_name(char *buf, size_t len, uint32_t leaf, uint32_t subleaf, unsigned reg,
                     unsigned bit)
{
    const char *name = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(feature_names); i++) {
        const struct feature_name *f = &feature_names[i];
        if (f->leaf == leaf && f->subleaf == subleaf && f->reg == reg && f->bit == bit)
            name = f->name;
    }
    snprintf(buf, len, "CPUID leaf 0x%x subleaf 0x%x %s bit %u%s%s%s", leaf, subleaf,
             reg_names[reg], bit, name ? " (" : "", name ? name : "", name ? ")" : "");
}

int cpuid_check_host(struct kvm_cpuid2 *want, struct kvm_cpuid2 *host, char *err, size_t errlen)
{
    size_t off = 0;
    unsigned missing = 0;
    for (unsigned i = 0; i < want->nent; i++) {
        struct kvm_cpuid_entry2 *w = &want->entries[i];
        struct kvm_cpuid_entry2 *h = cpuid_find(host, w->function, w->index);
        for (unsigned r = 0; r < 4; r++) {
            uint32_t need = *entry_reg(w, r) & cpuid_feature_bits(w->function, w->index, r);
            uint32_t lack = need & ~(h ? *entry_reg(h, r) : 0);
            for (unsigned b = 0; lack && b < 32; b++) {
                if (!(lack & (1u << b)))
                    continue;
                char name[96];
                bit_name(name, sizeof(name), w->function, w->index, r, b);
                if (off < errlen)
                    off += (size_t)snprintf(err + off, errlen - off, "%s%s",
                                            missing ? ", " : "this host lacks ", name);
                missing++;
            }
        }
    }
    return missing ? -ENOTSUP : 0;
}

int cpu_template_apply_cpuid(const struct cpu_template *t, struct kvm_cpuid2 *c, char *err,
                             size_t errlen)
{
    for (unsigned i = 0; i < t->ncpuid; i++) {
        const struct cpuid_modifier *m = &t->cpuid[i];
        struct kvm_cpuid_entry2 *e = cpuid_find(c, m->leaf, m->subleaf);
        if (!e) {
            snprintf(err, errlen,
                     "cpu template: CPUID leaf 0x%x subleaf 0x%x is not offered by this host",
                     m->leaf, m->subleaf);
            return -ENOTSUP;
        }
        for (unsigned r = 0; r < 4; r++) {
            uint32_t *reg = entry_reg(e, r);
            *reg = (*reg & ~m->mask[r]) | (m->value[r] & m->mask[r]);
        }
    }
    return 0;
}

int cpu_template_verify_cpuid(const struct cpu_template *t, struct kvm_cpuid2 *seen, char *err,
                              size_t errlen)
{
    for (unsigned i = 0; i < t->ncpuid; i++) {
        const struct cpuid_modifier *m = &t->cpuid[i];
        struct kvm_cpuid_entry2 *e = cpuid_find(seen, m->leaf, m->subleaf);
        for (unsigned r = 0; r < 4; r++) {
            uint32_t got = e ? *entry_reg(e, r) : 0;
            if (!m->mask[r] || (e && !((got ^ m->value[r]) & m->mask[r])))
                continue;
            snprintf(err, errlen,
                     "CPUID leaf 0x%x subleaf 0x%x %s is 0x%08x, the template fixes bits "
                     "0x%08x to 0x%08x",
                     m->leaf, m->subleaf, reg_names[r], got, m->mask[r], m->value[r] & m->mask[r]);
            return -EINVAL;
        }
    }
    return 0;
}

/* One MSR of a vCPU: read or write. Returns 0 or -errno. */
static int msr_rw(int vcpu_fd, uint32_t index, uint64_t *val, bool write)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } one = {.hdr.nmsrs = 1, .e = {.index = index, .data = write ? *val : 0}};
    int n = ioctl(vcpu_fd, write ? KVM_SET_MSRS : KVM_GET_MSRS, &one);
    if (n < 0)
        return -errno;
    if (n != 1)
        return -EINVAL;
    if (!write)
        *val = one.e.data;
    return 0;
}

int cpu_template_apply_msrs(const struct cpu_template *t, int vcpu_fd, char *err, size_t errlen)
{
    for (unsigned i = 0; i < t->nmsr; i++) {
        const struct msr_modifier *m = &t->msr[i];
        uint64_t v = 0;
        int rc = msr_rw(vcpu_fd, m->addr, &v, false);
        if (!rc) {
            v = (v & ~m->mask) | (m->value & m->mask);
            rc = msr_rw(vcpu_fd, m->addr, &v, true);
        }
        if (rc) {
            snprintf(err, errlen, "cpu template: MSR 0x%x cannot be %s on this host", m->addr,
                     rc == -EINVAL ? "set to the template's value" : "accessed");
            return rc;
        }
    }
    return 0;
}

int cpu_template_check_caps(const struct cpu_template *t, int kvm_fd, char *err, size_t errlen)
{
    for (unsigned i = 0; i < t->ncaps; i++) {
        if (t->caps[i] < 0)
            continue; /* "!N": truce uses no optional capability a template could remove */
        if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, (unsigned long)t->caps[i]) <= 0) {
            snprintf(err, errlen, "cpu template: this host's KVM lacks capability %lld",
                     (long long)t->caps[i]);
            return -ENOTSUP;
        }
    }
    return 0;
}

/* ---- what a guest of this host sees, without a guest ------------------------------------------
 */

int cpu_probe(struct kvm_host *kvm, const struct cpu_template *t, struct cpu_probe *out, char *err,
              size_t errlen)
{
    const char *what = "KVM_GET_SUPPORTED_CPUID";
    int vmfd = -1, vcpu = -1, rc = 0;
    memset(out, 0, sizeof(*out));
    const struct kvm_cpuid2 *sup = kvm_host_cpuid(kvm, &rc); /* kvm.c: asked once, kept */
    struct kvm_cpuid2 *c =
        sup ? calloc(1, sizeof(*c) + (sup->nent + 8) * sizeof(c->entries[0])) : NULL;
    if (!c) {
        rc = rc ? rc : -ENOMEM;
        goto out;
    }
    if ((what = "KVM_CREATE_VM", (vmfd = ioctl(kvm->fd, KVM_CREATE_VM, 0)) < 0) ||
        (what = "KVM_CREATE_IRQCHIP", ioctl(vmfd, KVM_CREATE_IRQCHIP, 0) < 0) ||
        (what = "KVM_CREATE_VCPU", (vcpu = ioctl(vmfd, KVM_CREATE_VCPU, 0)) < 0)) {
        rc = -errno;
        goto out;
    }
    cpuid_normalise(sup, c, 0, 1);
    if (t && (rc = cpu_template_apply_cpuid(t, c, err, errlen)) < 0)
        goto fail_quiet;
    what = "KVM_SET_CPUID2";
    if (ioctl(vcpu, KVM_SET_CPUID2, c) < 0) {
        rc = -errno;
        goto out;
    }
    if (t && (rc = cpu_template_apply_msrs(t, vcpu, err, errlen)) < 0)
        goto fail_quiet;
    what = "KVM_GET_CPUID2";
    if ((rc = vcpu_cpuid_get(vcpu, &out->cpuid, VCPU_STATE_MAX_CPUID)) < 0)
        goto out;
    what = "KVM_GET_MSR_INDEX_LIST";
    if ((rc = vcpu_msr_list_build(kvm, vcpu, &out->msrs)) < 0)
        goto out;
    for (unsigned i = 0; i < out->msrs.n && !rc; i++)
        if ((rc = msr_rw(vcpu, out->msrs.index[i], &out->msr_value[i], false)) < 0)
            what = "KVM_GET_MSRS";
out:
    if (rc)
        snprintf(err, errlen, "kvm: %s: %s", what, strerror(-rc));
fail_quiet:
    if (vcpu >= 0)
        close(vcpu);
    if (vmfd >= 0)
        close(vmfd);
    free(c);
    return rc;
}
