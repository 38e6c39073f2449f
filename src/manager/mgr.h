/* mgr.h — truced's shared state and the VM operations the REST routes call. */
#ifndef TRUCE_MANAGER_MGR_H
#define TRUCE_MANAGER_MGR_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "manager/db.h"

#define MGR_MAX_BUSY 256

struct mgr {
    struct db *db;
    char state_dir[1024];
    char truce[PATH_MAX]; /* the truce binary each VM runs */
    double overcommit;    /* admission: committed guest memory <= ratio * host memory */
    uint64_t host_mem_mib;
    char cg_parent[PATH_MAX + 64]; /* the truced-owned cgroup v2 parent, "" when unavailable */
    char cg_why[160];              /* why there is none */
    int jail_uid, jail_gid;        /* >= 0: every VM runs under `truce jail` as uid:gid */
    pthread_mutex_t lock;          /* guards read-modify-write of rows and BUSY */
    char busy[MGR_MAX_BUSY][VM_NAME_MAX];
    volatile int stopping;
    char web_root[PATH_MAX]; /* the web console's static files; "" when not served */
};

extern struct mgr *g_mgr;

/* Status + JSON body of a route's answer. */
struct answer {
    int status;
    json_t *body; /* owned; NULL: no body */
    char *raw;    /* owned; a non-JSON body (a file, an image) when BODY is NULL */
    size_t raw_len;
    const char *ctype; /* RAW's Content-Type */
};

/* Per-VM operation lock: 0, or -EBUSY when another operation holds NAME. */
int mgr_busy_take(struct mgr *m, const char *name);
void mgr_busy_drop(struct mgr *m, const char *name);

/* The operations (NAME's busy lock held by the caller). Each fills A on error and returns <0. */
int vm_start(struct mgr *m, const char *name, struct answer *a);
int vm_stop(struct mgr *m, const char *name, bool force, int timeout_ms, struct answer *a);
int vm_pause(struct mgr *m, const char *name, bool pause, struct answer *a);
int vm_snapshot(struct mgr *m, const char *name, const char *dir, struct answer *a);
int vm_restore(struct mgr *m, const char *name, const char *dir, struct answer *a);
int vm_delete(struct mgr *m, const char *name, struct answer *a);
/* Admission, limits and a new truce process for NAME: with its definition, or a bare API server
 * (WITH_CONFIG false: a restore, or with LISTEN a migration receiver: its reason then reads
 * VM_INCOMING_ON LISTEN). Returns once the API answers. */
#define VM_INCOMING_ON "incoming migration on "
/* The reason of a VM that a snapshot paused: a truced that restarts finding it so resumes it. */
#define VM_SNAPSHOT_PAUSE "paused for a snapshot"
int vm_launch(struct mgr *m, const char *name, bool with_config, const char *listen,
              struct answer *a);
/* Migration (migrate.c): the source moves NAME to the truced at body.to; the destination side
 * prepares a receiver (POST /v1/migrations) and commits or aborts it. */
int vm_migrate(struct mgr *m, const char *name, json_t *body, struct answer *a);
int vm_incoming(struct mgr *m, json_t *body, struct answer *a);
int vm_incoming_end(struct mgr *m, const char *name, bool commit, struct answer *a);
/* The monitor's look at an incoming VM no operation holds: its receiver stopped listening and its
 * truce says the VM runs, so it arrived (the source truced may have died before its commit, or
 * this truced restarted): running; a receiver that stopped listening with no VM is ended. */
void vm_incoming_watch(struct mgr *m, const struct vm_row *v);
/* One request to the VM's truce API on SOCK (10 s per read or write); returns the HTTP status or
 * -errno; *REPLY (malloc'ed, the caller frees it) when wanted. */
int truce_api(const char *sock, const char *method, const char *path, const char *body,
              char **reply);
/* NAME's row as JSON with live figures (cgroup or /proc). */
json_t *vm_json(struct mgr *m, const struct vm_row *v, bool with_config);
json_t *vm_metrics(struct mgr *m, const struct vm_row *v);

/* The monitor: reap children, notice adopted processes that vanished. Runs until m->stopping. */
void *vm_monitor(void *arg);
/* At start-up: re-adopt live VMs, mark vanished ones, start the autostart ones. */
void vm_adopt_all(struct mgr *m);
/* Find the cgroup v2 mount and make the truced parent; sets cg_parent or cg_why. */
void cg_setup(struct mgr *m, const char *parent_name);

/* A row under the lock: update it (M->lock held inside). */
int vm_set_state(struct mgr *m, const char *name, const char *state, const char *reason);

/* The last non-empty line of NAME's truce.log (truce's one-line exit reason), "" when none. */
void vm_last_log_line(struct mgr *m, const char *name, char *out, size_t n);

/* `truce jail`: NAME's chroot root; its cleanup; preparing it with the definition's kernel,
 * initrd and vm.json (paths rewritten) and SOCK set to the API socket as the host sees it.
 * Returns 0 or -errno with ERR naming the config field. */
void jail_root(struct mgr *m, const char *name, char *out, size_t n);
void jail_cleanup(struct mgr *m, const char *name);
int jail_prepare(struct mgr *m, const char *name, const char *config, char *sock, size_t socklen,
                 char *err, size_t errlen);

/* cgroup v2 limits of a VM (limits.c): check the create body's "limits" (NULL: none) against the
 * guest's memory; write them into the VM's cgroup before it starts (409 naming the limit when
 * its controller is not enabled or there is no cgroup); the stored limits as JSON. */
int limits_check(json_t *limits, int64_t mem_mib, struct answer *a);
int limits_apply(struct mgr *m, const struct vm_row *v, struct answer *a);
json_t *limits_json(const struct vm_row *v);

/* The crash test's hook (tests/manager/crash.sh): when truced was started with the environment
 * variable TRUCED_CRASH_AT=STEP, reaching the point named STEP kills truced with SIGKILL there,
 * as a crash or `kill -9` would, so the test hits every step of every operation exactly. Unset
 * (always, outside that test), it does nothing. The steps are named where crash_point is called
 * (e.g. "launch-row": a start's "starting" row with its pid committed, truce not yet released).
 * crash_init, called once by main, reads the variable and removes it from the environment. */
void crash_init(void);
void crash_point(const char *step);

/* answer helpers */
int fail(struct answer *a, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
