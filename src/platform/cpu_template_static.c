/* cpu_template_static.c — Firecracker's static CPU templates (C3, T2, T2S, T2CL, T2A) as data:
 * the same CPUID and MSR bit modifiers as custom templates, and the host CPUs each is made for.
 * The bit values are those of Firecracker's templates (Apache-2.0), as tables. */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "platform/cpu_template.h"
#include "util/util.h"

static const struct cpuid_modifier c3_cpuid[] = {
    {0x1,
     0x0,
     0,
     {0x0fff3fff, 0x00000000, 0x0040dd3c, 0xa8641080},
     {0x000306e4, 0x00000000, 0x00000000, 0x00001080}},
    {0x7,
     0x0,
     1,
     {0x00000000, 0xffafdd3c, 0x4041481e, 0x0000000c},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0xd,
     0x0,
     1,
     {0x000002f8, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0xd,
     0x1,
     1,
     {0x0000000e, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0x80000001,
     0x0,
     0,
     {0x00000000, 0x00000000, 0x00000120, 0x04000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
};
static const struct cpuid_modifier t2_cpuid[] = {
    {0x1,
     0x0,
     0,
     {0x0fff3fff, 0x00000000, 0x0004cdfc, 0xe8641080},
     {0x000306f2, 0x00000000, 0x00000000, 0x00001080}},
    {0x7,
     0x0,
     1,
     {0x00000000, 0xffefda14, 0x40415f5e, 0x0000011c},
     {0x00000000, 0x00000200, 0x00000000, 0x00000000}},
    {0xd,
     0x0,
     1,
     {0x000002f8, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0xd,
     0x1,
     1,
     {0x0000000e, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0x80000001,
     0x0,
     0,
     {0x00000000, 0x00000000, 0x20000100, 0x04000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0x80000008,
     0x0,
     0,
     {0x00000000, 0x00000200, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
};
static const struct msr_modifier t2s_msr[] = {
    {0x10a, 0xffffffffffffffffull, 0x000000000c0a0c4cull},
};
static const struct cpuid_modifier t2cl_cpuid[] = {
    {0x1,
     0x0,
     0,
     {0x0fff3fff, 0x00000000, 0x0004cdfc, 0xe8641080},
     {0x000306f2, 0x00000000, 0x00000000, 0x00001080}},
    {0x7,
     0x0,
     1,
     {0x00000000, 0xffefda14, 0x40415f5e, 0x0000011c},
     {0x00000000, 0x00000200, 0x00000000, 0x00000000}},
    {0xd,
     0x0,
     1,
     {0x000002f8, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0xd,
     0x1,
     1,
     {0x0000000e, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0x80000001,
     0x0,
     0,
     {0x00000000, 0x00000000, 0x200001c0, 0x07c00000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0x80000008,
     0x0,
     0,
     {0x00000000, 0x00000200, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
};
static const struct msr_modifier t2cl_msr[] = {
    {0x10a, 0xffffffffe2f51e00ull, 0x0000000000000000ull},
};
static const struct cpuid_modifier t2a_cpuid[] = {
    {0x1,
     0x0,
     0,
     {0x0fff3fff, 0x00000000, 0x0004cdfc, 0xe8641080},
     {0x000306f2, 0x00000000, 0x00000000, 0x00001080}},
    {0x7,
     0x0,
     1,
     {0x00000000, 0xffefda14, 0x40415f5e, 0x0000011c},
     {0x00000000, 0x00000200, 0x00000000, 0x00000000}},
    {0xd,
     0x0,
     1,
     {0x000002f8, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0xd,
     0x1,
     1,
     {0x0000000e, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0x80000001,
     0x0,
     0,
     {0x00000000, 0x00000000, 0x200001c4, 0x06400000},
     {0x00000000, 0x00000000, 0x00000000, 0x00000000}},
    {0x80000008,
     0x0,
     0,
     {0x00000000, 0x001c0205, 0x00000000, 0x00000000},
     {0x00000000, 0x001c0004, 0x00000000, 0x00000000}},
};

/* A CPU model as CPUID leaf 1 EAX spells it: stepping, model, family, extended model and
 * extended family (bits 3:0, 7:4, 11:8, 19:16, 27:20; bits 13:12 and 31:28 not compared). */
#define FMS(ext_family, ext_model, family, model, stepping)                                        \
    ((ext_family) << 20 | (ext_model) << 16 | (family) << 8 | (model) << 4 | (stepping))
#define FMS_MASK         0x0fff0fffu
#define FMS_SKYLAKE      FMS(0x0, 0x5, 0x6, 0x5, 0x4)
#define FMS_CASCADE_LAKE FMS(0x0, 0x5, 0x6, 0x5, 0x7)
#define FMS_ICE_LAKE     FMS(0x0, 0x6, 0x6, 0xa, 0x6)
#define FMS_MILAN        FMS(0xa, 0x0, 0xf, 0x1, 0x1)

struct static_template {
    const char *name, *vendor;
    uint32_t models[3]; /* FMS values, 0: none */
    const struct cpuid_modifier *cpuid;
    unsigned ncpuid;
    const struct msr_modifier *msr;
    unsigned nmsr;
};

static const struct static_template templates[] = {
    {"C3",
     "GenuineIntel",
     {FMS_SKYLAKE, FMS_CASCADE_LAKE, FMS_ICE_LAKE},
     c3_cpuid,
     ARRAY_SIZE(c3_cpuid),
     NULL,
     0},
    {"T2",
     "GenuineIntel",
     {FMS_SKYLAKE, FMS_CASCADE_LAKE, FMS_ICE_LAKE},
     t2_cpuid,
     ARRAY_SIZE(t2_cpuid),
     NULL,
     0},
    /* T2S: T2's CPUID, with IA32_ARCH_CAPABILITIES fixed */
    {"T2S",
     "GenuineIntel",
     {FMS_SKYLAKE, FMS_CASCADE_LAKE},
     t2_cpuid,
     ARRAY_SIZE(t2_cpuid),
     t2s_msr,
     ARRAY_SIZE(t2s_msr)},
    {"T2CL",
     "GenuineIntel",
     {FMS_CASCADE_LAKE, FMS_ICE_LAKE},
     t2cl_cpuid,
     ARRAY_SIZE(t2cl_cpuid),
     t2cl_msr,
     ARRAY_SIZE(t2cl_msr)},
    {"T2A", "AuthenticAMD", {FMS_MILAN}, t2a_cpuid, ARRAY_SIZE(t2a_cpuid), NULL, 0},
};

/* This host's vendor string and leaf 1 EAX, from the CPUID instruction (the CPU truce runs on,
 * as Firecracker checks it). */
static void host_cpu(char vendor[13], uint32_t *eax1)
{
    uint32_t a, b, c, d;
    __cpuid(0, a, b, c, d);
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    __cpuid(1, a, b, c, d);
    *eax1 = a;
}

int cpu_template_static_fill(const char *name, struct cpu_template *t)
{
    for (size_t i = 0; i < ARRAY_SIZE(templates); i++) {
        const struct static_template *s = &templates[i];
        if (strcmp(s->name, name))
            continue;
        memset(t, 0, sizeof(*t));
        memcpy(t->cpuid, s->cpuid, s->ncpuid * sizeof(*s->cpuid));
        t->ncpuid = s->ncpuid;
        if (s->nmsr)
            memcpy(t->msr, s->msr, s->nmsr * sizeof(*s->msr));
        t->nmsr = s->nmsr;
        return 0;
    }
    return -ENOENT;
}

int cpu_template_static_host_check(const char *name, const char *vendor, uint32_t eax1, char *err,
                                   size_t errlen)
{
    for (size_t i = 0; i < ARRAY_SIZE(templates); i++) {
        const struct static_template *s = &templates[i];
        if (strcmp(s->name, name))
            continue;
        if (strcmp(s->vendor, vendor))
            return snprintf(err, errlen, "cpu_template %s is for %s hosts; this one is %s", name,
                            s->vendor, vendor),
                   -ENOTSUP;
        for (size_t m = 0; m < ARRAY_SIZE(s->models) && s->models[m]; m++)
            if ((eax1 & FMS_MASK) == s->models[m])
                return 0;
        return snprintf(err, errlen,
                        "cpu_template %s is not made for this CPU model (CPUID 1 EAX %#x): "
                        "Firecracker's list of models for it does not include it",
                        name, eax1),
               -ENOTSUP;
    }
    return snprintf(err, errlen, "cpu_template %s: no such static template", name), -EINVAL;
}

int cpu_template_static(const char *name, struct cpu_template *t, char *err, size_t errlen)
{
    char vendor[13];
    uint32_t eax1;
    host_cpu(vendor, &eax1);
    int rc = cpu_template_static_host_check(name, vendor, eax1, err, errlen);
    return rc ? rc : cpu_template_static_fill(name, t);
}
