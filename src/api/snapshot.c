/* snapshot.c — PUT /snapshot/create and PUT /snapshot/load, Firecracker's semantics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"
#include "machine/migrate.h"
#include "machine/snapshot.h"

int api_snapshot_create(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"mem_file_path", "snapshot_path", "snapshot_type", NULL};
    static const char *const types[] = {"Full", "Diff", NULL};
    char state[PATH_MAX], mem[PATH_MAX];
    int type = 0;
    if (jobject(c, o, fields) < 0 ||
        jstring(c, o, "snapshot_path", true, state, sizeof(state), NULL) < 0 ||
        jstring(c, o, "mem_file_path", true, mem, sizeof(mem), NULL) < 0 ||
        jenum(c, o, "snapshot_type", false, types, &type, NULL) < 0)
        return -EINVAL;
    if (api->state != API_VM_PAUSED)
        return jfail(c, NULL, "the microVM must be paused (PATCH /vm) before a snapshot");
    if (!strcmp(state, mem))
        return jfail(c, "mem_file_path", "must differ from snapshot_path");
    int rc = snapshot_create(api->vm, state, mem, type == 1, c->err, c->errlen);
    if (!rc)
        log_info("%s snapshot of %s written to %s (memory %s)", types[type], api->id, state, mem);
    return rc;
}

int api_migrate(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"destination_url", "max_downtime_ms", NULL};
    char url[PATH_MAX];
    uint64_t downtime = MIG_DEFAULT_DOWNTIME_MS;
    if (jobject(c, o, fields) < 0 ||
        jstring(c, o, "destination_url", true, url, sizeof(url), NULL) < 0 ||
        juint(c, o, "max_downtime_ms", false, 1, 60000, &downtime, NULL) < 0)
        return -EINVAL;
    struct mig_stats st;
    int rc = migrate_send(api->vm, url, downtime, &st, c->err, c->errlen);
    if (rc) {
        log_warn("migration to %s failed, the VM goes on here: %s", url, c->err);
        return rc;
    }
    api->mig_last = st;
    api_metrics_flush(api); /* the figures, before the process ends */
    vm_request_stop(api->vm, TRUCE_EXIT_MIGRATED,
                    "migrated to %s: %llu KiB (%llu pages) in %llu ms, %llu pre-copy rounds (%llu "
                    "pages dirtied in the last), downtime %.1f ms (target %llu)",
                    url, (unsigned long long)(st.bytes >> 10), (unsigned long long)st.pages,
                    (unsigned long long)st.total_ms, (unsigned long long)st.rounds,
                    (unsigned long long)st.last_dirty, (double)st.downtime_us / 1000,
                    (unsigned long long)downtime);
    return 0;
}

/* Only a fresh process loads a snapshot: nothing but the logger and metrics configured. */
static const char *configured_resource(const struct api *api)
{
    if (api->state != API_VM_NOT_STARTED)
        return "the microVM was already started";
    if (api->boot_source_set)
        return "boot-source";
    if (api->cfg.ndisks)
        return "drives";
    if (api->cfg.nnets)
        return "network-interfaces";
    if (api->cfg.vsock.enabled)
        return "vsock";
    if (api->cfg.entropy)
        return "entropy";
    if (api->cfg.balloon.enabled)
        return "balloon";
    if (api->cpu_config)
        return "cpu-config";
    return NULL;
}

/* The memory file: mem_backend {File, path} or the deprecated mem_file_path; exactly one. */
static int load_mem_path(const json_t *o, struct jctx *c, char *mem, size_t len, bool *uffd)
{
    static const char *const mb_fields[] = {"backend_type", "backend_path", NULL};
    static const char *const backends[] = {"File", "Uffd", NULL};
    bool have_file = false;
    json_t *mb = json_object_get(o, "mem_backend");
    if (jstring(c, o, "mem_file_path", false, mem, len, &have_file) < 0)
        return -EINVAL;
    if (have_file == (mb != NULL && !json_is_null(mb)))
        return jfail(c, NULL, "give exactly one of mem_backend and mem_file_path");
    if (have_file)
        return 0;
    struct jctx mc;
    int backend = 0;
    jctx_child(c, &mc, "mem_backend", -1);
    if (jobject(&mc, mb, mb_fields) < 0 ||
        jenum(&mc, mb, "backend_type", true, backends, &backend, NULL) < 0 ||
        jstring(&mc, mb, "backend_path", true, mem, len, NULL) < 0)
        return -EINVAL;
    *uffd = backend == 1;
    return 0;
}

static int add_net_override(void *arg, struct jctx *ec, const json_t *e)
{
    static const char *const fields[] = {"iface_id", "host_dev_name", NULL};
    struct snapshot_overrides *ov = arg;
    if (ov->nnets == CFG_MAX_NETS)
        return jfail(ec, NULL, "more than %d overrides", CFG_MAX_NETS);
    if (jobject(ec, e, fields) < 0 ||
        jstring(ec, e, "iface_id", true, ov->net[ov->nnets].iface_id, sizeof(ov->net[0].iface_id),
                NULL) < 0 ||
        jstring(ec, e, "host_dev_name", true, ov->net[ov->nnets].tap, sizeof(ov->net[0].tap),
                NULL) < 0)
        return -EINVAL;
    ov->nnets++;
    return 0;
}

/* vsock_override {uds_path}: the vsock device's UNIX socket elsewhere. */
static int vsock_override(const json_t *o, struct jctx *c, struct snapshot_overrides *ov)
{
    static const char *const vf[] = {"uds_path", NULL};
    json_t *vo = json_object_get(o, "vsock_override");
    if (!vo || json_is_null(vo))
        return 0;
    struct jctx vc;
    jctx_child(c, &vc, "vsock_override", -1);
    if (jobject(&vc, vo, vf) < 0 ||
        jstring(&vc, vo, "uds_path", true, ov->vsock_uds, sizeof(ov->vsock_uds), NULL) < 0)
        return -EINVAL;
    ov->vsock_set = true;
    return 0;
}

/* The request's overrides and flags truce does not offer yet (refused, never ignored). */
static int load_options(const json_t *o, struct jctx *c, struct snapshot_overrides *ov,
                        bool *resume)
{
    static const char *const hp[] = {"Snapshot", "None", "Transparent", "2M", NULL};
    bool diff = false, track = false, realtime = false;
    int huge = 0;
    if (jbool(c, o, "resume_vm", false, resume, NULL) < 0 ||
        jbool(c, o, "enable_diff_snapshots", false, &diff, NULL) < 0 ||
        jbool(c, o, "track_dirty_pages", false, &track, NULL) < 0 ||
        jbool(c, o, "clock_realtime", false, &realtime, NULL) < 0 ||
        jenum(c, o, "huge_pages", false, hp, &huge, NULL) < 0 ||
        jeach(c, o, "network_overrides", add_net_override, ov) < 0)
        return -EINVAL;
    ov->track_dirty = diff || track; /* enable_diff_snapshots: its deprecated name */
    ov->clock_realtime = realtime;
    if (huge == 3)
        return jfail(c, "huge_pages", "not supported yet: 2M (a restored VM keeps the snapshot's)");
    ov->thp = huge == 0 ? OV_THP_SAVED : huge == 1 ? OV_THP_OFF : OV_THP_ON;
    return vsock_override(o, c, ov);
}

/* Parse O with PARSE into R (its overrides freshly allocated), refuse a process already
 * configured, then build the VM (api_restore_vm) and AFTER (when given). Returns 0 or <0 with
 * C's error. */
static int fresh_vm(struct api *api, const json_t *o, struct jctx *c, const char *what,
                    int (*parse)(const json_t *o, struct jctx *c, struct api_restore *r, char *a,
                                 char *b),
                    void (*after)(struct api_restore *r, const char *a))
{
    char a[PATH_MAX], b[PATH_MAX];
    struct snapshot_overrides *ov = calloc(1, sizeof(*ov));
    if (!ov)
        return jfail(c, NULL, "out of memory");
    struct api_restore r = {.ov = ov, .listen_fd = -1};
    const char *busy = configured_resource(api);
    int rc = parse(o, c, &r, a, b);
    if (!rc && busy)
        rc = jfail(c, NULL, "only a fresh truce %s (already configured: %s)", what, busy);
    if (!rc)
        rc = api_restore_vm(api, &r, c->err, c->errlen);
    if (after)
        after(&r, a);
    free(ov);
    return rc;
}

/* PUT /snapshot/load: A the state file, B the memory file. */
static int load_parse(const json_t *o, struct jctx *c, struct api_restore *r, char *a, char *b)
{
    static const char *const fields[] = {"snapshot_path",
                                         "mem_file_path",
                                         "mem_backend",
                                         "enable_diff_snapshots",
                                         "track_dirty_pages",
                                         "resume_vm",
                                         "network_overrides",
                                         "vsock_override",
                                         "clock_realtime",
                                         "huge_pages",
                                         NULL};
    struct snapshot_overrides *ov = r->ov;
    if (jobject(c, o, fields) < 0 || jstring(c, o, "snapshot_path", true, a, PATH_MAX, NULL) < 0 ||
        load_mem_path(o, c, b, PATH_MAX, &ov->mem_uffd) < 0 ||
        load_options(o, c, ov, &r->resume) < 0)
        return -EINVAL;
    r->state = a;
    r->mem = b;
    return 0;
}

int api_snapshot_load(struct api *api, const json_t *o, struct jctx *c)
{
    return fresh_vm(api, o, c, "loads a snapshot", load_parse, NULL);
}

/* PUT /migration/receive: A the listen URL; listening here, so that a bad URL is a 400. */
static int receive_parse(const json_t *o, struct jctx *c, struct api_restore *r, char *a, char *b)
{
    static const char *const fields[] = {"listen_url", "timeout_s", "network_overrides",
                                         "vsock_override", NULL};
    struct snapshot_overrides *ov = r->ov;
    uint64_t wait_s = MIG_RECEIVE_WAIT_S;
    (void)b;
    if (jobject(c, o, fields) < 0 || jstring(c, o, "listen_url", true, a, PATH_MAX, NULL) < 0 ||
        juint(c, o, "timeout_s", false, 1, MIG_RECEIVE_MAX_WAIT_S, &wait_s, NULL) < 0 ||
        jeach(c, o, "network_overrides", add_net_override, ov) < 0 || vsock_override(o, c, ov) < 0)
        return -EINVAL;
    r->wait_ms = (int)wait_s * 1000;
    r->resume = true;
    if ((r->listen_fd = migrate_listen(a, c->err, c->errlen)) < 0)
        return r->listen_fd;
    log_info("migration: waiting up to %llu s for a source on %s", (unsigned long long)wait_s, a);
    return 0;
}

/* The receiver's socket goes, whatever came of it. */
static void receive_after(struct api_restore *r, const char *url)
{
    if (r->listen_fd < 0)
        return;
    close(r->listen_fd);
    if (!strncmp(url, "unix:", 5))
        unlink(url + 5);
}

int api_migrate_receive(struct api *api, const json_t *o, struct jctx *c)
{
    return fresh_vm(api, o, c, "receives a migration", receive_parse, receive_after);
}
