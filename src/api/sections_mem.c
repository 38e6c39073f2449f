/* sections_mem.c — memory devices in the API: pmem objects (PUT/PATCH /pmem/{id}, config files). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"

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
