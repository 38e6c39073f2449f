/* sections_mem.c — memory devices in the API: pmem objects (PUT/PATCH /pmem/{id}, config files)
 * and the hotplug memory (PUT/PATCH/GET /hotplug/memory, the config file's memory-hotplug). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"
#include "virtio/mem.h"

/* The VM exists and runs (or is paused): its devices answer. */
static bool vm_live(const struct api *api)
{
    return api->vm && (api->state == API_VM_RUNNING || api->state == API_VM_PAUSED);
}

static int find_pmem(const struct vm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->npmem; i++)
        if (!strcmp(cfg->pmem[i].id, id))
            return (int)i;
    return -1;
}

int api_put_pmem(struct api *api, const json_t *o, const char *id, struct jctx *c)
{
    static const char *const fields[] = {"id",        "path_on_host", "root_device",
                                         "read_only", "rate_limiter", NULL};
    struct pmem_config p = {0};
    if (jobject(c, o, fields) < 0 || jstring(c, o, "id", true, p.id, sizeof(p.id), NULL) < 0 ||
        api_check_id(c, "id", p.id, id) < 0 ||
        jstring(c, o, "path_on_host", true, p.path, sizeof(p.path), NULL) < 0 ||
        jbool(c, o, "root_device", false, &p.is_root, NULL) < 0 ||
        jbool(c, o, "read_only", false, &p.readonly, NULL) < 0 ||
        api_rate_limiter_refused(c, o, "rate_limiter") < 0)
        return -EINVAL;
    if (access(p.path, R_OK | (p.readonly ? 0 : W_OK)) < 0)
        return jfail(c, "path_on_host", "cannot open '%s' for %s: %s", p.path,
                     p.readonly ? "reading" : "reading and writing", strerror(errno));
    struct vm_config *cfg = &api->cfg;
    int i = find_pmem(cfg, p.id);
    for (unsigned j = 0; p.is_root && j < cfg->npmem; j++)
        if ((int)j != i && cfg->pmem[j].is_root)
            return jfail(c, "root_device", "a root device already exists (pmem '%s')",
                         cfg->pmem[j].id);
    for (unsigned j = 0; p.is_root && j < cfg->ndisks; j++)
        if (cfg->disks[j].is_root)
            return jfail(c, "root_device", "a root device already exists (drive '%s')",
                         cfg->disks[j].id);
    if (i < 0 && cfg->npmem >= CFG_MAX_PMEM)
        return jfail(c, "id", "too many pmem devices (at most %d)", CFG_MAX_PMEM);
    cfg->pmem[i < 0 ? cfg->npmem++ : (unsigned)i] = p;
    return 0;
}

int api_patch_pmem(struct api *api, const json_t *o, const char *id, struct jctx *c)
{
    static const char *const fields[] = {"id", "rate_limiter", NULL};
    char pid[CFG_ID_LEN];
    if (jobject(c, o, fields) < 0 || jstring(c, o, "id", true, pid, sizeof(pid), NULL) < 0 ||
        api_check_path_id(c, "id", pid, id) < 0 ||
        api_rate_limiter_refused(c, o, "rate_limiter") < 0)
        return -EINVAL;
    if (find_pmem(&api->cfg, pid) < 0)
        return jfail(c, "id", "no pmem device '%s'", pid);
    return 0; /* no limiter given: nothing changes */
}

json_t *api_export_pmem(const struct api *api)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < api->cfg.npmem; i++) {
        const struct pmem_config *p = &api->cfg.pmem[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:b}", "id", p->id, "path_on_host",
                                           p->path, "root_device", p->is_root, "read_only",
                                           p->readonly));
    }
    return a;
}

int api_put_memory_hotplug(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"total_size_mib", "slot_size_mib", "block_size_mib", NULL};
    uint64_t total, slot = 128, block = 2;
    if (jobject(c, o, fields) < 0 ||
        juint(c, o, "total_size_mib", true, 0, UINT32_MAX, &total, NULL) < 0 ||
        juint(c, o, "slot_size_mib", false, 128, UINT32_MAX, &slot, NULL) < 0 ||
        juint(c, o, "block_size_mib", false, 2, UINT32_MAX, &block, NULL) < 0)
        return -EINVAL;
    struct memhp_config m = {
        .total_bytes = total * MiB, .slot_bytes = slot * MiB, .block_bytes = block * MiB};
    char why[API_ERR_LEN];
    if (config_check_memhp(&m, why, sizeof(why)) < 0)
        return jfail(c, NULL, "%s", why);
    api->cfg.memhp = m; /* the region starts unplugged, as Firecracker's */
    return 0;
}

int api_patch_memory_hotplug(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"requested_size_mib", NULL};
    uint64_t req;
    if (jobject(c, o, fields) < 0 ||
        juint(c, o, "requested_size_mib", true, 0, UINT32_MAX, &req, NULL) < 0)
        return -EINVAL;
    struct memhp_config *m = &api->cfg.memhp;
    if (!m->total_bytes)
        return jfail(c, NULL, "no hotplug memory is configured (PUT /hotplug/memory first)");
    char why[API_ERR_LEN];
    struct memhp_config want = *m;
    want.requested_bytes = req * MiB;
    if (config_check_memhp(&want, why, sizeof(why)) < 0)
        return jfail(c, "requested_size_mib", "%s", why);
    if (vm_live(api) && virtio_mem_request(api->vm, want.requested_bytes, why, sizeof(why)) < 0)
        return jfail(c, "requested_size_mib", "%s", why);
    *m = want;
    return 0;
}

json_t *api_export_memory_hotplug(const struct api *api)
{
    const struct memhp_config *m = &api->cfg.memhp;
    struct virtio_mem_status s = {.plugged_size = 0, .requested_size = m->requested_bytes};
    if (!m->total_bytes)
        return NULL;
    if (vm_live(api))
        virtio_mem_status(api->vm, &s);
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I}", "total_size_mib", (json_int_t)(m->total_bytes / MiB),
        "slot_size_mib", (json_int_t)(m->slot_bytes / MiB), "block_size_mib",
        (json_int_t)(m->block_bytes / MiB), "plugged_size_mib", (json_int_t)(s.plugged_size / MiB),
        "requested_size_mib", (json_int_t)(s.requested_size / MiB));
}
