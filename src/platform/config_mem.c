/* config_mem.c — memory devices in the configuration: --pmem, --memory-hotplug and their checks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/config.h"
#include "util/util.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

static int pmem_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
    struct pmem_config *p = ctx;
    if (!strcmp(k, "path") || (!*v && !p->path[0] && strcmp(k, "ro") && strcmp(k, "root"))) {
        if (str_copy(p->path, sizeof(p->path), *v ? v : k))
            return ERR("--pmem: path too long");
    } else if (!strcmp(k, "ro") || !strcmp(k, "readonly")) {
        if (config_parse_bool(*v ? v : "on", &p->readonly))
            return ERR("--pmem: ro=%s: expected on or off", v);
    } else if (!strcmp(k, "root")) {
        if (config_parse_bool(*v ? v : "on", &p->is_root))
            return ERR("--pmem: root=%s: expected on or off", v);
    } else if (!strcmp(k, "id")) {
        if (!*v || str_copy(p->id, sizeof(p->id), v))
            return ERR("--pmem: id=%s: 1 to %d characters", v, CFG_ID_LEN - 1);
    } else {
        return ERR("--pmem: unknown key '%s' (expected path, ro, root, id)", k);
    }
    return 0;
}

int config_parse_pmem(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    if (cfg->npmem >= CFG_MAX_PMEM)
        return ERR("--pmem: at most %d devices", CFG_MAX_PMEM);
    struct pmem_config p = {0};
    int rc = config_parse_kv(spec, "--pmem", pmem_kv, &p, err, errlen);
    if (rc)
        return rc;
    if (!p.path[0])
        return ERR("--pmem: missing path=FILE");
    if (!p.id[0])
        snprintf(p.id, sizeof(p.id), "pmem%u", cfg->npmem);
    cfg->pmem[cfg->npmem++] = p;
    return 0;
}

static int memhp_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
    struct memhp_config *m = ctx;
    uint64_t *dst = !strcmp(k, "size")        ? &m->total_bytes
                    : !strcmp(k, "block")     ? &m->block_bytes
                    : !strcmp(k, "slot")      ? &m->slot_bytes
                    : !strcmp(k, "requested") ? &m->requested_bytes
                                              : NULL;
    if (!dst)
        return ERR("--memory-hotplug: unknown key '%s' (expected size, block, slot, requested)", k);
    if (parse_size(v, dst))
        return ERR("--memory-hotplug: %s=%s: not a size (e.g. 2M, 1G)", k, v);
    return 0;
}

int config_parse_memhp(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct memhp_config m = {.block_bytes = 2 * MiB, .slot_bytes = 128 * MiB};
    int rc = config_parse_kv(spec, "--memory-hotplug", memhp_kv, &m, err, errlen);
    if (rc)
        return rc;
    if (!m.total_bytes)
        return ERR("--memory-hotplug: missing size=SIZE (the most that can be plugged)");
    cfg->memhp = m;
    return config_check_memhp(&m, err, errlen);
}

int config_check_memhp(const struct memhp_config *m, char *err, size_t errlen)
{
    uint64_t b = m->block_bytes, s = m->slot_bytes;
    if (b < 2 * MiB || (b & (b - 1)))
        return ERR("hotplug memory: block size %llu KiB: must be a power of 2 of at least 2 MiB",
                   (unsigned long long)(b / KiB));
    if (s < 128 * MiB || s % b)
        return ERR("hotplug memory: slot size %llu KiB: must be at least 128 MiB and a multiple "
                   "of the block size",
                   (unsigned long long)(s / KiB));
    if (m->total_bytes > CFG_MAX_HOTPLUG || m->total_bytes % s)
        return ERR("hotplug memory: total size %llu KiB: must be a multiple of the slot size "
                   "(%llu MiB), at most 1 TiB",
                   (unsigned long long)(m->total_bytes / KiB), (unsigned long long)(s / MiB));
    if (m->requested_bytes > m->total_bytes || m->requested_bytes % b)
        return ERR("hotplug memory: requested size %llu KiB: must be a multiple of the block "
                   "size and at most the total size",
                   (unsigned long long)(m->requested_bytes / KiB));
    return 0;
}

/* PATH can back a pmem device: a non-empty regular file, openable as asked. */
static int check_pmem_file(const struct pmem_config *p, char *err, size_t errlen)
{
    struct stat st;
    if (stat(p->path, &st) < 0 || access(p->path, p->readonly ? R_OK : R_OK | W_OK) < 0)
        return ERR("pmem '%s': %s: %s", p->id, p->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ERR("pmem '%s': %s: not a regular file", p->id, p->path);
    if (st.st_size == 0)
        return ERR("pmem '%s': %s: the file is empty", p->id, p->path);
    if ((uint64_t)st.st_size > CFG_MAX_HOTPLUG)
        return ERR("pmem '%s': %s: larger than 1 TiB", p->id, p->path);
    return 0;
}

int config_validate_memdev(const struct vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->npmem > CFG_MAX_PMEM)
        return ERR("pmem: at most %d devices", CFG_MAX_PMEM);
    for (unsigned i = 0; i < cfg->npmem; i++) {
        const struct pmem_config *p = &cfg->pmem[i];
        int rc = check_pmem_file(p, err, errlen);
        if (rc)
            return rc;
        for (unsigned j = 0; j < i; j++) {
            if (!strcmp(cfg->pmem[j].id, p->id))
                return ERR("pmem id '%s' used twice", p->id);
            if (p->is_root && cfg->pmem[j].is_root)
                return ERR("pmem '%s': a root device already exists (pmem '%s')", p->id,
                           cfg->pmem[j].id);
        }
        for (unsigned j = 0; p->is_root && j < cfg->ndisks; j++)
            if (cfg->disks[j].is_root)
                return ERR("pmem '%s': a root device already exists (drive '%s')", p->id,
                           cfg->disks[j].id);
    }
    if (cfg->memhp.total_bytes)
        return config_check_memhp(&cfg->memhp, err, errlen);
    return 0;
}
