/* cpu_template.h — a CPU template as data: CPUID and MSR bit modifiers and KVM capability rules. */
#ifndef TRUCE_CPU_TEMPLATE_H
#define TRUCE_CPU_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Firecracker's custom CPU template (PUT /cpu-config), parsed: each modifier fixes the bits of
 * MASK to VALUE ("0b...1..0..x" bitmaps: 1/0 fixed, x left as the host has it). */
#define CPU_TMPL_MAX_CPUID 96
#define CPU_TMPL_MAX_MSR   32
#define CPU_TMPL_MAX_CAPS  16

enum cpuid_reg { CPUID_EAX = 0, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_modifier {
    uint32_t leaf, subleaf;
    uint32_t flags;    /* KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the subleaf selects the entry */
    uint32_t mask[4];  /* per enum cpuid_reg: bits the template fixes */
    uint32_t value[4]; /* their values */
};

struct msr_modifier {
    uint32_t addr;
    uint64_t mask, value;
};

struct cpu_template {
    unsigned ncpuid, nmsr, ncaps;
    struct cpuid_modifier cpuid[CPU_TMPL_MAX_CPUID];
    struct msr_modifier msr[CPU_TMPL_MAX_MSR];
    int64_t caps[CPU_TMPL_MAX_CAPS]; /* N: KVM capability N required; -N-1: "!N", not used */
};

/* ---- Firecracker's static templates (platform/cpu_template_static.c) --------------------------
 * C3, T2, T2S, T2CL (Intel Skylake, Cascade Lake, Ice Lake as Firecracker lists for each) and T2A
 * (AMD Milan). */
/* Fill T with template NAME. Returns 0 or -ENOENT. */
int cpu_template_static_fill(const char *name, struct cpu_template *t);
/* Is a host of VENDOR (CPUID 0) and leaf 1 EAX EAX1 one template NAME is made for? Returns 0,
 * -ENOTSUP (another vendor or model) or -EINVAL (no such template), with one line in ERR. */
int cpu_template_static_host_check(const char *name, const char *vendor, uint32_t eax1, char *err,
                                   size_t errlen);
/* Both, for the CPU truce runs on. */
int cpu_template_static(const char *name, struct cpu_template *t, char *err, size_t errlen);

#endif
