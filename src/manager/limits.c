/* limits.c — per-VM cgroup v2 limits: checked at create, written into the VM's cgroup (cpu.max,
 * memory.max, io.weight) before its truce process runs, and read back for the API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/mgr.h"

#define CPU_PERIOD_US 100000

int limits_check(json_t *l, int64_t mem_mib, struct answer *a)
{
    if (!l)
        return 0;
    if (!json_is_object(l))
        return fail(a, 400, "limits: not an object {\"cpus\", \"memory_max_mib\", \"io_weight\"}");
    const char *k;
    json_t *v;
    json_object_foreach(l, k, v)
    {
        if (!strcmp(k, "cpus")) {
            double c = json_number_value(v);
            if (!json_is_number(v) || c < 0.01 || c > 1024)
                return fail(a, 400, "limits.cpus: not a number of CPUs in 0.01..1024");
        } else if (!strcmp(k, "memory_max_mib")) {
            if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return fail(a, 400, "limits.memory_max_mib: not a positive integer");
            if (json_integer_value(v) < mem_mib)
                return fail(a, 400,
                            "limits.memory_max_mib: %lld is below the guest's mem_size_mib %lld "
                            "(the VM would be killed once its guest touched its memory)",
                            (long long)json_integer_value(v), (long long)mem_mib);
        } else if (!strcmp(k, "io_weight")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10000)
                return fail(a, 400, "limits.io_weight: not an integer in 1..10000");
        } else {
            return fail(a, 400, "limits.%s: unknown field (cpus, memory_max_mib, io_weight)", k);
        }
    }
    return 0;
}

/* Write S to DIR/FILE; -errno (-ENOENT: the controller is not enabled there). */
static int put(const char *dir, const char *file, const char *s)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    FILE *f = fopen(p, "we");
    if (!f)
        return -errno;
    int rc = fputs(s, f) < 0 ? -EIO : 0;
    if (fclose(f) && !rc)
        rc = -errno;
    return rc;
}

int limits_apply(struct mgr *m, const struct vm_row *v, struct answer *a)
{
    json_t *l = json_loads(v->limits[0] ? v->limits : "{}", 0, NULL);
    int rc = 0;
    if (!l || !json_object_size(l)) {
        json_decref(l);
        return 0;
    }
    if (!m->cg_parent[0]) {
        json_decref(l);
        return fail(a, 409, "limits: VM '%s' has limits but truced has no cgroup v2 parent (%s)",
                    v->name, m->cg_why);
    }
    char dir[sizeof(m->cg_parent) + VM_NAME_MAX + 2], val[64];
    snprintf(dir, sizeof(dir), "%s/%s", m->cg_parent, v->name);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        json_decref(l);
        return fail(a, 500, "limits: mkdir %s: %s", dir, strerror(errno));
    }
    /* The controllers a child of the parent gets: the parent's cgroup.subtree_control. */
    char sub[sizeof(m->cg_parent) + 32], ctls[256] = "";
    snprintf(sub, sizeof(sub), "%s/cgroup.subtree_control", m->cg_parent);
    FILE *f = fopen(sub, "re");
    if (f && fgets(ctls, sizeof(ctls), f))
        ctls[strcspn(ctls, "\n")] = 0;
    if (f)
        fclose(f);
    static const struct {
        const char *key, *file, *ctl;
    } map[] = {{"cpus", "cpu.max", "cpu"},
               {"memory_max_mib", "memory.max", "memory"},
               {"io_weight", "io.weight", "io"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]) && !rc; i++) {
        json_t *x = json_object_get(l, map[i].key);
        if (!x)
            continue;
        if (i == 0)
            snprintf(val, sizeof(val), "%lld %d", (long long)(json_number_value(x) * CPU_PERIOD_US),
                     CPU_PERIOD_US);
        else if (i == 1)
            snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(x) << 20);
        else
            snprintf(val, sizeof(val), "default %lld", (long long)json_integer_value(x));
        bool on = false;
        char words[sizeof(ctls)], *save;
        snprintf(words, sizeof(words), "%s", ctls);
        for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
            on |= !strcmp(w, map[i].ctl);
        int e = on ? put(dir, map[i].file, val) : -ENOENT;
        if (e == -ENOENT)
            rc = fail(a, 409,
                      "limits.%s: the %s controller is not enabled in %s (its "
                      "cgroup.subtree_control: '%s')",
                      map[i].key, map[i].ctl, m->cg_parent, ctls);
        else if (e < 0)
            rc = fail(a, 409, "limits.%s: writing '%s' to %s/%s: %s", map[i].key, val, dir,
                      map[i].file, strerror(-e));
    }
    json_decref(l);
    return rc;
}

json_t *limits_json(const struct vm_row *v)
{
    json_t *l = json_loads(v->limits[0] ? v->limits : "{}", 0, NULL);
    return l ? l : json_object();
}
