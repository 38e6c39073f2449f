/* api_int.h — internals shared by the control-plane files: the api object, JSON helpers, routes. */
#ifndef TRUCE_API_INT_H
#define TRUCE_API_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "machine/migrate.h"
#include "platform/config.h"
#include "util/util.h"
#include "vm/vm.h"

#define API_APP_NAME   "truce"
#define API_DEFAULT_ID "anonymous-instance"
#define API_MAX_VCPUS  32 /* the spec's MachineConfiguration.vcpu_count maximum */
#define API_ERR_LEN    512
#define API_MAX_ROUTES 48

/* ---- strict JSON reading (api/json.c) -------------------------------------------------------
 * Every reader names the offending field by its JSON path: "<where>.<field>" ("vcpu_count" for
 * an API body, "machine-config.vcpu_count" in a config file). */
struct jctx {
    char where[192]; /* path of the object being read; "" at the top of an API body */
    char *err;
    size_t errlen;
};

/* Start a context for an object at WHERE ("" or a JSON path). */
void jctx_init(struct jctx *c, const char *where, char *err, size_t errlen);
/* Child context for member FIELD (INDEX < 0) or element FIELD[INDEX] of C. */
void jctx_child(const struct jctx *c, struct jctx *child, const char *field, int index);
/* Write "<where>.<field>: <message>" (FIELD may be NULL: the object itself) into C->err.
 * Returns -EINVAL. */
int jfail(const struct jctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* OBJ must be an object whose keys are all in ALLOWED (NULL-terminated). Returns 0 or -EINVAL. */
int jobject(const struct jctx *c, const json_t *obj, const char *const *allowed);
/* Typed members. A missing or null member leaves *OUT alone and sets *SET (may be NULL) false; it
 * is an error only when REQUIRED. Strings must fit in OUTLEN with the NUL and hold no NUL. */
int jstring(const struct jctx *c, const json_t *obj, const char *field, bool required, char *out,
            size_t outlen, bool *set);
int jbool(const struct jctx *c, const json_t *obj, const char *field, bool required, bool *out,
          bool *set);
/* An integer in [MIN, MAX]. */
int juint(const struct jctx *c, const json_t *obj, const char *field, bool required, uint64_t min,
          uint64_t max, uint64_t *out, bool *set);
/* A string member that must be one of NAMES (NULL-terminated); *OUT gets its index. */
int jenum(const struct jctx *c, const json_t *obj, const char *field, bool required,
          const char *const *names, int *out, bool *set);
/* FN(ARG, context of FIELD[i], element) on each element of the array member FIELD of OBJ (absent
 * or null: none). Returns 0, or -EINVAL when FIELD is not an array or FN returns < 0. */
int jeach(const struct jctx *c, const json_t *obj, const char *field,
          int (*fn)(void *arg, struct jctx *ec, const json_t *e), void *arg);

/* ---- the api object -------------------------------------------------------------------------- */
enum api_vm_state { API_VM_NOT_STARTED, API_VM_RUNNING, API_VM_PAUSED, API_VM_STOPPED };

/* Spec fields truce accepts but struct vm_config does not carry; echoed by GET /vm/config. */
struct api_drive_extra {
    int io_engine;  /* index into api_io_engines */
    int cache_type; /* index into api_cache_types */
};

struct api_logger {
    bool set;
    char path[PATH_MAX];
    char level[16]; /* as given, for GET /vm/config */
    bool show_level;
    bool show_origin;
};

struct api_metrics {
    bool set;
    char path[PATH_MAX];
    int fd;
    bool emit_id;
    json_t *properties; /* object of strings, or NULL */
    uint64_t lines;     /* lines written */
    uint64_t lost;      /* lines dropped: full pipe, short write, write error */
    json_t *prev;       /* the cumulative values of the last line (its deltas' base) */
};

struct api_stats {
    uint64_t requests;
    uint64_t status_2xx, status_4xx, status_5xx;
    uint64_t latency_us_total, latency_us_max;
    uint64_t route_count[API_MAX_ROUTES];
    uint64_t route_fail[API_MAX_ROUTES];
};

struct api_server; /* api/server.c */
struct mmds;       /* mmds/mmds.h */

struct api {
    pthread_mutex_t lock; /* everything below; held for the whole of a request */
    pthread_cond_t cond;  /* state changes */
    char id[CFG_ID_LEN];
    struct vm_config cfg;
    bool boot_source_set;
    int huge_pages;      /* index into api_huge_pages */
    int static_template; /* Firecracker's static CPU template in force (0: None) */
    struct api_drive_extra drive_extra[CFG_MAX_DISKS];
    unsigned net_mtu[CFG_MAX_NETS];
    json_t *cpu_config; /* validated CpuConfig, stored until CPU templates apply it */
    struct api_logger logger;
    struct api_metrics metrics;
    struct api_stats stats;
    struct mig_stats mig_last; /* the successful outgoing migration (total_ms 0: none) */
    size_t max_payload;
    struct mmds *mmds; /* the MMDS data store (its own lock); the VM's interfaces answer from it */
    /* lifecycle */
    enum api_vm_state state;
    struct kvm_host kvm;
    bool kvm_open;
    struct vm *vm;
    int start_efd; /* eventfd written once the VM started: wakes api_wait() */
};

extern const char *const api_io_engines[];   /* "Sync", "Async" */
extern const char *const api_cache_types[];  /* "Unsafe", "Writeback" */
extern const char *const api_drive_ifaces[]; /* "virtio", "ahci" (truce extension) */
extern const char *const api_drive_media[];  /* "disk", "cdrom" (truce extension) */
extern const char *const api_huge_pages[];   /* "None", "Transparent", "2M" */

/* ---- configuration sections (api/sections_*.c) ----------------------------------------------
 * Each reads one spec object into API (lock held, VM not started). ID is the path parameter
 * (drive_id / iface_id) or NULL when reading a config-file array element. Return 0, or -EINVAL
 * with C's error filled and nothing changed. */
int api_put_boot_source(struct api *api, const json_t *o, struct jctx *c);
int api_put_machine(struct api *api, const json_t *o, bool patch, struct jctx *c);
int api_put_cpu_config(struct api *api, const json_t *o, struct jctx *c);
/* A CpuConfig object (Firecracker's custom CPU template) into T (api/cpu_config.c); also used by
 * `truce run --cpu-template` and `truce cpu-template verify`. Returns 0 or -EINVAL with C's error.
 */
/* The name of the static CPU template in force ("None" when there is none). */
const char *api_static_template_name(const struct api *api);
int api_parse_cpu_config(const json_t *o, struct jctx *c, struct cpu_template *t);
int api_put_drive(struct api *api, const json_t *o, const char *id, struct jctx *c);
int api_put_net(struct api *api, const json_t *o, const char *id, struct jctx *c);
int api_put_vsock(struct api *api, const json_t *o, struct jctx *c);
int api_put_entropy(struct api *api, const json_t *o, struct jctx *c);
int api_put_serial(struct api *api, const json_t *o, struct jctx *c);
/* ---- the balloon (api/balloon_api.c) ----------------------------------------------------------
 * PUT /balloon's object (also the config file's "balloon" section). */
int api_put_balloon(struct api *api, const json_t *o, struct jctx *c);
/* Every /balloon* route: METHOD PATH with BODY (may be NULL). Returns 0 with *OUT a JSON reply
 * (NULL: 204), or -errno with ERR (a 400). Lock held. */
int api_balloon(struct api *api, const char *method, const char *path, const json_t *body,
                json_t **out, char *err, size_t errlen);
/* GET /vm/config's "balloon" object, NULL without one. */
json_t *api_export_balloon(const struct api *api);
/* The metrics line's "balloon" object (Firecracker's names), NULL without a balloon. */
json_t *api_metrics_balloon(struct vm *vm);
int api_put_logger(struct api *api, const json_t *o, struct jctx *c);
/* PUT /display (truce extension, api/display.c): {"kind": "none"|"std"|"vnc", "vnc":
 * "unix:PATH"|"IP:PORT", "password_file": PATH, "vram_mib": N}. */
int api_put_display(struct api *api, const json_t *o, struct jctx *c);
/* GET /display/screenshot: OUT gets 200 and the screen as image/png. Returns 0 or <0 with ERR. */
int api_screenshot(struct api *api, struct api_reply *out, char *err, size_t errlen);
int api_put_metrics(struct api *api, const json_t *o, struct jctx *c);
/* ---- rate limiters (api/rate_limiter.c) ----------------------------------------------------
 * A TokenBucket object at FIELD of O into *OUT (*SET: it was given; absent or null: not). A
 * RateLimiter object at FIELD into *OUT, *BW / *OPS (may be NULL) saying which buckets were
 * given: a PATCH changes only those. Both return 0 or -EINVAL naming the field. */
int api_token_bucket(const struct jctx *c, const json_t *o, const char *field,
                     struct tb_config *out, bool *set);
int api_rate_limiter(const struct jctx *c, const json_t *o, const char *field,
                     struct rl_config *out, bool *bw, bool *ops);
/* A RateLimiter object for a device truce does not limit: validated, refused when it has a
 * bucket. */
int api_rate_limiter_refused(const struct jctx *c, const json_t *o, const char *field);
/* Set FIELD of O to C as a RateLimiter object (nothing when C limits nothing). */
void api_export_rate_limiter(json_t *o, const char *field, const struct rl_config *c);
/* PATCH: the running VM's drive ID / interface ID gets the buckets given, live; the configuration
 * (GET /vm/config, snapshots) follows. Lock held. Return 0 or <0 with ERR naming the field. */
int api_update_drive_rl(struct api *api, const char *id, const struct rl_config *c, bool bw,
                        bool ops, char *err, size_t errlen);
int api_update_net_rl(struct api *api, const char *id, const struct rl_config *rx, bool rx_bw,
                      bool rx_ops, const struct rl_config *tx, bool tx_bw, bool tx_ops, char *err,
                      size_t errlen);
/* FIELD's ID must equal the id in the request path PATH_ID (NULL: no path id). Returns 0 or
 * -EINVAL with the error in C. */
int api_check_path_id(const struct jctx *c, const char *field, const char *id, const char *path_id);
/* Firecracker's device id rule (1..63 of [A-Za-z0-9_]) and then api_check_path_id. */
int api_check_id(const struct jctx *c, const char *field, const char *id, const char *path_id);
/* ---- memory devices (api/sections_mem.c) ----------------------------------------------------
 * PUT /pmem/{id} and config-file "pmem" entries (pre-boot); PATCH /pmem/{id} (post-boot: only an
 * empty rate limiter, nothing to change); the JSON list for GET /vm/config. */
int api_put_pmem(struct api *api, const json_t *o, const char *id, struct jctx *c);
int api_patch_pmem(struct api *api, const json_t *o, const char *id, struct jctx *c);
json_t *api_export_pmem(const struct api *api);
/* PUT /hotplug/memory and the config file's "memory-hotplug" (pre-boot); PATCH (a new requested
 * size: into the configuration before boot, to the virtio-mem device after); the status object
 * of GET /hotplug/memory (NULL when none is configured). */
int api_put_memory_hotplug(struct api *api, const json_t *o, struct jctx *c);
int api_patch_memory_hotplug(struct api *api, const json_t *o, struct jctx *c);
json_t *api_export_memory_hotplug(const struct api *api);

/* ---- MMDS (api/mmds_api.c), lock held ------------------------------------------------------ */
/* PUT /mmds/config, the config file's mmds-config: into api->cfg.mmds. */
int api_put_mmds_config(struct api *api, const json_t *o, struct jctx *c);
/* The MmdsConfig object of api->cfg.mmds (GET /vm/config). */
json_t *api_export_mmds_config(const struct api *api);
/* PUT (replace) or PATCH (merge) /mmds with BODY. Returns 0 or <0 with Firecracker's text. */
int api_put_mmds(struct api *api, json_t *body, bool patch, char *err, size_t errlen);
/* GET /mmds: the whole store ({} before the first PUT). New reference. */
json_t *api_get_mmds(struct api *api);
/* The "mmds" metrics object: Firecracker's counter names (mmds/mmds.h), cumulative. */
json_t *api_mmds_metrics(struct api *api);

/* ---- exports (api/export.c): JSON views of the configuration, lock held ------------------- */
json_t *api_export_machine(const struct api *api);
json_t *api_export_vm_config(const struct api *api);
json_t *api_export_instance(const struct api *api);

/* ---- lifecycle (api/lifecycle.c), lock held ------------------------------------------------- */
/* The configuration InstanceStart would boot, through config_validate() (defaults applied, error
 * fields named as in the JSON). Returns 0 or -EINVAL with ERR. */
int api_validate(const struct api *api, struct vm_config *out, char *err, size_t errlen);
/* InstanceStart: api_validate, vm_create, vm_start. Returns 0 or <0 with ERR. */
int api_start_vm(struct api *api, char *err, size_t errlen);
/* Open /dev/kvm and machine_warm it before the first request: what every VM's build does first,
 * off a start's or restore's path. Requests are answered meanwhile: a build that comes first
 * does all of it itself, and the warm-up's work is dropped. A failure is left for the request to
 * meet and report. */
void api_kvm_warm(struct api *api);
int api_pause(struct api *api, bool pause, char *err, size_t errlen);
/* PUT /snapshot/load and PUT /migration/receive once parsed: build a new VM with OV from the
 * snapshot STATE + MEM, or from the migration source that connects to LISTEN_FD within WAIT_MS
 * (machine/migrate.h; STATE NULL), and start it, running when RESUME, else paused. */
struct snapshot_overrides;
struct api_restore {
    const char *state, *mem;
    int listen_fd, wait_ms;
    struct snapshot_overrides *ov;
    bool resume;
};
/* Returns 0 or <0 with ERR. */
int api_restore_vm(struct api *api, const struct api_restore *r, char *err, size_t errlen);

/* ---- snapshots (api/snapshot.c), lock held -------------------------------------------------- */
/* PUT /snapshot/create (VM paused) and PUT /snapshot/load (fresh process). Return 0 or <0 with
 * C's error filled. */
int api_snapshot_create(struct api *api, const json_t *o, struct jctx *c);
int api_snapshot_load(struct api *api, const json_t *o, struct jctx *c);
/* PUT /migration (a truce extension): send the running or paused VM to destination_url
 * (machine/migrate.h); on success the VM stops here with TRUCE_EXIT_MIGRATED, on failure it goes
 * on. Returns 0 or <0 with C's error. */
int api_migrate(struct api *api, const json_t *o, struct jctx *c);
/* PUT /migration/receive (a truce extension; a fresh process, as for /snapshot/load): listen on
 * listen_url, build the VM from the one source that connects within timeout_s and run it.
 * Returns 0 or <0 with C's error. */
int api_migrate_receive(struct api *api, const json_t *o, struct jctx *c);
int api_ctrl_alt_del(struct api *api, char *err, size_t errlen);
/* PUT /actions SendPowerButton (a truce extension): press the ACPI power button of a firmware
 * machine (dev/piix.c). Returns 0 or <0 with ERR. */
int api_power_button(struct api *api, char *err, size_t errlen);
int api_swap_drive(struct api *api, const char *id, const char *path, char *err, size_t errlen);
/* Block until a VM started and stopped (or a quit before start); returns the exit status.
 * Takes the lock itself. */
int api_wait(struct api *api);

/* {"block": {id: counters}, "net": {id: counters}, "vsock": counters} of VM (api/metrics_dev.c). */
json_t *api_metrics_devices(struct vm *vm);

/* ---- telemetry (api/telemetry.c) ------------------------------------------------------------ */
/* Open the metrics file or FIFO (non-blocking). Returns 0 or -errno. */
int api_metrics_open(struct api_metrics *m, const char *path);
void api_metrics_close(struct api_metrics *m);
/* NOW minus PREV for every integer counter, objects recursively (PREV may be NULL: all of NOW);
 * the gauges (utc_timestamp_ms, latency_us_max) and non-integers are copied. New reference. */
json_t *api_metrics_delta(const json_t *now, const json_t *prev);
/* Write one metrics line now (lock held). Returns 0, -ENOENT when metrics are not configured, or
 * -EAGAIN when the line was lost (counted). */
int api_metrics_flush(struct api *api);
/* Record one request's outcome for the metrics (lock held). */
void api_stats_record(struct api *api, int route, int status, uint64_t latency_us);

/* ---- HTTP server (api/server.c) ------------------------------------------------------------- */
/* Serve API on a new UNIX socket at PATH (which must not exist) from a server thread.
 * Returns NULL with ERR filled on failure. */
struct api_server *api_server_start(struct api *api, const char *path, char *err, size_t errlen);
/* Stop the server thread, close every connection, remove the socket file. */
void api_server_stop(struct api_server *s);

/* ---- router (api/router.c) ------------------------------------------------------------------ */
/* The index of the route METHOD PATH resolves to (for statistics), -1 when none. */
int api_route_index(const char *method, const char *path);
/* "PUT /drives/{id}" for route index IDX. */
const char *api_route_name(int idx);

#endif
