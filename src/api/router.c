/* router.c — maps METHOD + PATH of the Firecracker API to handlers; replies and state checks. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

struct req {
    const char *method;
    const char *path;
    const char *id; /* path parameter, or NULL */
    json_t *body;   /* NULL when the request had none */
};

typedef void (*handler_fn)(struct api *api, const struct req *rq, struct api_reply *out);

struct route {
    const char *method;
    const char *path; /* with has_id: the prefix before the id ("/drives/") */
    bool has_id;
    bool body;     /* a JSON body is required */
    handler_fn fn; /* NULL: in the spec, not supported yet */
    const char *name;
};

static void reply_error(struct api_reply *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_error(struct api_reply *out, int status, const char *fmt, ...)
{
    char msg[API_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s}", "fault_message", msg);
    out->status = status;
    out->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
}

/* 200 with J (stolen), or 500 when it could not be built. */
static void reply_json(struct api_reply *out, json_t *j)
{
    out->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    out->status = out->body ? 200 : 500;
    json_decref(j);
    if (!out->body)
        reply_error(out, 500, "out of memory");
}

static void reply_ok(struct api_reply *out)
{
    out->status = 204;
    out->body = NULL;
}

static bool preboot(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (api->state == API_VM_NOT_STARTED)
        return true;
    reply_error(out, 400, "%s %s: not allowed after the microVM started", rq->method, rq->path);
    return false;
}

static bool postboot(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (api->state == API_VM_RUNNING || api->state == API_VM_PAUSED)
        return true;
    reply_error(out, 400, "%s %s: the microVM is %s", rq->method, rq->path,
                api->state == API_VM_NOT_STARTED ? "not started" : "stopped");
    return false;
}

/* Run a configuration section reader; 204 or 400 with its message. */
#define SECTION(call)                                                                              \
    do {                                                                                           \
        char err_[API_ERR_LEN];                                                                    \
        struct jctx c_;                                                                            \
        jctx_init(&c_, "", err_, sizeof(err_));                                                    \
        struct jctx *c = &c_;                                                                      \
        if ((call) < 0)                                                                            \
            reply_error(out, 400, "%s", err_);                                                     \
        else                                                                                       \
            reply_ok(out);                                                                         \
    } while (0)

static void put_boot_source(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_boot_source(api, rq->body, c));
}

static void put_machine(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_machine(api, rq->body, rq->method[1] == 'A', c));
}

static void put_cpu_config(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_cpu_config(api, rq->body, c));
}

static void put_drive(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_drive(api, rq->body, rq->id, c));
}

static void put_pmem(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_pmem(api, rq->body, rq->id, c));
}

static void patch_pmem(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (postboot(api, rq, out))
        SECTION(api_patch_pmem(api, rq->body, rq->id, c));
}

static void put_memory_hotplug(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_memory_hotplug(api, rq->body, c));
}

static void patch_memory_hotplug(struct api *api, const struct req *rq, struct api_reply *out)
{
    SECTION(api_patch_memory_hotplug(api, rq->body, c));
}

static void get_memory_hotplug(struct api *api, const struct req *rq, struct api_reply *out)
{
    json_t *j = api_export_memory_hotplug(api);
    if (!j)
        return reply_error(out, 400, "no hotplug memory is configured");
    reply_json(out, j);
}

static void put_net(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_net(api, rq->body, rq->id, c));
}

static void put_vsock(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_vsock(api, rq->body, c));
}

static void put_entropy(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_entropy(api, rq->body, c));
}

static void put_serial(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_serial(api, rq->body, c));
}

static void balloon(struct api *api, const struct req *rq, struct api_reply *out)
{
    char err[API_ERR_LEN];
    json_t *j = NULL;
    if (api_balloon(api, rq->method, rq->path, rq->body, &j, err, sizeof(err)) < 0)
        return reply_error(out, 400, "%s", err);
    if (j)
        return reply_json(out, j);
    reply_ok(out);
}

static void put_logger(struct api *api, const struct req *rq, struct api_reply *out)
{
    SECTION(api_put_logger(api, rq->body, c));
}

static void put_metrics(struct api *api, const struct req *rq, struct api_reply *out)
{
    SECTION(api_put_metrics(api, rq->body, c));
}

static void get_instance(struct api *api, const struct req *rq, struct api_reply *out)
{
    reply_json(out, api_export_instance(api));
}

static void get_version(struct api *api, const struct req *rq, struct api_reply *out)
{
    reply_json(out, json_pack("{s:s}", "firecracker_version", TRUCE_VERSION));
}

static void get_machine(struct api *api, const struct req *rq, struct api_reply *out)
{
    reply_json(out, api_export_machine(api));
}

static void get_vm_config(struct api *api, const struct req *rq, struct api_reply *out)
{
    reply_json(out, api_export_vm_config(api));
}

static void put_actions(struct api *api, const struct req *rq, struct api_reply *out)
{
    static const char *const fields[] = {"action_type", NULL};
    static const char *const actions[] = {"FlushMetrics", "InstanceStart", "SendCtrlAltDel",
                                          "SendPowerButton", NULL};
    char err[API_ERR_LEN];
    struct jctx c;
    int a, rc = 0;
    jctx_init(&c, "", err, sizeof(err));
    if (jobject(&c, rq->body, fields) < 0 ||
        jenum(&c, rq->body, "action_type", true, actions, &a, NULL) < 0)
        return reply_error(out, 400, "%s", err);
    if (a == 0) {
        rc = api_metrics_flush(api);
        if (rc == -ENOENT)
            return reply_error(out, 400,
                               "FlushMetrics: the metrics system is not initialized "
                               "(PUT /metrics first)");
        return reply_ok(out); /* a line lost to a full pipe is counted, not an API error */
    }
    if (a == 1) {
        if (api->state != API_VM_NOT_STARTED)
            return reply_error(out, 400, "InstanceStart: the microVM was already started");
        rc = api_start_vm(api, err, sizeof(err));
    } else {
        if (!postboot(api, rq, out))
            return;
        rc = a == 2 ? api_ctrl_alt_del(api, err, sizeof(err))
                    : api_power_button(api, err, sizeof(err));
    }
    if (rc < 0)
        return reply_error(out, 400, "%s: %s", actions[a], err);
    reply_ok(out);
}

static void patch_vm(struct api *api, const struct req *rq, struct api_reply *out)
{
    static const char *const fields[] = {"state", NULL};
    static const char *const states[] = {"Paused", "Resumed", NULL};
    char err[API_ERR_LEN];
    struct jctx c;
    int s;
    jctx_init(&c, "", err, sizeof(err));
    if (jobject(&c, rq->body, fields) < 0 || jenum(&c, rq->body, "state", true, states, &s, NULL))
        return reply_error(out, 400, "%s", err);
    if (!postboot(api, rq, out))
        return;
    if (api_pause(api, s == 0, err, sizeof(err)) < 0)
        return reply_error(out, 400, "%s", err);
    reply_ok(out);
}

static void patch_drive(struct api *api, const struct req *rq, struct api_reply *out)
{
    static const char *const fields[] = {"drive_id", "path_on_host", "rate_limiter", NULL};
    char err[API_ERR_LEN], id[CFG_ID_LEN], path[PATH_MAX];
    bool have_path, bw, ops;
    struct rl_config rl;
    struct jctx c;
    jctx_init(&c, "", err, sizeof(err));
    if (jobject(&c, rq->body, fields) < 0 ||
        jstring(&c, rq->body, "drive_id", true, id, sizeof(id), NULL) < 0 ||
        jstring(&c, rq->body, "path_on_host", false, path, sizeof(path), &have_path) < 0 ||
        api_rate_limiter(&c, rq->body, "rate_limiter", &rl, &bw, &ops) < 0)
        return reply_error(out, 400, "%s", err);
    if (api_check_path_id(&c, "drive_id", id, rq->id) < 0)
        return reply_error(out, 400, "%s", err);
    if (!postboot(api, rq, out))
        return;
    json_t *rlj = json_object_get(rq->body, "rate_limiter");
    bool have_rl = rlj && !json_is_null(rlj);
    if (!have_path && !have_rl)
        return reply_error(out, 400, "path_on_host: missing; nothing to update");
    if (have_path && api_swap_drive(api, id, path, err, sizeof(err)) < 0)
        return reply_error(out, 400, "%s", err);
    if (have_rl && api_update_drive_rl(api, id, &rl, bw, ops, err, sizeof(err)) < 0)
        return reply_error(out, 400, "%s", err);
    reply_ok(out);
}

static void patch_net(struct api *api, const struct req *rq, struct api_reply *out)
{
    static const char *const fields[] = {"iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL};
    char err[API_ERR_LEN], id[CFG_ID_LEN];
    struct rl_config rx, tx;
    bool rx_bw, rx_ops, tx_bw, tx_ops;
    struct jctx c;
    jctx_init(&c, "", err, sizeof(err));
    if (jobject(&c, rq->body, fields) < 0 ||
        jstring(&c, rq->body, "iface_id", true, id, sizeof(id), NULL) < 0 ||
        api_rate_limiter(&c, rq->body, "rx_rate_limiter", &rx, &rx_bw, &rx_ops) < 0 ||
        api_rate_limiter(&c, rq->body, "tx_rate_limiter", &tx, &tx_bw, &tx_ops) < 0)
        return reply_error(out, 400, "%s", err);
    if (api_check_path_id(&c, "iface_id", id, rq->id) < 0)
        return reply_error(out, 400, "%s", err);
    if (!postboot(api, rq, out))
        return;
    if (api_update_net_rl(api, id, &rx, rx_bw, rx_ops, &tx, tx_bw, tx_ops, err, sizeof(err)) < 0)
        return reply_error(out, 400, "%s", err);
    reply_ok(out);
}

static void put_mmds(struct api *api, const struct req *rq, struct api_reply *out)
{
    char err[API_ERR_LEN];
    if (api_put_mmds(api, rq->body, rq->method[1] == 'A', err, sizeof(err)) < 0)
        return reply_error(out, 400, "%s", err);
    reply_ok(out);
}

static void get_mmds(struct api *api, const struct req *rq, struct api_reply *out)
{
    reply_json(out, api_get_mmds(api));
}

static void put_mmds_config(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_mmds_config(api, rq->body, c));
}

static void put_snapshot_create(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (postboot(api, rq, out))
        SECTION(api_snapshot_create(api, rq->body, c));
}

static void put_migration(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (postboot(api, rq, out))
        SECTION(api_migrate(api, rq->body, c));
}

static void put_migration_receive(struct api *api, const struct req *rq, struct api_reply *out)
{
    SECTION(api_migrate_receive(api, rq->body, c));
}

static void put_display(struct api *api, const struct req *rq, struct api_reply *out)
{
    if (preboot(api, rq, out))
        SECTION(api_put_display(api, rq->body, c));
}

static void get_screenshot(struct api *api, const struct req *rq, struct api_reply *out)
{
    char err[API_ERR_LEN];
    if (!postboot(api, rq, out))
        return;
    if (api_screenshot(api, out, err, sizeof(err)) < 0)
        reply_error(out, 400, "%s", err);
}

static void put_snapshot_load(struct api *api, const struct req *rq, struct api_reply *out)
{
    SECTION(api_snapshot_load(api, rq->body, c));
}

#define R(m, p, body, fn)                                                                          \
    {                                                                                              \
        m, p, false, body, fn, m " " p                                                             \
    }
#define RI(m, p, body, fn)                                                                         \
    {                                                                                              \
        m, p, true, body, fn, m " " p "{id}"                                                       \
    }
static const struct route routes[] = {
    R("GET", "/", false, get_instance),
    R("PUT", "/actions", true, put_actions),
    R("GET", "/balloon", false, balloon),
    R("PUT", "/balloon", true, balloon),
    R("PATCH", "/balloon", true, balloon),
    R("GET", "/balloon/statistics", false, balloon),
    R("PATCH", "/balloon/statistics", true, balloon),
    R("PATCH", "/balloon/hinting/start", false, balloon),
    R("GET", "/balloon/hinting/status", false, balloon),
    R("PATCH", "/balloon/hinting/stop", false, balloon),
    R("PUT", "/boot-source", true, put_boot_source),
    R("PUT", "/cpu-config", true, put_cpu_config),
    R("PUT", "/display", true, put_display),                /* truce extension */
    R("GET", "/display/screenshot", false, get_screenshot), /* truce extension */
    RI("PUT", "/drives/", true, put_drive),
    RI("PATCH", "/drives/", true, patch_drive),
    RI("PUT", "/pmem/", true, put_pmem),
    RI("PATCH", "/pmem/", true, patch_pmem),
    R("PUT", "/logger", true, put_logger),
    R("GET", "/machine-config", false, get_machine),
    R("PUT", "/machine-config", true, put_machine),
    R("PATCH", "/machine-config", true, put_machine),
    R("PUT", "/metrics", true, put_metrics),
    R("PUT", "/mmds", true, put_mmds),
    R("PATCH", "/mmds", true, put_mmds),
    R("GET", "/mmds", false, get_mmds),
    R("PUT", "/mmds/config", true, put_mmds_config),
    R("PUT", "/entropy", true, put_entropy),
    R("PUT", "/serial", true, put_serial),
    R("PUT", "/hotplug/memory", true, put_memory_hotplug),
    R("PATCH", "/hotplug/memory", true, patch_memory_hotplug),
    R("GET", "/hotplug/memory", false, get_memory_hotplug),
    RI("PUT", "/network-interfaces/", true, put_net),
    RI("PATCH", "/network-interfaces/", true, patch_net),
    R("PUT", "/snapshot/create", true, put_snapshot_create),
    R("PUT", "/snapshot/load", true, put_snapshot_load),
    R("PUT", "/migration", true, put_migration),                 /* truce extension */
    R("PUT", "/migration/receive", true, put_migration_receive), /* truce extension */
    R("GET", "/version", false, get_version),
    R("PATCH", "/vm", true, patch_vm),
    R("GET", "/vm/config", false, get_vm_config),
    R("PUT", "/vsock", true, put_vsock),
};
_Static_assert(ARRAY_SIZE(routes) <= API_MAX_ROUTES, "route statistics array too small");

/* Does PATH match route R's path? Sets *ID (pointing into PATH) for routes with an id. */
static bool path_matches(const struct route *r, const char *path, const char **id)
{
    *id = NULL;
    if (!r->has_id)
        return !strcmp(path, r->path);
    size_t n = strlen(r->path);
    if (strncmp(path, r->path, n) != 0 && strncmp(path, r->path, n - 1) != 0)
        return false;
    if (path[n - 1] == '\0') /* "/drives" without an id */
        return true;
    if (path[n - 1] != '/' || strchr(path + n, '/'))
        return false;
    *id = path + n;
    return true;
}

const char *api_route_name(int idx)
{
    return idx >= 0 && idx < (int)ARRAY_SIZE(routes) ? routes[idx].name : "?";
}

/* The route index for METHOD PATH, -1 (unknown path) or -2 (path known, method not). */
static int lookup(const char *method, const char *path, const char **id)
{
    bool path_known = false;
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        if (!path_matches(&routes[i], path, id))
            continue;
        path_known = true;
        if (!strcmp(method, routes[i].method))
            return (int)i;
    }
    return path_known ? -2 : -1;
}

int api_route_index(const char *method, const char *path)
{
    const char *id;
    return lookup(method, path, &id);
}

/* Parse BODY into RQ (when there is one). Returns false after filling OUT with the error. */
static bool parse_body(const struct route *r, struct req *rq, const char *body, size_t len,
                       struct api_reply *out)
{
    if (!len) {
        if (r->body)
            reply_error(out, 400, "%s %s: a JSON body is required", rq->method, rq->path);
        return !r->body;
    }
    if (!strcmp(rq->method, "GET")) {
        reply_error(out, 400, "GET %s: a GET request takes no body", rq->path);
        return false;
    }
    json_error_t je;
    rq->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!rq->body) {
        reply_error(out, 400, "invalid JSON body: %s (line %d, column %d)", je.text, je.line,
                    je.column);
        return false;
    }
    return true;
}

void api_handle(struct api *api, const char *method, const char *path, const char *body, size_t len,
                struct api_reply *out)
{
    uint64_t t0 = now_ns();
    struct req rq = {.method = method, .path = path};
    *out = (struct api_reply){0};
    pthread_mutex_lock(&api->lock);
    int idx = lookup(method, path, &rq.id);
    const struct route *r = idx >= 0 ? &routes[idx] : NULL;
    if (idx == -1)
        reply_error(out, 400, "invalid request path: %s", path);
    else if (idx == -2)
        reply_error(out, 400, "invalid request method for %s: %s", path, method);
    else if (r->has_id && (!rq.id || !rq.id[0]))
        reply_error(out, 400, "%s %s: the path needs an id (%s{id})", method, path, r->path);
    else if (!r->fn)
        reply_error(out, 400, "not supported yet: %s", r->name);
    else if (parse_body(r, &rq, body, len, out))
        r->fn(api, &rq, out);
    json_decref(rq.body);
    api_stats_record(api, idx, out->status, (now_ns() - t0) / 1000);
    pthread_mutex_unlock(&api->lock);
}

void api_reply_free(struct api_reply *r)
{
    free(r->body);
    r->body = NULL;
}
