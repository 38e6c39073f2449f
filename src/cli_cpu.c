/* cli_cpu.c — `truce cpu-template dump|verify|fingerprint|baseline`: CPU templates for a fleet
 * (Firecracker's cpu-template-helper, plus a baseline: the template that makes hosts look alike).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "api/api_int.h"
#include "cli.h"
#include "platform/cpu_template.h"
#include "util/util.h"
#include "vm/vm.h"

static const char *const reg_names[4] = {"eax", "ebx", "ecx", "edx"};

static json_t *bitmap(uint64_t mask, uint64_t value, unsigned bits)
{
    char s[2 + 64 + 1] = "0b";
    for (unsigned i = 0; i < bits; i++) {
        unsigned b = bits - 1 - i;
        s[2 + i] = !(mask >> b & 1) ? 'x' : (value >> b & 1) ? '1' : '0';
    }
    s[2 + bits] = 0;
    return json_string(s);
}

static json_t *hex(uint32_t v)
{
    char s[16];
    snprintf(s, sizeof(s), "0x%x", v);
    return json_string(s);
}

/* T as a CpuConfig JSON object (registers with no fixed bit are left out). */
static json_t *template_json(const struct cpu_template *t)
{
    json_t *leaves = json_array(), *msrs = json_array();
    for (unsigned i = 0; i < t->ncpuid; i++) {
        const struct cpuid_modifier *m = &t->cpuid[i];
        json_t *mods = json_array();
        for (unsigned r = 0; r < 4; r++)
            if (m->mask[r])
                json_array_append_new(mods,
                                      json_pack("{s:s, s:o}", "register", reg_names[r], "bitmap",
                                                bitmap(m->mask[r], m->value[r], 32)));
        json_array_append_new(leaves, json_pack("{s:o, s:o, s:i, s:o}", "leaf", hex(m->leaf),
                                                "subleaf", hex(m->subleaf), "flags", (int)m->flags,
                                                "modifiers", mods));
    }
    for (unsigned i = 0; i < t->nmsr; i++)
        json_array_append_new(msrs, json_pack("{s:o, s:o}", "addr", hex(t->msr[i].addr), "bitmap",
                                              bitmap(t->msr[i].mask, t->msr[i].value, 64)));
    return json_pack("{s:[], s:o, s:o}", "kvm_capabilities", "cpuid_modifiers", leaves,
                     "msr_modifiers", msrs);
}

/* MSRs whose value is state, not a property of the CPU: the time stamp counter and its
 * deadline/adjust, and KVM's paravirtual MSRs (clock pages, steal time, ...). Not dumped. */
static bool msr_is_state(uint32_t m)
{
    return m == 0x10 || m == 0x3b || m == 0x6e0 || m == 0x11 || m == 0x12 ||
           (m >= 0x4b564d00 && m <= 0x4b564dff);
}

/* What a guest sees here (every bit fixed), as a template. */
static void probe_template(const struct cpu_probe *p, struct cpu_template *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < p->cpuid.nent && t->ncpuid < CPU_TMPL_MAX_CPUID; i++) {
        const struct kvm_cpuid_entry2 *e = &p->entries[i];
        struct cpuid_modifier *m = &t->cpuid[t->ncpuid++];
        const uint32_t regs[4] = {e->eax, e->ebx, e->ecx, e->edx};
        *m = (struct cpuid_modifier){.leaf = e->function, .subleaf = e->index, .flags = e->flags};
        for (unsigned r = 0; r < 4; r++)
            m->mask[r] = ~0u, m->value[r] = regs[r];
    }
    for (unsigned i = 0; i < p->msrs.n && t->nmsr < CPU_TMPL_MAX_MSR; i++)
        if (!msr_is_state(p->msrs.index[i]))
            t->msr[t->nmsr++] = (struct msr_modifier){p->msrs.index[i], ~0ULL, p->msr_value[i]};
}

/* Probe this host, with template T (may be NULL). Returns 0 or prints the error. */
static int probe(const struct cpu_template *t, struct cpu_probe *p)
{
    struct kvm_host kvm;
    char err[512] = "";
    int rc = kvm_host_open(&kvm, err, sizeof(err));
    if (!rc) {
        rc = cpu_probe(&kvm, t, p, err, sizeof(err));
        kvm_host_close(&kvm);
    }
    if (rc)
        fprintf(stderr, "truce: %s\n", err);
    return rc;
}

static json_t *dump_json(void)
{
    struct cpu_probe *p = malloc(sizeof(*p));
    struct cpu_template *t = malloc(sizeof(*t));
    json_t *j = NULL;
    if (p && t && probe(NULL, p) == 0) {
        probe_template(p, t);
        j = template_json(t);
    }
    free(p);
    free(t);
    return j;
}

int cli_load_cpu_template(const char *path, struct cpu_template *t, char *err, size_t errlen)
{
    if (cpu_template_static_fill(path, t) == 0) { /* a static template's name, not a file */
        char why[240];
        int rc = cpu_template_static(path, t, why, sizeof(why));
        if (rc)
            snprintf(err, errlen, "--cpu-template: %s", why);
        return rc ? -EINVAL : 0;
    }
    json_error_t je;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    char why[400];
    struct jctx c;
    jctx_init(&c, "", why, sizeof(why));
    int rc = o ? api_parse_cpu_config(o, &c, t) : -EINVAL;
    if (!o)
        snprintf(err, errlen, "--cpu-template: %s: %s (line %d)", path, je.text, je.line);
    else if (rc)
        snprintf(err, errlen, "--cpu-template: %s: %s", path, why);
    json_decref(o);
    return rc;
}

/* The same, printing the error. */
static int load_template(const char *path, struct cpu_template *t)
{
    char err[512];
    int rc = cli_load_cpu_template(path, t, err, sizeof(err));
    if (rc)
        fprintf(stderr, "truce: %s\n", err);
    return rc;
}

static int print_json(json_t *j)
{
    if (!j)
        return TRUCE_EXIT_HOST;
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(j);
    return 0;
}

/* verify: the template applies here and the guest would see every bit it fixes. */
static int verify(const char *path)
{
    struct cpu_template *t = malloc(sizeof(*t));
    struct cpu_probe *p = malloc(sizeof(*p));
    char err[512];
    int status = TRUCE_EXIT_USAGE;
    if (!t || !p || load_template(path, t) || probe(t, p))
        goto out;
    status = 1;
    if (cpu_template_verify_cpuid(t, &p->cpuid, err, sizeof(err)) < 0) {
        printf("FAIL: %s\n", err);
        goto out;
    }
    for (unsigned i = 0; i < t->nmsr; i++)
        for (unsigned j = 0; j < p->msrs.n; j++)
            if (p->msrs.index[j] == t->msr[i].addr &&
                ((p->msr_value[j] ^ t->msr[i].value) & t->msr[i].mask)) {
                printf("FAIL: MSR 0x%x is 0x%llx, the template fixes bits 0x%llx\n", t->msr[i].addr,
                       (unsigned long long)p->msr_value[j], (unsigned long long)t->msr[i].mask);
                goto out;
            }
    printf("OK: %u CPUID and %u MSR modifiers hold on this host\n", t->ncpuid, t->nmsr);
    status = 0;
out:
    free(t);
    free(p);
    return status;
}

static json_t *read_text(const char *path)
{
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    return json_string(buf);
}

static json_t *microcode(void)
{
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    json_t *v = NULL;
    while (f && !v && fgets(line, sizeof(line), f))
        if (!strncmp(line, "microcode", 9) && strchr(line, ':')) {
            char *s = strchr(line, ':') + 2;
            s[strcspn(s, "\n")] = 0;
            v = json_string(s);
        }
    if (f)
        fclose(f);
    return v ? v : json_string("");
}

/* fingerprint: what must match for a snapshot or a migration to behave the same. */
static int fingerprint(void)
{
    struct utsname u;
    uname(&u);
    json_t *dump = dump_json();
    if (!dump)
        return TRUCE_EXIT_HOST;
    return print_json(json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "truce_version", TRUCE_VERSION,
                                "kernel_version", u.release, "microcode_version", microcode(),
                                "bios_version", read_text("/sys/class/dmi/id/bios_version"),
                                "bios_revision", read_text("/sys/class/dmi/id/bios_release"),
                                "guest_cpu_config", dump));
}

/* baseline: from every host's dump, the template that gives each host's guests the same CPU:
 * a feature bit stays only where every host has it; any other bit is fixed where every host
 * agrees and left to the host where they differ. Leaves missing on one host are left out. */
static int baseline(int n, char **paths)
{
    struct cpu_template *acc = calloc(1, sizeof(*acc)), *t = calloc(1, sizeof(*t));
    int status = TRUCE_EXIT_USAGE;
    if (!acc || !t || load_template(paths[0], acc))
        goto out;
    for (int k = 1; k < n; k++) {
        if (load_template(paths[k], t))
            goto out;
        unsigned kept = 0;
        for (unsigned i = 0; i < acc->ncpuid; i++) {
            struct cpuid_modifier *a = &acc->cpuid[i];
            const struct cpuid_modifier *b = NULL;
            for (unsigned j = 0; j < t->ncpuid && !b; j++)
                if (t->cpuid[j].leaf == a->leaf && t->cpuid[j].subleaf == a->subleaf)
                    b = &t->cpuid[j];
            if (!b)
                continue;
            for (unsigned r = 0; r < 4; r++) {
                uint32_t feat = cpuid_feature_bits(a->leaf, a->subleaf, r);
                uint32_t both = a->mask[r] & b->mask[r];
                uint32_t agree = both & ~(a->value[r] ^ b->value[r]);
                a->mask[r] = (agree & ~feat) | (both & feat);
                a->value[r] = (a->value[r] & agree & ~feat) | (a->value[r] & b->value[r] & feat);
            }
            acc->cpuid[kept++] = *a;
        }
        acc->ncpuid = kept;
    }
    acc->nmsr = 0; /* MSR values differ by design (TSC, ...): not baselined */
    status = print_json(template_json(acc));
out:
    free(acc);
    free(t);
    return status;
}

int cli_cpu_template_main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "dump") && argc == 2)
        return print_json(dump_json());
    if (!strcmp(cmd, "fingerprint") && argc == 2)
        return fingerprint();
    if (!strcmp(cmd, "verify") && argc == 3)
        return verify(argv[2]);
    if (!strcmp(cmd, "baseline") && argc >= 4)
        return baseline(argc - 2, argv + 2);
    fprintf(
        !strcmp(cmd, "--help") ? stdout : stderr,
        "usage: truce cpu-template dump              the CPU a guest sees here, as a template\n"
        "       truce cpu-template fingerprint       that, with host versions that matter\n"
        "       truce cpu-template verify FILE       does template FILE hold on this host?\n"
        "       truce cpu-template baseline F1 F2 .. one template for hosts dumped to F1, F2..\n");
    return !strcmp(cmd, "--help") ? 0 : TRUCE_EXIT_USAGE;
}
