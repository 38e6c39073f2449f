/* vmproc.c — truced's VM operations: spawn truce, drive its API, stop, pause, snapshot, restore. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "manager/hclient.h"
#include "manager/mgr.h"

int fail(struct answer *a, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++) /* what the client sent may be quoted: keep it printable ASCII */
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    a->status = status;
    json_decref(a->body);
    a->body = json_pack("{s:s}", "error", msg);
    return -1;
}

/* Rows of VMs moved in by an older truced, under `truce migrate-receive` (no API). */
#define NO_API                                                                                     \
    "VM '%s' arrived by migration and runs under truce migrate-receive, which serves no API: "     \
    "it cannot be paused, snapshotted or migrated again until it is stopped and started"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int vm_set_state(struct mgr *m, const char *name, const char *state, const char *reason)
{
    struct vm_row v;
    pthread_mutex_lock(&m->lock);
    int rc = db_get(m->db, name, &v);
    if (!rc) {
        snprintf(v.state, sizeof(v.state), "%s", state);
        if (reason)
            snprintf(v.reason, sizeof(v.reason), "%s", reason);
        rc = db_update(m->db, &v);
        free(v.config);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int vm_dir(struct mgr *m, const char *name, const char *file, char *out, size_t n)
{
    int w =
        snprintf(out, n, "%s/vms/%s%s%s", m->state_dir, name, file ? "/" : "", file ? file : "");
    return w < (int)n ? 0 : -ENAMETOOLONG;
}

int truce_api(const char *sock, const char *method, const char *path, const char *body,
              char **reply)
{
    struct hc_reply r = {0};
    int rc = hc_request(sock, method, path, body, NULL, 10000, &r);
    if (rc < 0)
        return rc;
    if (reply)
        *reply = r.body;
    else
        free(r.body);
    return r.status;
}

/* The VM's cgroup: create it and open its cgroup.procs for the child; -1 when there is none. */
static int cg_open(struct mgr *m, const char *name)
{
    if (!m->cg_parent[0])
        return -1;
    char dir[sizeof(m->cg_parent) + VM_NAME_MAX + 2], procs[sizeof(dir) + 16];
    snprintf(dir, sizeof(dir), "%s/%s", m->cg_parent, name);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -1;
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    return open(procs, O_WRONLY | O_CLOEXEC);
}

/* Fork and exec truce for NAME (CONFIG: with --config-file, else a bare API server). The child
 * execs only once a byte arrives on *GATE (the caller writes it once the pid is in the database):
 * a truced killed before that leaves no truce it would not know of (the child sees end-of-file
 * and ends). */
static pid_t spawn(struct mgr *m, const char *name, bool with_config, const char *sock, int *gate)
{
    char cfg[PATH_MAX], log[PATH_MAX];
    vm_dir(m, name, "vm.json", cfg, sizeof(cfg));
    vm_dir(m, name, "truce.log", log, sizeof(log));
    unlink(sock);
    int cg = cg_open(m, name);
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    char id[VM_NAME_MAX + 8], uid[16], gid[16], base[PATH_MAX];
    bool jailed = m->jail_uid >= 0;
    snprintf(id, sizeof(id), "%s", name);
    snprintf(uid, sizeof(uid), "%d", m->jail_uid);
    snprintf(gid, sizeof(gid), "%d", m->jail_gid);
    snprintf(base, sizeof(base), "%s/jail", m->state_dir);
    /* The serial console on truce's stdio: two FIFOs in the VM's directory, so a console
     * client (wsconn.c) attaches to a VM whatever truced started it. */
    char fin[PATH_MAX], fout[PATH_MAX];
    vm_dir(m, name, "console.in", fin, sizeof(fin));
    vm_dir(m, name, "console.out", fout, sizeof(fout));
    if ((mkfifo(fin, 0600) < 0 && errno != EEXIST) || (mkfifo(fout, 0600) < 0 && errno != EEXIST))
        fprintf(stderr, "truced: %s: console FIFOs: %s\n", name, strerror(errno));
    int g[2] = {-1, -1};
    pid_t pid = pipe2(g, O_CLOEXEC) < 0 ? -1 : fork();
    if (pid == 0) {
        char go;
        close(g[1]);
        if (read(g[0], &go, 1) != 1)
            _exit(125);
        setsid();
        if (cg >= 0 && write(cg, "0", 1) < 0)
            _exit(126);
        /* Read-write opens: never blocks, and truce's input never sees an end of file when a
         * console client goes, nor its output a broken pipe when none is attached. */
        int in = open(fin, O_RDWR), out = open(fout, O_RDWR);
        if (in < 0 || out < 0)
            in = out = open("/dev/null", O_RDWR);
        dup2(in, 0);
        dup2(out, 1);
        dup2(logfd, 2);
        const char *argv[32];
        int n = 0;
        argv[n++] = m->truce;
        if (jailed) { /* truce jail ... -- truce's arguments, paths inside the chroot */
            const char *j[] = {"jail",  "--id", id,      "--exec-file", m->truce,
                               "--uid", uid,    "--gid", gid,           "--chroot-base-dir",
                               base,    "--",   NULL};
            for (int i = 0; j[i]; i++)
                argv[n++] = j[i];
        }
        argv[n++] = "--api-sock";
        argv[n++] = jailed ? "/api.sock" : sock;
        if (with_config) {
            argv[n++] = "--config-file";
            argv[n++] = jailed ? "/vm.json" : cfg;
        }
        argv[n++] = "--id";
        argv[n++] = id;
        argv[n] = NULL;
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(m->truce, (char **)argv);
        fprintf(stderr, "truced: exec %s: %s\n", m->truce, strerror(errno));
        _exit(127);
    }
    int e = errno;
    if (g[0] >= 0)
        close(g[0]);
    if (pid < 0 && g[1] >= 0)
        close(g[1]);
    *gate = pid < 0 ? -1 : g[1];
    errno = e;
    if (cg >= 0)
        close(cg);
    if (logfd >= 0)
        close(logfd);
    return pid;
}

void vm_last_log_line(struct mgr *m, const char *name, char *out, size_t n)
{
    char log[PATH_MAX];
    out[0] = 0;
    vm_dir(m, name, "truce.log", log, sizeof(log));
    FILE *f = fopen(log, "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f))
        if (line[0] != '\n')
            snprintf(out, n, "%s", line);
    fclose(f);
    out[strcspn(out, "\n")] = 0;
    for (char *c = out; *c; c++) /* into JSON: printable ASCII only */
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
}

/* Wait until NAME's truce answers GET / (0), or its process ended (-ECHILD) or 10 s passed. */
static int wait_api(struct mgr *m, const char *name, const char *sock)
{
    for (int i = 0; i < 200; i++) {
        struct vm_row v;
        if (db_get(m->db, name, &v) < 0)
            return -ENOENT;
        free(v.config);
        if (strcmp(v.state, "starting"))
            return -ECHILD;
        if (truce_api(sock, "GET", "/", NULL, NULL) == 200)
            return 0;
        sleep_ms(50);
    }
    return -ETIMEDOUT;
}

/* Committed guest memory of every VM that holds memory, NAME excluded. */
static int64_t committed_mib(struct mgr *m, const char *name)
{
    struct vm_row *rows;
    size_t n;
    int64_t sum = 0;
    if (db_list(m->db, &rows, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) && rows[i].pid > 0)
            sum += rows[i].mem_mib;
    db_free_rows(rows, n);
    return sum;
}

static bool is_live(const char *state)
{
    return !strcmp(state, "running") || !strcmp(state, "paused") || !strcmp(state, "starting") ||
           !strcmp(state, "stopping");
}

/* Admission and the switch to "starting" with a fresh process (with its definition, a bare API
 * server for a restore, or with LISTEN a migration receiver, left "starting" without waiting). */
int vm_launch(struct mgr *m, const char *name, bool with_config, const char *listen,
              struct answer *a)
{
    struct vm_row v;
    pthread_mutex_lock(&m->lock);
    if (db_get(m->db, name, &v) < 0) {
        pthread_mutex_unlock(&m->lock);
        return fail(a, 404, "no VM named '%s'", name);
    }
    if (is_live(v.state)) {
        pthread_mutex_unlock(&m->lock);
        free(v.config);
        return fail(a, 409, "VM '%s' is %s", name, v.state);
    }
    int64_t limit = (int64_t)(m->overcommit * (double)m->host_mem_mib);
    int64_t used = committed_mib(m, name);
    if (used + v.mem_mib > limit) {
        pthread_mutex_unlock(&m->lock);
        free(v.config);
        return fail(a, 409,
                    "admission: mem_size_mib %lld with %lld MiB committed exceeds "
                    "--overcommit-ratio %.2f x %llu MiB of host memory",
                    (long long)v.mem_mib, (long long)used, m->overcommit,
                    (unsigned long long)m->host_mem_mib);
    }
    if (limits_apply(m, &v, a) < 0) {
        pthread_mutex_unlock(&m->lock);
        free(v.config);
        return -1;
    }
    vm_dir(m, name, "api.sock", v.sock, sizeof(v.sock));
    char jerr[300];
    if (m->jail_uid >= 0 &&
        jail_prepare(m, name, v.config, v.sock, sizeof(v.sock), jerr, sizeof(jerr)) < 0) {
        pthread_mutex_unlock(&m->lock);
        free(v.config);
        return fail(a, 400, "%s", jerr);
    }
    snprintf(v.state, sizeof(v.state), "starting");
    snprintf(v.desired, sizeof(v.desired), "running");
    v.exit_status = -1;
    v.reason[0] = 0;
    if (listen) /* the receiver's mark (migrate.c): its URL, read back by the monitor */
        snprintf(v.reason, sizeof(v.reason), "%s%s", VM_INCOMING_ON, listen);
    int gate = -1;
    v.pid = spawn(m, name, with_config, v.sock, &gate);
    crash_point("launch-spawned");
    int rc = v.pid > 0 ? db_update(m->db, &v) : -errno;
    crash_point("launch-row");
    if (!rc && write(gate, "g", 1) != 1)
        rc = -errno;
    if (gate >= 0)
        close(gate);
    pthread_mutex_unlock(&m->lock);
    crash_point("launch-released");
    free(v.config);
    if (rc < 0)
        return fail(a, 500, "spawn truce: %s", strerror(-rc));
    rc = wait_api(m, name, v.sock);
    if (rc < 0) {
        char line[400];
        if (rc == -ETIMEDOUT)
            kill(v.pid, SIGKILL);
        for (int i = 0; i < 100 && !db_get(m->db, name, &v); i++) {
            free(v.config);
            if (strcmp(v.state, "starting"))
                break;
            sleep_ms(50);
        }
        vm_last_log_line(m, name, line, sizeof(line));
        return fail(a, 400, "VM '%s' did not start: %s", name, line[0] ? line : strerror(-rc));
    }
    return 0;
}

int vm_start(struct mgr *m, const char *name, struct answer *a)
{
    if (vm_launch(m, name, true, NULL, a) < 0)
        return -1;
    crash_point("start-api"); /* truce answers; the row still "starting" */
    int rc = vm_set_state(m, name, "running", "");
    crash_point("start-row");
    return rc;
}

/* Wait up to MS for NAME's process to be reaped (state no longer stopping). */
static bool wait_gone(struct mgr *m, const char *name, int ms)
{
    for (int t = 0; t < ms; t += 50) {
        struct vm_row v;
        if (db_get(m->db, name, &v) < 0)
            return true;
        free(v.config);
        if (!is_live(v.state))
            return true;
        sleep_ms(50);
    }
    return false;
}

int vm_stop(struct mgr *m, const char *name, bool force, int timeout_ms, struct answer *a)
{
    struct vm_row v;
    pthread_mutex_lock(&m->lock);
    if (db_get(m->db, name, &v) < 0) {
        pthread_mutex_unlock(&m->lock);
        return fail(a, 404, "no VM named '%s'", name);
    }
    free(v.config);
    if (!is_live(v.state) || v.pid <= 0) {
        pthread_mutex_unlock(&m->lock);
        return fail(a, 409, "VM '%s' is %s", name, v.state);
    }
    snprintf(v.state, sizeof(v.state), "stopping");
    snprintf(v.desired, sizeof(v.desired), "stopped");
    db_update(m->db, &v);
    pthread_mutex_unlock(&m->lock);
    crash_point("stop-row");
    force |= !v.sock[0]; /* no API (migrated in): SIGTERM is the only way */
    const char *how = "forced (SIGTERM)";
    if (!force) {
        /* A paused guest cannot react to the key press: resume it first. */
        truce_api(v.sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}", NULL);
        truce_api(v.sock, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", NULL);
        crash_point("stop-cad");
        how = "graceful (Ctrl-Alt-Del)";
        if (!wait_gone(m, name, timeout_ms))
            how = "graceful timed out, then SIGTERM";
    }
    if (!wait_gone(m, name, 0)) {
        kill(v.pid, SIGTERM);
        crash_point("stop-sigterm");
        if (!wait_gone(m, name, 5000)) {
            how = "SIGKILL after SIGTERM was ignored for 5 s";
            kill(v.pid, SIGKILL);
            wait_gone(m, name, 5000);
        }
    }
    crash_point("stop-gone");
    a->status = 200;
    a->body = json_pack("{s:s, s:s}", "name", name, "stop", how);
    return 0;
}

/* vm_pause, the row's reason set to WHY. */
static int pause_why(struct mgr *m, const char *name, bool pause, const char *why, struct answer *a)
{
    struct vm_row v;
    if (db_get(m->db, name, &v) < 0)
        return fail(a, 404, "no VM named '%s'", name);
    free(v.config);
    if (!v.sock[0])
        return fail(a, 409, NO_API, name);
    const char *want = pause ? "running" : "paused";
    if (strcmp(v.state, want))
        return fail(a, 409, "VM '%s' is %s, not %s", name, v.state, want);
    char *reply = NULL;
    int st = truce_api(v.sock, "PATCH", "/vm",
                       pause ? "{\"state\": \"Paused\"}" : "{\"state\": \"Resumed\"}", &reply);
    if (st != 204) {
        fail(a, 502, "truce answered %d: %s", st, reply ? reply : strerror(-st));
        free(reply);
        return -1;
    }
    free(reply);
    crash_point(pause ? "pause-api" : "resume-api"); /* truce changed, the row not yet */
    int rc = vm_set_state(m, name, pause ? "paused" : "running", why);
    crash_point(pause ? "pause-row" : "resume-row");
    return rc;
}

int vm_pause(struct mgr *m, const char *name, bool pause, struct answer *a)
{
    return pause_why(m, name, pause, "", a);
}

static int mkdirs(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
            *s = '/';
        }
    return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int vm_snapshot(struct mgr *m, const char *name, const char *dir, struct answer *a)
{
    struct vm_row v;
    if (db_get(m->db, name, &v) < 0)
        return fail(a, 404, "no VM named '%s'", name);
    free(v.config);
    bool was_running = !strcmp(v.state, "running");
    if (!v.sock[0] && is_live(v.state))
        return fail(a, 409, NO_API, name);
    if (m->jail_uid >= 0)
        return fail(a, 409, "snapshot: not supported for VMs under truce jail yet");
    if (!was_running && strcmp(v.state, "paused"))
        return fail(a, 409, "VM '%s' is %s: snapshot needs it running or paused", name, v.state);
    int rc = mkdirs(dir);
    if (rc < 0)
        return fail(a, 400, "dir: %s: %s", dir, strerror(-rc));
    /* marked: if truced dies before the resume, the next one resumes it */
    if (was_running && pause_why(m, name, true, VM_SNAPSHOT_PAUSE, a) < 0)
        return -1;
    crash_point("snapshot-paused");
    char body[2 * PATH_MAX + 64], *reply = NULL;
    snprintf(body, sizeof(body),
             "{\"snapshot_path\": \"%s/vmstate\", \"mem_file_path\": \"%s/mem\"}", dir, dir);
    int st = truce_api(v.sock, "PUT", "/snapshot/create", body, &reply);
    crash_point("snapshot-written");
    if (was_running)
        vm_pause(m, name, false, a);
    crash_point("snapshot-resumed");
    if (st != 204) {
        fail(a, 502, "truce snapshot/create answered %d: %s", st, reply ? reply : strerror(-st));
        free(reply);
        return -1;
    }
    free(reply);
    a->status = 200;
    a->body = json_pack("{s:s, s:s, s:s}", "name", name, "dir", dir, "resumed",
                        was_running ? "yes" : "no (was paused)");
    return 0;
}

int vm_restore(struct mgr *m, const char *name, const char *dir, struct answer *a)
{
    if (m->jail_uid >= 0)
        return fail(a, 409, "restore: not supported for VMs under truce jail yet");
    char st_path[PATH_MAX], mem_path[PATH_MAX];
    snprintf(st_path, sizeof(st_path), "%s/vmstate", dir);
    snprintf(mem_path, sizeof(mem_path), "%s/mem", dir);
    if (access(st_path, R_OK) < 0 || access(mem_path, R_OK) < 0)
        return fail(a, 400, "dir: %s holds no vmstate and mem of a snapshot", dir);
    if (vm_launch(m, name, false, NULL, a) < 0)
        return -1;
    struct vm_row v;
    if (db_get(m->db, name, &v) < 0)
        return fail(a, 404, "no VM named '%s'", name);
    free(v.config);
    json_t *j = json_pack("{s:s, s:{s:s, s:s}, s:b}", "snapshot_path", st_path, "mem_backend",
                          "backend_type", "File", "backend_path", mem_path, "resume_vm", 1);
    char *body = json_dumps(j, JSON_COMPACT), *reply = NULL;
    json_decref(j);
    int st = truce_api(v.sock, "PUT", "/snapshot/load", body, &reply);
    free(body);
    if (st != 204) {
        fail(a, 400, "truce snapshot/load answered %d: %s", st, reply ? reply : strerror(-st));
        free(reply);
        kill(v.pid, SIGKILL);
        vm_set_state(m, name, "stopping", "restore failed");
        wait_gone(m, name, 5000);
        return -1;
    }
    free(reply);
    crash_point("restore-loaded");
    int rc = vm_set_state(m, name, "running", "restored");
    crash_point("restore-row");
    return rc;
}

int vm_delete(struct mgr *m, const char *name, struct answer *a)
{
    struct vm_row v;
    pthread_mutex_lock(&m->lock);
    if (db_get(m->db, name, &v) < 0) {
        pthread_mutex_unlock(&m->lock);
        return fail(a, 404, "no VM named '%s'", name);
    }
    free(v.config);
    if (is_live(v.state)) {
        pthread_mutex_unlock(&m->lock);
        return fail(a, 409, "VM '%s' is %s: stop it first", name, v.state);
    }
    db_delete(m->db, name);
    pthread_mutex_unlock(&m->lock);
    crash_point("delete-row"); /* the files and cgroup are left */
    char p[PATH_MAX];
    const char *files[] = {"vm.json", "api.sock", "truce.log", "console.in", "console.out", NULL};
    for (int i = 0; files[i]; i++)
        if (!vm_dir(m, name, files[i], p, sizeof(p)))
            unlink(p);
    if (!vm_dir(m, name, NULL, p, sizeof(p)))
        rmdir(p);
    if (m->jail_uid >= 0) {
        jail_cleanup(m, name);
        jail_root(m, name, p, sizeof(p));
        *strrchr(p, '/') = 0;
        rmdir(p);
    }
    if (m->cg_parent[0]) {
        snprintf(p, sizeof(p), "%s/%s", m->cg_parent, name);
        rmdir(p);
    }
    crash_point("delete-files");
    a->status = 204;
    return 0;
}
