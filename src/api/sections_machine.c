/* sections_machine.c — boot-source, machine-config and cpu-config objects into the api state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_int.h"
#include "platform/cpu_template.h"

const char *const api_huge_pages[] = {"None", "Transparent", "2M", NULL};
static const char *const cpu_templates[] = {"None", "C3", "T2", "T2S", "T2CL", "T2A", "V1N1", NULL};

/* A path member that must name a readable file. */
static int readable(const struct jctx *c, const char *field, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0 || access(path, R_OK) < 0)
        return jfail(c, field, "cannot read '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return jfail(c, field, "'%s' is not a regular file", path);
    return 0;
}

/* truce's extension: "firmware" ("seabios", "ovmf" or a path) boots through firmware, which then
 * gets the kernel (optional) by fw_cfg; "firmware_vars" is OVMF's variable store. */
static int boot_firmware(const struct jctx *c, const char *fw, const char *vars, char *out,
                         size_t outlen)
{
    if (!fw[0])
        return vars[0] ? jfail(c, "firmware_vars", "needs firmware") : 0;
    const char *path = !strcmp(fw, "seabios") ? CFG_FIRMWARE_SEABIOS
                       : !strcmp(fw, "ovmf")  ? CFG_FIRMWARE_OVMF
                                              : fw;
    if (readable(c, "firmware", path) < 0)
        return -EINVAL;
    if (vars[0] && readable(c, "firmware_vars", vars) < 0)
        return -EINVAL;
    snprintf(out, outlen, "%s", path);
    return 0;
}

int api_put_boot_source(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"kernel_image_path", "initrd_path",   "boot_args",
                                         "firmware",          "firmware_vars", NULL};
    struct vm_config *cfg = &api->cfg;
    char kernel[PATH_MAX] = "", initrd[PATH_MAX] = "", args[CFG_CMDLINE_LEN] = "";
    char fw[PATH_MAX] = "", vars[PATH_MAX] = "", fwpath[PATH_MAX] = "";
    bool have_initrd, have_args, have_fw;
    if (jobject(c, o, fields) < 0 ||
        jstring(c, o, "firmware", false, fw, sizeof(fw), &have_fw) < 0 ||
        jstring(c, o, "firmware_vars", false, vars, sizeof(vars), NULL) < 0 ||
        jstring(c, o, "kernel_image_path", !have_fw, kernel, sizeof(kernel), NULL) < 0 ||
        jstring(c, o, "initrd_path", false, initrd, sizeof(initrd), &have_initrd) < 0 ||
        jstring(c, o, "boot_args", false, args, sizeof(args), &have_args) < 0)
        return -EINVAL;
    if (!kernel[0] && !fw[0])
        return jfail(c, "kernel_image_path", "must not be empty");
    if (kernel[0] && readable(c, "kernel_image_path", kernel) < 0)
        return -EINVAL;
    if (have_initrd && initrd[0] && readable(c, "initrd_path", initrd) < 0)
        return -EINVAL;
    if (boot_firmware(c, fw, vars, fwpath, sizeof(fwpath)) < 0)
        return -EINVAL;
    memcpy(cfg->kernel, kernel, sizeof(kernel));
    memcpy(cfg->initrd, have_initrd ? initrd : "", have_initrd ? sizeof(initrd) : 1);
    memcpy(cfg->cmdline, have_args ? args : "", have_args ? sizeof(args) : 1);
    cfg->cmdline_set = have_args;
    memcpy(cfg->firmware, fwpath, sizeof(fwpath));
    memcpy(cfg->firmware_vars, vars, sizeof(vars));
    api->boot_source_set = true;
    return 0;
}

/* The machine-config fields after a PUT or PATCH, checked together before anything changes. */
struct machine {
    uint64_t vcpus, mem_mib;
    bool smt, dirty;
    int huge, tmpl;
};

static int machine_check(const struct jctx *c, const struct machine *m)
{
    if (m->smt && m->vcpus > 1 && m->vcpus % 2)
        return jfail(c, "vcpu_count", "must be 1 or even when smt is enabled (got %llu)",
                     (unsigned long long)m->vcpus);
    if (m->tmpl == 6)
        return jfail(c, "cpu_template", "V1N1 is an aarch64 template; this is x86_64");
    if (m->huge == 2 && m->mem_mib % 2)
        return jfail(c, "mem_size_mib", "must be a multiple of 2 with 2M huge pages");
    return 0;
}

/* machine-config's cpu_template: Firecracker's static template TMPL (an index into
 * cpu_templates; 0 None) replaces any template, if this host is a CPU it is made for. */
static int apply_static_template(struct api *api, const struct jctx *c, int tmpl)
{
    struct cpu_template *t = calloc(1, sizeof(*t));
    char why[240];
    if (!t)
        return jfail(c, NULL, "out of memory");
    int rc = tmpl ? cpu_template_static(cpu_templates[tmpl], t, why, sizeof(why)) : 0;
    if (rc)
        rc = jfail(c, "cpu_template", "%s", why);
    else if (tmpl || api->static_template) {
        api->cfg.cpu_template = *t; /* None clears a static template, not a custom one */
        json_decref(api->cpu_config);
        api->cpu_config = NULL;
        api->static_template = tmpl;
    }
    free(t);
    return rc;
}

const char *api_static_template_name(const struct api *api)
{
    return cpu_templates[api->static_template];
}

int api_put_machine(struct api *api, const json_t *o, bool patch, struct jctx *c)
{
    static const char *const fields[] = {"vcpu_count",   "mem_size_mib", "smt", "track_dirty_pages",
                                         "cpu_template", "huge_pages",   NULL};
    struct vm_config *cfg = &api->cfg;
    struct machine m = {.vcpus = 1, .mem_mib = 128};
    if (patch) {
        m = (struct machine){cfg->cpus,        cfg->mem_bytes >> 20, cfg->smt,
                             cfg->track_dirty, api->huge_pages,      0};
    }
    bool s1, s2, s3, s4, s5, s6;
    if (jobject(c, o, fields) < 0 ||
        juint(c, o, "vcpu_count", !patch, 1, MIN(API_MAX_VCPUS, CFG_MAX_CPUS), &m.vcpus, &s1) < 0 ||
        juint(c, o, "mem_size_mib", !patch, CFG_MIN_MEM >> 20, CFG_MAX_MEM >> 20, &m.mem_mib, &s2) <
            0 ||
        jbool(c, o, "smt", false, &m.smt, &s3) < 0 ||
        jbool(c, o, "track_dirty_pages", false, &m.dirty, &s4) < 0 ||
        jenum(c, o, "cpu_template", false, cpu_templates, &m.tmpl, &s5) < 0 ||
        jenum(c, o, "huge_pages", false, api_huge_pages, &m.huge, &s6) < 0)
        return -EINVAL;
    if (patch && !(s1 || s2 || s3 || s4 || s5 || s6))
        return jfail(c, NULL, "empty PATCH request: give at least one field");
    if (machine_check(c, &m) < 0 || (s5 && apply_static_template(api, c, m.tmpl) < 0))
        return -EINVAL;
    cfg->cpus = m.vcpus;
    cfg->mem_bytes = m.mem_mib << 20;
    cfg->smt = m.smt;
    cfg->hugepages = m.huge == 2;
    cfg->thp = m.huge == 1;
    api->huge_pages = m.huge;
    cfg->track_dirty = m.dirty;
    return 0;
}
