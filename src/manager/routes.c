/* routes.c — truced's REST API (/v1): validation of requests and dispatch to the VM operations. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "manager/hclient.h"
#include "manager/mgr.h"
#include "manager/routes.h"

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n >= VM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '-' || s[i] == '_' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

/* Refuse fields of O not in ALLOWED: 0 or fills A. */
static int only_fields(json_t *o, const char *const *allowed, const char *where, struct answer *a)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool ok = false;
        for (int i = 0; allowed[i]; i++)
            ok |= !strcmp(allowed[i], k);
        if (!ok)
            return fail(a, 400, "%s%s: unknown field", where, k);
    }
    return 0;
}

/* The parts of a definition truced itself needs; truce checks the rest when it starts. */
static int check_config(json_t *c, int64_t *mem, struct answer *a)
{
    if (!json_is_object(c))
        return fail(a, 400, "config: must be an object (truce's --config-file JSON)");
    json_t *bs = json_object_get(c, "boot-source");
    if (!json_is_object(bs) && !json_object_get(c, "snapshot"))
        return fail(a, 400, "config.boot-source: missing (an object with kernel_image_path)");
    if (bs && !json_is_string(json_object_get(bs, "kernel_image_path")))
        return fail(a, 400, "config.boot-source.kernel_image_path: missing or not a string");
    json_t *mc = json_object_get(c, "machine-config"), *ms = json_object_get(mc, "mem_size_mib");
    if (mc && !json_is_object(mc))
        return fail(a, 400, "config.machine-config: not an object");
    if (ms && (!json_is_integer(ms) || json_integer_value(ms) <= 0))
        return fail(a, 400, "config.machine-config.mem_size_mib: not a positive integer");
    *mem = ms ? json_integer_value(ms) : 128; /* Firecracker's default */
    return 0;
}

/* fsync the directory PATH (its new entries survive a power cut). */
static int sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 || fsync(fd) < 0 ? -errno : 0;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Write NAME's vm.json, on disk (file and directory entries) before the answer: the database
 * commits durably, so a power cut must not leave a definition whose file is lost. */
static int write_config(struct mgr *m, const char *name, const char *text)
{
    char p[PATH_MAX], d[PATH_MAX];
    snprintf(d, sizeof(d), "%s/vms/%s", m->state_dir, name);
    if (mkdir(d, 0750) < 0 && errno != EEXIST)
        return -errno;
    snprintf(p, sizeof(p), "%s/vm.json", d);
    FILE *f = fopen(p, "we");
    if (!f)
        return -errno;
    fputs(text, f);
    int rc = fflush(f) || fsync(fileno(f)) ? -errno : 0;
    if (fclose(f) && !rc)
        rc = -errno;
    if (!rc)
        rc = sync_dir(d);
    snprintf(d, sizeof(d), "%s/vms", m->state_dir);
    return rc ? rc : sync_dir(d);
}

int route_create(struct mgr *m, json_t *body, struct answer *a)
{
    static const char *const fields[] = {"name", "config", "autostart", "limits", NULL};
    if (!json_is_object(body))
        return fail(a, 400,
                    "body: must be a JSON object {\"name\", \"config\", \"autostart\", "
                    "\"limits\"}");
    if (only_fields(body, fields, "", a) < 0)
        return -1;
    json_t *jn = json_object_get(body, "name"), *as = json_object_get(body, "autostart");
    if (!json_is_string(jn) || !valid_name(json_string_value(jn)))
        return fail(a, 400, "name: missing, or not 1-63 characters of [A-Za-z0-9_-]");
    if (as && !json_is_boolean(as))
        return fail(a, 400, "autostart: not a boolean");
    struct vm_row v = {0};
    snprintf(v.name, sizeof(v.name), "%s", json_string_value(jn));
    if (check_config(json_object_get(body, "config"), &v.mem_mib, a) < 0 ||
        limits_check(json_object_get(body, "limits"), v.mem_mib, a) < 0)
        return -1;
    char *lim = json_dumps(json_object_get(body, "limits"), JSON_COMPACT);
    if (lim && strlen(lim) >= sizeof(v.limits)) {
        free(lim);
        return fail(a, 400, "limits: longer than %zu bytes", sizeof(v.limits) - 1);
    }
    snprintf(v.limits, sizeof(v.limits), "%s", lim ? lim : "{}");
    free(lim);
    v.config = json_dumps(json_object_get(body, "config"), JSON_INDENT(1));
    snprintf(v.state, sizeof(v.state), "defined");
    snprintf(v.desired, sizeof(v.desired), "stopped");
    v.autostart = json_is_true(as);
    /* vm.json first, then the row (under the lock, the name checked free first): a truced
     * killed between the two leaves a stray file the next create of that name overwrites, never
     * a row whose definition file is missing (its start would fail). */
    crash_point("create-begin");
    struct vm_row got;
    pthread_mutex_lock(&m->lock);
    int rc = db_get(m->db, v.name, &got);
    if (!rc)
        free(got.config);
    rc = rc == -ENOENT ? 0 : rc ? rc : -EEXIST;
    if (!rc && (rc = write_config(m, v.name, v.config)) < 0) {
        pthread_mutex_unlock(&m->lock);
        free(v.config);
        return fail(a, 500, "writing the definition: %s", strerror(-rc));
    }
    crash_point("create-file");
    if (!rc)
        rc = db_create(m->db, &v);
    pthread_mutex_unlock(&m->lock);
    crash_point("create-row");
    free(v.config);
    if (rc == -EEXIST)
        return fail(a, 409, "name: a VM named '%s' exists", v.name);
    if (rc < 0)
        return fail(a, 500, "database: %s", strerror(-rc));
    db_get(m->db, v.name, &got);
    a->status = 201;
    a->body = vm_json(m, &got, false);
    free(got.config);
    return 0;
}

static int list(struct mgr *m, struct answer *a)
{
    struct vm_row *rows;
    size_t n;
    if (db_list(m->db, &rows, &n) < 0)
        return fail(a, 500, "database read failed");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, vm_json(m, &rows[i], false));
    db_free_rows(rows, n);
    a->status = 200;
    a->body = json_pack("{s:o}", "vms", arr);
    return 0;
}

static int host(struct mgr *m, struct answer *a)
{
    a->status = 200;
    a->body =
        json_pack("{s:I, s:f, s:s, s:s}", "host_mem_mib", (json_int_t)m->host_mem_mib, "overcommit",
                  m->overcommit, "cgroup_parent", m->cg_parent, "cgroup_why", m->cg_why);
    return 0;
}

/* Body fields of the per-VM actions. */
static int action(struct mgr *m, const char *name, const char *act, json_t *body, struct answer *a)
{
    static const char *const stop_f[] = {"force", "timeout_ms", NULL};
    static const char *const dir_f[] = {"dir", NULL};
    static const char *const none[] = {NULL};
    static const char *const mig_f[] = {"to", "token", "listen", "max_downtime_ms", NULL};
    bool is_mig = !strcmp(act, "migrate");
    bool is_stop = !strcmp(act, "stop"),
         has_dir = !strcmp(act, "snapshot") || !strcmp(act, "restore");
    if (body && !json_is_object(body))
        return fail(a, 400, "body: must be a JSON object");
    if (body && only_fields(body,
                            is_stop   ? stop_f
                            : has_dir ? dir_f
                            : is_mig  ? mig_f
                                      : none,
                            "", a) < 0)
        return -1;
    json_t *force = json_object_get(body, "force"), *to = json_object_get(body, "timeout_ms");
    json_t *dir = json_object_get(body, "dir");
    if (force && !json_is_boolean(force))
        return fail(a, 400, "force: not a boolean");
    if (to &&
        (!json_is_integer(to) || json_integer_value(to) < 0 || json_integer_value(to) > 600000))
        return fail(a, 400, "timeout_ms: not an integer in 0..600000");
    if (has_dir && (!json_is_string(dir) || json_string_value(dir)[0] != '/'))
        return fail(a, 400, "dir: missing or not an absolute path");
    json_t *mdt = json_object_get(body, "max_downtime_ms");
    if (is_mig && mdt &&
        (!json_is_integer(mdt) || json_integer_value(mdt) < 1 || json_integer_value(mdt) > 60000))
        return fail(a, 400, "max_downtime_ms: not an integer in 1..60000");
    if (is_mig && json_object_get(body, "token") && !json_is_string(json_object_get(body, "token")))
        return fail(a, 400, "token: not a string");
    if (mgr_busy_take(m, name) < 0)
        return fail(a, 409, "VM '%s' is busy with another operation", name);
    char step[48];
    snprintf(step, sizeof(step), "%s-begin", act); /* e.g. "stop-begin": nothing done yet */
    crash_point(step);
    int rc;
    a->status = 200;
    if (!strcmp(act, "start"))
        rc = vm_start(m, name, a);
    else if (is_stop)
        rc = vm_stop(m, name, json_is_true(force), to ? json_integer_value(to) : 10000, a);
    else if (!strcmp(act, "pause") || !strcmp(act, "resume"))
        rc = vm_pause(m, name, !strcmp(act, "pause"), a);
    else if (!strcmp(act, "snapshot"))
        rc = vm_snapshot(m, name, json_string_value(dir), a);
    else if (!strcmp(act, "restore"))
        rc = vm_restore(m, name, json_string_value(dir), a);
    else if (is_mig)
        rc = vm_migrate(m, name, body, a);
    else
        rc = fail(a, 404, "no action '%s' (start, stop, pause, resume, snapshot, restore, migrate)",
                  act);
    mgr_busy_drop(m, name);
    if (rc >= 0 && !a->body) {
        struct vm_row v;
        if (!db_get(m->db, name, &v)) {
            a->body = vm_json(m, &v, false);
            free(v.config);
        }
    }
    return rc;
}

/* The screen of a VM with a display as PNG, from truce's GET /display/screenshot. */
static int screenshot(struct mgr *m, const struct vm_row *v, struct answer *a)
{
    if (strcmp(v->state, "running") && strcmp(v->state, "paused"))
        return fail(a, 409, "VM '%s' is %s: a screenshot needs it running or paused", v->name,
                    v->state);
    struct hc_reply r = {0};
    int rc = hc_request(v->sock, "GET", "/display/screenshot", NULL, NULL, 10000, &r);
    if (rc < 0)
        return fail(a, 502, "VM '%s': truce's API: %s", v->name, strerror(-rc));
    if (r.status != 200) {
        json_t *j = json_loads(r.body, 0, NULL);
        const char *why = json_string_value(json_object_get(j, "fault_message"));
        fail(a, r.status == 400 ? 409 : 502, "VM '%s': %s", v->name, why ? why : "no screenshot");
        json_decref(j);
        free(r.body);
        return -1;
    }
    a->status = 200;
    a->raw = r.body;
    a->raw_len = r.len;
    a->ctype = "image/png";
    (void)m;
    return 0;
}

static int one_vm(struct mgr *m, const char *method, const char *name, const char *sub,
                  json_t *body, struct answer *a)
{
    struct vm_row v;
    if (!valid_name(name))
        return fail(a, 400, "name: '%s' is not 1-63 characters of [A-Za-z0-9_-]", name);
    if (!sub && !strcmp(method, "DELETE")) {
        if (mgr_busy_take(m, name) < 0)
            return fail(a, 409, "VM '%s' is busy with another operation", name);
        crash_point("delete-begin");
        int rc = vm_delete(m, name, a);
        mgr_busy_drop(m, name);
        return rc;
    }
    if (!strcmp(method, "GET") && sub && !strcmp(sub, "screenshot")) {
        if (db_get(m->db, name, &v) < 0)
            return fail(a, 404, "no VM named '%s'", name);
        int rc = screenshot(m, &v, a);
        free(v.config);
        return rc;
    }
    if (!strcmp(method, "GET") && sub && (!strcmp(sub, "console") || !strcmp(sub, "vnc")))
        return fail(a, 400, "%s: a WebSocket endpoint (Upgrade: websocket)", sub);
    if (!strcmp(method, "GET") && (!sub || !strcmp(sub, "metrics"))) {
        if (db_get(m->db, name, &v) < 0)
            return fail(a, 404, "no VM named '%s'", name);
        a->status = 200;
        a->body = sub ? vm_metrics(m, &v) : vm_json(m, &v, true);
        free(v.config);
        return 0;
    }
    if (sub && !strcmp(method, "POST")) {
        if (db_get(m->db, name, &v) < 0)
            return fail(a, 404, "no VM named '%s'", name);
        free(v.config);
        return action(m, name, sub, body, a);
    }
    return fail(a, 405, "%s is not allowed here", method);
}

/* ?since=ID&wait_ms=MS (both optional, any order). */
static int events_query(const char *q, long long *since, long long *wait_ms, struct answer *a)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", q ? q : "");
    for (char *save, *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '='), *end;
        if (!eq)
            return fail(a, 400, "query: '%s' is not KEY=VALUE", kv);
        *eq = 0;
        long long v = strtoll(eq + 1, &end, 10);
        if (!eq[1] || *end || v < 0)
            return fail(a, 400, "%s: not a non-negative integer", kv);
        if (!strcmp(kv, "since"))
            *since = v;
        else if (!strcmp(kv, "wait_ms") && v <= 60000)
            *wait_ms = v;
        else
            return fail(a, 400, "%s: unknown query field (since, wait_ms <= 60000)", kv);
    }
    return 0;
}

void route(struct mgr *m, const char *method, const char *path, const char *query, const char *raw,
           size_t raw_len, struct answer *a)
{
    json_t *body = NULL;
    if (raw_len) {
        json_error_t e;
        body = json_loadb(raw, raw_len, 0, &e);
        if (!body) {
            fail(a, 400, "body: invalid JSON at line %d column %d: %s", e.line, e.column, e.text);
            return;
        }
    }
    char name[VM_NAME_MAX + 1], sub[32];
    if (!strcmp(path, "/v1/vms")) {
        if (!strcmp(method, "GET"))
            list(m, a);
        else if (!strcmp(method, "POST"))
            route_create(m, body, a);
        else
            fail(a, 405, "%s is not allowed on /v1/vms (GET, POST)", method);
    } else if (!strcmp(path, "/v1/events") && !strcmp(method, "GET")) {
        long long since = 0, wait_ms = 0;
        if (events_query(query, &since, &wait_ms, a) < 0) {
            json_decref(body);
            return;
        }
        char *ev = db_events_json(m->db, since, 1000);
        /* long-poll: wait up to WAIT_MS for the first event after SINCE */
        for (long long t = 0; ev && !strcmp(ev, "[]") && t < wait_ms; t += 100) {
            free(ev);
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
            ev = db_events_json(m->db, since, 1000);
        }
        a->status = 200;
        a->body = json_pack("{s:o*}", "events", ev ? json_loads(ev, 0, NULL) : NULL);
        free(ev);
    } else if (!strcmp(path, "/v1/migrations") && !strcmp(method, "POST")) {
        vm_incoming(m, body, a);
    } else if (sscanf(path, "/v1/migrations/%64[^/]/%31[^/]", name, sub) == 2 &&
               !strcmp(method, "POST") && (!strcmp(sub, "commit") || !strcmp(sub, "abort"))) {
        if (valid_name(name))
            vm_incoming_end(m, name, !strcmp(sub, "commit"), a);
        else
            fail(a, 400, "name: '%s' is not 1-63 characters of [A-Za-z0-9_-]", name);
    } else if (!strcmp(path, "/v1/host") && !strcmp(method, "GET")) {
        host(m, a);
    } else if (sscanf(path, "/v1/vms/%64[^/]/%31[^/]", name, sub) == 2) {
        one_vm(m, method, name, sub, body, a);
    } else if (sscanf(path, "/v1/vms/%64[^/]", name) == 1 && !strchr(path + 8, '/')) {
        one_vm(m, method, name, NULL, body, a);
    } else {
        fail(a, 404, "no such path: %s (see docs/truced-openapi.yaml)", path);
    }
    json_decref(body);
}
