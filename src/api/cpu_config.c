/* cpu_config.c — PUT /cpu-config: Firecracker's custom CPU template JSON into a struct
 * cpu_template.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

/* "0x1f", "0b101" or "31", within 32 bits, into *OUT. */
static int numeric_string(const struct jctx *c, const json_t *o, const char *field, uint32_t *out)
{
    char s[72];
    if (jstring(c, o, field, true, s, sizeof(s), NULL) < 0)
        return -EINVAL;
    int base = 10;
    const char *p = s;
    if (!strncmp(p, "0x", 2) || !strncmp(p, "0X", 2))
        base = 16, p += 2;
    else if (!strncmp(p, "0b", 2) || !strncmp(p, "0B", 2))
        base = 2, p += 2;
    /* Only digits of the base after the prefix: strtoull alone would skip spaces, take a sign
     * and a second "0x". */
    const char *digits = base == 16 ? "0123456789abcdefABCDEF" : base == 2 ? "01" : "0123456789";
    size_t len = strlen(p);
    errno = 0;
    unsigned long long v = len && strspn(p, digits) == len ? strtoull(p, NULL, base) : 0;
    if (!len || strspn(p, digits) != len || errno || v > UINT32_MAX)
        return jfail(c, field, "'%s' is not a 32-bit hex (0x), binary (0b) or decimal number", s);
    *out = (uint32_t)v;
    return 0;
}

/* "0b" followed by exactly BITS characters from {0, 1, x} (underscores ignored), most
 * significant first, into the bits it fixes (*MASK) and their values (*VALUE). */
static int bitmap_string(const struct jctx *c, const json_t *o, unsigned bits, uint64_t *mask,
                         uint64_t *value)
{
    char s[160];
    if (jstring(c, o, "bitmap", true, s, sizeof(s), NULL) < 0)
        return -EINVAL;
    unsigned n = 0;
    bool ok = !strncmp(s, "0b", 2);
    *mask = *value = 0;
    for (const char *p = s + 2; ok && *p; p++) {
        if (*p == '_')
            continue;
        ok = (*p == '0' || *p == '1' || *p == 'x') && n < bits;
        if (!ok)
            break;
        unsigned bit = bits - 1 - n++;
        if (*p != 'x')
            *mask |= 1ULL << bit;
        if (*p == '1')
            *value |= 1ULL << bit;
    }
    if (!ok || n != bits)
        return jfail(c, "bitmap", "must be \"0b\" followed by %u characters of 0, 1 or x", bits);
    return 0;
}

static int parse_capability(void *arg, struct jctx *c, const json_t *e)
{
    struct cpu_template *t = arg;
    const char *s = json_string_value(e);
    if (!s)
        return jfail(c, NULL, "must be a string");
    const char *p = s[0] == '!' ? s + 1 : s;
    uint64_t v;
    if (parse_uint(p, 0, UINT32_MAX, &v) < 0)
        return jfail(c, NULL, "'%s' is not a KVM capability number (optionally prefixed by !)", s);
    if (t->ncaps == CPU_TMPL_MAX_CAPS)
        return jfail(c, NULL, "more than %d capabilities", CPU_TMPL_MAX_CAPS);
    t->caps[t->ncaps++] = s[0] == '!' ? -(int64_t)v - 1 : (int64_t)v;
    return 0;
}

static int parse_cpuid_reg(void *arg, struct jctx *c, const json_t *e)
{
    static const char *const fields[] = {"register", "bitmap", NULL};
    static const char *const regs[] = {"eax", "ebx", "ecx", "edx", NULL};
    struct cpuid_modifier *m = arg;
    uint64_t mask, value;
    int r;
    if (jobject(c, e, fields) < 0 || jenum(c, e, "register", true, regs, &r, NULL) < 0 ||
        bitmap_string(c, e, 32, &mask, &value) < 0)
        return -EINVAL;
    m->mask[r] = (uint32_t)mask;
    m->value[r] = (uint32_t)value;
    return 0;
}

static int parse_cpuid_leaf(void *arg, struct jctx *c, const json_t *e)
{
    static const char *const fields[] = {"leaf", "subleaf", "flags", "modifiers", NULL};
    struct cpu_template *t = arg;
    if (t->ncpuid == CPU_TMPL_MAX_CPUID)
        return jfail(c, NULL, "more than %d CPUID modifiers", CPU_TMPL_MAX_CPUID);
    struct cpuid_modifier *m = &t->cpuid[t->ncpuid];
    memset(m, 0, sizeof(*m));
    if (jobject(c, e, fields) < 0 || numeric_string(c, e, "leaf", &m->leaf) < 0 ||
        numeric_string(c, e, "subleaf", &m->subleaf) < 0)
        return -EINVAL;
    json_t *f = json_object_get(e, "flags");
    if (!json_is_integer(f) || json_integer_value(f) < INT32_MIN ||
        json_integer_value(f) > INT32_MAX)
        return jfail(c, "flags", "missing or not a 32-bit integer");
    m->flags = (uint32_t)json_integer_value(f);
    if (!json_is_array(json_object_get(e, "modifiers")))
        return jfail(c, "modifiers", "missing or not an array");
    if (jeach(c, e, "modifiers", parse_cpuid_reg, m) < 0)
        return -EINVAL;
    t->ncpuid++;
    return 0;
}

static int parse_msr(void *arg, struct jctx *c, const json_t *e)
{
    static const char *const fields[] = {"addr", "bitmap", NULL};
    struct cpu_template *t = arg;
    if (t->nmsr == CPU_TMPL_MAX_MSR)
        return jfail(c, NULL, "more than %d MSR modifiers", CPU_TMPL_MAX_MSR);
    struct msr_modifier *m = &t->msr[t->nmsr];
    if (jobject(c, e, fields) < 0 || numeric_string(c, e, "addr", &m->addr) < 0 ||
        bitmap_string(c, e, 64, &m->mask, &m->value) < 0)
        return -EINVAL;
    t->nmsr++;
    return 0;
}

int api_parse_cpu_config(const json_t *o, struct jctx *c, struct cpu_template *t)
{
    static const char *const fields[] = {"kvm_capabilities", "cpuid_modifiers", "msr_modifiers",
                                         "reg_modifiers",    "vcpu_features",   NULL};
    static const char *const arm[] = {"reg_modifiers", "vcpu_features"};
    memset(t, 0, sizeof(*t));
    if (jobject(c, o, fields) < 0)
        return -EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(arm); i++) {
        json_t *a = json_object_get(o, arm[i]);
        if (a && !(json_is_array(a) && json_array_size(a) == 0))
            return jfail(c, arm[i], "aarch64 only; not valid on x86_64");
    }
    if (jeach(c, o, "kvm_capabilities", parse_capability, t) < 0 ||
        jeach(c, o, "cpuid_modifiers", parse_cpuid_leaf, t) < 0 ||
        jeach(c, o, "msr_modifiers", parse_msr, t) < 0)
        return -EINVAL;
    return 0;
}

int api_put_cpu_config(struct api *api, const json_t *o, struct jctx *c)
{
    struct cpu_template *t = malloc(sizeof(*t));
    if (!t)
        return jfail(c, NULL, "out of memory");
    json_t *copy = NULL;
    int rc = api_parse_cpu_config(o, c, t);
    if (!rc && !(copy = json_deep_copy(o)))
        rc = jfail(c, NULL, "out of memory");
    if (!rc) {
        json_decref(api->cpu_config);
        api->cpu_config = copy; /* echoed by GET /vm/config */
        api->cfg.cpu_template = *t;
        api->static_template = 0; /* a custom template replaces a static one */
    }
    free(t);
    return rc;
}
