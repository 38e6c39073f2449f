/* telemetry.c — logger and metrics configuration, request statistics and metrics JSON lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"

int api_put_logger(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"level",           "log_path", "show_level",
                                         "show_log_origin", "module",   NULL};
    struct api_logger l = {.set = true};
    char module[128];
    bool have_level, have_path, have_module;
    enum log_level lvl = LOG_LVL_INFO;
    if (jobject(c, o, fields) < 0 ||
        jstring(c, o, "level", false, l.level, sizeof(l.level), &have_level) < 0 ||
        jstring(c, o, "log_path", false, l.path, sizeof(l.path), &have_path) < 0 ||
        jbool(c, o, "show_level", false, &l.show_level, NULL) < 0 ||
        jbool(c, o, "show_log_origin", false, &l.show_origin, NULL) < 0 ||
        jstring(c, o, "module", false, module, sizeof(module), &have_module) < 0)
        return -EINVAL;
    if (have_module)
        return jfail(c, "module", "not supported yet: filtering by module");
    if (!have_level)
        snprintf(l.level, sizeof(l.level), "Info");
    if (log_level_parse(l.level, &lvl) < 0)
        return jfail(c, "level", "'%s' is not one of Error, Warning, Info, Debug, Trace, Off",
                     l.level);
    if (have_path) {
        int rc = log_set_path(l.path);
        if (rc < 0)
            return jfail(c, "log_path", "cannot open '%s': %s", l.path, strerror(-rc));
    }
    log_configure(lvl, l.show_level, l.show_origin);
    if (!have_path && api->logger.set)
        memcpy(l.path, api->logger.path, sizeof(l.path));
    api->logger = l;
    return 0;
}

int api_metrics_open(struct api_metrics *m, const char *path)
{
    /* a full FIFO loses lines (counted in m->lost) instead of blocking */
    int fd = line_sink_open(path);
    if (fd < 0)
        return fd;
    m->fd = fd;
    snprintf(m->path, sizeof(m->path), "%s", path);
    m->set = true;
    return 0;
}

void api_metrics_close(struct api_metrics *m)
{
    if (m->set && m->fd >= 0)
        close(m->fd);
    json_decref(m->properties);
    json_decref(m->prev);
    *m = (struct api_metrics){.fd = -1};
}

int api_put_metrics(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"metrics_path", "emit_id", "properties", NULL};
    char path[PATH_MAX];
    bool emit_id = false;
    if (jobject(c, o, fields) < 0 ||
        jstring(c, o, "metrics_path", true, path, sizeof(path), NULL) < 0 ||
        jbool(c, o, "emit_id", false, &emit_id, NULL) < 0)
        return -EINVAL;
    json_t *props = json_object_get(o, "properties");
    if (props && json_is_null(props))
        props = NULL;
    if (props && !json_is_object(props))
        return jfail(c, "properties", "must be an object of strings");
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v)
    {
        if (!json_is_string(v))
            return jfail(c, "properties", "value of '%s' must be a string", k);
    }
    if (api->metrics.set)
        return jfail(c, NULL, "the metrics system is already initialized");
    if (!path[0])
        return jfail(c, "metrics_path", "must not be empty");
    int rc = api_metrics_open(&api->metrics, path);
    if (rc < 0)
        return jfail(c, "metrics_path", "cannot open '%s': %s", path, strerror(-rc));
    api->metrics.emit_id = emit_id;
    api->metrics.properties = props ? json_deep_copy(props) : NULL;
    return 0;
}

void api_stats_record(struct api *api, int route, int status, uint64_t latency_us)
{
    struct api_stats *s = &api->stats;
    s->requests++;
    if (status < 300)
        s->status_2xx++;
    else if (status < 500)
        s->status_4xx++;
    else
        s->status_5xx++;
    s->latency_us_total += latency_us;
    s->latency_us_max = MAX(s->latency_us_max, latency_us);
    if (route >= 0 && route < API_MAX_ROUTES) {
        s->route_count[route]++;
        if (status >= 300)
            s->route_fail[route]++;
    }
}

static const char *const exit_names[] = {
    [KVM_EXIT_UNKNOWN] = "unknown",
    [KVM_EXIT_EXCEPTION] = "exception",
    [KVM_EXIT_IO] = "io",
    [KVM_EXIT_HYPERCALL] = "hypercall",
    [KVM_EXIT_DEBUG] = "debug",
    [KVM_EXIT_HLT] = "hlt",
    [KVM_EXIT_MMIO] = "mmio",
    [KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
    [KVM_EXIT_SHUTDOWN] = "shutdown",
    [KVM_EXIT_FAIL_ENTRY] = "fail_entry",
    [KVM_EXIT_INTR] = "intr",
    [KVM_EXIT_NMI] = "nmi",
    [KVM_EXIT_INTERNAL_ERROR] = "internal_error",
    [KVM_EXIT_SYSTEM_EVENT] = "system_event",
    [KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
    [KVM_EXIT_X86_RDMSR] = "rdmsr",
    [KVM_EXIT_X86_WRMSR] = "wrmsr",
    [KVM_EXIT_DIRTY_RING_FULL] = "dirty_ring_full",
    [KVM_EXIT_X86_BUS_LOCK] = "bus_lock",
    [KVM_EXIT_NOTIFY] = "notify",
};

static json_t *vcpu_metrics(struct vm *vm)
{
    json_t *exits = json_object(), *exits_us = json_object();
    for (unsigned i = 0; i < ARRAY_SIZE(vm->stats.by_reason); i++) {
        uint64_t n = atomic_load(&vm->stats.by_reason[i]);
        if (!n)
            continue;
        char name[24];
        if (i < ARRAY_SIZE(exit_names) && exit_names[i])
            snprintf(name, sizeof(name), "%s", exit_names[i]);
        else
            snprintf(name, sizeof(name), "reason_%u", i);
        json_object_set_new(exits, name, json_integer((json_int_t)n));
        /* userspace time handling them, as bench/boot-breakdown.sh reports it */
        json_int_t us = (json_int_t)(atomic_load(&vm->stats.ns_by_reason[i]) / 1000);
        json_object_set_new(exits_us, name, json_integer(us));
    }
    return json_pack("{s:o, s:o, s:I, s:I, s:I}", "exits", exits, "exits_us", exits_us,
                     "exit_unhandled", (json_int_t)atomic_load(&vm->stats.unknown), "pio_unmapped",
                     (json_int_t)atomic_load(&vm->stats.pio_unmapped), "mmio_unmapped",
                     (json_int_t)atomic_load(&vm->stats.mmio_unmapped));
}

static json_t *api_server_metrics(const struct api *api)
{
    const struct api_stats *s = &api->stats;
    json_t *routes = json_object();
    for (int i = 0; i < API_MAX_ROUTES; i++) {
        if (!s->route_count[i])
            continue;
        json_object_set_new(routes, api_route_name(i),
                            json_pack("{s:I, s:I}", "count", (json_int_t)s->route_count[i], "fail",
                                      (json_int_t)s->route_fail[i]));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "requests", (json_int_t)s->requests,
                     "status_2xx", (json_int_t)s->status_2xx, "status_4xx",
                     (json_int_t)s->status_4xx, "status_5xx", (json_int_t)s->status_5xx,
                     "latency_us_total", (json_int_t)s->latency_us_total, "latency_us_max",
                     (json_int_t)s->latency_us_max, "routes", routes);
}

/* Write LINE of LEN bytes whole or not at all. Returns 0 or -EAGAIN. */
static int write_whole(int fd, const char *line, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        int cap = fcntl(fd, F_GETPIPE_SZ), used = 0;
        if (cap < 0 || ioctl(fd, FIONREAD, &used) < 0 || (size_t)(cap - used) < len)
            return -EAGAIN;
    }
    ssize_t w = write(fd, line, len);
    return w == (ssize_t)len ? 0 : -EAGAIN;
}

static bool is_gauge(const char *key)
{
    return !strcmp(key, "utc_timestamp_ms") || !strcmp(key, "latency_us_max");
}

json_t *api_metrics_delta(const json_t *now, const json_t *prev)
{
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)now, key, v)
    {
        json_t *p = prev ? json_object_get(prev, key) : NULL;
        if (json_is_object(v))
            json_object_set_new(out, key, api_metrics_delta(v, json_is_object(p) ? p : NULL));
        else if (json_is_integer(v) && !is_gauge(key))
            json_object_set_new(out, key,
                                json_integer(json_integer_value(v) -
                                             (json_is_integer(p) ? json_integer_value(p) : 0)));
        else
            json_object_set(out, key, v);
    }
    return out;
}

int api_metrics_flush(struct api *api)
{
    struct api_metrics *m = &api->metrics;
    if (!m->set)
        return -ENOENT;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *j =
        json_pack("{s:I}", "utc_timestamp_ms", (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    if (m->emit_id)
        json_object_set_new(j, "id", json_string(api->id));
    if (m->properties)
        json_object_set(j, "properties", m->properties);
    json_object_set_new(j, "api_server", api_server_metrics(api));
    json_object_set_new(j, "mmds", api_mmds_metrics(api));
    if (api->vm) {
        json_object_set_new(j, "vcpu", vcpu_metrics(api->vm));
        json_object_set_new(j, "devices", api_metrics_devices(api->vm));
    }
    if (api->mig_last.total_ms) {
        const struct mig_stats *s = &api->mig_last;
        json_object_set_new(
            j, "truce_migration",
            json_pack("{s:I, s:I, s:I, s:I, s:I}", "total_ms", (json_int_t)s->total_ms,
                      "downtime_ms", (json_int_t)s->downtime_ms, "bytes", (json_int_t)s->bytes,
                      "pages", (json_int_t)s->pages, "rounds", (json_int_t)s->rounds));
    }
    json_object_set_new(j, "logger",
                        json_pack("{s:I}", "missed_log_count", (json_int_t)log_lost()));
    json_object_set_new(j, "metrics",
                        json_pack("{s:I, s:I}", "lines", (json_int_t)m->lines,
                                  "missed_metrics_count", (json_int_t)m->lost));
    /* Firecracker's counters are deltas since the last line; the running totals stay under
     * a truce-specific key */
    json_t *line = api_metrics_delta(j, m->prev);
    json_object_set(line, "truce_cumulative", j);
    json_decref(m->prev);
    m->prev = j;
    char *s = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    int rc = -EAGAIN;
    if (s) {
        size_t n = strlen(s);
        s[n] = '\n'; /* replaces the NUL: the line is written with its newline */
        rc = write_whole(m->fd, s, n + 1);
        free(s);
    }
    if (rc < 0)
        m->lost++;
    else
        m->lines++;
    return rc;
}
